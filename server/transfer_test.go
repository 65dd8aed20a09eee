package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/syncmsg"
	"github.com/veche-sync/veche/server/wire"
)

// v2Flags is the flags section @automerge/automerge 3.x appends to every
// sync message: it reads version 2 messages.
var v2Flags = []byte{2, 0x02, 0x84}

// receiveSync applies a sync message from the relay to a test peer's copy
// as current Automerge does: a version 2 message's blob is loaded with
// loadIncremental, and the state machine sees the rest of the message.
func receiveSync(d *testDoc, data []byte) error {
	if len(data) == 0 || data[0] != syncmsg.V2 {
		_, err := d.state.ReceiveMessage(data)
		return err
	}
	m, err := syncmsg.Decode(data)
	if err != nil {
		return err
	}
	for _, blob := range m.Changes {
		if err := d.doc.LoadIncremental(blob); err != nil {
			return fmt.Errorf("loading a version 2 message: %w", err)
		}
	}
	m.Type, m.Changes, m.Flags = syncmsg.V1, nil, nil
	_, err = d.state.ReceiveMessage(m.Encode())
	return err
}

// sent is one sync message the relay wrote.
type sent struct {
	typ     byte // syncmsg.V1 or V2
	size    int  // bytes of the sync message
	frame   int  // bytes of the websocket frame
	changes int  // change chunks it carried (a V2 blob counts as one)
}

// recordingConn records the sync messages the relay writes and can fail
// the connection after a number of them (a link that drops).
type recordingConn struct {
	*pipeConn
	mu     sync.Mutex // guards the following
	msgs   []sent
	cutAt  int // fail the write of the cutAt-th sync message; 0: never
	broken bool
}

func (c *recordingConn) WriteFrame(ctx context.Context, frame []byte) error {
	m, err := wire.Decode(frame, 0)
	if err == nil && m.Type == wire.TypeSync {
		c.mu.Lock()
		if c.broken || (c.cutAt > 0 && len(c.msgs)+1 >= c.cutAt) {
			c.broken = true
			c.mu.Unlock()
			c.pipeConn.Close("link dropped")
			return errors.New("link dropped")
		}
		s := sent{typ: m.Data[0], size: len(m.Data), frame: len(frame)}
		if d, err := syncmsg.Decode(m.Data); err == nil {
			s.changes = len(d.Changes)
		}
		c.msgs = append(c.msgs, s)
		c.mu.Unlock()
	}
	return c.pipeConn.WriteFrame(ctx, frame)
}

func (c *recordingConn) sent() []sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// connectRecording connects a peer holding docs through a recordingConn.
func connectRecording(t *testing.T, r *Relay, id string, v2 bool, meta *wire.PeerMetadata, docs map[wire.DocumentID]*testDoc, cutAt int) (*testPeer, *recordingConn) {
	t.Helper()
	if meta == nil {
		meta = &wire.PeerMetadata{IsEphemeral: true}
	}
	mine, theirs := newPipe()
	rec := &recordingConn{pipeConn: theirs, cutAt: cutAt}
	p := &testPeer{t: t, id: id, conn: mine, served: make(chan error, 1), docs: docs, inbox: make(chan wire.Message, 4096), v2: v2}
	joinVia(t, r, p, rec, meta)
	return p, rec
}

// council stores a document of n small changes, each a few fields like a
// council's vote or pledge, and returns its writer.
func council(t *testing.T, r *Relay, id wire.DocumentID, n int) *testPeer {
	t.Helper()
	w := connect(t, r, "writer", nil)
	w.mu.Lock()
	doc := w.docLocked(id).doc
	for i := range n {
		m := doc.RootMap()
		m.Set(fmt.Sprintf("vote-%d", i%200), fmt.Sprintf("member-%d yes on proposal %d", i%37, i/200))
		doc.Commit(fmt.Sprintf("vote %d", i))
	}
	w.mu.Unlock()
	w.syncDoc(id, wire.TypeSync)
	waitStored(t, r, w, id)
	return w
}

func sameDoc(a, b *automerge.Doc) bool { return slices.Equal(hexHeads(a.Heads()), hexHeads(b.Heads())) }

func total(msgs []sent) (bytes, changes int) {
	for _, m := range msgs {
		bytes += m.size
		changes += m.changes
	}
	return bytes, changes
}

// TestFirstSyncSendsTheCompressedDocument: a peer that has nothing and
// reads version 2 messages receives the saved document in one message,
// about its saved size; a peer that does not gets today's changes; and
// later changes reach the first peer once, with nothing sent twice.
func TestFirstSyncSendsTheCompressedDocument(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	id := wire.NewDocumentID()
	w := council(t, r, id, 2000)
	saved := len(w.doc(id).Save())

	phone, rec := connectRecording(t, r, "new-phone", true, nil, map[wire.DocumentID]*testDoc{}, 0)
	phone.find(id)
	phone.waitFor("the council", func() bool { return sameDoc(phone.doc(id), w.doc(id)) })
	msgs := rec.sent()
	bytes, _ := total(msgs)
	t.Logf("v2 phone: %d bytes in %d messages for a document saved in %d bytes", bytes, len(msgs), saved)
	if msgs[0].typ != syncmsg.V2 {
		t.Fatalf("first answer is type %#x, want a version 2 message", msgs[0].typ)
	}
	if float64(bytes) > 1.5*float64(saved) {
		t.Errorf("first sync cost %d bytes, over 1.5× the saved document (%d)", bytes, saved)
	}

	old, oldRec := connectRecording(t, r, "old-phone", false, nil, map[wire.DocumentID]*testDoc{}, 0)
	old.find(id)
	old.waitFor("the council", func() bool { return sameDoc(old.doc(id), w.doc(id)) })
	oldBytes, oldChanges := total(oldRec.sent())
	if oldChanges != 2000 || oldRec.sent()[0].typ != syncmsg.V1 {
		t.Errorf("a peer without v2 got %d changes (first message %#x), want the 2000 changes in v1", oldChanges, oldRec.sent()[0].typ)
	}
	if oldBytes < 5*bytes {
		t.Errorf("changes one by one cost %d bytes, the document %d: the comparison no longer shows the saving", oldBytes, bytes)
	}

	// Nothing twice: one new change costs one change.
	before := len(rec.sent())
	w.change(id, "after", "joined")
	phone.waitValue(id, "after", "joined")
	waitUntil(t, "the relay's last word", func() bool { return len(rec.sent()) > before })
	_, changes := total(rec.sent()[before:])
	if changes != 1 {
		t.Errorf("after the first sync one new change took %d changes to the phone, want 1", changes)
	}
}

// TestLargeAnswersAreSliced: no message the relay sends exceeds
// MaxMessageSize; the answer to a fresh peer arrives as causally ordered
// slices (each one applies on arrival), for both kinds of peer.
func TestLargeAnswersAreSliced(t *testing.T) {
	const limit = 8 << 10
	r := newTestRelay(t, openStore(t), Options{MaxMessageSize: limit})
	id := wire.NewDocumentID()
	w := council(t, r, id, 3000)
	saved := len(w.doc(id).Save())
	if saved <= limit {
		t.Fatalf("document saved in %d bytes: make it larger than the %d-byte limit", saved, limit)
	}
	for _, v2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v2=%v", v2), func(t *testing.T) {
			p, rec := connectRecording(t, r, fmt.Sprintf("phone-%v", v2), v2, nil, map[wire.DocumentID]*testDoc{}, 0)
			applied := 0
			p.find(id)
			p.waitFor("the council", func() bool { return sameDoc(p.doc(id), w.doc(id)) })
			msgs := rec.sent()
			for i, m := range msgs {
				if m.size > limit {
					t.Errorf("message %d is %d bytes, over the %d-byte limit", i, m.size, limit)
				}
				applied += m.changes
			}
			bytes, _ := total(msgs)
			t.Logf("%d messages, %d bytes; saved document %d bytes", len(msgs), bytes, saved)
			if len(msgs) < 3 {
				t.Errorf("%d messages: the answer was not sliced", len(msgs))
			}
			if v2 && msgs[0].typ != syncmsg.V2 {
				t.Errorf("v2 peer: first slice %#x, want the saved prefix as a version 2 message", msgs[0].typ)
			}
			// Every change the prefix leaves out goes alone, at twice its
			// size or more: the prefix fills the message.
			if v2 && msgs[0].size < limit*97/100 {
				t.Errorf("v2 peer: the saved prefix takes %d bytes of a %d-byte message", msgs[0].size, limit)
			}
			if !v2 && applied != 3000 {
				t.Errorf("v1 peer: %d changes sent for 3000", applied)
			}
		})
	}
}

// TestSlicedTransferResumes: a phone whose link drops halfway through a
// first sync keeps the slices that arrived; on reconnecting it announces
// what it has and receives only the rest.
func TestSlicedTransferResumes(t *testing.T) {
	const limit = 4 << 10
	r := newTestRelay(t, openStore(t), Options{MaxMessageSize: limit})
	id := wire.NewDocumentID()
	w := council(t, r, id, 3000)
	for _, v2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v2=%v", v2), func(t *testing.T) {
			meta := &wire.PeerMetadata{StorageID: fmt.Sprintf("phone-%v", v2)}
			// How many slices the whole transfer takes, on a link that holds.
			ref, refRec := connectRecording(t, r, fmt.Sprintf("ref-%v", v2), v2, nil, map[wire.DocumentID]*testDoc{}, 0)
			ref.find(id)
			ref.waitFor("the council", func() bool { return sameDoc(ref.doc(id), w.doc(id)) })
			whole, _ := total(refRec.sent())
			half := len(refRec.sent()) / 2

			docs := map[wire.DocumentID]*testDoc{}
			p, rec := connectRecording(t, r, fmt.Sprintf("phone-%v", v2), v2, meta, docs, half+1)
			p.find(id)
			p.waitClosed()
			for range p.inbox { // the phone applies every slice that arrived
			}
			got := len(p.doc(id).Heads())
			if got == 0 || sameDoc(p.doc(id), w.doc(id)) {
				t.Fatalf("after the drop the phone has %d heads: want part of the council", got)
			}
			first, _ := total(rec.sent())
			// The phone keeps its copy and its side of the sync state.
			p.mu.Lock()
			kept := p.docs[id]
			saved := kept.state.Save()
			p.mu.Unlock()
			st, err := automerge.LoadSyncState(kept.doc, saved)
			if err != nil {
				t.Fatal(err)
			}
			p2, rec2 := connectRecording(t, r, fmt.Sprintf("phone-%v", v2), v2, meta, map[wire.DocumentID]*testDoc{id: {doc: kept.doc, state: st}}, 0)
			p2.syncDoc(id, wire.TypeSync)
			p2.waitFor("the rest of the council", func() bool { return sameDoc(p2.doc(id), w.doc(id)) })
			second, _ := total(rec2.sent())
			t.Logf("whole transfer %d bytes; dropped after %d bytes, resumed with %d", whole, first, second)
			if second > whole*3/4 {
				t.Errorf("after a drop halfway the relay sent %d bytes of a %d-byte transfer: it started over instead of resuming", second, whole)
			}
		})
	}
}

// TestTrafficReportsPendingBytes: the bytes of a transfer the peer has not
// taken yet are reported for the peer, drop to nothing once it has, and
// the transfer's progress is logged at debug level.
func TestTrafficReportsPendingBytes(t *testing.T) {
	var logs lockedBuffer
	r := newTestRelay(t, openStore(t), Options{MaxMessageSize: 4 << 10,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	id := wire.NewDocumentID()
	w := council(t, r, id, 2000)

	mine, theirs := newPipeSized(1) // the relay can get one frame ahead of the reader
	p := &testPeer{t: t, id: "slow-phone", conn: mine, served: make(chan error, 1), docs: map[wire.DocumentID]*testDoc{}, inbox: make(chan wire.Message, 4096)}
	go func() { p.served <- r.Accept(context.Background(), theirs, AnonymousPrincipal) }()
	t.Cleanup(func() { p.conn.Close("") })
	p.sendMsg(wire.Message{Type: wire.TypeJoin, SenderID: p.id, PeerMetadata: &wire.PeerMetadata{IsEphemeral: true}, SupportedProtocolVersions: []string{"1"}})
	if m := p.recvRaw(5e9); m.Type != wire.TypePeer {
		t.Fatalf("handshake: %+v", m)
	}
	p.relayID = r.PeerID()
	p.find(id)
	pending := func() int64 {
		for _, tr := range r.Traffic() {
			if tr.PeerID == p.id {
				return tr.PendingBytes
			}
		}
		t.Fatal("the phone is not in Traffic")
		return 0
	}
	waitUntil(t, "bytes pending for the phone", func() bool { return pending() > 64<<10 })
	go p.pump()
	p.waitFor("the council", func() bool { return sameDoc(p.doc(id), w.doc(id)) })
	waitUntil(t, "nothing pending", func() bool { return pending() == 0 })
	progress := strings.Count(logs.String(), `msg="transfer progress"`)
	if progress < 10 || !strings.Contains(logs.String(), "sliced transfer queued") {
		t.Errorf("%d progress lines logged for a sliced transfer", progress)
	}
}

// lockedBuffer is a log sink safe for the relay's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPeerLackingMuchGetsTheDocument: a version 2 peer that holds a little
// of a council and lacks the rest gets the compressed document, not the
// thousands of changes it lacks; a peer without v2 gets the changes.
func TestPeerLackingMuchGetsTheDocument(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	id := wire.NewDocumentID()
	w := council(t, r, id, 100)
	// What a phone kept of an interrupted first sync: the first 100 changes.
	early, err := w.doc(id).Fork()
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	doc := w.docLocked(id).doc
	for i := range 2000 {
		doc.RootMap().Set(fmt.Sprintf("later-%d", i%100), int64(i))
		doc.Commit("")
	}
	w.mu.Unlock()
	w.syncDoc(id, wire.TypeSync)
	waitStored(t, r, w, id)
	saved := len(w.doc(id).Save())
	for _, v2 := range []bool{true, false} {
		t.Run(fmt.Sprintf("v2=%v", v2), func(t *testing.T) {
			kept, _ := early.Fork()
			p, rec := connectRecording(t, r, fmt.Sprintf("phone-%v", v2), v2, nil,
				map[wire.DocumentID]*testDoc{id: {doc: kept, state: automerge.NewSyncState(kept)}}, 0)
			p.syncDoc(id, wire.TypeSync)
			p.waitFor("the council", func() bool { return sameDoc(p.doc(id), w.doc(id)) })
			bytes, changes := total(rec.sent())
			t.Logf("%d bytes, %d change chunks, for a council saved in %d bytes", bytes, changes, saved)
			// The document, and the relay's bloom filter of what it has.
			if v2 && bytes > 2*saved {
				t.Errorf("a v2 peer lacking 2000 changes got %d bytes, over twice the saved document (%d)", bytes, saved)
			}
			if !v2 && changes < 2000 {
				t.Errorf("a peer without v2 got %d change chunks, want the 2000 it lacks", changes)
			}
		})
	}
}
