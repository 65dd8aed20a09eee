package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/metrics"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/store"
)

// TestNamesFollowPrometheusConventions lints every metric the relay
// exposes (names, units, _total on counters, help texts) with
// client_golang's promlint, after each hook has been called once.
func TestNamesFollowPrometheusConventions(t *testing.T) {
	p := metrics.New(metrics.Build{Version: "v0.0.0-test", Commit: "abc", Automerge: "v0"})
	p.WatchStore(func() store.Stats { return store.Stats{Commits: 2, Appends: 3, Documents: 1, FileBytes: 4096} })
	p.WatchSandbox(func() int64 { return 3 })
	p.WatchTraffic(func() []server.PeerTraffic {
		return []server.PeerTraffic{{PendingBytes: 1000, UnsentBytes: 500}, {PendingBytes: 200, UnsentBytes: -1}}
	})
	p.PeerConnected(server.KindMember)
	p.PeerJoined(server.KindMember)
	p.HandshakeFailed(server.HandshakeTimeout)
	p.MessageReceived("sync", 100)
	p.MessageSent("sync", 200)
	p.ChangesApplied(3)
	p.DocumentLoaded()
	p.Committed(time.Millisecond, nil)
	p.Generated(time.Microsecond)
	p.PeerCut(server.CutSlow)
	p.Refused(server.RefusedRateLimit)
	p.Quarantined()
	p.AuthRefused(api.AuthInvalid)
	p.Request("GET", "/healthz", 200, time.Millisecond)
	problems, err := testutil.GatherAndLint(p.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		if strings.HasPrefix(pr.Metric, "veche_") {
			t.Errorf("%s: %s", pr.Metric, pr.Text)
		}
	}
	// The watched counters read their source at each scrape.
	want := `
# HELP veche_sandbox_restarts_total Sandbox workers restarted after the Automerge core crashed on input.
# TYPE veche_sandbox_restarts_total counter
veche_sandbox_restarts_total 3
# HELP veche_send_pending_bytes Bytes owed to peers: queued, or written and not yet acknowledged.
# TYPE veche_send_pending_bytes gauge
veche_send_pending_bytes 1700
# HELP veche_send_pending_bytes_max Bytes owed to the peer owed most.
# TYPE veche_send_pending_bytes_max gauge
veche_send_pending_bytes_max 1500
# HELP veche_store_documents Documents stored.
# TYPE veche_store_documents gauge
veche_store_documents 1
`
	if err := testutil.GatherAndCompare(p.Registry(), strings.NewReader(want), "veche_sandbox_restarts_total", "veche_store_documents",
		"veche_send_pending_bytes", "veche_send_pending_bytes_max"); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkMessageHooks is what metrics cost the relay per message: one
// received and one sent, by type.
func BenchmarkMessageHooks(b *testing.B) {
	p := metrics.New(metrics.Build{})
	for b.Loop() {
		p.MessageReceived("sync", 300)
		p.MessageSent("sync", 300)
	}
}
