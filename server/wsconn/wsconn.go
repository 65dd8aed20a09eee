// Package wsconn carries the relay's protocol over a gorilla/websocket
// connection: it turns a websocket into a server.Conn, with keepalive pings
// that tolerate slow links and bounded writes so a stuck peer cannot hold a
// goroutine forever. Both the HTTP side (accepting) and dialers (the Go
// client, federation links) use it.
package wsconn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/server"
)

// Options tune a connection. The zero value of every field selects the
// default documented on it.
type Options struct {
	// PingInterval is how often a ping is sent to a quiet peer. Default:
	// 30s. A peer that answers nothing — no frame, no pong — for
	// PingInterval plus PongTimeout is considered gone.
	PingInterval time.Duration
	// PongTimeout is how long past a ping an answer may take. Default: 60s,
	// long enough for a satellite link with a queue.
	PongTimeout time.Duration
	// WriteTimeout bounds one frame write. Default: 60s.
	WriteTimeout time.Duration
	// MaxFrameSize bounds one incoming frame; a larger one ends the
	// connection with close code 1009. Default: 8 MiB.
	MaxFrameSize int64
}

func (o Options) withDefaults() Options {
	if o.PingInterval <= 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.PongTimeout <= 0 {
		o.PongTimeout = 60 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 60 * time.Second
	}
	if o.MaxFrameSize <= 0 {
		o.MaxFrameSize = 8 << 20
	}
	return o
}

// Conn is a server.Conn over a websocket.
type Conn struct {
	ws   *websocket.Conn
	opts Options

	wmu sync.Mutex // serializes data frame writes

	// lastHeard is when the peer last sent anything (unix nanoseconds);
	// the keepalive loop moves the read deadline from it, so reading a
	// frame costs no timer update.
	lastHeard atomic.Int64

	closeOnce sync.Once
	done      chan struct{}

	bytesRead, bytesWritten atomic.Int64 // data frames' payloads
}

var _ server.Conn = (*Conn)(nil)

// New wraps an established websocket and starts its keepalive.
func New(ws *websocket.Conn, opts Options) *Conn {
	opts = opts.withDefaults()
	c := &Conn{ws: ws, opts: opts, done: make(chan struct{})}
	ws.SetReadLimit(opts.MaxFrameSize)
	c.heard()
	c.extendDeadline()
	ws.SetPongHandler(func(string) error {
		c.heard()
		return nil
	})
	go c.keepalive()
	return c
}

func (c *Conn) heard() { c.lastHeard.Store(time.Now().UnixNano()) }

// extendDeadline lets the peer stay silent for PingInterval + PongTimeout
// after it was last heard.
func (c *Conn) extendDeadline() {
	last := time.Unix(0, c.lastHeard.Load())
	_ = c.ws.SetReadDeadline(last.Add(c.opts.PingInterval + c.opts.PongTimeout))
}

func (c *Conn) keepalive() {
	t := time.NewTicker(c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.extendDeadline()
			deadline := time.Now().Add(c.opts.WriteTimeout)
			if err := c.ws.WriteControl(websocket.PingMessage, nil, deadline); err != nil {
				return
			}
		}
	}
}

// ReadFrame returns the next binary frame.
func (c *Conn) ReadFrame(ctx context.Context) ([]byte, error) {
	typ, data, err := c.ws.ReadMessage()
	if err != nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			return nil, fmt.Errorf("%w: over %d bytes", server.ErrFrameTooLarge, c.opts.MaxFrameSize)
		}
		return nil, err
	}
	c.heard()
	c.bytesRead.Add(int64(len(data)))
	if typ != websocket.BinaryMessage {
		return nil, server.ErrTextFrame
	}
	return data, nil
}

// WriteFrame sends one binary frame within the write timeout.
func (c *Conn) WriteFrame(ctx context.Context, frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	if err := c.ws.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		return err
	}
	c.bytesWritten.Add(int64(len(frame)))
	return nil
}

// Bytes reports the payload bytes of the data frames read and written so
// far.
func (c *Conn) Bytes() (read, written int64) {
	return c.bytesRead.Load(), c.bytesWritten.Load()
}

// Close sends a close frame carrying reason (normal closure when reason is
// empty, policy violation otherwise) and closes the socket.
func (c *Conn) Close(reason string) error {
	var err error
	c.closeOnce.Do(func() {
		close(c.done)
		code := websocket.CloseNormalClosure
		if reason != "" {
			code = websocket.ClosePolicyViolation
		}
		if len(reason) > 120 { // a close frame's payload is at most 125 bytes
			reason = reason[:120]
		}
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		err = c.ws.Close()
	})
	return err
}

// RemoteAddr is the peer's network address.
func (c *Conn) RemoteAddr() string { return c.ws.RemoteAddr().String() }
