package interop

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/syncmsg"
	"github.com/veche-sync/veche/server/wire"
)

// TestReleasedCrashBlamesItsSender: a member sends a crashing change
// whose dependency the relay lacks, so the core holds it back; an honest
// member's later message brings the dependency and releases it into the
// core. Whatever class the change is of — one that crashes the core on
// apply, at the clock of the new heads, or at a search of the maps — and
// whether or not the honest message keys ops by list position, the
// crash must blame the change's sender: the honest member keeps their
// tokens, their change is not quarantined, and no document is marked
// unavailable. Under the default (--sandbox auto) and --sandbox always.
func TestReleasedCrashBlamesItsSender(t *testing.T) {
	for _, tc := range []struct {
		name, glob, mode string
		byPosition       bool
	}{
		{"apply-762", "*-762-64-KMGaZQ.json", "auto", false},
		{"apply-770", "*-770-25-FmzSKA.json", "auto", false},
		{"apply-447", "*-447-18-SlAANg.json", "auto", false},
		{"mapkey-position-release", "*-mapkey-root-*.json", "auto", true},
		{"apply-762-sandbox", "*-762-64-KMGaZQ.json", "always", false},
		{"mapkey-sandbox", "*-mapkey-root-*.json", "always", true},
	} {
		t.Run(tc.name, func(t *testing.T) { releasedCrashBlamesItsSender(t, tc.glob, tc.mode, tc.byPosition) })
	}
}

func releasedCrashBlamesItsSender(t *testing.T, glob, mode string, byPosition bool) {
	r := startRelay(t, vecheRelay(t, "--sandbox", mode), t.TempDir())
	council := foundCouncil(t, r, "North growers")
	mallory := admit(t, r, council, "Mallory")

	x := crasherFile(t, glob)
	if len(x.State) == 0 {
		t.Fatalf("%s: a crasher with a state is needed", glob)
	}
	doc := automerge.New()
	if err := doc.LoadIncremental(x.State); err != nil {
		t.Fatal(err)
	}
	changes, err := doc.Changes()
	if err != nil {
		t.Fatal(err)
	}
	var chunks [][]byte
	for _, c := range changes[:len(changes)-1] {
		chunks = append(chunks, c.Save())
	}
	last := changes[len(changes)-1]
	var heads []syncmsg.Hash
	for _, h := range last.Dependencies() {
		heads = append(heads, syncmsg.Hash(h))
	}
	release := [][]byte{last.Save()}
	if byPosition {
		// The honest member also inserts into a list: a change keyed by
		// list position, as any edit of a list or a text is.
		if err := doc.Path("hostile2").Set([]any{"an item"}); err != nil {
			t.Fatal(err)
		}
		if _, err := doc.Commit("a list"); err != nil {
			t.Fatal(err)
		}
		more, err := doc.Changes(last.Hash())
		if err != nil || len(more) != 1 {
			t.Fatalf("the list change: %v (%d)", err, len(more))
		}
		if !syncmsg.KeysByPosition(more[0].Save()) {
			t.Fatal("the list change does not key by position")
		}
		release = append(release, more[0].Save())
	}
	id := wire.NewDocumentID()
	honest, _, err := dialRaw(t, r, council.Token, "founder")
	if err != nil {
		t.Fatal(err)
	}
	honest.send(wire.Message{Type: wire.TypeSync, SenderID: "founder", TargetID: "relay", DocumentID: id, Data: syncmsg.Message{Type: syncmsg.V1, Changes: chunks}.Encode()})
	awaitHeads(t, honest, heads)

	bad, _, err := dialRaw(t, r, mallory.Token, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	bad.send(wire.Message{Type: wire.TypeSync, SenderID: "mallory", TargetID: "relay", DocumentID: id, Data: x.Message})
	if m := bad.recv(); m.Type != wire.TypeSync {
		t.Fatalf("the held-back change was answered %s (%s)", m.Type, m.ErrorMessage)
	}
	// An honest change that does not bring the dependency releases
	// nothing: the held-back change stays, its sender stays connected.
	unrelated := unrelatedChange(t, doc, last)
	honest.send(wire.Message{Type: wire.TypeSync, SenderID: "founder", TargetID: "relay", DocumentID: id, Data: syncmsg.Message{Type: syncmsg.V1, Changes: [][]byte{unrelated.Save()}}.Encode()})
	awaitHeads(t, honest, []syncmsg.Hash{syncmsg.Hash(unrelated.Hash())})
	if strings.Contains(r.logs.String(), "dropping changes held back") {
		t.Fatal("an honest change that brings no missing dependency dropped the held-back changes")
	}
	honest.send(wire.Message{Type: wire.TypeSync, SenderID: "founder", TargetID: "relay", DocumentID: id, Data: syncmsg.Message{Type: syncmsg.V1, Changes: release}.Encode()})
	// The relay drops the held-back change before the honest message
	// meets the core, and cuts its sender, whose client reconnects and
	// sends it again: now its dependency is in, and it crashes the core
	// under its own sender's message.
	for m := bad.recv(); m.Type != "closed"; m = bad.recv() {
	}
	awaitHeads(t, honest, releasedHeads(t, append(chunks, unrelated.Save()), release))
	if s := status(t, r, council.Token, "GET", "/api/councils/"+council.ID); s != http.StatusOK {
		t.Fatalf("the honest member who released the change: REST answered %d", s)
	}
	bad, _, err = dialRaw(t, r, mallory.Token, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	bad.send(wire.Message{Type: wire.TypeSync, SenderID: "mallory", TargetID: "relay", DocumentID: id, Data: x.Message})
	for m := bad.recv(); m.Type != "closed"; m = bad.recv() {
	}
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(r.logs.String(), "quarantined"); {
		if time.Now().After(deadline) {
			t.Fatal("no incident was logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(r.logs.String(), "marked unavailable") {
		t.Fatal("a document was blamed for the sender's change")
	}
	if s := status(t, r, council.Token, "GET", "/api/councils/"+council.ID); s != http.StatusOK {
		t.Fatalf("the honest member who released the change: REST answered %d", s)
	}
	if s := status(t, r, mallory.Token, "GET", "/api/councils/"+council.ID); s != http.StatusForbidden {
		t.Fatalf("the sender's token: REST answered %d", s)
	}
	// The honest member's changes are not refused: they reach the relay.
	again, _, err := dialRaw(t, r, council.Token, "founder-again")
	if err != nil {
		t.Fatal(err)
	}
	all := append(append(append([][]byte{}, chunks...), unrelated.Save()), release...)
	again.send(wire.Message{Type: wire.TypeSync, SenderID: "founder-again", TargetID: "relay", DocumentID: id, Data: syncmsg.Message{Type: syncmsg.V1, Changes: all}.Encode()})
	awaitHeads(t, again, releasedHeads(t, append(chunks, unrelated.Save()), release))
}

// releasedHeads are the heads of a document holding chunks and release.
func releasedHeads(t *testing.T, chunks, release [][]byte) []syncmsg.Hash {
	t.Helper()
	doc := automerge.New()
	for _, c := range append(append([][]byte{}, chunks...), release...) {
		if err := doc.LoadIncremental(c); err != nil {
			t.Fatal(err)
		}
	}
	var heads []syncmsg.Hash
	for _, h := range doc.Heads() {
		heads = append(heads, syncmsg.Hash(h))
	}
	return heads
}

// unrelatedChange is a change on top of last's dependencies (what the
// relay holds before last), not of last.
func unrelatedChange(t *testing.T, doc *automerge.Doc, last *automerge.Change) *automerge.Change {
	t.Helper()
	fork, err := doc.Fork(last.Dependencies()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := fork.Path("hostile2-unrelated").Set("a value"); err != nil {
		t.Fatal(err)
	}
	if _, err := fork.Commit("unrelated"); err != nil {
		t.Fatal(err)
	}
	cs, err := fork.Changes(last.Dependencies()...)
	if err != nil || len(cs) != 1 {
		t.Fatalf("the unrelated change: %v (%d)", err, len(cs))
	}
	return cs[0]
}
