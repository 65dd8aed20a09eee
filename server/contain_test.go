package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/sandbox"
	"github.com/veche-sync/veche/server/syncmsg"
	"github.com/veche-sync/veche/server/wire"
)

// crasher is one input of the corpus under testdata/crashers (written by
// the mutation fuzzer of package sandbox): the document's state before,
// as concatenated change chunks, and a sync message that kills the core.
type crasher struct {
	name    string
	Site    string `json:"site"`
	State   []byte `json:"state"`
	Message []byte `json:"message"`
	// Generate marks an input that crashes the core only when it
	// generates an answer; the relay refuses those in Go before.
	Generate bool `json:"generate"`
}

func loadCorpus(t testing.TB) []crasher {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "crashers", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no crash corpus under testdata/crashers: %v", err)
	}
	var out []crasher
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := crasher{name: filepath.Base(f)}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, c)
	}
	return out
}

// splitChunks splits concatenated chunks (magic, checksum, type, uvarint
// length, body).
func splitChunks(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 10 {
			t.Fatalf("truncated chunk")
		}
		n, k := binary.Uvarint(b[9:])
		end := 9 + k + int(n)
		if k <= 0 || end > len(b) {
			t.Fatalf("bad chunk length")
		}
		out = append(out, b[:end])
		b = b[end:]
	}
	return out
}

func startSandbox(t testing.TB) *sandbox.Pool {
	t.Helper()
	pool, err := sandbox.Start(sandbox.Options{Workers: 1, Timeout: 10 * time.Second, Logger: quietLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

// expectError waits for an error message whose text holds want.
func (p *testPeer) expectError(want string) wire.Message {
	p.t.Helper()
	for {
		m := p.expect(wire.TypeError)
		if strings.Contains(m.ErrorMessage, want) {
			return m
		}
	}
}

// TestCorpusIsQuarantined replays every committed crashing input against a
// contained relay: each ends quarantined, the relay stays up, the sender
// is suspended and cut, the same bytes from anyone else are refused
// without harm, and an honest member is served throughout.
func TestCorpusIsQuarantined(t *testing.T) {
	pool := startSandbox(t)
	st := openStore(t)
	r := newTestRelay(t, st, Options{Sandbox: pool, Quarantine: st})
	honest := connectAs(t, r, "honest", MemberPrincipal("north", "ana"))
	hid := wire.NewDocumentID()
	honest.change(hid, "k", "v0")
	waitStored(t, r, honest, hid)

	for i, c := range loadCorpus(t) {
		t.Run(c.name, func(t *testing.T) {
			attacker := MemberPrincipal("south", fmt.Sprintf("mallory%d", i))
			bad := connectAs(t, r, "mallory", attacker)
			id := wire.NewDocumentID()
			if len(c.State) > 0 {
				// The document as it stood: honest changes, synced first.
				bad.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "mallory", TargetID: r.PeerID(), DocumentID: id, Data: pushMessage(splitChunks(t, c.State)...)})
				waitUntil(t, "the state to be stored", func() bool {
					ok, _ := st.Exists(context.Background(), string(id))
					return ok
				})
			}
			restarts := pool.Restarts()
			before := storeDigest(t, st)
			bad.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "mallory", TargetID: r.PeerID(), DocumentID: id, Data: c.Message})
			if validateSyncMessage(c.Message) != nil {
				// Refused in Go before any core sees it: an error and a
				// close, nothing stored, nobody suspended.
				bad.expectError("sync message rejected")
				bad.waitClosed()
				if pool.Restarts() != restarts || r.Suspended(attacker) {
					t.Fatal("a message the Go check refuses reached the sandbox")
				}
				if after := storeDigest(t, st); !equalDigest(before, after) {
					t.Fatalf("the refused message changed the store")
				}
				honest.change(hid, "k", fmt.Sprintf("v%d", i+1))
				waitStored(t, r, honest, hid)
				return
			}
			bad.expectError("quarantined")
			bad.waitClosed()
			if pool.Restarts() < restarts+1 {
				t.Fatalf("worker restarts %d → %d: the input did not crash the sandbox (%s)", restarts, pool.Restarts(), c.Site)
			}
			if !r.Suspended(attacker) {
				t.Fatal("sender not suspended")
			}
			if after := storeDigest(t, st); !equalDigest(before, after) {
				t.Fatalf("the poisoned message changed the store:\n%v\n%v", before, after)
			}
			// Its tokens are refused: a new connection is closed at once.
			if err := r.Accept(context.Background(), newClosedPipe(), attacker); err == nil || !strings.Contains(err.Error(), "quarantined") {
				t.Fatalf("suspended principal accepted: %v", err)
			}
			// Anyone else sending the same bytes gets an error for it, and
			// nothing else: the connection stays and a lawful write works.
			other := connectAs(t, r, "other", MemberPrincipal("east", fmt.Sprintf("eve%d", i)))
			crashed := pool.Restarts()
			other.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "other", TargetID: r.PeerID(), DocumentID: id, Data: c.Message})
			other.expectError("quarantined change")
			if pool.Restarts() != crashed {
				t.Fatal("a quarantined change reached the sandbox again")
			}
			oid := wire.NewDocumentID()
			other.change(oid, "lawful", "yes")
			waitStored(t, r, other, oid)
			// The honest member is served throughout.
			honest.change(hid, "k", fmt.Sprintf("v%d", i+1))
			waitStored(t, r, honest, hid)
		})
	}
	incs := r.Incidents()
	crashing := 0
	for _, c := range loadCorpus(t) {
		if validateSyncMessage(c.Message) == nil {
			crashing++
		}
	}
	if len(incs) != crashing {
		t.Fatalf("%d incidents for %d crashing inputs", len(incs), crashing)
	}
	// The quarantine is durable: a relay started on the same store refuses
	// the same principals at once.
	r2 := New(st, Options{Quarantine: st, Logger: quietLogger(t)})
	for _, inc := range incs {
		if inc.Principal == "" || !r2.quarantine.isSuspended(inc.Principal) {
			t.Fatalf("incident %s not restored: %+v", inc.ID, inc)
		}
	}
	// Released, the principal connects again; the change stays refused.
	released, err := r.Release(context.Background(), incs[0].ID)
	if err != nil || released.Released.IsZero() {
		t.Fatalf("release: %+v, %v", released, err)
	}
	back := connectAs(t, r, "back", MemberPrincipal("south", "mallory0"))
	var first crasher
	for _, c := range loadCorpus(t) {
		if !c.Generate {
			first = c
			break
		}
	}
	back.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "back", TargetID: r.PeerID(), DocumentID: wire.NewDocumentID(), Data: first.Message})
	back.expectError("quarantined change")
}

// newClosedPipe is a connection whose other end is already gone.
func newClosedPipe() Conn {
	a, b := newPipe()
	a.Close("")
	return b
}

// TestPoisonedStoredDocumentIsUnavailable: a document whose stored state
// crashes the core (a poisoned change written by an older, uncontained
// version) is marked unavailable with a log line, the relay keeps
// serving, and a restarted relay does not crash its sandbox on it again.
// Two kinds: a state that crashes the core when loaded, and one that
// loads but crashes it when the relay answers a peer holding it (a change
// whose sequence number does not follow its actor's: the compressed
// document a new phone gets is recorded as held, and the answer that
// follows crashed the relay's own core).
func TestPoisonedStoredDocumentIsUnavailable(t *testing.T) {
	var onLoad, onAnswer crasher
	for _, x := range loadCorpus(t) {
		switch {
		case len(x.State) == 0 && !x.Generate && onLoad.name == "":
			onLoad = x
		case len(x.State) == 0 && strings.Contains(x.name, "-holder-"):
			onAnswer = x
		}
	}
	if onLoad.name == "" || onAnswer.name == "" {
		t.Fatal("corpus lacks a state-less crasher of each kind")
	}
	for _, c := range []crasher{onLoad, onAnswer} {
		t.Run(c.name, func(t *testing.T) { poisonedStoredDocument(t, c) })
	}
}

func poisonedStoredDocument(t *testing.T, c crasher) {
	chunks, err := syncMessageChunks(c.Message)
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	for _, ch := range chunks {
		stored = append(stored, ch...)
	}
	st := openStore(t)
	id := wire.NewDocumentID()
	if _, err := st.Append(context.Background(), string(id), stored, nil); err != nil {
		t.Fatal(err)
	}
	pool := startSandbox(t)
	r := newTestRelay(t, st, Options{Sandbox: pool, Quarantine: st})
	p := connectAs(t, r, "p", MemberPrincipal("north", "ana"))
	p.find(id)
	p.expect(wire.TypeDocUnavailable)
	if pool.Restarts() != 1 {
		t.Fatalf("restarts %d, want 1", pool.Restarts())
	}
	incs := r.Incidents()
	if len(incs) != 1 || incs[0].Kind != "document" || incs[0].Document != string(id) {
		t.Fatalf("incidents: %+v", incs)
	}
	// Everyone else is served.
	other := wire.NewDocumentID()
	p.change(other, "k", "v")
	waitStored(t, r, p, other)

	// Released by the operator, it is tried again at the next message,
	// though a peer that asked for it holds it in memory (and, since it
	// still crashes the core, marked unavailable again).
	if _, err := r.Release(context.Background(), incs[0].ID); err != nil {
		t.Fatal(err)
	}
	again := connectAs(t, r, "again", MemberPrincipal("north", "ana"))
	again.find(id)
	again.expect(wire.TypeDocUnavailable)
	if pool.Restarts() != 2 {
		t.Fatalf("restarts %d after the release, want 2: the released document was not tried again", pool.Restarts())
	}
	if incs := r.Incidents(); len(incs) != 1 || !incs[0].Released.IsZero() {
		t.Fatalf("incidents after the retry: %+v", incs)
	}

	// A new relay on the same store knows the document is poisoned and
	// never hands it to the core again.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	pool2 := startSandbox(t)
	r2 := newTestRelay(t, st, Options{Sandbox: pool2, Quarantine: st})
	q := connectAs(t, r2, "q", MemberPrincipal("north", "ana"))
	q.find(id)
	q.expect(wire.TypeDocUnavailable)
	if pool2.Restarts() != 0 {
		t.Fatal("the restarted relay loaded the poisoned document again")
	}
}

// TestRecoveryTime measures how long a contained crash costs, with 100
// documents open: from the poisoned message to the sender's answer, and
// to every one of the 100 documents serving a new change again (each one's
// copy in the restarted worker is rebuilt on its next message).
func TestRecoveryTime(t *testing.T) {
	pool := startSandbox(t)
	st := openStore(t)
	r := newTestRelay(t, st, Options{Sandbox: pool, Quarantine: st})
	honest := connectAs(t, r, "honest", MemberPrincipal("north", "ana"))
	ids := make([]wire.DocumentID, 100)
	for i := range ids {
		ids[i] = wire.NewDocumentID()
		honest.change(ids[i], "n", int64(0))
	}
	for _, id := range ids {
		waitStored(t, r, honest, id)
	}
	var c crasher
	for _, x := range loadCorpus(t) {
		if len(x.State) == 0 && !x.Generate {
			c = x
			break
		}
	}
	bad := connectAs(t, r, "mallory", MemberPrincipal("south", "mallory"))
	start := time.Now()
	bad.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "mallory", TargetID: r.PeerID(), DocumentID: wire.NewDocumentID(), Data: c.Message})
	bad.expectError("quarantined")
	contained := time.Since(start)
	for _, id := range ids {
		honest.change(id, "n", int64(1))
	}
	for _, id := range ids {
		waitStored(t, r, honest, id)
	}
	all := time.Since(start)
	if pool.Restarts() < 1 {
		t.Fatalf("restarts %d", pool.Restarts())
	}
	t.Logf("crash to sender answered and worker restarted: %s; to all 100 open documents storing a new change: %s", contained.Round(time.Microsecond), all.Round(time.Microsecond))
	fmt.Printf("recovery: crash contained in %s; 100 open documents serving again in %s\n", contained.Round(time.Microsecond), all.Round(time.Microsecond))
}

// TestUntrustedLocalChangesAreScreened: changes a principal hands the
// relay outside the websocket (a bundle over REST) meet the sandbox first:
// a crashing one is quarantined and its sender suspended, fn never runs,
// and the document is still served.
func TestUntrustedLocalChangesAreScreened(t *testing.T) {
	var c crasher
	for _, x := range loadCorpus(t) {
		if len(x.State) > 0 && !x.Generate {
			c = x
			break
		}
	}
	pool := startSandbox(t)
	st := openStore(t)
	r := newTestRelay(t, st, Options{Sandbox: pool, Quarantine: st})
	ctx := context.Background()
	id, err := r.Create(ctx, func(doc *automerge.Doc) error { return doc.LoadIncremental(c.State) })
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := syncMessageChunks(c.Message)
	if err != nil {
		t.Fatal(err)
	}
	var payload []byte
	for _, ch := range chunks {
		payload = append(payload, ch...)
	}
	from := MemberPrincipal("north", "mallory")
	ran := false
	err = r.ChangeUntrusted(ctx, id, from, payload, func(doc *automerge.Doc) error {
		ran = true
		return doc.LoadIncremental(payload)
	})
	if !errors.Is(err, ErrQuarantined) || ran {
		t.Fatalf("ChangeUntrusted: %v (fn ran: %v)", err, ran)
	}
	if !r.Suspended(from) {
		t.Fatal("sender not suspended")
	}
	// Again, from anyone: refused by hash, without the sandbox.
	restarts := pool.Restarts()
	err = r.ChangeUntrusted(ctx, id, MemberPrincipal("north", "ana"), payload, func(*automerge.Doc) error { ran = true; return nil })
	if !errors.Is(err, ErrQuarantined) || ran || pool.Restarts() != restarts {
		t.Fatalf("second try: %v (fn ran: %v)", err, ran)
	}
	// The document is still served.
	if err := r.Change(ctx, id, func(doc *automerge.Doc) error { return doc.Path("after").Set("yes") }); err != nil {
		t.Fatal(err)
	}
}

// TestPeerRelayForwardingAPoisonedChange: a peer relay only forwards what
// others wrote. Forwarding a change already quarantined gets an error for
// it and nothing else changes; forwarding a new crashing change has it
// quarantined and the link cut (it redials), but the link is not
// suspended.
func TestPeerRelayForwardingAPoisonedChange(t *testing.T) {
	var crashers []crasher
	for _, c := range loadCorpus(t) {
		if len(c.State) == 0 && !c.Generate {
			crashers = append(crashers, c)
		}
	}
	if len(crashers) < 2 {
		t.Fatal("want two corpus inputs that crash a new document")
	}
	pool := startSandbox(t)
	st := openStore(t)
	r := newTestRelay(t, st, Options{Sandbox: pool, Quarantine: st})
	link := Principal{ID: "peer:district", Kind: KindPeer}

	// A member sends the first: quarantined, member suspended.
	bad := connectAs(t, r, "mallory", MemberPrincipal("south", "mallory"))
	bad.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "mallory", TargetID: r.PeerID(), DocumentID: wire.NewDocumentID(), Data: crashers[0].Message})
	bad.expectError("quarantined")

	// The link forwards it: an error, the link stays and syncs on.
	district := connectAs(t, r, "district", link)
	restarts := pool.Restarts()
	district.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "district", TargetID: r.PeerID(), DocumentID: wire.NewDocumentID(), Data: crashers[0].Message})
	district.expectError("quarantined change")
	id := wire.NewDocumentID()
	district.change(id, "k", "v")
	waitStored(t, r, district, id)
	if pool.Restarts() != restarts {
		t.Fatal("a quarantined change reached the sandbox")
	}

	// The link forwards a new one: quarantined, the link cut, not suspended.
	district.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "district", TargetID: r.PeerID(), DocumentID: wire.NewDocumentID(), Data: crashers[1].Message})
	district.expectError("quarantined")
	district.waitClosed()
	if r.Suspended(link) {
		t.Fatal("a peer relay was suspended for what it forwarded")
	}
	again := connectAs(t, r, "district", link)
	other := wire.NewDocumentID()
	again.change(other, "k", "v")
	waitStored(t, r, again, other)
}

// TestRoutineAcknowledgementsSkipTheSandbox: an acknowledgement naming
// only heads the relay held (no changes, no needs) is applied without a
// round trip to a sandbox worker; a message with a change, or one naming a
// head the relay never held, still goes through the worker first.
func TestRoutineAcknowledgementsSkipTheSandbox(t *testing.T) {
	pool := startSandbox(t)
	st := openStore(t)
	r := newTestRelay(t, st, Options{Sandbox: pool, Quarantine: st})
	// A peer that answers nothing on its own: every message it sends is
	// one of the test's.
	b := rawPeer(t, r, "b")
	b.sendMsg(wire.Message{Type: wire.TypeJoin, SenderID: "b", PeerMetadata: &wire.PeerMetadata{IsEphemeral: true}, SupportedProtocolVersions: []string{"1"}})
	if m := b.recvRaw(5 * time.Second); m.Type != wire.TypePeer {
		t.Fatalf("handshake: %+v", m)
	}
	go func() {
		for {
			if _, err := b.conn.ReadFrame(context.Background()); err != nil {
				return
			}
		}
	}()
	id := wire.NewDocumentID()
	doc := automerge.New()
	push := func(key string) {
		t.Helper()
		if err := doc.RootMap().Set(key, "v"); err != nil {
			t.Fatal(err)
		}
		h, err := doc.Commit(key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := doc.Change(h)
		if err != nil {
			t.Fatal(err)
		}
		b.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "b", TargetID: r.PeerID(), DocumentID: id, Data: pushMessage(c.Save())})
		want := hexHeads(doc.Heads())
		waitUntil(t, "the relay to store "+key, func() bool {
			m, err := st.Meta(context.Background(), string(id))
			return err == nil && slices.Equal(m.Heads, want)
		})
	}
	ack := func(heads []automerge.ChangeHash) []byte {
		hs := hashes(heads)
		return syncmsg.Message{Type: syncmsg.V1, Heads: hs, Have: []syncmsg.Have{{LastSync: hs}}}.Encode()
	}
	push("first")
	before := pool.Checks()
	if before < 1 {
		t.Fatalf("the first change was not checked in the sandbox (%d checks)", before)
	}
	// An acknowledgement of the relay's heads, then a change: only the
	// change meets a worker.
	b.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "b", TargetID: r.PeerID(), DocumentID: id, Data: ack(doc.Heads())})
	push("second")
	if got := pool.Checks() - before; got != 1 {
		t.Fatalf("%d sandbox checks for an acknowledgement and a change, want 1 (the change)", got)
	}
	// A message naming a head the relay never held is checked, though it
	// carries no change.
	var unknown automerge.ChangeHash
	unknown[0] = 1
	before = pool.Checks()
	b.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "b", TargetID: r.PeerID(), DocumentID: id, Data: ack([]automerge.ChangeHash{unknown})})
	push("third")
	if got := pool.Checks() - before; got != 2 {
		t.Fatalf("%d sandbox checks for a message naming an unknown head and a change, want 2", got)
	}
	// So is one naming a known head many times over.
	before = pool.Checks()
	repeated := make([]automerge.ChangeHash, maxRoutineHashes)
	for i := range repeated {
		repeated[i] = doc.Heads()[0]
	}
	b.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "b", TargetID: r.PeerID(), DocumentID: id, Data: ack(repeated)})
	push("repeated")
	if got := pool.Checks() - before; got != 2 {
		t.Fatalf("%d sandbox checks for a message repeating a head and a change, want 2", got)
	}
	// So is one with a need, even of a known change.
	before = pool.Checks()
	hs := hashes(doc.Heads())
	b.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "b", TargetID: r.PeerID(), DocumentID: id, Data: syncmsg.Message{Type: syncmsg.V1, Heads: hs, Need: hs, Have: []syncmsg.Have{{LastSync: hs}}}.Encode()})
	push("fourth")
	if got := pool.Checks() - before; got != 2 {
		t.Fatalf("%d sandbox checks for a message with a need and a change, want 2", got)
	}
}

// TestRoutineShapeSurvivesTheCore is the evidence behind routine: random
// messages of the shape it lets skip the sandbox — any known change hashes
// as heads and last sync, at most one have with any bloom filter
// validateSyncMessage accepts, anything after the changes — are received
// and answered by the core, in a worker, as one peer's stream and each
// from a fresh sync state, and none crashes it.
func TestRoutineShapeSurvivesTheCore(t *testing.T) {
	pool := startSandbox(t)
	doc := automerge.New()
	var all []syncmsg.Hash
	forks := []*automerge.Doc{doc}
	for i := 0; i < 40; i++ {
		if i%10 == 0 {
			f, err := doc.Fork()
			if err != nil {
				t.Fatal(err)
			}
			forks = append(forks, f)
		}
		d := forks[i%len(forks)]
		if err := d.RootMap().Set(fmt.Sprint("k", i%7), int64(i)); err != nil {
			t.Fatal(err)
		}
		h, err := d.Commit("c")
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, syncmsg.Hash(h))
	}
	for _, f := range forks[1:] {
		if _, err := doc.Merge(f); err != nil {
			t.Fatal(err)
		}
	}
	state := [][]byte{doc.Save()}
	rng := rand.New(rand.NewPCG(1, 2))
	subset := func(min int) []syncmsg.Hash {
		n := min + rng.IntN(4)
		out := make([]syncmsg.Hash, n)
		for i := range out {
			out[i] = all[rng.IntN(len(all))]
		}
		return out
	}
	restarts, checks, rejected := pool.Restarts(), pool.Checks(), 0
	for i := 0; i < 3000; i++ {
		m := syncmsg.Message{Type: syncmsg.V1, Heads: subset(1)}
		if rng.IntN(4) > 0 {
			h := syncmsg.Have{LastSync: subset(0)}
			if entries := rng.IntN(60); entries > 0 || rng.IntN(2) == 0 {
				bits, probes := 1+rng.IntN(maxBloomBitsPerEntry), 1+rng.IntN(maxBloomProbes)
				b := binary.AppendUvarint(nil, uint64(entries))
				b = binary.AppendUvarint(b, uint64(bits))
				b = binary.AppendUvarint(b, uint64(probes))
				raw := make([]byte, (entries*bits+7)/8)
				for j := range raw {
					raw[j] = byte(rng.IntN(256))
				}
				h.Bloom = append(b, raw...)
			}
			m.Have = []syncmsg.Have{h}
		}
		if rng.IntN(3) == 0 {
			m.Flags = []byte{byte(rng.IntN(256)), byte(rng.IntN(256))}
		}
		msg := m.Encode()
		if err := validateSyncMessage(msg); err != nil {
			continue // refused in Go before any core sees it
		}
		peer := "stream"
		if i%2 == 1 {
			peer = "" // a fresh sync state
		}
		err := pool.Check("doc", peer, msg, func() [][]byte { return state })
		var crash *sandbox.Crash
		if errors.As(err, &crash) {
			t.Fatalf("message %d (%x) crashed the core: %s", i, msg, crash.Site)
		}
		if err != nil {
			rejected++
		}
	}
	checked := pool.Checks() - checks
	t.Logf("%d messages of the routine shape checked in the core, %d refused by it with an error, none crashed it", checked, rejected)
	if pool.Restarts() != restarts || checked < 2500 {
		t.Fatalf("%d restarts, %d checked", pool.Restarts()-restarts, checked)
	}
}
