package wsconn

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"
)

// socket is the network connection under a websocket, as Upgrader and
// DialContext hand it to gorilla. It does two things gorilla cannot:
//
//   - It gives every write to the socket a deadline of its own, timeout
//     from when that write begins, so that a frame is cut only when bytes
//     stop leaving. gorilla sets one deadline and then writes what a frame
//     holds; a compressed frame's bytes come out of the compressor in
//     bursts of up to 64 KiB, which over 2G take longer than any fixed
//     deadline a live link should be held to.
//   - It counts the bytes of data frames that leave, compressed or not: a
//     peer taking them is alive (Conn.receiving). Control frames do not
//     count: pings fill the buffers of a peer that has gone silent.
//
// A zero write deadline (which Conn.WriteFrame sets for data frames) means
// "per write"; any other deadline (control frames: pings, the close frame)
// holds as set. gorilla sets a deadline and writes under its write lock, so
// the two never interleave between frames.
type socket struct {
	net.Conn
	// timeout is how long one write may take; 0: no deadline. Set by New
	// before the connection is used.
	timeout time.Duration
	// perWrite: the last deadline set was zero. Guarded by gorilla's
	// write lock.
	perWrite bool
	sent     atomic.Int64 // bytes of data frames written to the socket
}

func (s *socket) SetWriteDeadline(t time.Time) error {
	s.perWrite = t.IsZero()
	return s.Conn.SetWriteDeadline(t)
}

func (s *socket) SetDeadline(t time.Time) error {
	s.perWrite = t.IsZero()
	return s.Conn.SetDeadline(t)
}

// Write writes b in pieces of writePiece bytes, each with the timeout from
// when it begins when the deadline is per write.
func (s *socket) Write(b []byte) (int, error) {
	if !s.perWrite {
		return s.Conn.Write(b) // a control frame
	}
	if s.timeout <= 0 {
		n, err := s.Conn.Write(b)
		s.sent.Add(int64(n))
		return n, err
	}
	written := 0
	for len(b) > 0 {
		piece := b[:min(len(b), writePiece)]
		_ = s.Conn.SetWriteDeadline(time.Now().Add(s.timeout))
		n, err := s.Conn.Write(piece)
		s.sent.Add(int64(n))
		written += n
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}

// socketOf returns the socket under a websocket's connection (through
// TLS), or nil when the connection was not made by Upgrader or
// DialContext.
func socketOf(c net.Conn) *socket {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	s, _ := c.(*socket)
	return s
}

// netConn is the connection under c, without the socket wrapper.
func netConn(c net.Conn) net.Conn {
	if s, ok := c.(*socket); ok {
		return s.Conn
	}
	return c
}

// DialContext dials a TCP connection for gorilla's Dialer (its
// NetDialContext), so that the Conn made from the websocket writes with
// deadlines by progress and counts the bytes that leave, as an accepted
// one does.
func DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	limitUnsent(c)
	return &socket{Conn: c}, nil
}
