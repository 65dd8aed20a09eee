//go:build !linux

package wsconn

import "net"

// limitUnsent does nothing on this platform.
func limitUnsent(net.Conn) {}
