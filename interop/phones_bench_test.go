package interop

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/server/wire"
	"github.com/veche-sync/veche/server/wsconn"
)

// BenchmarkTenThousandPhones simulates a district's phones on one relay
// (issue 11): VECHE_PHONES phones (default 10,000) in councils of
// VECHE_COUNCIL_SIZE (default 10), each phone making a change about once
// every VECHE_CHANGE_EVERY (default 60s) for VECHE_PHONES_SECONDS (default
// 90) against the veche binary, then the relay is restarted under that
// load and every phone reconnects with the backoff a phone app should use
// (reconnectDelay). It prints the relay's CPU % and RSS over the steady
// phase, p50/p99 of the time from a change being sent to every other phone
// of its council having it, and for the storm the time until every phone
// is synced again, the relay's peak RSS and the handshakes refused:
//
//	go test -run '^$' -bench TenThousandPhones -benchtime 1x -timeout 30m ./interop/
//
// Each phone is a real automerge-go document with an Automerge sync state
// speaking the websocket protocol v1 (join, sync, doc sync messages), so
// the generator costs a fraction of what stock Node clients would and is
// not the bottleneck. Phones persist nothing across the restart but their
// document and sync state, as an app does.
func BenchmarkTenThousandPhones(b *testing.B) {
	nPhones := envInt(b, "VECHE_PHONES", 10000)
	size := envInt(b, "VECHE_COUNCIL_SIZE", 10)
	steady := time.Duration(envInt(b, "VECHE_PHONES_SECONDS", 90)) * time.Second
	every := 60 * time.Second
	if v := os.Getenv("VECHE_CHANGE_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		every = d
	}
	r := startRelay(b, vecheRelay(b, "--anonymous", "--max-connections-per-address", "1000000"), b.TempDir())
	d := &district{url: r.URL(), track: newTracker(size)}
	for c := 0; c < nPhones/size; c++ {
		doc := wire.NewDocumentID()
		for i := 0; i < size; i++ {
			d.phones = append(d.phones, newHandset(d, doc, c, i))
		}
	}

	// Join: every phone connects and syncs its council's document.
	d.up.Store(true)
	start := time.Now()
	d.connectAll(64)
	fmt.Fprintf(os.Stderr, "phones: %d connected in %.1f s (%d refused)\n", len(d.phones), time.Since(start).Seconds(), d.refused.Load())
	d.waitSynced(b, 5*time.Minute)
	fmt.Fprintf(os.Stderr, "phones: all synced %.1f s after the first dial\n", time.Since(start).Seconds())

	// Steady: a change per phone about once per `every`.
	pid := r.enginePID()
	cpu0, t0 := processCPU(b, pid), time.Now()
	d.track.reset()
	ctx, stop := context.WithTimeout(context.Background(), steady)
	var wg sync.WaitGroup
	for _, p := range d.phones {
		wg.Add(1)
		go func() { defer wg.Done(); p.typeAway(ctx, every) }()
	}
	wg.Wait()
	stop()
	time.Sleep(3 * time.Second) // the last changes arrive
	cpu := (processCPU(b, pid) - cpu0) / time.Since(t0).Seconds() * 100
	rss := residentBytes(b, pid)
	lat, incomplete := d.track.latencies()

	// Storm: restart the relay; phones reconnect with jittered backoff.
	before := d.track.made.Load()
	d.up.Store(false)
	r.stop()
	// While the relay is down every phone makes a change of its own.
	for _, p := range d.phones {
		p.change(true)
	}
	r.start()
	pid = r.enginePID()
	d.refused.Store(0)
	d.up.Store(true)
	stormStart := time.Now()
	syncedIn := d.waitSynced(b, 10*time.Minute)
	peak := peakResidentBytes(b, pid)
	refused := d.refused.Load()
	_, lost := d.track.latencies()
	d.closeAll()

	fmt.Printf("\n%d phones in councils of %d, a change each per %v, %v steady (%d changes)\n\n", len(d.phones), size, every, steady, before)
	fmt.Printf("| relay CPU | relay RSS | change to whole council p50 | p99 | not delivered |\n| --- | --- | --- | --- | --- |\n")
	fmt.Printf("| %.0f %% of one core | %.0f MiB | %v | %v | %d |\n\n", cpu, mib(rss), pct(lat, 50), pct(lat, 99), incomplete)
	fmt.Printf("reconnect storm (relay restarted with SIGTERM; each phone made one change meanwhile; phones back off %s):\n\n", backoffSummary)
	fmt.Printf("| every phone synced again | relay peak RSS | handshakes refused | changes not delivered |\n| --- | --- | --- | --- |\n")
	fmt.Printf("| %.1f s | %.0f MiB | %d | %d |\n\n", syncedIn.Seconds(), mib(peak), refused, lost)
	_ = stormStart
}

// reconnectDelay is the backoff a phone app should use after losing the
// relay: the first attempt after a random 0–5 s (so a district's phones
// do not all arrive in the same second after a power cut), then full
// jitter over an exponential ceiling: a random delay up to 2^attempt
// seconds, at most 60 s. Refusals (429, 503) count as failures.
func reconnectDelay(attempt int) time.Duration {
	if attempt == 0 {
		return time.Duration(rand.Int64N(int64(5 * time.Second)))
	}
	ceiling := min(60*time.Second, time.Second<<min(attempt, 6))
	return time.Duration(rand.Int64N(int64(ceiling)))
}

const backoffSummary = "first try after a random 0–5 s, then a random delay up to 2^n s, at most 60 s"

// A district is the phones and what they saw.
type district struct {
	url     string
	phones  []*handset
	track   *tracker
	refused atomic.Int64 // dials or handshakes that failed with the relay up
	up      atomic.Bool  // the relay is running
}

func (d *district) connectAll(workers int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(d.phones)); i = next.Add(1) - 1 {
				p := d.phones[i]
				for attempt := 1; p.connect() != nil; attempt++ {
					d.refused.Add(1)
					time.Sleep(reconnectDelay(attempt))
				}
			}
		}()
	}
	wg.Wait()
}

func (d *district) closeAll() {
	for _, p := range d.phones {
		p.close()
	}
}

// waitSynced waits until every phone is connected and all phones of each
// council hold the same heads, and returns how long that took.
func (d *district) waitSynced(b *testing.B, limit time.Duration) time.Duration {
	start := time.Now()
	for {
		if d.synced() {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			b.Fatalf("phones not synced within %v", limit)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (d *district) synced() bool {
	var first []automerge.ChangeHash
	council := -1
	for _, p := range d.phones {
		p.mu.Lock()
		ok := p.ws != nil
		heads := p.doc.Heads()
		p.mu.Unlock()
		if !ok {
			return false
		}
		sort.Slice(heads, func(i, j int) bool { return heads[i].String() < heads[j].String() })
		if p.council != council {
			council, first = p.council, heads
			continue
		}
		if !slices.Equal(heads, first) {
			return false
		}
	}
	return true
}

// A handset is one phone: an automerge document and its sync state with
// the relay.
type handset struct {
	d       *district
	docID   wire.DocumentID
	council int
	index   int
	name    string

	mu   sync.Mutex // guards the following
	doc  *automerge.Doc
	ss   *automerge.SyncState
	ws   *websocket.Conn // nil while disconnected
	seq  int
	gone bool
}

func newHandset(d *district, doc wire.DocumentID, council, index int) *handset {
	p := &handset{d: d, docID: doc, council: council, index: index, name: fmt.Sprintf("phone-%d-%d", council, index), doc: automerge.New()}
	p.ss = automerge.NewSyncState(p.doc)
	return p
}

var phoneDialer = websocket.Dialer{HandshakeTimeout: 30 * time.Second,
	ReadBufferSize: wsconn.ReadBufferSize, WriteBufferSize: wsconn.WriteBufferSize, WriteBufferPool: wsconn.WriteBufferPool}

// connect dials, joins, sends the first sync message and starts reading.
func (p *handset) connect() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := phoneDialer.DialContext(ctx, p.d.url, nil)
	if err != nil {
		return err
	}
	join, _ := wire.Encode(wire.Message{Type: wire.TypeJoin, SenderID: p.name,
		PeerMetadata: &wire.PeerMetadata{StorageID: p.name}, SupportedProtocolVersions: []string{"1"}})
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := ws.WriteMessage(websocket.BinaryMessage, join); err != nil {
		ws.Close()
		return err
	}
	_, frame, err := ws.ReadMessage()
	if err != nil {
		ws.Close()
		return err
	}
	if m, err := wire.Decode(frame, 0); err != nil || m.Type != wire.TypePeer {
		ws.Close()
		return fmt.Errorf("handshake answered %q: %v", m.Type, err)
	}
	ws.SetReadDeadline(time.Time{})
	p.mu.Lock()
	// What was in flight on the old connection is forgotten, as
	// automerge-repo does when a peer comes back.
	if ss, err := automerge.LoadSyncState(p.doc, p.ss.Save()); err == nil {
		p.ss = ss
	}
	p.ws = ws
	err = p.flush()
	p.mu.Unlock()
	if err != nil {
		ws.Close()
		return err
	}
	go p.read(ws)
	return nil
}

// flush sends what the sync state has to say. Called with mu held.
func (p *handset) flush() error {
	for {
		m, ok := p.ss.GenerateMessage()
		if !ok {
			return nil
		}
		frame, _ := wire.Encode(wire.Message{Type: wire.TypeSync, SenderID: p.name, TargetID: "relay", DocumentID: p.docID, Data: m.Bytes()})
		p.ws.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if err := p.ws.WriteMessage(websocket.BinaryMessage, frame); err != nil {
			return err
		}
	}
}

// read applies what the relay sends until the connection ends, then
// reconnects with backoff (unless the phone was closed).
func (p *handset) read(ws *websocket.Conn) {
	for {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			break
		}
		m, err := wire.Decode(frame, 0)
		if err != nil || m.Type != wire.TypeSync {
			continue
		}
		p.mu.Lock()
		sm, err := p.ss.ReceiveMessage(m.Data)
		if err == nil {
			for _, ch := range sm.Changes() {
				p.d.track.arrived(ch.Hash(), p.index)
			}
			err = p.flush()
		}
		p.mu.Unlock()
		if err != nil {
			break
		}
	}
	ws.Close()
	p.mu.Lock()
	p.ws = nil
	gone := p.gone
	p.mu.Unlock()
	for attempt := 0; !gone; attempt++ {
		time.Sleep(reconnectDelay(attempt))
		if p.connect() == nil {
			return
		}
		if p.d.up.Load() {
			p.d.refused.Add(1)
		}
		p.mu.Lock()
		gone = p.gone
		p.mu.Unlock()
	}
}

// typeAway makes a change about once per every until ctx ends.
func (p *handset) typeAway(ctx context.Context, every time.Duration) {
	t := time.NewTimer(time.Duration(rand.Int64N(int64(every))))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.change(false)
		t.Reset(every/2 + time.Duration(rand.Int64N(int64(every))))
	}
}

// change sets the phone's key to its next number and sends it, or keeps
// it for the next connection when offline.
func (p *handset) change(offline bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ws == nil && !offline {
		return
	}
	p.seq++
	if err := p.doc.RootMap().Set(p.name, p.seq); err != nil {
		return
	}
	h, err := p.doc.Commit("typing")
	if err != nil {
		return
	}
	p.d.track.sent(h, p.index)
	if p.ws != nil {
		_ = p.flush()
	}
}

func (p *handset) close() {
	p.mu.Lock()
	p.gone = true
	if p.ws != nil {
		p.ws.Close()
	}
	p.mu.Unlock()
}

// tracker records, per change, when it was sent and which phones of its
// council have it.
type tracker struct {
	size int
	made atomic.Int64

	mu      sync.Mutex
	changes map[automerge.ChangeHash]*tracked
	lat     []time.Duration
}

type tracked struct {
	sent time.Time
	have uint64 // bit i: phone i of the council has it
}

func newTracker(size int) *tracker {
	return &tracker{size: size, changes: make(map[automerge.ChangeHash]*tracked)}
}

func (t *tracker) reset() {
	t.mu.Lock()
	t.changes = make(map[automerge.ChangeHash]*tracked)
	t.lat = nil
	t.mu.Unlock()
}

func (t *tracker) sent(h automerge.ChangeHash, phone int) {
	t.made.Add(1)
	t.mu.Lock()
	t.changes[h] = &tracked{sent: time.Now(), have: 1 << phone}
	t.mu.Unlock()
}

func (t *tracker) arrived(h automerge.ChangeHash, phone int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.changes[h]
	if c == nil || c.have&(1<<phone) != 0 {
		return
	}
	c.have |= 1 << phone
	if c.have == 1<<t.size-1 {
		t.lat = append(t.lat, time.Since(c.sent))
		delete(t.changes, h)
	}
}

// latencies returns the sorted delivery times and how many changes have
// not reached their whole council.
func (t *tracker) latencies() ([]time.Duration, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lat := slices.Clone(t.lat)
	slices.Sort(lat)
	return lat, len(t.changes)
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)].Round(time.Millisecond)
}

func envInt(t testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

// processCPU is a process's user and system CPU time so far, in seconds
// (/proc/<pid>/stat, all threads).
func processCPU(t testing.TB, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name may hold spaces: fields count from after its ')'.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// peakResidentBytes is a process's VmHWM.
func peakResidentBytes(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
