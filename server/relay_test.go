package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/veche-sync/veche/server/wire"
)

func TestHandshakeAnswersPeer(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{PeerID: "relay-1", StorageID: "st-1"})
	p := rawPeer(t, r, "alice")
	p.sendMsg(wire.Message{Type: wire.TypeJoin, SenderID: "alice", PeerMetadata: &wire.PeerMetadata{StorageID: "s-alice"}, SupportedProtocolVersions: []string{"1"}})
	m := p.recvRaw(5 * time.Second)
	if m.Type != wire.TypePeer || m.SenderID != "relay-1" || m.TargetID != "alice" || m.SelectedProtocolVersion != "1" {
		t.Fatalf("got %+v", m)
	}
	if m.PeerMetadata == nil || m.PeerMetadata.StorageID != "st-1" || m.PeerMetadata.IsEphemeral {
		t.Fatalf("relay metadata %+v", m.PeerMetadata)
	}
}

func TestCreateThenFind(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	a := connect(t, r, "a", nil)
	b := connect(t, r, "b", nil)
	id := wire.NewDocumentID()
	a.change(id, "title", "harvest plan")
	b.find(id)
	b.waitValue(id, "title", "harvest plan")
}

func TestFindUnknownDocumentIsUnavailable(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	b := connect(t, r, "b", nil)
	id := wire.NewDocumentID()
	start := time.Now()
	b.find(id)
	m := b.expect(wire.TypeDocUnavailable)
	if m.DocumentID != id {
		t.Fatalf("unavailable for %q, want %q", m.DocumentID, id)
	}
	t.Logf("doc-unavailable after %v", time.Since(start))
}

func TestWaitingPeerGetsDocumentCreatedLater(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	a := connect(t, r, "a", nil)
	b := connect(t, r, "b", nil)
	id := wire.NewDocumentID()
	b.find(id)
	b.expect(wire.TypeDocUnavailable)
	a.change(id, "k", "v")
	b.waitValue(id, "k", "v")
}

func TestFanOutToEveryPeer(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	id := wire.NewDocumentID()
	a := connect(t, r, "a", nil)
	a.change(id, "seed", int64(1))
	var others []*testPeer
	for i := range 5 {
		p := connect(t, r, fmt.Sprintf("p%d", i), nil)
		p.find(id)
		p.waitValue(id, "seed", int64(1))
		others = append(others, p)
	}
	for i := range 20 {
		a.change(id, fmt.Sprintf("k%d", i), int64(i))
	}
	for _, p := range others {
		p.waitValue(id, "k19", int64(19))
	}
	// Edits from every peer reach every other.
	for i, p := range others {
		p.change(id, p.id, int64(i))
	}
	for _, p := range append(others, a) {
		for i, q := range others {
			p.waitValue(id, q.id, int64(i))
		}
	}
}

func TestDuplicatedAndReorderedMessagesConverge(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	id := wire.NewDocumentID()
	a := connect(t, r, "a", nil)
	b := connect(t, r, "b", nil)
	a.change(id, "x", "1")
	b.find(id)
	b.waitValue(id, "x", "1")

	// A third peer that speaks raw: it sends the same sync message twice
	// and an older one after a newer one.
	c := connect(t, r, "c", nil)
	doc := c.doc(id)
	doc.RootMap().Set("c1", "one")
	doc.Commit("c1")
	c.syncDoc(id, wire.TypeSync)
	c.mu.Lock()
	st := c.docs[id].state
	c.mu.Unlock()
	first, _ := st.GenerateMessage() // a repeat of what the relay may not have answered yet
	if first != nil {
		raw := first.Bytes()
		c.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "c", DocumentID: id, Data: raw})
		c.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "c", DocumentID: id, Data: raw})
	}
	doc.RootMap().Set("c2", "two")
	doc.Commit("c2")
	c.syncDoc(id, wire.TypeSync)
	for _, p := range []*testPeer{a, b, c} {
		p.waitValue(id, "c1", "one")
		p.waitValue(id, "c2", "two")
		p.waitValue(id, "x", "1")
	}
}

func TestPeerVanishingMidSyncDoesNotDisturbOthers(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	id := wire.NewDocumentID()
	a := connect(t, r, "a", nil)
	for i := range 50 {
		a.change(id, fmt.Sprintf("k%d", i), int64(i))
	}
	v := connect(t, r, "vanisher", nil)
	v.find(id)
	v.conn.Close("") // gone before the sync completes
	b := connect(t, r, "b", nil)
	b.find(id)
	b.waitValue(id, "k49", int64(49))
	a.change(id, "after", "yes")
	b.waitValue(id, "after", "yes")
	if err := v.waitClosed(); err != nil && !errors.Is(err, errPipeClosed) {
		t.Logf("vanished peer ended with %v", err)
	}
	waitUntil(t, "vanished peer to be dropped", func() bool { return r.Peers() == 2 })
}

func TestEphemeralRelayedOnceWithSender(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	id := wire.NewDocumentID()
	a := connect(t, r, "a", nil)
	b := connect(t, r, "b", nil)
	c := connect(t, r, "c", nil)
	a.change(id, "k", "v")
	b.find(id)
	c.find(id)
	b.waitValue(id, "k", "v")
	c.waitValue(id, "k", "v")
	msg := wire.Message{Type: wire.TypeEphemeral, SenderID: "a", TargetID: r.PeerID(), DocumentID: id, SessionID: "sess-a", Count: 1, Data: []byte{0xa0}}
	a.sendMsg(msg)
	a.sendMsg(msg) // duplicate: dropped
	for _, p := range []*testPeer{b, c} {
		m := p.expect(wire.TypeEphemeral)
		if m.SenderID != "a" || m.SessionID != "sess-a" || m.Count != 1 || m.TargetID != p.id {
			t.Fatalf("%s got %+v", p.id, m)
		}
	}
	msg.Count = 2
	a.sendMsg(msg)
	for _, p := range []*testPeer{b, c} {
		if m := p.expect(wire.TypeEphemeral); m.Count != 2 {
			t.Fatalf("%s: second ephemeral has count %d; the duplicate of 1 was relayed", p.id, m.Count)
		}
	}
	select {
	case m := <-a.inbox:
		if m.Type == wire.TypeEphemeral {
			t.Fatalf("sender got its own ephemeral message back")
		}
	case <-time.After(50 * time.Millisecond):
	}
}

func TestIdleDocumentsAreUnloaded(t *testing.T) {
	st := openStore(t)
	r := newTestRelay(t, st, Options{IdleTimeout: 50 * time.Millisecond})
	id := wire.NewDocumentID()
	a := connect(t, r, "a", nil)
	a.change(id, "k", "v")
	waitStored(t, r, a, id)
	if n := r.LoadedDocuments(); n != 1 {
		t.Fatalf("%d documents loaded, want 1", n)
	}
	a.sendMsg(wire.Message{Type: wire.TypeLeave, SenderID: "a"})
	if err := a.waitClosed(); err != nil {
		t.Fatalf("leave: Accept returned %v", err)
	}
	waitUntil(t, "document unloaded", func() bool { return r.LoadedDocuments() == 0 })
	// It loads again on demand, with its content.
	b := connect(t, r, "b", nil)
	b.find(id)
	b.waitValue(id, "k", "v")
}

func TestDocumentSurvivesRestart(t *testing.T) {
	st := openStore(t)
	r := New(st, Options{Logger: quietLogger(t), SyncInterval: time.Millisecond})
	id := wire.NewDocumentID()
	a := connect(t, r, "a", nil)
	for i := range 10 {
		a.change(id, fmt.Sprintf("k%d", i), int64(i))
	}
	waitStored(t, r, a, id)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r2 := newTestRelay(t, st, Options{})
	b := connect(t, r2, "b", nil)
	b.find(id)
	b.waitValue(id, "k9", int64(9))
}

func TestSlowConsumerIsCutOthersServed(t *testing.T) {
	rec := newRecordingMetrics()
	r := newTestRelay(t, openStore(t), Options{SendQueue: 16, Metrics: rec})
	a := connect(t, r, "a", nil)
	var ids []wire.DocumentID
	for i := range 60 {
		id := wire.NewDocumentID()
		a.change(id, "n", int64(i))
		waitStored(t, r, a, id) // one document at a time: a is not slow
		ids = append(ids, id)
	}
	b := connect(t, r, "b", nil)
	b.find(ids[0])
	b.waitValue(ids[0], "n", int64(0))

	// A peer that asks for every document, then never reads: the pipe
	// towards it holds one frame, then the relay's queue for it fills.
	mine, theirs := newPipeSized(1)
	served := make(chan error, 1)
	go func() { served <- r.Accept(context.Background(), theirs, AnonymousPrincipal) }()
	slow := &testPeer{t: t, id: "slow", conn: mine, relayID: r.PeerID(), docs: map[wire.DocumentID]*testDoc{}}
	slow.sendMsg(wire.Message{Type: wire.TypeJoin, SenderID: "slow", SupportedProtocolVersions: []string{"1"}})
	for _, id := range ids {
		slow.find(id)
	}
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("slow peer was not cut off")
	}
	if n := rec.get("cut slow"); n != 1 {
		t.Errorf("slow peers cut counted %d times, want 1", n)
	}
	// Everyone else is still served.
	for i, id := range ids[1:] {
		b.find(id)
		b.waitValue(id, "n", int64(i+1))
	}
	a.change(ids[0], "after", "yes")
	b.waitValue(ids[0], "after", "yes")
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitStored waits until the relay's store holds p's heads of document id.
func waitStored(t testing.TB, r *Relay, p *testPeer, id wire.DocumentID) {
	t.Helper()
	want := hexHeads(p.doc(id).Heads())
	waitUntil(t, "the relay to store "+p.id+"'s changes", func() bool {
		m, err := r.store.Meta(context.Background(), string(id))
		return err == nil && slices.Equal(m.Heads, want)
	})
}

// TestChangesOfADepartedPeerAreCommitted: a peer that sends a change and
// vanishes at once leaves nobody to acknowledge, but the change is still
// committed promptly, not only when the document is unloaded.
func TestChangesOfADepartedPeerAreCommitted(t *testing.T) {
	st := openStore(t)
	r := newTestRelay(t, st, Options{IdleTimeout: time.Hour})
	id := wire.NewDocumentID()
	a := connect(t, r, "a", nil)
	a.change(id, "first", "1")
	waitStored(t, r, a, id)
	a.change(id, "last", "2")
	a.conn.Close("")
	waitStored(t, r, a, id)
}
