package wsconn

import (
	"crypto/tls"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// notSentLowat is how many bytes not yet sent a socket takes beyond what
// is in flight (TCP_NOTSENT_LOWAT). Without it the kernel takes megabytes
// at once on a slow link and sends them in the order they were written:
// a sync message written after a flood of presence messages, or after a
// large document, waits behind all of it however the relay orders what it
// still holds. With it a write waits until the link has carried what came
// before, and what waits stays in the relay's outbox, where small sync
// messages go first.
const notSentLowat = 4 << 10

// limitUnsent sets TCP_NOTSENT_LOWAT on c's socket (under TLS too), when
// c is one.
func limitUnsent(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, notSentLowat)
	})
}
