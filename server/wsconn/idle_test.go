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

// pair upgrades one websocket with opts and returns both ends.
func pair(t *testing.T, opts wsconn.Options) (*wsconn.Conn, *websocket.Conn) {
	t.Helper()
	conns := make(chan *wsconn.Conn, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsconn.Upgrader{}.Upgrade(w, r, opts)
		if err != nil {
			t.Error(err)
			return
		}
		conns <- c
	}))
	t.Cleanup(ts.Close)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := <-conns
	t.Cleanup(func() { c.Close("") })
	return c, ws
}

// notified asks c to call back once input arrives; the channel is closed
// then. It fails the test if c cannot notify (it always can over TCP on
// Linux, which is where these tests run).
func notified(t *testing.T, c *wsconn.Conn) chan struct{} {
	t.Helper()
	woke := make(chan struct{})
	if !c.NotifyReadable(func() { close(woke) }) {
		t.Fatal("NotifyReadable refused a plain TCP connection")
	}
	return woke
}

// readFrame reads one frame, failing rather than hanging when none comes.
func readFrame(c *wsconn.Conn) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.ReadFrame(ctx)
}

func wokeWithin(ch chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// TestNotifyReadableSeesBufferedFrames: frames that arrived together sit in
// the read buffer, not the socket; Readable must report them and
// NotifyReadable must call back at once while they wait, or a phone's
// second message would be answered only when it sends a third.
func TestNotifyReadableSeesBufferedFrames(t *testing.T) {
	c, ws := pair(t, wsconn.Options{})
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
		if !wokeWithin(notified(t, c), 5*time.Second) {
			t.Fatalf("no wake with %q waiting", want)
		}
		if !c.Readable() {
			t.Fatalf("Readable false with %q waiting", want)
		}
		f, err := readFrame(c)
		if err != nil || string(f) != want {
			t.Fatalf("ReadFrame = %q, %v; want %q", f, err, want)
		}
	}
	if c.Readable() {
		t.Fatal("Readable with nothing left")
	}
	woke := notified(t, c)
	if wokeWithin(woke, 200*time.Millisecond) {
		t.Fatal("woken with nothing sent")
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte("four")); err != nil {
		t.Fatal(err)
	}
	if !wokeWithin(woke, 5*time.Second) {
		t.Fatal("not woken when a frame arrived")
	}
	if f, err := readFrame(c); err != nil || string(f) != "four" {
		t.Fatalf("ReadFrame = %q, %v; want four", f, err)
	}
}

// TestKeepaliveLeavesNoReader: pongs answering the relay's pings, and
// pings from the peer, are taken by Readable (a ping answered), so a
// keepalive exchange wakes the connection only briefly: Readable reports
// nothing to read, no reader is left blocked in gorilla waiting for the
// next data frame, and the peer that answers stays connected (issue 11).
func TestKeepaliveLeavesNoReader(t *testing.T) {
	c, ws := pair(t, wsconn.Options{PingInterval: 40 * time.Millisecond, PongTimeout: 400 * time.Millisecond})
	pongs := make(chan string, 16)
	ws.SetPongHandler(func(s string) error { pongs <- s; return nil })
	go func() { // reading answers the relay's pings, as stock clients do
		for {
			if _, _, err := ws.NextReader(); err != nil {
				return
			}
		}
	}()
	if err := ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wakes := 0
	deadline := time.Now().Add(time.Second) // about 25 of the relay's pings
	for time.Now().Before(deadline) {
		woke := notified(t, c)
		if !wokeWithin(woke, 2*time.Second) {
			t.Fatal("no wake although pings and pongs cross")
		}
		wakes++
		if c.Readable() {
			t.Fatal("Readable with only pings and pongs sent: a reader would block in ReadFrame")
		}
	}
	if wakes < 5 {
		t.Fatalf("%d wakes in a second of pings every 40ms", wakes)
	}
	select {
	case got := <-pongs:
		if got != "are you there" {
			t.Fatalf("pong carried %q", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the peer's ping was not answered")
	}
	// The connection is alive and reads data as before.
	woke := notified(t, c)
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte("data")); err != nil {
		t.Fatal(err)
	}
	for !c.Readable() {
		if !wokeWithin(woke, 5*time.Second) {
			t.Fatal("not woken for a data frame")
		}
		woke = notified(t, c)
	}
	if f, err := readFrame(c); err != nil || string(f) != "data" {
		t.Fatalf("ReadFrame = %q, %v; want data", f, err)
	}
}

// TestIdleConnectionEnds: a connection waiting in the shared poller is
// woken, and ReadFrame fails, when the peer goes silent past the
// keepalive, when the peer hangs up, and when the relay closes it.
func TestIdleConnectionEnds(t *testing.T) {
	t.Run("silent peer", func(t *testing.T) {
		c, _ := pair(t, wsconn.Options{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond})
		start := time.Now()
		woke := notified(t, c) // the client never reads: no pongs
		if !wokeWithin(woke, 5*time.Second) {
			t.Fatal("silent peer never woke its connection")
		}
		if waited := time.Since(start); waited < 140*time.Millisecond {
			t.Fatalf("woken after %v, before ping interval + pong timeout", waited)
		}
		if !c.Readable() {
			t.Fatal("silent peer not Readable: the session would never end")
		}
		if _, err := readFrame(c); err == nil {
			t.Fatal("ReadFrame succeeded for a silent peer")
		}
	})
	t.Run("peer hangs up", func(t *testing.T) {
		c, ws := pair(t, wsconn.Options{})
		woke := notified(t, c)
		ws.UnderlyingConn().Close()
		if !wokeWithin(woke, 5*time.Second) {
			t.Fatal("hang-up did not wake the connection")
		}
		if _, err := readFrame(c); err == nil {
			t.Fatal("ReadFrame succeeded after the peer hung up")
		}
	})
	t.Run("relay closes", func(t *testing.T) {
		c, _ := pair(t, wsconn.Options{})
		woke := notified(t, c)
		c.Close("")
		if !wokeWithin(woke, 5*time.Second) {
			t.Fatal("Close did not wake the connection")
		}
		if _, err := readFrame(c); err == nil {
			t.Fatal("ReadFrame succeeded after Close")
		}
		if c.NotifyReadable(func() {}) {
			t.Fatal("NotifyReadable accepted a closed connection")
		}
	})
}
