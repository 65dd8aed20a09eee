package wsconn

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
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
	// WriteTimeout is how long a write may make no progress: a frame goes
	// out in fragments of about 4 KiB, each with this deadline, so a frame
	// that takes minutes over a slow link is fine as long as bytes keep
	// leaving. Default: PingInterval + PongTimeout.
	WriteTimeout time.Duration
	// MaxFrameSize bounds one incoming frame, as it arrives and, for a
	// compressed frame, once inflated; a larger one ends the connection.
	// Default: 8 MiB.
	MaxFrameSize int64
	// CompressMinSize is the size from which a frame the relay sends goes
	// compressed (permessage-deflate, RFC 7692, without context takeover)
	// to a peer that offered compression, as stock Node and browser
	// clients do. Smaller frames, which are most of a busy document's
	// fan-out, go as they are: deflating them would cost CPU for a few
	// bytes. Default: 4 KiB. Negative: compression is neither accepted
	// (Upgrader) nor used.
	CompressMinSize int
}

// DefaultCompressMinSize is the default Options.CompressMinSize.
const DefaultCompressMinSize = 4 << 10

func (o Options) withDefaults() Options {
	if o.PingInterval <= 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.PongTimeout <= 0 {
		o.PongTimeout = 60 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = o.PingInterval + o.PongTimeout
	}
	if o.MaxFrameSize <= 0 {
		o.MaxFrameSize = 8 << 20
	}
	if o.CompressMinSize == 0 {
		o.CompressMinSize = DefaultCompressMinSize
	}
	return o
}

// Conn is a server.Conn over a websocket.
type Conn struct {
	ws   *websocket.Conn
	opts Options

	wmu sync.Mutex // serializes data frame writes

	// lastHeard is when the peer last sent anything, or last took bytes
	// we sent (unix nanoseconds); the keepalive tick moves the read
	// deadline from it, so reading a frame costs no timer update.
	lastHeard atomic.Int64
	// tick runs the keepalive four times per ping interval, each time on a
	// goroutine of its own that ends at once: an idle connection holds a
	// timer, not a goroutine.
	tick *time.Timer
	// kmu guards the keepalive's state: the tick compares bytesWritten
	// and the socket's unsent bytes between ticks to see whether the peer
	// is taking what we send. (Ticks do not overlap: the next is armed
	// after the sampling; the lock says so to the race detector.)
	kmu         sync.Mutex
	lastWritten int64
	lastUnsent  int
	ticks       int
	pinging     atomic.Bool // a ping is waiting to go out

	closeOnce sync.Once
	done      chan struct{}

	bytesRead, bytesWritten atomic.Int64 // data frames' payloads

	// sock is the socket under the websocket when Upgrader or DialContext
	// made it (writes with deadlines by progress, bytes sent counted),
	// else nil.
	sock *socket

	// Set by Upgrader: the read buffer gorilla reads through and the
	// socket under it, for NotifyReadable and Readable. Nil for other
	// connections.
	br  *bufio.Reader
	raw syscall.RawConn
	// onReadable is what NotifyReadable was asked to call, until a wake
	// takes it; pollID is the connection's number in the shared poller (0:
	// not registered; guarded by the poller's mu).
	onReadable atomic.Pointer[func()]
	pollID     uint64
}

var (
	_ server.Conn       = (*Conn)(nil)
	_ server.BulkWriter = (*Conn)(nil)
)

// New wraps an established websocket and starts its keepalive.
func New(ws *websocket.Conn, opts Options) *Conn {
	opts = opts.withDefaults()
	c := &Conn{ws: ws, opts: opts, done: make(chan struct{})}
	if c.sock = socketOf(ws.UnderlyingConn()); c.sock != nil {
		c.sock.timeout = opts.WriteTimeout
	}
	ws.SetReadLimit(opts.MaxFrameSize)
	c.heard()
	c.extendDeadline()
	ws.SetPongHandler(func(string) error {
		c.heard()
		return nil
	})
	c.tick = time.AfterFunc(opts.PingInterval/4, c.keepalive)
	return c
}

func (c *Conn) heard() { c.lastHeard.Store(time.Now().UnixNano()) }

// receiving reports whether the peer took bytes since the last call: a
// peer busy receiving a long transfer over a slow link is alive even while
// its pongs wait behind the data. Bytes count as they leave the socket
// where the Conn can see it (a compressed frame leaves in bursts), else
// as frames are written. Called with kmu held.
func (c *Conn) receiving() bool {
	written, unsent := c.bytesWritten.Load(), c.Unsent()
	if c.sock != nil {
		written = c.sock.sent.Load()
	}
	progressed := written != c.lastWritten || (unsent >= 0 && unsent < c.lastUnsent)
	c.lastWritten, c.lastUnsent = written, unsent
	return progressed
}

// Unsent is how many bytes the socket holds that the peer has not yet
// acknowledged (Linux; -1 where the platform cannot tell).
func (c *Conn) Unsent() int { return unsentBytes(c.ws.UnderlyingConn()) }

// extendDeadline lets the peer stay silent for PingInterval + PongTimeout
// after it was last heard.
func (c *Conn) extendDeadline() {
	last := time.Unix(0, c.lastHeard.Load())
	_ = c.ws.SetReadDeadline(last.Add(c.opts.PingInterval + c.opts.PongTimeout))
}

// keepalive samples whether the peer is taking what we send, moves the
// read deadline, arms the next tick, and every fourth tick pings. The ping
// goes out after the next tick is armed: it waits for the fragment being
// written and must not hold up the deadline.
func (c *Conn) keepalive() {
	select {
	case <-c.done:
		return
	default:
	}
	c.kmu.Lock()
	if c.receiving() {
		c.heard()
	}
	c.extendDeadline()
	c.ticks++
	ping := c.ticks%4 == 0
	c.tick.Reset(c.opts.PingInterval / 4)
	c.kmu.Unlock()
	if c.silent() {
		// Nobody reads an idle connection: wake its reader, which finds the
		// deadline passed and ends the session.
		c.wake()
	}
	if !ping || !c.pinging.CompareAndSwap(false, true) {
		return // not yet, or the last ping is still waiting to go out
	}
	defer c.pinging.Store(false)
	_ = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.opts.WriteTimeout))
}

// silent reports whether the peer has been heard from for longer than the
// keepalive allows: its read deadline has passed.
func (c *Conn) silent() bool {
	return time.Since(time.Unix(0, c.lastHeard.Load())) > c.opts.PingInterval+c.opts.PongTimeout
}

// NotifyReadable arranges for f to be called once, on a goroutine of its
// own, when the next frame has begun to arrive, the connection has ended
// or failed, it was closed, or the peer was silent past the keepalive: an
// idle connection then holds no goroutine, only its registration in one
// epoll set shared by all connections (poll_linux.go; issue 11). It
// reports false where it cannot (a Conn not made by Upgrader, TLS,
// another platform): the caller then reads on, blocking.
func (c *Conn) NotifyReadable(f func()) bool {
	p := thePoller()
	if c.raw == nil || p == nil {
		return false
	}
	pf := &f
	c.onReadable.Store(pf)
	if c.br.Buffered() > 0 {
		c.wake()
		return true
	}
	if !p.arm(c) {
		// Closed, or epoll refused the socket: take f back unless a wake
		// has taken it already.
		return !c.onReadable.CompareAndSwap(pf, nil)
	}
	return true
}

// wake calls what NotifyReadable was asked to call, if that is still to
// be done, on a goroutine of its own.
func (c *Conn) wake() {
	if f := c.onReadable.Swap(nil); f != nil {
		go (*f)()
	}
}

// Readable reports, without waiting for the peer, whether ReadFrame has
// something to do: a frame has begun to arrive, the connection has ended
// or failed, or the peer was silent past the keepalive. Pings and pongs
// that arrived before the next frame are taken here — a pong counts as
// hearing the peer, a ping is answered — so that the keepalive's exchange
// does not leave a reader blocked for a frame that may come in hours.
// Where it cannot tell (a Conn not made by Upgrader, TLS, another
// platform), it reports true.
func (c *Conn) Readable() bool {
	if c.raw == nil {
		return true
	}
	for {
		select {
		case <-c.done:
			return true
		default:
		}
		if c.silent() {
			return true
		}
		if c.br.Buffered() == 0 && !readable(c.raw) {
			return false
		}
		if took, err := c.takeControl(); !took || err != nil {
			return true
		}
	}
}

// takeControl reads a ping or pong frame at the head of the input and
// handles it as gorilla would; it reads nothing and reports false when the
// next frame is anything else (gorilla then reads it, and refuses it if it
// is malformed). It may wait for the rest of a control frame that has
// begun to arrive, bounded by the read deadline.
func (c *Conn) takeControl() (bool, error) {
	head, err := c.br.Peek(2)
	if err != nil {
		return false, err
	}
	op := int(head[0] & 0x0f)
	if head[0]&0xf0 != 0x80 || (op != websocket.PingMessage && op != websocket.PongMessage) {
		return false, nil // not a final control frame without extensions
	}
	n := int(head[1] & 0x7f)
	if n > 125 {
		return false, nil
	}
	size, masked := 2+n, head[1]&0x80 != 0
	if masked {
		size += 4
	}
	var frame [2 + 4 + 125]byte
	if _, err := io.ReadFull(c.br, frame[:size]); err != nil {
		return true, err
	}
	payload := frame[size-n : size]
	if masked {
		key := frame[2:6]
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	c.heard()
	if op == websocket.PingMessage {
		_ = c.ws.WriteControl(websocket.PongMessage, payload, time.Now().Add(c.opts.WriteTimeout))
	}
	return true, nil
}

// ReadFrame returns the next binary frame. A frame arriving slowly counts
// as the peer being heard with every piece that arrives, so a phone
// uploading a large message over 2G is not taken for a silent one. When
// ctx ends (the relay's join deadline) the read fails, and the connection
// is not read again. A frame over MaxFrameSize fails the read with
// server.ErrFrameTooLarge, whether it arrived that large or inflates to
// that (gorilla's read limit counts the compressed bytes only: a few KiB
// of deflate can hold gigabytes).
func (c *Conn) ReadFrame(ctx context.Context) ([]byte, error) {
	if ctx.Done() != nil {
		// A context that can end (the handshake's deadline) ends the read:
		// the read deadline moves to the past, and the read fails.
		stop := context.AfterFunc(ctx, func() { _ = c.ws.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return nil, c.readError(err)
	}
	c.heard()
	var buf bytes.Buffer
	piece := readPieces.Get().(*[readPiece]byte)
	defer readPieces.Put(piece)
	for {
		n, err := r.Read(piece[:])
		if n > 0 {
			c.heard()
			if int64(buf.Len()+n) > c.opts.MaxFrameSize {
				return nil, c.readError(websocket.ErrReadLimit)
			}
			buf.Write(piece[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, c.readError(err)
		}
	}
	c.bytesRead.Add(int64(buf.Len()))
	if typ != websocket.BinaryMessage {
		return nil, server.ErrTextFrame
	}
	return buf.Bytes(), nil
}

func (c *Conn) readError(err error) error {
	if errors.Is(err, websocket.ErrReadLimit) {
		return fmt.Errorf("%w: over %d bytes", server.ErrFrameTooLarge, c.opts.MaxFrameSize)
	}
	return err
}

// readPiece and writePiece are how much of a frame is read or written at a
// time; gorilla sends a written frame as websocket fragments of its write
// buffer's size, and keepalive pings go out between fragments.
const (
	readPiece  = 4 << 10
	writePiece = 4 << 10
)

// readPieces lends ReadFrame its piece buffer: one per frame being read,
// none held by an idle connection.
var readPieces = sync.Pool{New: func() any { return new([readPiece]byte) }}

// WriteFrame sends one binary frame, compressed if the peer negotiated
// compression and the frame is at least CompressMinSize bytes. It fails
// only when no bytes leave for WriteTimeout, however long the whole frame
// takes.
func (c *Conn) WriteFrame(ctx context.Context, frame []byte) error {
	return c.write(frame, len(frame) >= c.opts.CompressMinSize)
}

// bulkCompressMinSize is the size from which WriteBulkFrame compresses: a
// frame smaller than this gains nothing from deflate.
const bulkCompressMinSize = 256

// WriteBulkFrame is WriteFrame for a slice of a transfer: compressed from
// a few hundred bytes, whatever CompressMinSize says (unless compression
// is off).
func (c *Conn) WriteBulkFrame(ctx context.Context, frame []byte) error {
	return c.write(frame, len(frame) >= min(c.opts.CompressMinSize, bulkCompressMinSize))
}

func (c *Conn) write(frame []byte, compress bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.EnableWriteCompression(c.opts.CompressMinSize >= 0 && compress)
	c.writeDeadline()
	w, err := c.ws.NextWriter(websocket.BinaryMessage)
	if err != nil {
		return err
	}
	for len(frame) > 0 {
		n := min(len(frame), writePiece)
		c.writeDeadline()
		if _, err := w.Write(frame[:n]); err != nil {
			return err
		}
		c.bytesWritten.Add(int64(n))
		frame = frame[n:]
	}
	c.writeDeadline()
	return w.Close()
}

// writeDeadline gives the next write of a data frame WriteTimeout: each
// write to the socket where the Conn can see it (socket), else what is
// written until the next call. Called with wmu held.
func (c *Conn) writeDeadline() {
	if c.sock != nil {
		_ = c.ws.SetWriteDeadline(time.Time{})
		return
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
}

// Bytes reports the payload bytes of the data frames read and written so
// far, as they are before compression.
func (c *Conn) Bytes() (read, written int64) {
	return c.bytesRead.Load(), c.bytesWritten.Load()
}

// Close sends a close frame carrying reason (normal closure when reason is
// empty, policy violation otherwise) and closes the socket.
func (c *Conn) Close(reason string) error {
	var err error
	c.closeOnce.Do(func() {
		close(c.done)
		c.tick.Stop()
		code := websocket.CloseNormalClosure
		if reason != "" {
			code = websocket.ClosePolicyViolation
		}
		if len(reason) > 120 { // a close frame's payload is at most 125 bytes
			reason = reason[:120]
		}
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		if c.raw != nil {
			if p := thePoller(); p != nil {
				p.remove(c) // before the socket's descriptor is let go
			}
		}
		err = c.ws.Close()
		c.wake() // a reader waiting for input learns that none will come
	})
	return err
}

// RemoteAddr is the peer's network address.
func (c *Conn) RemoteAddr() string { return c.ws.RemoteAddr().String() }
