package server

import (
	"context"
	"strings"
	"testing"

	"github.com/veche-sync/veche/server/wire"
)

// TestDocumentsPerCouncilAreBounded: the members of a council may create
// only so many documents over the websocket (a hostile trial created
// 4,096 on one connection in 24 s, 32 MiB of store, with nothing to stop
// it from reconnecting and going on). Past the bound a new document gets
// an error and is not stored, the same error a first sync for a document
// of another council gets (no existence oracle), documents the council
// owns are still written, other councils still create theirs, and the
// count survives new grants (a restart).
func TestDocumentsPerCouncilAreBounded(t *testing.T) {
	w := newWorld(t)
	w.r.opts.MaxDocumentsPerCouncil = 3
	ana := connectAs(t, w.r, "ana", MemberPrincipal(string(w.north), w.ana))
	var owned []wire.DocumentID
	for i := range 3 {
		id := wire.NewDocumentID()
		ana.change(id, "n", int64(i))
		waitStored(t, w.r, ana, id)
		owned = append(owned, id)
	}
	refused := func(p *testPeer, id wire.DocumentID) string {
		t.Helper()
		p.change(id, "n", int64(99))
		m := p.expectError("too many documents")
		return strings.ReplaceAll(m.ErrorMessage, string(id), "ID")
	}
	over := wire.NewDocumentID()
	forNew := refused(ana, over)
	// A first sync for another council's document is answered alike.
	if forOther := refused(ana, w.south); forOther != forNew {
		t.Fatalf("a new id and another council's document are told apart at the bound:\n%q\n%q", forNew, forOther)
	}
	// Its own documents are written on; the refused one was never stored
	// (proved after a lawful write on the same connection is stored).
	ana.change(owned[0], "n", int64(10))
	waitStored(t, w.r, ana, owned[0])
	if ok, _ := w.r.store.Exists(context.Background(), string(over)); ok {
		t.Fatal("a document past the bound was stored")
	}
	// Another council is not held to north's count.
	cai := connectAs(t, w.r, "cai", MemberPrincipal(string(w.south), w.cai))
	theirs := wire.NewDocumentID()
	cai.change(theirs, "n", int64(1))
	waitStored(t, w.r, cai, theirs)
	// A restarted relay, with new grants, counts what the store records.
	r2 := newTestRelay(t, w.r.store, Options{Access: AllowAll{}, MaxDocumentsPerCouncil: 3})
	r2.SetAccess(NewGrants(r2, w.g.owners))
	ana2 := connectAs(t, r2, "ana2", MemberPrincipal(string(w.north), w.ana))
	refused(ana2, wire.NewDocumentID())
}
