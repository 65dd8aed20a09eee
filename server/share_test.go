package server

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/wire"
)

type shareList []wire.DocumentID

func (l shareList) Share(Principal) []wire.DocumentID { return l }

// heardHeads records what a SyncObserver hears.
type heardHeads struct {
	mu          sync.Mutex
	heads       map[wire.DocumentID][]automerge.ChangeHash
	unavailable map[wire.DocumentID]bool
}

func (h *heardHeads) PeerHeads(_ Principal, doc wire.DocumentID, heads []automerge.ChangeHash) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.heads[doc] = heads
}

func (h *heardHeads) PeerUnavailable(_ Principal, doc wire.DocumentID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unavailable[doc] = true
}

func (h *heardHeads) get(doc wire.DocumentID) ([]automerge.ChangeHash, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.heads[doc], h.unavailable[doc]
}

func heads(t *testing.T, r *Relay, id wire.DocumentID) []automerge.ChangeHash {
	t.Helper()
	var hs []automerge.ChangeHash
	err := r.View(context.Background(), id, func(d *automerge.Doc) error {
		hs = d.Heads()
		return nil
	})
	if err != nil {
		return nil
	}
	return hs
}

// TestDialingRelayOffersWhatItShares: a relay that dials pushes the
// documents its share policy names and pulls those it lacks; its observer
// hears the other side's heads, and doc-unavailable for a document
// neither holds.
func TestDialingRelayOffersWhatItShares(t *testing.T) {
	heard := &heardHeads{heads: map[wire.DocumentID][]automerge.ChangeHash{}, unavailable: map[wire.DocumentID]bool{}}
	pushed, pulled, nowhere := wire.NewDocumentID(), wire.NewDocumentID(), wire.NewDocumentID()
	village := newTestRelay(t, openStore(t), Options{PeerID: "village", StorageID: "village-store",
		Share: shareList{pushed, pulled, nowhere}, Observer: heard})
	district := newTestRelay(t, openStore(t), Options{PeerID: "district", StorageID: "district-store"})
	write := func(r *Relay, id wire.DocumentID, n int) {
		err := r.local(context.Background(), id, &call{write: true, create: true, fn: func(d *automerge.Doc) error {
			for i := range n {
				d.RootMap().Set(fmt.Sprint("k", i), int64(i))
				if _, err := d.Commit(fmt.Sprint(i)); err != nil {
					return err
				}
			}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	write(village, pushed, 3)
	write(district, pulled, 4)

	dialSide, acceptSide := newPipe()
	go village.Dial(context.Background(), dialSide, Principal{ID: "link:district", Kind: KindPeer})
	go district.Accept(context.Background(), acceptSide, Principal{ID: "link:village", Kind: KindPeer})

	for _, id := range []wire.DocumentID{pushed, pulled} {
		waitUntil(t, "both relays to hold "+string(id), func() bool {
			v, d := heads(t, village, id), heads(t, district, id)
			return len(v) > 0 && fmt.Sprint(v) == fmt.Sprint(d)
		})
		waitUntil(t, "the observer to hear the district's heads", func() bool {
			h, _ := heard.get(id)
			return fmt.Sprint(h) == fmt.Sprint(heads(t, village, id))
		})
	}
	waitUntil(t, "doc-unavailable for a document neither holds", func() bool {
		_, unavailable := heard.get(nowhere)
		return unavailable
	})
	if heads(t, district, nowhere) != nil {
		t.Fatal("the district holds a document nobody made")
	}
	dialSide.Close("")
}
