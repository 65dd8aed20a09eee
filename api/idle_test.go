package api_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server/wire"
)

// TestIdlePeersHoldNoGoroutine: an idle joined connection holds no
// goroutine — not a read loop, a write loop, a closer or a keepalive
// ticker, nor one parked waiting for input: it waits in the shared epoll
// set, and a reader is started when input arrives. A writer exists only
// while something is queued, and is gone again once it was written
// (issue 11). The few goroutines allowed are the shared poller's and the
// runtime's.
func TestIdlePeersHoldNoGoroutine(t *testing.T) {
	ts, _ := startServer(t, api.Options{AllowAnonymous: true, MaxConnectionsPerAddress: 1000})
	const n = 50
	settle := func() int {
		time.Sleep(300 * time.Millisecond)
		runtime.GC()
		return runtime.NumGoroutine()
	}
	before := settle()
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		ws := dial(t, ts)
		id := fmt.Sprintf("idle-%d", i)
		writeMsg(t, ws, wire.Message{Type: wire.TypeJoin, SenderID: id,
			PeerMetadata: &wire.PeerMetadata{StorageID: id}, SupportedProtocolVersions: []string{"1"}})
		if m, err := readMsg(t, ws); err != nil || m.Type != wire.TypePeer {
			t.Fatalf("handshake: %v %v", m.Type, err)
		}
		conns[i] = ws
	}
	// Each client connection in this process holds no goroutine of its
	// own (gorilla's client reads only when asked), so what grew is the
	// relay's.
	if grew := settle() - before; grew > 5 {
		t.Fatalf("%d idle connections hold %d goroutines; want none", n, grew)
	}
	// Traffic starts a writer per connection; it ends once written.
	for _, ws := range conns {
		writeMsg(t, ws, wire.Message{Type: wire.TypeRequest, SenderID: "x", TargetID: "relay",
			DocumentID: wire.NewDocumentID(), Data: []byte{0x42, 0, 0, 0, 0, 0}})
	}
	for _, ws := range conns {
		if m, err := readMsg(t, ws); err != nil {
			t.Fatalf("answer: %v %v", m.Type, err)
		}
	}
	if grew := settle() - before; grew > 5 {
		t.Fatalf("after one exchange each, %d connections hold %d goroutines; want none", n, grew)
	}
}
