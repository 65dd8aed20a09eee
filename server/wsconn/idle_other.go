//go:build !linux

package wsconn

import (
	"net"
	"syscall"
)

// rawConn returns nil: on this platform a Conn does not notify.
func rawConn(net.Conn) syscall.RawConn { return nil }

func readable(syscall.RawConn) bool { return true }
