package server

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/wire"
)

// TestUnsaveableChangeKeepsTheDocumentLoadable: a council's history with
// one change a hostile member mutated (testdata/unsaveable: found in a
// hostile trial with stock clients, a few tries of changed bytes with the
// checksum made right). The core applies it, answers it and stores it as
// it came, but the document saved whole no longer loads ("mismatching
// heads"). Compaction must not replace the changes with that snapshot (the
// council would be lost at its next load), and a new phone must not be
// sent it as its first sync (it could not load it).
func TestUnsaveableChangeKeepsTheDocumentLoadable(t *testing.T) {
	for _, contained := range []bool{true, false} {
		name := "in-process"
		if contained {
			name = "sandbox"
		}
		t.Run(name, func(t *testing.T) { unsaveable(t, contained) })
	}
}

func unsaveable(t *testing.T, contained bool) {
	history, err := os.ReadFile(filepath.Join("testdata", "unsaveable", "council-mismatching-heads.changes"))
	if err != nil {
		t.Fatal(err)
	}
	mirror := automerge.New()
	if err := mirror.LoadIncremental(history); err != nil {
		t.Fatal(err)
	}
	if _, err := automerge.Load(mirror.Save()); err == nil {
		t.Fatal("the testdata's document saves and loads again: it proves nothing")
	}
	opts := Options{IdleTimeout: time.Hour}
	if contained {
		opts.Sandbox = startSandbox(t)
	}
	st := openStore(t)
	r := newTestRelay(t, st, opts)
	p := connectAs(t, r, "mallory", MemberPrincipal("south", "mallory"))
	id := wire.NewDocumentID()
	stored := func(heads []automerge.ChangeHash) func() bool {
		return func() bool {
			m, err := st.Meta(context.Background(), string(id))
			return err == nil && slices.Equal(m.Heads, hexHeads(heads))
		}
	}
	p.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "mallory", TargetID: r.PeerID(), DocumentID: id, Data: pushMessage(splitChunks(t, history)...)})
	waitUntil(t, "the history to be stored", stored(mirror.Heads()))

	// A message the core refuses drops the sandbox's copy of the document;
	// the copy that replaces it must load although the document saved
	// whole does not, and the document stays served.
	bad := connectAs(t, r, "bad", MemberPrincipal("south", "eve"))
	bad.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "bad", TargetID: r.PeerID(), DocumentID: id, Data: pushMessage([]byte{0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 1, 5, 1, 2, 3, 4, 5})})
	bad.expectError("sync message rejected")

	// An honest change large enough that the relay compacts after it.
	big := make([]byte, compactMinBytes+16<<10)
	rand.Read(big)
	if err := mirror.Path("attachment").Set(big); err != nil {
		t.Fatal(err)
	}
	h, err := mirror.Commit("a large attachment")
	if err != nil {
		t.Fatal(err)
	}
	c, err := mirror.Change(h)
	if err != nil {
		t.Fatal(err)
	}
	p.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "mallory", TargetID: r.PeerID(), DocumentID: id, Data: pushMessage(c.Save())})
	waitUntil(t, "the large change to be stored", stored(mirror.Heads()))
	if incs := r.Incidents(); len(incs) > 0 {
		t.Fatalf("the document was quarantined: %+v", incs)
	}

	// A new phone is not sent a saved form it could not load. (Taking the
	// document's lock also waits for the commit that stored the change,
	// and the compaction that follows it, to end.)
	r.mu.Lock()
	s := r.docs[string(id)]
	r.mu.Unlock()
	s.mu.Lock()
	img, err := s.image(r.opts.MaxMessageSize)
	meta := s.meta
	s.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if img.data != nil {
		if _, err := automerge.Load(img.data); err != nil {
			t.Fatalf("the compressed document for a new phone does not load: %v", err)
		}
	}
	if meta.ChunkBytes <= compactMinBytes && meta.SnapshotBytes == 0 {
		t.Fatalf("the relay had no reason to compact (%+v): the test proves nothing", meta)
	}

	// What the store holds loads again, whole.
	doc, err := st.Load(context.Background(), string(id))
	if err != nil {
		t.Fatal(err)
	}
	back, err := rebuild(doc)
	if err != nil {
		t.Fatalf("the store's copy of the document no longer loads: %v", err)
	}
	if !slices.Equal(back.Heads(), mirror.Heads()) {
		t.Fatalf("reloaded heads %v, want %v", back.Heads(), mirror.Heads())
	}

}
