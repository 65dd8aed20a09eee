package linksim

import (
	"context"
	"io"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Profile describes the link, each way.
type Profile struct {
	// Bandwidth in bits per second; 0 is unlimited.
	Bandwidth int
	// Delay is the one-way latency; Jitter varies it uniformly by ± Jitter
	// (segments still arrive in order).
	Delay, Jitter time.Duration
	// Loss is the probability that a segment is lost; TCP then resends it
	// after a timeout, and everything behind it waits: a stall of Stall
	// (default: twice the round trip, at least 200 ms).
	Loss  float64
	Stall time.Duration
	// Buffer is how many bytes the link holds each way, in flight and
	// queued; a sender beyond it waits, its bytes unacknowledged in its own
	// socket, as they would be on a real path. Default: twice the
	// bandwidth-delay product, at least 4 KiB.
	Buffer int
	// Seed seeds the link's randomness. Default: 1.
	Seed int64
}

func (p Profile) withDefaults() Profile {
	if p.Stall <= 0 {
		p.Stall = max(200*time.Millisecond, 4*p.Delay)
	}
	if p.Buffer <= 0 {
		bdp := int(int64(p.Bandwidth) / 8 * int64(p.Delay+p.Jitter) / int64(time.Second))
		p.Buffer = max(4<<10, 2*bdp)
	}
	if p.Seed == 0 {
		p.Seed = 1
	}
	return p
}

// segment is the most read from a socket at once.
const segment = 512

// socketBuffer is the kernel buffer size of the proxy's sockets: small, so
// what the link has not carried waits in the sender's socket.
const socketBuffer = 4 << 10

// Link is a running proxy to one target address.
type Link struct {
	target string
	prof   Profile
	ln     net.Listener

	down, up atomic.Int64 // bytes delivered toward the client, toward the target
	accepted atomic.Int64

	mu      sync.Mutex // guards the following
	rnd     *rand.Rand
	conns   map[*conn]struct{}
	history []*conn // every connection taken, in order
	cutAt   int64   // cut every connection when down reaches it; 0: never
	offline bool
	closed  bool
}

// conn is one proxied connection.
type conn struct {
	client, target net.Conn
	once           sync.Once
	down           atomic.Int64 // bytes delivered toward the client
}

func (c *conn) close() {
	c.once.Do(func() {
		c.client.Close()
		c.target.Close()
	})
}

// Listen starts a link on a free loopback port that forwards to target.
func Listen(target string, p Profile) (*Link, error) {
	ln, err := (&net.ListenConfig{Control: smallSegments}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p = p.withDefaults()
	l := &Link{target: target, prof: p, ln: ln, rnd: rand.New(rand.NewSource(p.Seed)), conns: make(map[*conn]struct{})}
	go l.accept()
	return l, nil
}

// Addr is the address clients dial instead of the target.
func (l *Link) Addr() string { return l.ln.Addr().String() }

// Bytes reports the bytes delivered so far, toward the client (down) and
// toward the target (up), over every connection.
func (l *Link) Bytes() (down, up int64) { return l.down.Load(), l.up.Load() }

// ConnBytes reports, for every connection the link has taken so far, in
// order, the bytes it delivered toward the client.
func (l *Link) ConnBytes() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]int64, len(l.history))
	for i, c := range l.history {
		out[i] = c.down.Load()
	}
	return out
}

// Accepted reports how many connections the link has taken.
func (l *Link) Accepted() int64 { return l.accepted.Load() }

// CutAt cuts every connection, mid-stream, once the bytes delivered toward
// clients reach n (counted over the link's life, as Bytes does). It fires
// once.
func (l *Link) CutAt(n int64) {
	l.mu.Lock()
	l.cutAt = n
	l.mu.Unlock()
}

// SetOffline takes the link down (every connection is cut and new ones are
// closed at once) or brings it back.
func (l *Link) SetOffline(off bool) {
	l.mu.Lock()
	l.offline = off
	var cut []*conn
	if off {
		for c := range l.conns {
			cut = append(cut, c)
		}
	}
	l.mu.Unlock()
	for _, c := range cut {
		c.close()
	}
}

// Close stops the link and cuts its connections.
func (l *Link) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.ln.Close()
	l.SetOffline(true)
}

func (l *Link) accept() {
	for {
		cc, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		off := l.offline || l.closed
		l.mu.Unlock()
		if off {
			cc.Close()
			continue
		}
		tc, err := (&net.Dialer{Control: smallSegments}).Dial("tcp", l.target)
		if err != nil {
			cc.Close()
			continue
		}
		l.accepted.Add(1)
		c := &conn{client: cc, target: tc}
		l.mu.Lock()
		l.conns[c] = struct{}{}
		l.history = append(l.history, c)
		l.mu.Unlock()
		go l.pipe(c, tc, cc, &l.down, true)
		go l.pipe(c, cc, tc, &l.up, false)
	}
}

// smallSegments gives a proxy socket the segment size and buffers of a
// real path: on loopback a segment can be 64 KiB, and a receiver then
// opens its window in steps so rare that a sender's socket seems stuck.
// With 1400-byte segments and small buffers, the bytes the link has not
// carried stay unacknowledged in the sender's socket and drain at the
// link's pace, which is what a relay watching its socket sees on 2G.
func smallSegments(network, address string, c syscall.RawConn) error {
	var err error
	c.Control(func(fd uintptr) {
		if err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG, 1400); err != nil {
			return
		}
		if err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuffer); err != nil {
			return
		}
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, socketBuffer)
	})
	return err
}

// timed is a segment and when it reaches the far end.
type timed struct {
	data []byte
	at   time.Time
}

// pipe carries one direction of c from src to dst.
func (l *Link) pipe(c *conn, src, dst net.Conn, count *atomic.Int64, toClient bool) {
	defer func() {
		c.close()
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
	}()
	room := make(chan struct{}, l.prof.Buffer/segment+1) // one token per queued segment
	queue := make(chan timed, cap(room))
	done := make(chan struct{})
	go func() { // the far end: deliver each segment on time
		defer close(done)
		defer c.close()
		for seg := range queue {
			if d := time.Until(seg.at); d > 0 {
				time.Sleep(d)
			}
			data := seg.data
			var cut func()
			if toClient {
				data, cut = l.cutting(data)
			}
			if len(data) > 0 {
				count.Add(int64(len(data)))
				if toClient {
					c.down.Add(int64(len(data)))
				}
				if _, err := dst.Write(data); err != nil {
					return
				}
			}
			<-room
			if cut != nil {
				cut() // after the bytes before the cut were written
				return
			}
		}
	}()
	var sent, arrived time.Time
	buf := make([]byte, segment)
	for {
		select {
		case room <- struct{}{}:
		case <-done:
			close(queue)
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			now := time.Now()
			sent = later(sent, now).Add(l.serialise(n))
			at := later(arrived, sent.Add(l.delay()))
			if l.lost() {
				at = at.Add(l.prof.Stall)
			}
			arrived = at
			queue <- timed{data: append([]byte(nil), buf[:n]...), at: at}
		} else {
			<-room
		}
		if err != nil {
			if err != io.EOF {
				c.close()
			}
			close(queue)
			<-done
			return
		}
	}
}

// cutting trims data at the cut point and, when the cut is in it, returns
// the cut to make once the bytes before it are written.
func (l *Link) cutting(data []byte) ([]byte, func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cutAt <= 0 {
		return data, nil
	}
	left := l.cutAt - l.down.Load()
	if left > int64(len(data)) {
		return data, nil
	}
	l.cutAt = 0
	// The connections open at the cut, taken now (called with l.mu held):
	// one opened after it, once the link is back, must not be cut.
	var cut []*conn
	for c := range l.conns {
		cut = append(cut, c)
	}
	return data[:max(left, 0)], func() {
		for _, c := range cut {
			c.close()
		}
	}
}

func (l *Link) serialise(n int) time.Duration {
	if l.prof.Bandwidth <= 0 {
		return 0
	}
	return time.Duration(int64(n) * 8 * int64(time.Second) / int64(l.prof.Bandwidth))
}

func (l *Link) delay() time.Duration {
	d := l.prof.Delay
	if l.prof.Jitter > 0 {
		l.mu.Lock()
		d += time.Duration(l.rnd.Int63n(int64(2*l.prof.Jitter))) - l.prof.Jitter
		l.mu.Unlock()
	}
	return max(d, 0)
}

func (l *Link) lost() bool {
	if l.prof.Loss <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rnd.Float64() < l.prof.Loss
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
