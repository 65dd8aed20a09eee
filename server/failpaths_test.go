package server

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/wire"
)

// TestEphemeralStaleCountIsDropped: after count 5 of a session, a count 3
// (a stale message come round a loop late) is not relayed; 6 is. The
// receiver gets 6 right after 5, which proves 3, sent between them, was
// dropped rather than still on its way.
func TestEphemeralStaleCountIsDropped(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	id := wire.NewDocumentID()
	a := connect(t, r, "a", nil)
	b := connect(t, r, "b", nil)
	a.change(id, "k", "v")
	b.find(id)
	b.waitValue(id, "k", "v")
	send := func(count uint64) {
		a.sendMsg(wire.Message{Type: wire.TypeEphemeral, SenderID: "a", TargetID: r.PeerID(), DocumentID: id, SessionID: "sess", Count: count, Data: []byte{0xa0}})
	}
	send(5)
	send(3)
	send(6)
	for _, want := range []uint64{5, 6} {
		if m := b.expect(wire.TypeEphemeral); m.Count != want {
			t.Fatalf("got count %d, want %d: a stale count was relayed", m.Count, want)
		}
	}
}

// failingStore fails the next n Appends, as a full or broken disk would.
type failingStore struct {
	*recordingStore
	fail atomic.Int32
}

var errDiskFull = errors.New("no space left on device")

func (s *failingStore) Append(ctx context.Context, id string, chunk []byte, heads []string) (store.Meta, error) {
	if s.fail.Add(-1) >= 0 {
		return store.Meta{}, errDiskFull
	}
	return s.recordingStore.Append(ctx, id, chunk, heads)
}

// TestFailedAppendsAreNeverAdvertised: when the store fails an append,
// the relay advertises no head it has not committed (every sync message it
// writes is checked), cuts the document's peers (their sync states say the
// relay has what it lost), and once the store recovers, the peers that
// reconnect — as stock clients do — converge on everything.
func TestFailedAppendsAreNeverAdvertised(t *testing.T) {
	st := &failingStore{recordingStore: &recordingStore{Store: openStore(t), committed: map[string]bool{}}}
	r := newTestRelay(t, st, Options{})
	id := wire.NewDocumentID()
	w, wc := connectChecked(t, r, st.recordingStore, "writer", nil)
	rd, _ := connectChecked(t, r, st.recordingStore, "reader", nil)
	w.change(id, "seed", int64(0))
	rd.find(id)
	rd.waitValue(id, "seed", int64(0))
	waitStored(t, r, w, id)

	st.fail.Store(2)
	w.change(id, "lost", "once")
	w.expectError("could not store")
	w.waitClosed()
	rd.waitClosed()
	if st.fail.Load() > 1 {
		t.Fatal("no append was tried")
	}
	if storedValue(t, r, id, "lost") != nil {
		t.Fatal("a failed append was stored")
	}
	// The peers reconnect with their documents and fresh sync states.
	w2, _ := connectChecked(t, r, st.recordingStore, "writer", w.docsFresh())
	rd2, _ := connectChecked(t, r, st.recordingStore, "reader", rd.docsFresh())
	w2.syncDoc(id, wire.TypeSync)
	rd2.syncDoc(id, wire.TypeSync)
	// The store may fail once more: then the same happens again.
	waitUntil(t, "the change to be stored", func() bool {
		if storedValue(t, r, id, "lost") == "once" {
			return true
		}
		if w2.conn.isClosed() {
			w2, _ = connectChecked(t, r, st.recordingStore, "writer", w2.docsFresh())
			w2.syncDoc(id, wire.TypeSync)
		}
		if rd2.conn.isClosed() {
			rd2, _ = connectChecked(t, r, st.recordingStore, "reader", rd2.docsFresh())
			rd2.syncDoc(id, wire.TypeSync)
		}
		return false
	})
	rd2.waitValue(id, "lost", "once")
	w2.change(id, "after", "ok")
	rd2.waitValue(id, "after", "ok")
	wc.mu.Lock()
	syncs := wc.syncs
	wc.mu.Unlock()
	if syncs == 0 {
		t.Fatal("the writer got no sync message: nothing was checked")
	}
}

// docsFresh returns the peer's documents with fresh sync states, as a
// client that reconnects holds them.
func (p *testPeer) docsFresh() map[wire.DocumentID]*testDoc {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[wire.DocumentID]*testDoc{}
	for id, d := range p.docs {
		out[id] = &testDoc{doc: d.doc, state: automerge.NewSyncState(d.doc)}
	}
	return out
}

// pendingChanges connects a peer to r and makes n changes to a new
// document, one message each, so that past the flush budget the later
// ones wait for a paced flush (r's pace is long). It returns when the
// relay has applied all n, and checks the last is not stored yet.
func pendingChanges(t *testing.T, r *Relay, st store.Store, n int) (*testPeer, wire.DocumentID) {
	t.Helper()
	p := connect(t, r, "a", nil)
	id := wire.NewDocumentID()
	for i := range n {
		p.change(id, fmt.Sprintf("k%d", i), int64(i))
		time.Sleep(2 * time.Millisecond) // one message each
	}
	last := fmt.Sprintf("k%d", n-1)
	waitUntil(t, "the relay to apply every change", func() bool {
		var v any
		_ = r.View(t.Context(), id, func(d *automerge.Doc) error {
			x, err := d.Path(last).Get()
			if err == nil && x.Kind() != automerge.KindVoid {
				v = x.Interface()
			}
			return nil
		})
		return v == int64(n-1)
	})
	if stored, err := st.Load(t.Context(), string(id)); err == nil {
		if doc, err := rebuild(stored); err == nil {
			if v, _ := doc.Path(last).Get(); v != nil && v.Kind() != automerge.KindVoid {
				t.Fatalf("%s is stored already: the flush budget was not exhausted, nothing is pending", last)
			}
		}
	}
	return p, id
}

// storedKeys counts the keys k0…k(n-1) a store holds for id.
func storedKeys(t *testing.T, st store.Store, id wire.DocumentID, n int) int {
	t.Helper()
	stored, err := st.Load(t.Context(), string(id))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := rebuild(stored)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for i := range n {
		if v, err := doc.Path(fmt.Sprintf("k%d", i)).Get(); err == nil && v.Kind() != automerge.KindVoid {
			found++
		}
	}
	return found
}

// TestShutdownCommitsPendingChanges: changes applied but waiting for a
// paced flush are committed when the relay shuts down; a store opened
// again holds every one.
func TestShutdownCommitsPendingChanges(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	r := New(st, Options{Logger: quietLogger(t), SyncInterval: time.Hour, MinSyncInterval: time.Hour, IdleTimeout: time.Hour})
	const n = 12
	_, id := pendingChanges(t, r, st, n)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := store.Open(dir, &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := storedKeys(t, again, id, n); got != n {
		t.Fatalf("%d of %d changes survived the shutdown", got, n)
	}
}

// TestIdleUnloadCommitsPendingChanges: the same when the document is
// unloaded after its last peer left, before any paced flush.
func TestIdleUnloadCommitsPendingChanges(t *testing.T) {
	st := openStore(t)
	r := newTestRelay(t, st, Options{SyncInterval: time.Hour, MinSyncInterval: time.Hour, IdleTimeout: 100 * time.Millisecond})
	const n = 12
	p, id := pendingChanges(t, r, st, n)
	p.conn.Close("")
	waitUntil(t, "the document to be unloaded", func() bool { return r.LoadedDocuments() == 0 })
	if got := storedKeys(t, st, id, n); got != n {
		t.Fatalf("%d of %d changes were stored when the document was unloaded", got, n)
	}
}
