package wsconn

import (
	"crypto/tls"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// unsentBytes asks the kernel how many bytes of the socket's send queue the
// peer has not acknowledged (SIOCOUTQ), or -1.
func unsentBytes(c net.Conn) int {
	// Accepted over TLS, the socket wraps the TLS connection; dialed, TLS
	// wraps the socket.
	c = netConn(c)
	if tc, ok := c.(*tls.Conn); ok {
		c = netConn(tc.NetConn())
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	_ = raw.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err == nil {
			n = v
		}
	})
	return n
}
