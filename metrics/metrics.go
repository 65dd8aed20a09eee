package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/store"
)

// Build names the running binary in veche_build_info.
type Build struct {
	Version   string // the release, e.g. "v0.3.0", or "dev"
	Commit    string // the source commit, or "unknown"
	Automerge string // the Automerge core linked in (the automerge-go module version)
}

// Prometheus is the relay's metrics in a registry of their own.
type Prometheus struct {
	reg *prometheus.Registry

	connections       *prometheus.GaugeVec
	connectionsTotal  *prometheus.CounterVec
	joins             *prometheus.CounterVec
	handshakeFailures *prometheus.CounterVec
	messagesIn        *prometheus.CounterVec
	bytesIn           *prometheus.CounterVec
	messagesOut       *prometheus.CounterVec
	bytesOut          *prometheus.CounterVec
	changes           prometheus.Counter
	docsLoaded        prometheus.Gauge
	docLoads          prometheus.Counter
	commitSeconds     prometheus.Histogram
	commitFailures    prometheus.Counter
	generateSeconds   prometheus.Histogram
	peersCut          *prometheus.CounterVec
	refusals          *prometheus.CounterVec
	quarantines       prometheus.Counter
	authRefusals      *prometheus.CounterVec
	requests          *prometheus.CounterVec
	requestSeconds    *prometheus.HistogramVec
}

var (
	_ server.Metrics = (*Prometheus)(nil)
	_ api.Metrics    = (*Prometheus)(nil)
)

// Label values known in advance: their series exist from the start, at 0,
// so a dashboard or an alert sees a counter before it first moves.
var (
	principalKinds = []server.PrincipalKind{server.KindAnonymous, server.KindOperator, server.KindMember, server.KindPeer}
	messageTypes   = []string{"join", "peer", "leave", "error", "sync", "request", "ephemeral", "doc-unavailable",
		"remote-subscription-change", "remote-heads-changed", "other"}
	handshakeFailures = []server.HandshakeFailure{server.HandshakeTimeout, server.HandshakeVersion, server.HandshakeProtocol, server.HandshakeClosed}
	cutReasons        = []server.CutReason{server.CutSlow, server.CutProtocol, server.CutRateLimit}
	refusals          = []server.Refusal{server.RefusedRateLimit, server.RefusedFrameTooLarge, server.RefusedTooManyDocuments,
		server.RefusedDocumentTooLarge, server.RefusedReadOnly, server.RefusedMalformed, server.RefusedSyncMessage}
	authRefusals = []api.AuthRefusal{api.AuthMissing, api.AuthInvalid, api.AuthRateLimited}
)

// New returns the relay's metrics, with the Go runtime's and the process's
// collectors and veche_build_info registered.
func New(b Build) *Prometheus {
	p := &Prometheus{reg: prometheus.NewRegistry()}
	f := factory{p.reg}
	p.connections = f.gaugeVec("veche_connections", "Open sync connections, by principal kind.", "kind")
	p.connectionsTotal = f.counterVec("veche_connections_total", "Sync connections accepted or dialed, by principal kind.", "kind")
	p.joins = f.counterVec("veche_joins_total", "Handshakes finished (join answered with peer), by principal kind.", "kind")
	p.handshakeFailures = f.counterVec("veche_handshake_failures_total", "Connections that ended before their handshake finished, by reason.", "reason")
	p.messagesIn = f.counterVec("veche_messages_received_total", "Protocol messages received from peers, by type.", "type")
	p.bytesIn = f.counterVec("veche_received_bytes_total", "Bytes of protocol messages received from peers, by type.", "type")
	p.messagesOut = f.counterVec("veche_messages_sent_total", "Protocol messages queued for peers, by type.", "type")
	p.bytesOut = f.counterVec("veche_sent_bytes_total", "Bytes of protocol messages queued for peers, by type.", "type")
	p.changes = f.counter("veche_changes_applied_total", "Automerge changes applied: carried by accepted sync messages, and local (REST) writes.")
	p.docsLoaded = f.gauge("veche_documents_loaded", "Documents in memory.")
	p.docLoads = f.counter("veche_document_loads_total", "Documents loaded into memory from the store.")
	p.commitSeconds = f.histogram("veche_commit_duration_seconds",
		"Time to commit a document's changes to the store, fsync included.", prometheus.ExponentialBuckets(0.0005, 2, 14))
	p.commitFailures = f.counter("veche_commit_failures_total", "Commits the store refused (the document is reloaded from the store).")
	p.generateSeconds = f.histogram("veche_sync_generate_duration_seconds",
		"Time to generate one sync message for one peer.", prometheus.ExponentialBuckets(0.00001, 4, 10))
	p.peersCut = f.counterVec("veche_peers_cut_total", "Peers the relay cut off, by reason (slow: send queue full).", "reason")
	p.refusals = f.counterVec("veche_refusals_total", "Messages refused under a limit or a grant, by reason.", "reason")
	p.quarantines = f.counter("veche_quarantines_total", "Changes put in quarantine after they crashed the Automerge core.")
	p.authRefusals = f.counterVec("veche_auth_refusals_total", "Credentials refused: missing, invalid, or from an address over its failure limit.", "reason")
	p.requests = f.counterVec("veche_http_requests_total", "HTTP requests finished, by method, route pattern and status code.", "method", "route", "code")
	p.requestSeconds = f.histogramVec("veche_http_request_duration_seconds",
		"HTTP request duration by method and route pattern (a websocket session lasts until it ends).",
		prometheus.ExponentialBuckets(0.001, 4, 10), "method", "route")

	for _, k := range principalKinds {
		p.connections.WithLabelValues(string(k))
		p.connectionsTotal.WithLabelValues(string(k))
		p.joins.WithLabelValues(string(k))
	}
	for _, t := range messageTypes {
		p.messagesIn.WithLabelValues(t)
		p.bytesIn.WithLabelValues(t)
		p.messagesOut.WithLabelValues(t)
		p.bytesOut.WithLabelValues(t)
	}
	for _, r := range handshakeFailures {
		p.handshakeFailures.WithLabelValues(string(r))
	}
	for _, r := range cutReasons {
		p.peersCut.WithLabelValues(string(r))
	}
	for _, r := range refusals {
		p.refusals.WithLabelValues(string(r))
	}
	for _, r := range authRefusals {
		p.authRefusals.WithLabelValues(string(r))
	}

	info := f.gaugeVec("veche_build_info", "The running binary: version, commit and Automerge core; always 1.", "version", "commit", "automerge")
	info.WithLabelValues(b.Version, b.Commit, b.Automerge).Set(1)
	p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return p
}

// Handler serves the metrics in the Prometheus text format.
func (p *Prometheus) Handler() http.Handler {
	return promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{ErrorLog: nil})
}

// Registry is where the metrics are registered, for tests and for more
// collectors.
func (p *Prometheus) Registry() *prometheus.Registry { return p.reg }

// WatchStore adds the store's counters, read at every scrape:
// veche_store_documents, veche_store_size_bytes, veche_store_commits_total
// and veche_store_appends_total.
func (p *Prometheus) WatchStore(stats func() store.Stats) {
	p.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "veche_store_documents", Help: "Documents stored."},
			func() float64 { return float64(stats().Documents) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "veche_store_size_bytes", Help: "Size of the bbolt file."},
			func() float64 { return float64(stats().FileBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "veche_store_commits_total",
			Help: "Write transactions committed (each one fsync); appends over commits shows group commit at work."},
			func() float64 { return float64(stats().Commits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "veche_store_appends_total", Help: "Chunks of changes durably appended."},
			func() float64 { return float64(stats().Appends) }),
	)
}

// WatchTraffic adds veche_send_pending_bytes and
// veche_send_pending_bytes_max, read at every scrape from traffic (the
// relay's Traffic): the bytes the relay owes its peers (queued, and sent
// but not yet acknowledged by the peer's end of the socket), in all and
// for the peer owed most. A phone on 2G receiving a council's first sync
// shows here; a total that only grows is a link that stalled.
func (p *Prometheus) WatchTraffic(traffic func() []server.PeerTraffic) {
	pending := func() (sum, most float64) {
		for _, t := range traffic() {
			n := float64(t.PendingBytes + max(t.UnsentBytes, 0))
			sum += n
			most = max(most, n)
		}
		return sum, most
	}
	p.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "veche_send_pending_bytes",
			Help: "Bytes owed to peers: queued, or written and not yet acknowledged."},
			func() float64 { sum, _ := pending(); return sum }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "veche_send_pending_bytes_max",
			Help: "Bytes owed to the peer owed most."},
			func() float64 { _, most := pending(); return most }),
	)
}

// WatchSandbox adds veche_sandbox_restarts_total, read at every scrape:
// how many times a sandbox worker died (on input that crashed the
// Automerge core) and was started again.
func (p *Prometheus) WatchSandbox(restarts func() int64) {
	p.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "veche_sandbox_restarts_total",
		Help: "Sandbox workers restarted after the Automerge core crashed on input."},
		func() float64 { return float64(restarts()) }))
}

// PeerConnected implements server.Metrics.
func (p *Prometheus) PeerConnected(kind server.PrincipalKind) {
	p.connections.WithLabelValues(kindLabel(kind)).Inc()
	p.connectionsTotal.WithLabelValues(kindLabel(kind)).Inc()
}

// PeerDisconnected implements server.Metrics.
func (p *Prometheus) PeerDisconnected(kind server.PrincipalKind) {
	p.connections.WithLabelValues(kindLabel(kind)).Dec()
}

// PeerJoined implements server.Metrics.
func (p *Prometheus) PeerJoined(kind server.PrincipalKind) {
	p.joins.WithLabelValues(kindLabel(kind)).Inc()
}

// HandshakeFailed implements server.Metrics.
func (p *Prometheus) HandshakeFailed(reason server.HandshakeFailure) {
	p.handshakeFailures.WithLabelValues(string(reason)).Inc()
}

// MessageReceived implements server.Metrics.
func (p *Prometheus) MessageReceived(msgType string, bytes int) {
	p.messagesIn.WithLabelValues(msgType).Inc()
	p.bytesIn.WithLabelValues(msgType).Add(float64(bytes))
}

// MessageSent implements server.Metrics.
func (p *Prometheus) MessageSent(msgType string, bytes int) {
	p.messagesOut.WithLabelValues(msgType).Inc()
	p.bytesOut.WithLabelValues(msgType).Add(float64(bytes))
}

// ChangesApplied implements server.Metrics.
func (p *Prometheus) ChangesApplied(n int) { p.changes.Add(float64(n)) }

// DocumentLoaded implements server.Metrics.
func (p *Prometheus) DocumentLoaded() {
	p.docsLoaded.Inc()
	p.docLoads.Inc()
}

// DocumentUnloaded implements server.Metrics.
func (p *Prometheus) DocumentUnloaded() { p.docsLoaded.Dec() }

// Committed implements server.Metrics.
func (p *Prometheus) Committed(d time.Duration, err error) {
	if err != nil {
		p.commitFailures.Inc()
		return
	}
	p.commitSeconds.Observe(d.Seconds())
}

// Generated implements server.Metrics.
func (p *Prometheus) Generated(d time.Duration) { p.generateSeconds.Observe(d.Seconds()) }

// PeerCut implements server.Metrics.
func (p *Prometheus) PeerCut(reason server.CutReason) {
	p.peersCut.WithLabelValues(string(reason)).Inc()
}

// Refused implements server.Metrics.
func (p *Prometheus) Refused(reason server.Refusal) { p.refusals.WithLabelValues(string(reason)).Inc() }

// Quarantined implements server.Metrics.
func (p *Prometheus) Quarantined() { p.quarantines.Inc() }

// AuthRefused implements api.Metrics.
func (p *Prometheus) AuthRefused(reason api.AuthRefusal) {
	p.authRefusals.WithLabelValues(string(reason)).Inc()
}

// Request implements api.Metrics.
func (p *Prometheus) Request(method, route string, status int, d time.Duration) {
	p.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	p.requestSeconds.WithLabelValues(method, route).Observe(d.Seconds())
}

// kindLabel is a principal kind's label; "" (a relay without access
// control in tests) counts as anonymous.
func kindLabel(k server.PrincipalKind) string {
	if k == "" {
		return string(server.KindAnonymous)
	}
	return string(k)
}

// factory registers what it makes in one registry.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
