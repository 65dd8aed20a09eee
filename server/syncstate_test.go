package server

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/wire"
)

// countingConn counts the sync bytes the relay writes.
type countingConn struct {
	*pipeConn
	syncBytes, syncMsgs atomic.Int64
	first               atomic.Pointer[[]byte] // the first sync message
}

func (c *countingConn) WriteFrame(ctx context.Context, frame []byte) error {
	if m, err := wire.Decode(frame, 0); err == nil && m.Type == wire.TypeSync {
		c.syncBytes.Add(int64(len(m.Data)))
		c.syncMsgs.Add(1)
		c.first.CompareAndSwap(nil, &m.Data)
	}
	return c.pipeConn.WriteFrame(ctx, frame)
}

// connectCounting connects a peer that already holds docs.
func connectCounting(t *testing.T, r *Relay, id string, meta *wire.PeerMetadata, docs map[wire.DocumentID]*testDoc) (*testPeer, *countingConn) {
	return connectCountingAs(t, r, id, meta, docs, AnonymousPrincipal)
}

// connectCountingAs is connectCounting for principal who.
func connectCountingAs(t *testing.T, r *Relay, id string, meta *wire.PeerMetadata, docs map[wire.DocumentID]*testDoc, who Principal) (*testPeer, *countingConn) {
	mine, theirs := newPipe()
	counted := &countingConn{pipeConn: theirs}
	p := &testPeer{t: t, id: id, conn: mine, served: make(chan error, 1), docs: docs, inbox: make(chan wire.Message, 4096)}
	joinAs(t, r, p, counted, meta, who)
	return p, counted
}

// joinVia serves the relay's end of p's connection through relayEnd (a
// wrapper of the pipe's other end), completes p's handshake and starts its
// pump.
func joinVia(t *testing.T, r *Relay, p *testPeer, relayEnd Conn, meta *wire.PeerMetadata) {
	t.Helper()
	joinAs(t, r, p, relayEnd, meta, AnonymousPrincipal)
}

// joinAs is joinVia for principal who.
func joinAs(t *testing.T, r *Relay, p *testPeer, relayEnd Conn, meta *wire.PeerMetadata, who Principal) {
	t.Helper()
	go func() { p.served <- r.Accept(context.Background(), relayEnd, who) }()
	t.Cleanup(func() { p.conn.Close("") })
	p.sendMsg(wire.Message{Type: wire.TypeJoin, SenderID: p.id, PeerMetadata: meta, SupportedProtocolVersions: []string{"1"}})
	if m := p.recvRaw(5e9); m.Type != wire.TypePeer {
		t.Fatalf("handshake: %+v", m)
	}
	p.relayID = r.PeerID()
	go p.pump()
}

// TestReconnectResumesFromPersistedSyncState: a peer with a storageId that
// comes back after being away gets only what it missed, in one message,
// and the relay persisted its side of the sync state.
func TestReconnectResumesFromPersistedSyncState(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	id := wire.NewDocumentID()
	w := connect(t, r, "writer", nil)
	w.mu.Lock()
	doc := w.docLocked(id).doc
	for i := range 2000 {
		doc.RootMap().Set(fmt.Sprintf("k%d", i%50), int64(i))
		doc.Commit("")
	}
	w.mu.Unlock()
	w.syncDoc(id, wire.TypeSync)
	waitStored(t, r, w, id)

	reconnect := func(name string, meta *wire.PeerMetadata) (bytes, msgs int64) {
		p, _ := connectCounting(t, r, name, meta, map[wire.DocumentID]*testDoc{})
		p.find(id)
		p.waitFor("history", func() bool {
			return len(p.doc(id).Heads()) > 0 && hexHeads(p.doc(id).Heads())[0] == hexHeads(w.doc(id).Heads())[0]
		})
		// Away: the peer keeps its document and its own sync state.
		p.mu.Lock()
		kept := p.docs[id]
		savedState := kept.state.Save()
		p.mu.Unlock()
		peers := r.Peers()
		p.conn.Close("")
		waitUntil(t, "peer gone", func() bool { return r.Peers() == peers-1 })

		w.change(id, "missed-"+name, "while away")
		waitStored(t, r, w, id)

		st, err := automerge.LoadSyncState(kept.doc, savedState)
		if err != nil {
			t.Fatal(err)
		}
		p2, counted := connectCounting(t, r, name, meta, map[wire.DocumentID]*testDoc{id: {doc: kept.doc, state: st}})
		p2.syncDoc(id, wire.TypeSync)
		p2.waitValue(id, "missed-"+name, "while away")
		return counted.syncBytes.Load(), counted.syncMsgs.Load()
	}

	full := int64(len(w.doc(id).Save()))
	resumedBytes, resumedMsgs := reconnect("persistent", &wire.PeerMetadata{StorageID: "phone-1"})
	t.Logf("reconnect after missing one change: %d bytes in %d messages from the relay; the document is %d bytes", resumedBytes, resumedMsgs, full)
	if resumedMsgs > 2 {
		t.Errorf("resumed sync took %d messages from the relay, want at most 2", resumedMsgs)
	}
	if resumedBytes*10 > full {
		t.Errorf("resumed sync sent %d bytes for one missed change of a %d-byte document", resumedBytes, full)
	}
	// The relay kept its side for the peer with a storageId, and only for it.
	if _, err := r.store.LoadSyncState(context.Background(), syncStateKey(AnonymousPrincipal, "phone-1"), string(id)); err != nil {
		t.Errorf("relay did not persist the sync state of a peer with a storageId: %v", err)
	}
	reconnect("ephemeral", &wire.PeerMetadata{IsEphemeral: true})
	n := 0
	r.store.Documents(context.Background(), func(string, store.Meta) error { n++; return nil })
	if n != 1 {
		t.Errorf("%d documents stored, want 1", n)
	}
}

// TestRelayLoadsThePeersSyncState: the relay's first message to a peer
// with a storageId that comes back names, as where the two last agreed,
// the heads the relay persisted for it — which only a loaded sync state
// knows when the phone edited offline (its heads are news to the relay).
// A peer without a storageId gets none: the relay starts afresh.
func TestRelayLoadsThePeersSyncState(t *testing.T) {
	r, w, id := writtenDocument(t)

	firstAfterReconnect := func(name string, meta *wire.PeerMetadata) int {
		return firstMessageAfterReconnect(t, r, w, id, name, meta, AnonymousPrincipal, AnonymousPrincipal)
	}
	if n := firstAfterReconnect("persistent", &wire.PeerMetadata{StorageID: "phone-1"}); n == 0 {
		t.Error("the relay's first message after the reconnect names no lastSync: it did not load the sync state it persisted")
	}
	if n := firstAfterReconnect("ephemeral", &wire.PeerMetadata{IsEphemeral: true}); n != 0 {
		t.Errorf("without a storageId the relay's first message names %d lastSync heads: the check above cannot tell", n)
	}
}

// TestSyncStateIsKeptPerPrincipal: the sync state a relay persists for a
// storageId belongs to the principal that synced under it. Another
// member who presents the same storageId (it is the client's to choose,
// and not secret) starts afresh: it neither reads the first one's state
// nor overwrites it.
func TestSyncStateIsKeptPerPrincipal(t *testing.T) {
	r, w, id := writtenDocument(t)
	ana, bob := MemberPrincipal("north", "ana"), MemberPrincipal("north", "bob")
	meta := &wire.PeerMetadata{StorageID: "shared-phone-id"}
	if n := firstMessageAfterReconnect(t, r, w, id, "ana", meta, ana, ana); n == 0 {
		t.Fatal("the same principal's reconnect names no lastSync: the check below cannot tell")
	}
	if n := firstMessageAfterReconnect(t, r, w, id, "bob", meta, ana, bob); n != 0 {
		t.Errorf("another principal with the same storageId got the first one's sync state (%d lastSync heads)", n)
	}
}

// writtenDocument is a relay holding a document of 20 changes, stored,
// and the peer that wrote them.
func writtenDocument(t *testing.T) (*Relay, *testPeer, wire.DocumentID) {
	t.Helper()
	r := newTestRelay(t, openStore(t), Options{})
	id := wire.NewDocumentID()
	w := connect(t, r, "writer", nil)
	for i := range 20 {
		w.change(id, fmt.Sprintf("k%d", i), int64(i))
	}
	waitStored(t, r, w, id)
	return r, w, id
}

// firstMessageAfterReconnect syncs document id as principal first with
// meta, goes away, edits offline, comes back as principal then with the
// same meta, and returns how many lastSync heads the relay's first
// message names.
func firstMessageAfterReconnect(t *testing.T, r *Relay, w *testPeer, id wire.DocumentID, name string, meta *wire.PeerMetadata, first, then Principal) int {
	t.Helper()
	{
		p, _ := connectCountingAs(t, r, name, meta, map[wire.DocumentID]*testDoc{}, first)
		p.find(id)
		p.waitFor("history", func() bool { return slices.Equal(hexHeads(p.doc(id).Heads()), hexHeads(w.doc(id).Heads())) })
		p.mu.Lock()
		kept := p.docs[id]
		p.mu.Unlock()
		peers := r.Peers()
		p.conn.Close("")
		waitUntil(t, "peer gone", func() bool { return r.Peers() == peers-1 })
		if meta != nil && meta.StorageID != "" && !meta.IsEphemeral {
			// The relay persists the state as the session ends, just after
			// it stops counting the peer: a reconnect at once could race it.
			waitUntil(t, "the sync state persisted", func() bool {
				_, err := r.store.LoadSyncState(context.Background(), syncStateKey(first, meta.StorageID), string(id))
				return err == nil
			})
		}

		p.mu.Lock()
		saved := kept.state.Save()
		if err := kept.doc.RootMap().Set("offline-"+name, "yes"); err != nil {
			t.Fatal(err)
		}
		if _, err := kept.doc.Commit("offline"); err != nil {
			t.Fatal(err)
		}
		p.mu.Unlock()
		st, err := automerge.LoadSyncState(kept.doc, saved)
		if err != nil {
			t.Fatal(err)
		}
		p2, counted := connectCountingAs(t, r, name, meta, map[wire.DocumentID]*testDoc{id: {doc: kept.doc, state: st}}, then)
		p2.syncDoc(id, wire.TypeSync)
		waitUntil(t, "the relay's answer", func() bool { return counted.first.Load() != nil })
		return haveLastSync(t, *counted.first.Load())
	}
}

// haveLastSync is how many lastSync heads the first have of a sync
// message names: the heads its sender last synced at with the receiver.
func haveLastSync(t *testing.T, msg []byte) int {
	t.Helper()
	r := syncReader{b: msg[1:]}
	r.hashes() // heads
	r.hashes() // need
	if r.uvarint() == 0 {
		return 0
	}
	n := r.uvarint()
	if r.err != nil {
		t.Fatalf("relay sent an unparsable sync message: %v", r.err)
	}
	return int(n)
}
