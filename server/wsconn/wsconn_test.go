package wsconn_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/wsconn"
)

// serve accepts one websocket and reports what ReadFrame returned.
func serve(t *testing.T, opts wsconn.Options) (url string, reads chan error, frames chan []byte) {
	t.Helper()
	reads = make(chan error, 1)
	frames = make(chan []byte, 16)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsconn.Upgrader{}.Upgrade(w, r, opts)
		if err != nil {
			return
		}
		defer c.Close("")
		for {
			awaitInput(c) // as the relay's read loop does between bursts
			f, err := c.ReadFrame(context.Background())
			if err != nil {
				reads <- err
				return
			}
			frames <- f
		}
	}))
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http"), reads, frames
}

// awaitInput returns once ReadFrame has something to do, waiting as the
// relay does: no goroutine blocked on the socket, a wake from the shared
// poller instead.
func awaitInput(c *wsconn.Conn) {
	for !c.Readable() {
		woke := make(chan struct{})
		if !c.NotifyReadable(func() { close(woke) }) {
			return
		}
		<-woke
	}
}

func TestSilentPeerIsDroppedAfterPingAndPongTimeout(t *testing.T) {
	url, reads, _ := serve(t, wsconn.Options{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond})
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	// The client never reads, so it never answers a ping.
	start := time.Now()
	select {
	case err := <-reads:
		if err == nil {
			t.Fatal("read ended without error")
		}
		if waited := time.Since(start); waited < 140*time.Millisecond {
			t.Fatalf("dropped after %v, before ping interval + pong timeout", waited)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("silent peer never dropped")
	}
}

func TestAnsweringPeerStaysConnected(t *testing.T) {
	// A pong timeout wide enough for a machine busy with -race and other
	// tests: the point is many pings, all answered.
	url, reads, frames := serve(t, wsconn.Options{PingInterval: 20 * time.Millisecond, PongTimeout: 250 * time.Millisecond})
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	go func() { // reading answers pings with pongs
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	time.Sleep(600 * time.Millisecond) // many ping intervals, two pong timeouts
	select {
	case err := <-reads:
		t.Fatalf("answering peer dropped: %v", err)
	default:
	}
	ws.WriteMessage(websocket.BinaryMessage, []byte{0xa0})
	select {
	case f := <-frames:
		if len(f) != 1 || f[0] != 0xa0 {
			t.Fatalf("frame %x", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("frame not delivered")
	}
}

func TestTextAndOversizedFrames(t *testing.T) {
	url, reads, _ := serve(t, wsconn.Options{MaxFrameSize: 16})
	ws, _, _ := websocket.DefaultDialer.Dial(url, nil)
	ws.WriteMessage(websocket.TextMessage, []byte("hi"))
	if err := <-reads; !errors.Is(err, server.ErrTextFrame) {
		t.Fatalf("text frame: %v", err)
	}
	ws.Close()
	ws, _, _ = websocket.DefaultDialer.Dial(url, nil)
	defer ws.Close()
	ws.WriteMessage(websocket.BinaryMessage, make([]byte, 17))
	if err := <-reads; !errors.Is(err, server.ErrFrameTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
}

// dialSlow dials url with a tiny receive buffer, so what the client has
// not read stays unacknowledged in the server's socket, as on a slow link.
func dialSlow(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4 << 10)
		}
		return c, err
	}}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// serveWriter accepts one websocket and writes frame to it, reporting the
// write's result and whether reading ever failed.
// The server's socket gets a send buffer of sndbuf bytes when it is not 0:
// a large one holds a whole frame, and the pings written after it.
func serveWriter(t *testing.T, opts wsconn.Options, frame []byte, sndbuf int) (url string, wrote, reads chan error, conns chan *wsconn.Conn) {
	t.Helper()
	wrote, reads, conns = make(chan error, 1), make(chan error, 1), make(chan *wsconn.Conn, 1)
	up := websocket.Upgrader{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if sndbuf > 0 {
			ws.UnderlyingConn().(*net.TCPConn).SetWriteBuffer(sndbuf)
		}
		c := wsconn.New(ws, opts)
		conns <- c
		defer c.Close("")
		go func() {
			for {
				if _, err := c.ReadFrame(context.Background()); err != nil {
					reads <- err
					return
				}
			}
		}()
		wrote <- c.WriteFrame(context.Background(), frame)
		<-r.Context().Done()
	}))
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http"), wrote, reads, conns
}

// TestBusyReceiverIsAlive: a frame that takes many keepalive windows to
// drain to a slow reader is written whole, and the peer is not dropped for
// pongs that wait behind it in the kernel's send buffer: bytes leaving the
// socket prove it alive.
func TestBusyReceiverIsAlive(t *testing.T) {
	frame := make([]byte, 128<<10)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	opts := wsconn.Options{PingInterval: 200 * time.Millisecond, PongTimeout: 400 * time.Millisecond}
	url, wrote, reads, conns := serveWriter(t, opts, frame, 1<<20)
	ws := dialSlow(t, url)
	c := <-conns
	start := time.Now()
	_, r, err := ws.NextReader()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 1024)
	sawUnsent := false
	for {
		time.Sleep(8 * time.Millisecond) // about 128 KB/s
		if c.Unsent() > 0 {
			sawUnsent = true
		}
		n, err := r.Read(buf)
		got.Write(buf[:n])
		select {
		case err := <-reads:
			t.Fatalf("dropped after %v with %d of %d bytes received: %v", time.Since(start), got.Len(), len(frame), err)
		default:
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes, %v: %v", got.Len(), time.Since(start), err)
		}
	}
	if !bytes.Equal(got.Bytes(), frame) {
		t.Fatalf("received %d bytes, not the frame", got.Len())
	}
	if err := <-wrote; err != nil {
		t.Fatalf("write of a frame to a slow but live reader failed: %v", err)
	}
	took := time.Since(start)
	if took < 3*(opts.PingInterval+opts.PongTimeout) {
		t.Fatalf("the frame drained in %v: too fast to span several keepalive windows", took)
	}
	if !sawUnsent {
		t.Errorf("Unsent never reported bytes waiting in the socket")
	}
	go func() { // answer pings from now on
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	time.Sleep(2 * (opts.PingInterval + opts.PongTimeout))
	select {
	case err := <-reads:
		t.Fatalf("busy receiver dropped after %v: %v", took, err)
	default:
	}
}

// TestStalledReceiverIsCut: a peer that stops taking bytes fails the write
// after WriteTimeout without progress.
func TestStalledReceiverIsCut(t *testing.T) {
	opts := wsconn.Options{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond}
	url, wrote, _, _ := serveWriter(t, opts, make([]byte, 8<<20), 0)
	dialSlow(t, url) // never reads
	select {
	case err := <-wrote:
		if err == nil {
			t.Fatal("an 8 MiB frame was written to a peer that reads nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write to a stalled peer never failed")
	}
}

// TestReadFrameEndsWithItsContext: a peer that connects and says nothing
// is let go when the reader's context ends (the relay's join deadline),
// long before the keepalive window would notice.
func TestReadFrameEndsWithItsContext(t *testing.T) {
	reads := make(chan error, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsconn.Upgrader{}.Upgrade(w, r, wsconn.Options{PingInterval: time.Minute, PongTimeout: time.Minute})
		if err != nil {
			return
		}
		defer c.Close("")
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err = c.ReadFrame(ctx)
		reads <- err
	}))
	defer ts.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	start := time.Now()
	select {
	case err := <-reads:
		if err == nil {
			t.Fatal("the read ended without error")
		}
		if waited := time.Since(start); waited > 5*time.Second {
			t.Fatalf("the read ended after %v", waited)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a silent peer outlived the reader's context (the keepalive window is a minute)")
	}
}
