package wsconn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/server/wsconn"
)

// TestWaitReadableSeesBufferedFrames: frames that arrived together sit in
// the read buffer, not the socket; Readable must report them and
// WaitReadable must not park on the socket while they wait, or a phone's
// second message would be answered only when it sends a third.
func TestWaitReadableSeesBufferedFrames(t *testing.T) {
	conns := make(chan *wsconn.Conn, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsconn.Upgrader{}.Upgrade(w, r, wsconn.Options{})
		if err != nil {
			t.Error(err)
			return
		}
		conns <- c
	}))
	defer ts.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := <-conns
	defer c.Close("")
	if c.Readable() {
		t.Fatal("Readable before anything was sent")
	}
	for _, m := range []string{"one", "two", "three"} {
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // all three arrive before the first read
	for _, want := range []string{"one", "two", "three"} {
		waited := make(chan struct{})
		go func() { c.WaitReadable(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			t.Fatalf("WaitReadable parked with %q waiting", want)
		}
		if !c.Readable() {
			t.Fatalf("Readable false with %q waiting", want)
		}
		f, err := c.ReadFrame(context.Background())
		if err != nil || string(f) != want {
			t.Fatalf("ReadFrame = %q, %v; want %q", f, err, want)
		}
	}
	if c.Readable() {
		t.Fatal("Readable with nothing left")
	}
	waited := make(chan struct{})
	go func() { c.WaitReadable(); close(waited) }()
	select {
	case <-waited:
		t.Fatal("WaitReadable returned with nothing sent")
	case <-time.After(200 * time.Millisecond):
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte("four")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("WaitReadable did not return when a frame arrived")
	}
	if f, err := c.ReadFrame(context.Background()); err != nil || string(f) != "four" {
		t.Fatalf("ReadFrame = %q, %v; want four", f, err)
	}
}
