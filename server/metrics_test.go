package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veche-sync/veche/server/wire"
)

// recordingMetrics counts every hook call by name and argument.
type recordingMetrics struct {
	mu     sync.Mutex // guards counts
	counts map[string]int
}

func newRecordingMetrics() *recordingMetrics { return &recordingMetrics{counts: map[string]int{}} }

func (m *recordingMetrics) add(key string, n int) {
	m.mu.Lock()
	m.counts[key] += n
	m.mu.Unlock()
}

func (m *recordingMetrics) get(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[key]
}

func (m *recordingMetrics) PeerConnected(k PrincipalKind)      { m.add("connected "+string(k), 1) }
func (m *recordingMetrics) PeerDisconnected(k PrincipalKind)   { m.add("disconnected "+string(k), 1) }
func (m *recordingMetrics) PeerJoined(k PrincipalKind)         { m.add("joined "+string(k), 1) }
func (m *recordingMetrics) HandshakeFailed(r HandshakeFailure) { m.add("handshake "+string(r), 1) }
func (m *recordingMetrics) MessageReceived(t string, b int)    { m.add("received "+t, 1) }
func (m *recordingMetrics) MessageSent(t string, b int)        { m.add("sent "+t, 1) }
func (m *recordingMetrics) ChangesApplied(n int)               { m.add("changes", n) }
func (m *recordingMetrics) DocumentLoaded()                    { m.add("loaded", 1) }
func (m *recordingMetrics) DocumentUnloaded()                  { m.add("unloaded", 1) }
func (m *recordingMetrics) Committed(d time.Duration, err error) {
	m.add(fmt.Sprintf("committed %v", err == nil), 1)
}
func (m *recordingMetrics) Generated(time.Duration) { m.add("generated", 1) }
func (m *recordingMetrics) PeerCut(r CutReason)     { m.add("cut "+string(r), 1) }
func (m *recordingMetrics) Refused(r Refusal)       { m.add("refused "+string(r), 1) }
func (m *recordingMetrics) Quarantined()            { m.add("quarantined", 1) }

func TestMetricsCountLimitsAndHandshakes(t *testing.T) {
	rec := newRecordingMetrics()
	r := newTestRelay(t, openStore(t), Options{MaxMessagesPerSecond: 10, MessageBurst: 20, MaxDocumentSize: 4 << 10, Metrics: rec})

	// A flood of messages of an invented type: counted as "other", then
	// refused and cut by the rate limit.
	flood := connect(t, r, "flood", nil)
	for i := range 100 {
		flood.sendMsg(wire.Message{Type: "future-feature", SenderID: "flood", TargetID: "r", Count: uint64(i)})
	}
	flood.expect(wire.TypeError)
	flood.waitClosed()
	waitUntil(t, "flood counted", func() bool { return rec.get("disconnected anonymous") == 1 })
	if rec.get("refused rate_limit") != 1 || rec.get("cut rate_limit") != 1 {
		t.Errorf("rate limit: %v", rec.counts)
	}
	if n := rec.get("received other"); n != 20 {
		t.Errorf("received other: %d, want the burst of 20", n)
	}
	if rec.get("received future-feature") != 0 {
		t.Error("an invented message type became a label")
	}

	// A peer speaking only protocol version 2.
	old := rawPeer(t, r, "v2")
	old.sendMsg(wire.Message{Type: wire.TypeJoin, SenderID: "v2", SupportedProtocolVersions: []string{"2"}})
	if m := old.recvRaw(5 * time.Second); m.Type != wire.TypeError {
		t.Fatalf("protocol version 2 answered %+v", m)
	}
	old.waitClosed()
	waitUntil(t, "version failure counted", func() bool { return rec.get("handshake version") == 1 })

	// A change past the document size limit.
	a := connect(t, r, "a", nil)
	id := wire.NewDocumentID()
	a.change(id, "small", "ok")
	waitStored(t, r, a, id)
	a.change(id, "big", strings.Repeat("x", 8<<10))
	a.expect(wire.TypeError)
	if rec.get("refused document_too_large") != 1 || rec.get("changes") != 1 {
		t.Errorf("size limit: %v", rec.counts)
	}
	if rec.get("joined anonymous") != 2 || rec.get("connected anonymous") != 3 || rec.get("loaded") != 1 || rec.get("committed true") < 1 {
		t.Errorf("connections and documents: %v", rec.counts)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rec.get("unloaded") != 1 {
		t.Errorf("unloaded: %v", rec.counts)
	}
}

func TestMessageTypeLabel(t *testing.T) {
	for typ, want := range map[wire.Type]string{wire.TypeSync: "sync", wire.TypeRemoteHeadsChanged: "remote-heads-changed", "x-invented": "other", "": "other"} {
		if got := MessageTypeLabel(typ); got != want {
			t.Errorf("MessageTypeLabel(%q) = %q, want %q", typ, got, want)
		}
	}
}
