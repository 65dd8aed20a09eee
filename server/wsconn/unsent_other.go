//go:build !linux

package wsconn

import "net"

// unsentBytes cannot tell on this platform.
func unsentBytes(net.Conn) int { return -1 }
