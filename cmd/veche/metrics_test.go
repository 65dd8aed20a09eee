package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/veche-sync/veche/server/wire"
)

// metricsSnapshot is one scrape of GET /metrics.
type metricsSnapshot struct {
	body     string
	families map[string]*dto.MetricFamily
}

// scrape reads url (sending token as a bearer token if it is not empty)
// and parses the Prometheus text format.
func scrape(t *testing.T, url, token string) metricsSnapshot {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("GET %s: not the Prometheus text format: %v", url, err)
	}
	return metricsSnapshot{body: string(body), families: fams}
}

// value is the value of the series of name whose labels are labels
// ("k", "v", …); a histogram's is its count. It fails the test when there
// is no such series.
func (s metricsSnapshot) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.lookup(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

// lookup is value, reporting whether the series exists.
func (s metricsSnapshot) lookup(name string, labels ...string) (float64, bool) {
	fam := s.families[name]
	if fam == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// syncClient speaks the automerge-repo protocol over a websocket and
// counts what it sends and receives, by message type.
type syncClient struct {
	t          *testing.T
	ws         *websocket.Conn
	frames     chan []byte    // read by a goroutine: a gorilla read that timed out cannot be retried
	sent, recv map[string]int // messages by type
	sentBytes  map[string]int
	recvBytes  map[string]int
}

func dialSync(t *testing.T, url string) *syncClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &syncClient{t: t, ws: ws, frames: make(chan []byte, 64),
		sent: map[string]int{}, recv: map[string]int{}, sentBytes: map[string]int{}, recvBytes: map[string]int{}}
	go func() {
		defer close(c.frames)
		for {
			_, frame, err := ws.ReadMessage()
			if err != nil {
				return
			}
			c.frames <- frame
		}
	}()
	return c
}

func (c *syncClient) send(m wire.Message) {
	c.t.Helper()
	frame, err := wire.Encode(m)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		c.t.Fatal(err)
	}
	c.sent[string(m.Type)]++
	c.sentBytes[string(m.Type)] += len(frame)
}

// read returns the next message, or false when none came within wait.
func (c *syncClient) read(wait time.Duration) (wire.Message, bool) {
	c.t.Helper()
	var frame []byte
	select {
	case f, ok := <-c.frames:
		if !ok {
			return wire.Message{}, false
		}
		frame = f
	case <-time.After(wait):
		return wire.Message{}, false
	}
	m, err := wire.Decode(frame, 1<<30)
	if err != nil {
		c.t.Fatal(err)
	}
	c.recv[string(m.Type)]++
	c.recvBytes[string(m.Type)] += len(frame)
	return m, true
}

func (c *syncClient) join() {
	c.t.Helper()
	c.send(wire.Message{Type: wire.TypeJoin, SenderID: "metrics-test", PeerMetadata: &wire.PeerMetadata{IsEphemeral: true},
		SupportedProtocolVersions: []string{wire.ProtocolVersion}})
	if m, ok := c.read(10 * time.Second); !ok || m.Type != wire.TypePeer {
		c.t.Fatalf("handshake: %+v %v", m, ok)
	}
}

// syncDoc syncs doc with the relay until neither side has more to say.
func (c *syncClient) syncDoc(id wire.DocumentID, doc *automerge.Doc) {
	c.t.Helper()
	state := automerge.NewSyncState(doc)
	for round := 0; round < 20; round++ {
		if m, ok := state.GenerateMessage(); ok {
			c.send(wire.Message{Type: wire.TypeSync, SenderID: "metrics-test", TargetID: "relay", DocumentID: id, Data: m.Bytes()})
		}
		in, ok := c.read(2 * time.Second)
		if !ok {
			return // quiet: in sync
		}
		if in.Type != wire.TypeSync {
			c.t.Fatalf("unexpected %+v", in)
		}
		if _, err := state.ReceiveMessage(in.Data); err != nil {
			c.t.Fatal(err)
		}
	}
	c.t.Fatal("no quiet after 20 rounds")
}

func (c *syncClient) close() {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	for range c.frames {
	}
	c.ws.Close()
}

// TestMetricsAfterRealTraffic scrapes /metrics before and after real
// traffic — a websocket client syncing a document of five changes, a
// malformed message, refused credentials, REST requests — and checks that
// every counter moved by exactly what was done.
func TestMetricsAfterRealTraffic(t *testing.T) {
	m, logs := startMain(t, "--anonymous", "--metrics-addr", "127.0.0.1:0")
	metricsURL := "http://" + m.MetricsListenAddr() + "/metrics"
	base := "http://" + m.ListenAddr()
	before := scrape(t, metricsURL, "")

	c := dialSync(t, "ws://"+m.ListenAddr()+"/sync")
	c.join()
	doc := automerge.New()
	const changes = 5
	for i := 0; i < changes; i++ {
		if err := doc.RootMap().Set(fmt.Sprintf("k%d", i), int64(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := doc.Commit(fmt.Sprintf("change %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	id := wire.NewDocumentID()
	c.syncDoc(id, doc)
	// A sync message for a malformed document id: refused, connection kept.
	c.send(wire.Message{Type: wire.TypeSync, SenderID: "metrics-test", TargetID: "relay", DocumentID: "not-a-document-id", Data: []byte{0x42}})
	if e, ok := c.read(5 * time.Second); !ok || e.Type != wire.TypeError {
		t.Fatalf("malformed id answered %+v %v", e, ok)
	}
	c.close()

	// Refused credentials: a bad token on the websocket, none on REST.
	const badToken = "not-a-token-0123456789"
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+m.ListenAddr()+"/sync?token="+badToken, nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad token: %v %v", resp, err)
	}
	resp, err := http.Get(base + "/api/councils/" + string(id))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %v %v", resp, err)
	}
	resp.Body.Close()
	// A method a client invents is counted as "other", never as itself.
	invented, _ := http.NewRequest("FROBNICATE", base+"/healthz", nil)
	resp, err = http.DefaultClient.Do(invented)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get(base + "/healthz?token=" + badToken)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	// The relay notices the close on its own time, and counts the
	// websocket session's request once the session has ended.
	var after metricsSnapshot
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = scrape(t, metricsURL, "")
		_, sessionCounted := after.lookup("veche_http_requests_total", "method", "GET", "route", "/sync", "code", "101")
		if after.value(t, "veche_connections", "kind", "anonymous") == 0 && sessionCounted || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	delta := func(name string, labels ...string) float64 {
		t.Helper()
		was, _ := before.lookup(name, labels...) // a series born since was 0
		return after.value(t, name, labels...) - was
	}
	expect := func(what string, got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s moved by %v, want %v", what, got, want)
		}
	}
	expect("open connections", after.value(t, "veche_connections", "kind", "anonymous"), 0)
	expect("connections", delta("veche_connections_total", "kind", "anonymous"), 1)
	expect("joins", delta("veche_joins_total", "kind", "anonymous"), 1)
	expect("handshake failures", delta("veche_handshake_failures_total", "reason", "protocol"), 0)
	for _, typ := range []string{"join", "sync"} {
		expect("messages received "+typ, delta("veche_messages_received_total", "type", typ), float64(c.sent[typ]))
		expect("bytes received "+typ, delta("veche_received_bytes_total", "type", typ), float64(c.sentBytes[typ]))
	}
	for _, typ := range []string{"peer", "sync", "error"} {
		expect("messages sent "+typ, delta("veche_messages_sent_total", "type", typ), float64(c.recv[typ]))
		expect("bytes sent "+typ, delta("veche_sent_bytes_total", "type", typ), float64(c.recvBytes[typ]))
	}
	if c.sent["sync"] < 2 || c.recv["sync"] < 1 {
		t.Errorf("the sync exchanged too little to prove anything: sent %v, received %v", c.sent, c.recv)
	}
	expect("changes applied", delta("veche_changes_applied_total"), changes)
	expect("document loads", delta("veche_document_loads_total"), 1)
	expect("documents stored", after.value(t, "veche_store_documents"), 1)
	if n := delta("veche_commit_duration_seconds"); n < 1 {
		t.Errorf("commits observed: %v, want at least 1", n)
	}
	if n := delta("veche_store_appends_total"); n != delta("veche_commit_duration_seconds") {
		t.Errorf("store appends %v but commits observed %v", n, delta("veche_commit_duration_seconds"))
	}
	if n := delta("veche_sync_generate_duration_seconds"); n < float64(c.recv["sync"]) {
		t.Errorf("generations observed: %v, fewer than the %d sync messages received", n, c.recv["sync"])
	}
	expect("malformed refusals", delta("veche_refusals_total", "reason", "malformed"), 1)
	expect("read-only refusals", delta("veche_refusals_total", "reason", "read_only"), 0)
	expect("invalid credentials", delta("veche_auth_refusals_total", "reason", "invalid"), 1)
	expect("missing credentials", delta("veche_auth_refusals_total", "reason", "missing"), 1)
	expect("slow peers cut", delta("veche_peers_cut_total", "reason", "slow"), 0)
	expect("quarantines", delta("veche_quarantines_total"), 0)
	expect("websocket sessions", delta("veche_http_requests_total", "method", "GET", "route", "/sync", "code", "101"), 1)
	expect("refused upgrades", delta("veche_http_requests_total", "method", "GET", "route", "/sync", "code", "401"), 1)
	expect("health checks", delta("veche_http_requests_total", "method", "GET", "route", "/healthz", "code", "200"), 1)
	expect("invented methods", delta("veche_http_requests_total", "method", "other", "route", "/healthz", "code", "405"), 1)
	expect("council reads", delta("veche_http_requests_total", "method", "GET", "route", "/api/councils/:id", "code", "401"), 1)
	if v := after.value(t, "process_resident_memory_bytes"); v <= 0 {
		t.Errorf("process_resident_memory_bytes = %v", v)
	}
	if v := after.value(t, "go_goroutines"); v <= 0 {
		t.Errorf("go_goroutines = %v", v)
	}
	if v := after.value(t, "veche_build_info", "version", version); v != 1 {
		t.Errorf("veche_build_info = %v", v)
	}
	// No secret, no id, no content in a label.
	for _, secret := range []string{badToken, string(id), "k0", operatorToken(t, m), "FROBNICATE"} {
		if strings.Contains(after.body, secret) {
			t.Errorf("the metrics hold %q", secret)
		}
	}

	// The access log: one line per request and per session, no token, no query.
	log := logs.String()
	if strings.Contains(log, badToken) || strings.Contains(log, "?token") {
		t.Fatalf("the log holds a token or a query string:\n%s", log)
	}
	for _, want := range []string{
		fmt.Sprintf(`msg="sync session ended" method=GET path=/sync route=/sync status=101`),
		fmt.Sprintf(`principal=anonymous bytes_in=%d bytes_out=%d`, sum(c.sentBytes), sum(c.recvBytes)),
		`msg=request method=GET path=/healthz route=/healthz status=200`,
		`msg=request method=GET path=/sync route=/sync status=401`,
		fmt.Sprintf(`msg=request method=GET path=/api/councils/%s route=/api/councils/:id status=401`, id),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the access log lacks %q:\n%s", want, log)
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestMetricsOnTheMainListener: off unless --public-metrics, and then only
// to the operator token.
func TestMetricsOnTheMainListener(t *testing.T) {
	off, _ := startMain(t)
	resp, err := http.Get("http://" + off.ListenAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics without --public-metrics: %d, want 404", resp.StatusCode)
	}

	m, _ := startMain(t, "--public-metrics")
	url := "http://" + m.ListenAddr() + "/metrics"
	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /metrics without a token: %d, want 401", resp.StatusCode)
	}
	// A member's token is not enough.
	req, _ := http.NewRequest(http.MethodPost, "http://"+m.ListenAddr()+"/api/councils",
		strings.NewReader(`{"name":"Mill workers","kind":"workers","founder":{"name":"Ana","role":"miller"}}`))
	req.Header.Set("Authorization", "Bearer "+operatorToken(t, m))
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || created.Token == "" {
		t.Fatalf("create council: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+created.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET /metrics with a member's token: %d, want 403", resp.StatusCode)
	}
	s := scrape(t, url, operatorToken(t, m))
	if s.value(t, "veche_auth_refusals_total", "reason", "missing") != 1 {
		t.Fatalf("the refused scrape was not counted:\n%s", s.body)
	}
}
