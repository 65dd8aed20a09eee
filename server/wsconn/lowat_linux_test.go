package wsconn

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"
)

// TestSocketsHoldFewUnsentBytes: accepted and dialed connections take at
// most notSentLowat unsent bytes into the kernel, so that the relay, not
// the kernel, orders what waits for a slow link (server/outbox.go).
func TestSocketsHoldFewUnsentBytes(t *testing.T) {
	accepted := make(chan *Conn, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrader{}.Upgrade(w, r, Options{})
		if err != nil {
			return
		}
		accepted <- c
		<-r.Context().Done()
	}))
	defer ts.Close()
	d := websocket.Dialer{NetDialContext: DialContext}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := <-accepted
	defer c.Close("")
	for name, conn := range map[string]any{"accepted": netConn(c.ws.UnderlyingConn()), "dialed": netConn(ws.UnderlyingConn())} {
		raw, err := conn.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		raw.Control(func(fd uintptr) {
			got, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
		})
		if err != nil || got != notSentLowat {
			t.Errorf("%s: TCP_NOTSENT_LOWAT is %d (%v), want %d", name, got, err, notSentLowat)
		}
	}
}
