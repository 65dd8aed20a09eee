//go:build !linux

package wsconn

import (
	"net"
	"syscall"
)

// rawConn returns nil: on this platform WaitReadable does not wait.
func rawConn(net.Conn) syscall.RawConn { return nil }

func waitReadable(syscall.RawConn) {}

func readable(syscall.RawConn) bool { return true }
