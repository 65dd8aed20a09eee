package interop

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/syncmsg"
	"github.com/veche-sync/veche/server/wire"
)

// TestLatentCrasherInTheStoreBlamesTheDocument: a document the store
// already holds carries a change that crashes the core's next search of
// a map (written by an older version, before the relay searched after
// applying). Under the default (--sandbox auto, no sandbox until a first
// crash) an honest member's later list edit must not be blamed for it:
// the relay finds it when it loads the document, as a sandbox worker
// does, and marks the document unavailable; the member keeps their
// tokens and their change is not quarantined.
func TestLatentCrasherInTheStoreBlamesTheDocument(t *testing.T) {
	r := startRelay(t, vecheRelay(t), t.TempDir())
	council := foundCouncil(t, r, "North growers")

	// The member starts a document of the council's.
	first := automerge.New()
	if err := first.Path("title").Set("minutes"); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Commit("start"); err != nil {
		t.Fatal(err)
	}
	id := wire.NewDocumentID()
	honest, _, err := dialRaw(t, r, council.Token, "founder")
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := first.Changes()
	honest.send(wire.Message{Type: wire.TypeSync, SenderID: "founder", TargetID: "relay", DocumentID: id, Data: syncmsg.Message{Type: syncmsg.V1, Changes: [][]byte{cs[0].Save()}}.Encode()})
	awaitHeads(t, honest, []syncmsg.Hash{syncmsg.Hash(cs[0].Hash())})
	honest.ws.Close()

	// An older version stored a change that puts a list element's key in
	// the root map (the mapkey-root crasher) into it.
	x := crasherFile(t, "*-mapkey-root-*.json")
	latent := automerge.New()
	if err := latent.LoadIncremental(x.State); err != nil {
		t.Fatal(err)
	}
	if _, err := automerge.NewSyncState(latent).ReceiveMessage(x.Message); err != nil {
		t.Fatal(err)
	}
	r.stop()
	st, err := store.Open(r.dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(context.Background(), string(id), latent.Save(), nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	r.start()

	// The member's next edit of a list.
	edit := automerge.New()
	if err := edit.Path("items").Set([]any{"an item"}); err != nil {
		t.Fatal(err)
	}
	if _, err := edit.Commit("a list"); err != nil {
		t.Fatal(err)
	}
	ecs, _ := edit.Changes()
	again, _, err := dialRaw(t, r, council.Token, "founder-again")
	if err != nil {
		t.Fatal(err)
	}
	again.send(wire.Message{Type: wire.TypeSync, SenderID: "founder-again", TargetID: "relay", DocumentID: id, Data: syncmsg.Message{Type: syncmsg.V1, Changes: [][]byte{ecs[0].Save()}}.Encode()})
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(r.logs.String(), "quarantined") && !strings.Contains(r.logs.String(), "marked unavailable"); {
		if time.Now().After(deadline) {
			t.Fatal("neither the document nor the member was blamed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if strings.Contains(r.logs.String(), "quarantined a sync message") {
		t.Fatal("the honest member's edit was quarantined for the document's own state")
	}
	if s := status(t, r, council.Token, "GET", "/api/councils/"+council.ID); s != http.StatusOK {
		t.Fatalf("the honest member: REST answered %d", s)
	}
	if !strings.Contains(r.logs.String(), "marked unavailable") {
		t.Fatal("the document was not marked unavailable")
	}
}
