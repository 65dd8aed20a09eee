package wsconn_test

import (
	"context"
	"errors"
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
	up := websocket.Upgrader{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := wsconn.New(ws, opts)
		defer c.Close("")
		for {
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
