package wsconn_test

import (
	"context"
	"crypto/tls"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/server/wsconn"
)

// TestUnsentOverTLS: a connection accepted over TLS (the socket wraps the
// TLS connection) and one dialed over TLS (TLS wraps the socket) both
// report the bytes waiting in the kernel's send queue.
func TestUnsentOverTLS(t *testing.T) {
	accepted, ts := acceptingServer(t, httptest.NewTLSServer)
	url := "wss" + strings.TrimPrefix(ts.URL, "https")
	tlsConf := &tls.Config{InsecureSkipVerify: true}

	// The client reads nothing: what the server writes waits in its socket.
	peer, _, err := (&websocket.Dialer{TLSClientConfig: tlsConf}).Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c := <-accepted
	defer c.Close("")
	unsentAfterWrite(t, "accepted over TLS", c)

	// Dialed over TLS by wsconn.DialContext, against a server that reads
	// nothing.
	stall := make(chan struct{})
	defer close(stall)
	ts2 := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		<-stall
	}))
	defer ts2.Close()
	d := websocket.Dialer{TLSClientConfig: tlsConf, NetDialContext: wsconn.DialContext}
	ws, _, err := d.Dial("wss"+strings.TrimPrefix(ts2.URL, "https"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dialed := wsconn.New(ws, wsconn.Options{})
	defer dialed.Close("")
	unsentAfterWrite(t, "dialed over TLS", dialed)
}

// TestUnsentWithCompression: with permessage-deflate negotiated, the
// connection's socket sits under gorilla's compressing writer and the
// relay's own wrapper; Unsent still reports the bytes waiting in the
// kernel's send queue, so keepalive and Relay.Traffic see a slow peer.
func TestUnsentWithCompression(t *testing.T) {
	accepted, ts := acceptingServer(t, httptest.NewServer)
	peer, resp, err := (&websocket.Dialer{EnableCompression: true}).Dial("ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if ext := resp.Header.Get("Sec-Websocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("compression was not negotiated (extensions %q)", ext)
	}
	c := <-accepted
	defer c.Close("")
	unsentAfterWrite(t, "compressed", c)
}

// acceptingServer serves websocket upgrades with wsconn (started by
// start: plain or TLS) and hands each accepted connection over.
func acceptingServer(t *testing.T, start func(http.Handler) *httptest.Server) (<-chan *wsconn.Conn, *httptest.Server) {
	accepted := make(chan *wsconn.Conn, 1)
	ts := start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsconn.Upgrader{}.Upgrade(w, r, wsconn.Options{})
		if err != nil {
			return
		}
		accepted <- c
		<-r.Context().Done()
	}))
	t.Cleanup(ts.Close)
	return accepted, ts
}

// unsentAfterWrite writes more than the peer's buffers hold and expects
// Unsent to see some of it waiting. The frame is random: compressed, it
// is as large as it is plain.
func unsentAfterWrite(t *testing.T, what string, c *wsconn.Conn) {
	t.Helper()
	frame := make([]byte, 8<<20)
	rand.New(rand.NewSource(1)).Read(frame)
	go c.WriteFrame(context.Background(), frame)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		switch n := c.Unsent(); {
		case n < 0:
			t.Fatalf("%s: Unsent cannot tell", what)
		case n > 0:
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: Unsent never saw bytes waiting", what)
}
