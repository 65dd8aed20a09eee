package wsconn

import (
	"bufio"
	"net"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
)

// Buffers for gorilla's Upgrader and Dialer: a small read buffer (frame
// headers and small messages go through it; larger frames are read in
// pieces that bypass it) and a write buffer lent from a pool only while a
// frame is being written, so an idle connection holds a few hundred bytes
// of buffer (issue 11). The read buffer is the smallest size gorilla's
// Upgrader reads through rather than allocating a 4 KiB one of its own
// (more than 256 bytes), rounded to an allocation size class. The write
// buffer's size is the fragment size writes rely on (WriteFrame).
const (
	ReadBufferSize  = 288
	WriteBufferSize = writePiece
)

// WriteBufferPool lends write buffers to connections while they write.
var WriteBufferPool websocket.BufferPool = new(sync.Pool)

// Upgrader upgrades HTTP requests to Conns. Beyond gorilla's Upgrader (whose
// buffer fields it overrides) it keeps the connection's read buffer and
// socket where the Conn can see them, so that an idle connection waits
// for its next frame in the shared epoll set (NotifyReadable) with no
// goroutine of its own.
type Upgrader struct {
	// CheckOrigin is gorilla's; nil accepts only same-origin requests.
	CheckOrigin func(r *http.Request) bool
}

// Upgrade answers the websocket handshake on w and returns the connection.
// On failure the client has been answered already.
func (u Upgrader) Upgrade(w http.ResponseWriter, r *http.Request, opts Options) (*Conn, error) {
	h := &hijacker{ResponseWriter: w}
	up := websocket.Upgrader{
		CheckOrigin: u.CheckOrigin,
		// Zero: gorilla then reads through the reader hijack returns,
		// which is ours (ReadBufferSize bytes).
		ReadBufferSize:  0,
		WriteBufferSize: WriteBufferSize,
		WriteBufferPool: WriteBufferPool,
		// Flate readers and writers are pooled by gorilla and held only
		// while a frame is read or written: an idle connection holds none.
		EnableCompression: opts.CompressMinSize >= 0,
	}
	ws, err := up.Upgrade(h, r, nil)
	if err != nil {
		return nil, err
	}
	c := New(ws, opts)
	if h.br != nil {
		c.br, c.raw = h.br, rawConn(h.conn)
	}
	return c, nil
}

// hijacker hands gorilla a small read buffer of ours in place of the HTTP
// server's, and the connection wrapped as a socket.
type hijacker struct {
	http.ResponseWriter
	conn net.Conn
	br   *bufio.Reader
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	conn, brw, err := hj.Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		return conn, brw, err // gorilla refuses data sent before the handshake ended
	}
	h.conn, h.br = conn, bufio.NewReaderSize(conn, ReadBufferSize)
	limitUnsent(conn)
	return &socket{Conn: conn}, bufio.NewReadWriter(h.br, brw.Writer), nil
}
