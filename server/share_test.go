package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

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

// TestInSyncPeerHearsTheRelaysHeads: a peer that connects holding exactly
// what the relay holds gets one message announcing the relay's heads
// (Automerge alone would say nothing), and no changes.
func TestInSyncPeerHearsTheRelaysHeads(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	id := wire.NewDocumentID()
	a := connect(t, r, "a", nil)
	a.change(id, "k", "v")
	waitStored(t, r, a, id)

	// A second peer with a copy of the same document, and a fresh sync
	// state: its first message announces the same heads.
	b := rawPeer(t, r, "b")
	b.sendMsg(wire.Message{Type: wire.TypeJoin, SenderID: "b", PeerMetadata: &wire.PeerMetadata{IsEphemeral: true}, SupportedProtocolVersions: []string{"1"}})
	if m := b.recvRaw(5 * time.Second); m.Type != wire.TypePeer {
		t.Fatalf("handshake: %+v", m)
	}
	copyDoc, err := automerge.Load(a.doc(id).Save())
	if err != nil {
		t.Fatal(err)
	}
	state := automerge.NewSyncState(copyDoc)
	first, _ := state.GenerateMessage()
	b.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "b", TargetID: r.PeerID(), DocumentID: id, Data: first.Bytes()})
	m := b.recvRaw(5 * time.Second)
	if m.Type != wire.TypeSync {
		t.Fatalf("in sync, the relay sent %+v", m)
	}
	got, err := state.ReceiveMessage(m.Data)
	if err != nil {
		t.Fatalf("the heads message does not decode: %v", err)
	}
	if fmt.Sprint(got.Heads()) != fmt.Sprint(copyDoc.Heads()) || len(got.Changes()) != 0 {
		t.Fatalf("heads %v (want %v), %d changes", got.Heads(), copyDoc.Heads(), len(got.Changes()))
	}
	// Nothing more: the peer, in sync, has nothing to say either.
	if next, ok := state.GenerateMessage(); ok && len(next.Changes()) > 0 {
		t.Fatalf("after the heads message the peer would send %d changes", len(next.Changes()))
	}
}
