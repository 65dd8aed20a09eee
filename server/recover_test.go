package server

import (
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/crashmark"
	"github.com/veche-sync/veche/server/wire"
)

// leftMarks fabricates what a relay process that died in the core leaves
// on its board: each mark entered and never left.
func leftMarks(t *testing.T, marks ...crashmark.Mark) []crashmark.Mark {
	t.Helper()
	f, err := crashmark.Create(4, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	b, err := crashmark.Open(f, 4, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range marks {
		b.Enter(&marks[i])
	}
	return b.Left()
}

// TestRecoverQuarantinesTheInputInTheCore: the one message the dead relay
// was applying is quarantined (its only change, refused from anyone) and
// its sender suspended; the document itself stays available.
func TestRecoverQuarantinesTheInputInTheCore(t *testing.T) {
	st := openStore(t)
	c := loadCorpus(t)[0]
	id := wire.NewDocumentID()
	ana := MemberPrincipal("north", "ana")
	r := newTestRelay(t, st, Options{Quarantine: st})
	r.Recover(leftMarks(t, crashmark.Mark{Op: crashmark.OpReceive, Document: string(id), Principal: ana.ID, PrincipalKind: string(ana.Kind), Message: c.Message}), "automerge/src/x.rs:1:2")
	incs := r.Incidents()
	if len(incs) != 1 || incs[0].Principal != ana.ID || incs[0].Document != string(id) || incs[0].Site != "automerge/src/x.rs:1:2" {
		t.Fatalf("incidents: %+v", incs)
	}
	if !r.Suspended(ana) {
		t.Fatal("the sender is not suspended")
	}
	// Re-sent by someone else: refused before it reaches the core.
	bob := connectAs(t, r, "bob", MemberPrincipal("north", "bob"))
	bob.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "bob", TargetID: r.PeerID(), DocumentID: id, Data: c.Message})
	bob.expectError("quarantined")
	// The document serves an honest change.
	bob.change(id, "k", "v")
	waitStored(t, r, bob, id)
}

// TestRecoverPoisonsTheDocumentItWasAnswering: a crash while answering a
// peer (no principal's input in the core) is the document's own state:
// it is marked unavailable, not loaded again, and no one is suspended.
func TestRecoverPoisonsTheDocumentItWasAnswering(t *testing.T) {
	st := openStore(t)
	id := wire.NewDocumentID()
	r := newTestRelay(t, st, Options{Quarantine: st})
	r.Recover(leftMarks(t, crashmark.Mark{Op: crashmark.OpAnswer, Document: string(id)}), "")
	incs := r.Incidents()
	if len(incs) != 1 || incs[0].Kind != "document" || incs[0].Document != string(id) || incs[0].Principal != "" {
		t.Fatalf("incidents: %+v", incs)
	}
	p := connectAs(t, r, "p", MemberPrincipal("north", "ana"))
	p.find(id)
	p.expect(wire.TypeDocUnavailable)
}

// TestRecoverBlamesNoOneWhenUnsure: two principals' messages were in the
// core at once and, with no sandbox to replay them, neither can be
// proved guilty: no one is suspended and nothing is refused.
func TestRecoverBlamesNoOneWhenUnsure(t *testing.T) {
	st := openStore(t)
	c := loadCorpus(t)[0]
	ana, bob := MemberPrincipal("north", "ana"), MemberPrincipal("north", "bob")
	r := newTestRelay(t, st, Options{Quarantine: st})
	r.Recover(leftMarks(t,
		crashmark.Mark{Op: crashmark.OpReceive, Document: string(wire.NewDocumentID()), Principal: ana.ID, PrincipalKind: string(ana.Kind), Message: c.Message},
		crashmark.Mark{Op: crashmark.OpReceive, Document: string(wire.NewDocumentID()), Principal: bob.ID, PrincipalKind: string(bob.Kind), Message: c.Message},
	), "")
	if incs := r.Incidents(); len(incs) != 0 {
		t.Fatalf("incidents: %+v", incs)
	}
	if r.Suspended(ana) || r.Suspended(bob) {
		t.Fatal("suspended without proof")
	}
}

// TestRecoverWithSandboxBlamesOnlyTheCrasher: of two messages in the core
// at once, a sandbox worker replays each; only the one that crashes it is
// quarantined.
func TestRecoverWithSandboxBlamesOnlyTheCrasher(t *testing.T) {
	st := openStore(t)
	var c crasher
	for _, x := range loadCorpus(t) {
		if len(x.State) == 0 && !x.Generate {
			c = x
			break
		}
	}
	if c.name == "" {
		t.Fatal("no state-less crasher in the corpus")
	}
	doc := automerge.New()
	if err := doc.Path("k").Set("v"); err != nil {
		t.Fatal(err)
	}
	if _, err := doc.Commit("honest"); err != nil {
		t.Fatal(err)
	}
	changes, err := doc.Changes()
	if err != nil {
		t.Fatal(err)
	}
	honest := pushMessage(changes[0].Save())
	ana, bob := MemberPrincipal("north", "ana"), MemberPrincipal("north", "bob")
	r := newTestRelay(t, st, Options{Quarantine: st, Sandbox: startSandbox(t)})
	r.Recover(leftMarks(t,
		crashmark.Mark{Op: crashmark.OpReceive, Document: string(wire.NewDocumentID()), Principal: ana.ID, PrincipalKind: string(ana.Kind), Message: c.Message},
		crashmark.Mark{Op: crashmark.OpReceive, Document: string(wire.NewDocumentID()), Principal: bob.ID, PrincipalKind: string(bob.Kind), Message: honest},
	), "")
	if !r.Suspended(ana) || r.Suspended(bob) {
		t.Fatalf("suspended: ana %v (sent the crasher), bob %v (honest)", r.Suspended(ana), r.Suspended(bob))
	}
}

// TestRecoverQuarantinesABundleInTheCore: changes a principal's bundle
// brought (a local call with untrusted changes) that were in the core are
// quarantined like a sync message, and the principal suspended.
func TestRecoverQuarantinesABundleInTheCore(t *testing.T) {
	st := openStore(t)
	c := loadCorpus(t)[0]
	chunks, err := syncMessageChunks(c.Message)
	if err != nil || len(chunks) == 0 {
		t.Fatalf("corpus message: %v", err)
	}
	var changes []byte
	for _, ch := range chunks {
		changes = append(changes, ch...)
	}
	ana := MemberPrincipal("north", "ana")
	r := newTestRelay(t, st, Options{Quarantine: st})
	r.Recover(leftMarks(t, crashmark.Mark{Op: crashmark.OpLocal, Document: string(wire.NewDocumentID()), Principal: ana.ID, PrincipalKind: string(ana.Kind), Message: changes}), "")
	incs := r.Incidents()
	if len(incs) != 1 || incs[0].Principal != ana.ID || incs[0].Kind != "change" {
		t.Fatalf("incidents: %+v", incs)
	}
	if !r.Suspended(ana) {
		t.Fatal("the bundle's sender is not suspended")
	}
}

// TestRecoverSuspendsTheSenderOfATruncatedBundle: a bundle larger than its
// crash mark holds (bundles may be larger than a frame) leaves its first
// bytes only, which do not read back as changes. The next relay suspends
// its sender, and does not mark the document unavailable: its own state
// did not crash anything.
func TestRecoverSuspendsTheSenderOfATruncatedBundle(t *testing.T) {
	st := openStore(t)
	c := loadCorpus(t)[0]
	chunks, err := syncMessageChunks(c.Message)
	if err != nil || len(chunks) == 0 {
		t.Fatalf("corpus message: %v", err)
	}
	last := chunks[len(chunks)-1]
	kept := last[:len(last)/2] // what a mark keeps of a larger input
	ana := MemberPrincipal("north", "ana")
	doc := string(wire.NewDocumentID())
	r := newTestRelay(t, st, Options{Quarantine: st})
	r.Recover(leftMarks(t, crashmark.Mark{Op: crashmark.OpLocal, Document: doc, Principal: ana.ID, PrincipalKind: string(ana.Kind), Message: kept, Truncated: true}), "")
	incs := r.Incidents()
	if len(incs) != 1 || incs[0].Principal != ana.ID || incs[0].Kind != "change" {
		t.Fatalf("incidents: %+v", incs)
	}
	if !r.Suspended(ana) {
		t.Fatal("the bundle's sender is not suspended")
	}
}
