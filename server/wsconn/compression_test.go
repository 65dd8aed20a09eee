package wsconn_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/wsconn"
)

// countingConn counts the bytes a client reads off the wire.
type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

// dialCompressing dials url offering permessage-deflate, as stock Node and
// browser clients do, with a socket receive buffer of rcvbuf bytes when
// it is not 0; read counts the bytes that arrive.
func dialCompressing(t *testing.T, url string, rcvbuf int) (ws *websocket.Conn, read *atomic.Int64) {
	t.Helper()
	read = new(atomic.Int64)
	d := websocket.Dialer{EnableCompression: true, NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err != nil {
			return nil, err
		}
		if rcvbuf > 0 {
			c.(*net.TCPConn).SetReadBuffer(rcvbuf)
		}
		return countingConn{Conn: c, read: read}, nil
	}}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	if ext := resp.Header.Get("Sec-Websocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("the upgrader did not accept compression: %q", ext)
	}
	return ws, read
}

// serveFrames accepts one websocket with Upgrader and writes every frame
// sent on the returned channel, reporting each write's result. With a
// listener (else one on loopback), it serves there.
func serveFrames(t *testing.T, opts wsconn.Options, ln net.Listener) (url string, send chan []byte, wrote chan error) {
	t.Helper()
	send, wrote = make(chan []byte), make(chan error, 1)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsconn.Upgrader{}.Upgrade(w, r, opts)
		if err != nil {
			return
		}
		defer c.Close("")
		go func() { // reading answers pings, and sees the close
			for {
				if _, err := c.ReadFrame(context.Background()); err != nil {
					return
				}
			}
		}()
		for {
			select {
			case f := <-send:
				err := c.WriteFrame(context.Background(), f)
				wrote <- err
				if err != nil {
					return
				}
			case <-r.Context().Done():
				return
			}
		}
	}))
	if ln != nil {
		ts.Listener.Close()
		ts.Listener = ln
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http"), send, wrote
}

// TestLargeFramesGoCompressed: a peer that offers permessage-deflate gets
// frames from CompressMinSize on compressed, and smaller ones as they are.
func TestLargeFramesGoCompressed(t *testing.T) {
	url, send, wrote := serveFrames(t, wsconn.Options{}, nil)
	ws, read := dialCompressing(t, url, 0)
	for _, c := range []struct {
		size       int
		compressed bool
	}{
		{wsconn.DefaultCompressMinSize - 1, false},
		{wsconn.DefaultCompressMinSize, true},
		{128 << 10, true},
	} {
		frame := bytes.Repeat([]byte("council "), c.size/8+1)[:c.size]
		before := read.Load()
		send <- frame
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, frame) {
			t.Fatalf("%d-byte frame: received %d bytes, not the frame", c.size, len(got))
		}
		wire := read.Load() - before
		if compressed := wire < int64(c.size)/4; compressed != c.compressed {
			t.Errorf("%d-byte frame took %d bytes on the wire: compressed %v, want %v", c.size, wire, compressed, c.compressed)
		}
	}
}

// TestCompressionOff: with a negative CompressMinSize the upgrader does
// not accept compression, and large frames go as they are.
func TestCompressionOff(t *testing.T) {
	url, send, wrote := serveFrames(t, wsconn.Options{CompressMinSize: -1}, nil)
	d := websocket.Dialer{EnableCompression: true}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ext := resp.Header.Get("Sec-Websocket-Extensions"); ext != "" {
		t.Fatalf("compression off, but the upgrader accepted %q", ext)
	}
	frame := bytes.Repeat([]byte{'a'}, 64<<10)
	send <- frame
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if _, got, err := ws.ReadMessage(); err != nil || !bytes.Equal(got, frame) {
		t.Fatalf("received %d bytes, %v", len(got), err)
	}
}

// TestCompressedBombIsRefused: gorilla's read limit counts a compressed
// frame's bytes as they arrive, and a few KiB of deflate inflate to
// gigabytes. ReadFrame bounds the inflated size by MaxFrameSize too.
func TestCompressedBombIsRefused(t *testing.T) {
	const limit = 64 << 10
	url, reads, frames := serve(t, wsconn.Options{MaxFrameSize: limit})
	ws, _ := dialCompressing(t, url, 0)
	// A frame under the limit, compressed, is read whole.
	small := bytes.Repeat([]byte{0}, limit)
	if err := ws.WriteMessage(websocket.BinaryMessage, small); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-frames:
		if !bytes.Equal(f, small) {
			t.Fatalf("read %d bytes, not the frame", len(f))
		}
	case err := <-reads:
		t.Fatalf("a frame of the limit's size refused: %v", err)
	}
	// 16 MiB of zeros: about 16 KiB compressed, under the limit as it
	// arrives, far over it inflated. The read fails once the limit is
	// passed; the writer may then find the connection closed.
	bomb := make(chan int64, 1)
	go func() {
		w, err := ws.NextWriter(websocket.BinaryMessage)
		if err != nil {
			bomb <- 0
			return
		}
		zeros := make([]byte, 1<<20)
		var n int64
		for range 16 {
			if _, err := w.Write(zeros); err != nil {
				break
			}
			n += int64(len(zeros))
		}
		w.Close()
		bomb <- n
	}()
	select {
	case err := <-reads:
		if !errors.Is(err, server.ErrFrameTooLarge) {
			t.Fatalf("compressed bomb: %v, want a frame too large", err)
		}
	case f := <-frames:
		t.Fatalf("a compressed frame inflating to %d bytes was read whole", len(f))
	case <-time.After(30 * time.Second):
		t.Fatal("the bomb was neither read nor refused")
	}
	<-bomb
}

// TestSlicesGoCompressedWhateverTheirSize: a slice of a transfer
// (WriteBulkFrame) goes compressed from a few hundred bytes, below
// CompressMinSize, so a phone on a link that drops often, which gets
// small slices, gets them compressed too; a plain frame of that size does
// not.
func TestSlicesGoCompressedWhateverTheirSize(t *testing.T) {
	for _, c := range []struct {
		opts       wsconn.Options
		bulk       bool
		compressed bool
	}{
		{wsconn.Options{}, true, true},
		{wsconn.Options{}, false, false},
	} {
		frame := bytes.Repeat([]byte("council "), 128) // 1 KiB
		conns := make(chan *wsconn.Conn, 1)
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := wsconn.Upgrader{}.Upgrade(w, r, c.opts)
			if err != nil {
				return
			}
			conns <- conn
			<-r.Context().Done()
		}))
		ws, read := dialCompressing(t, "ws"+strings.TrimPrefix(ts.URL, "http"), 0)
		conn := <-conns
		before := read.Load()
		write := conn.WriteFrame
		if c.bulk {
			write = conn.WriteBulkFrame
		}
		if err := write(context.Background(), frame); err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.ReadMessage()
		if err != nil || !bytes.Equal(got, frame) {
			t.Fatalf("received %d bytes (%v), not the frame", len(got), err)
		}
		wire := read.Load() - before
		if compressed := wire < int64(len(frame))/4; compressed != c.compressed {
			t.Errorf("%+v, bulk %v: a %d-byte frame took %d bytes: compressed %v, want %v", c.opts, c.bulk, len(frame), wire, compressed, c.compressed)
		}
		conn.Close("")
		ws.Close()
		ts.Close()
	}
}
