package wsconn

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// rawConn is the socket under c for waitReadable, or nil where it cannot
// wait (TLS: records are buffered above the socket).
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

// waitReadable parks until the socket has a byte to read, has ended or
// failed, or its read deadline passed. It peeks (MSG_PEEK) rather than
// trusting the poller alone, since a readiness the poller saw before the
// wait began is reset when it begins.
func waitReadable(raw syscall.RawConn) {
	var b [1]byte
	_ = raw.Read(func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return err != unix.EAGAIN
	})
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
