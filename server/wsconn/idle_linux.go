package wsconn

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// rawConn is the socket under c, for the shared poller and readable, or
// nil where the socket alone cannot tell whether a frame has arrived (TLS:
// records are buffered above the socket).
func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// readable reports whether the socket has a byte to read, or has ended or
// failed.
func readable(raw syscall.RawConn) bool {
	var b [1]byte
	ready := true
	_ = raw.Control(func(fd uintptr) {
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		ready = err != unix.EAGAIN
	})
	return ready
}
