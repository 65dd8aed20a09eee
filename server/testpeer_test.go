package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/wire"
)

// quietLogger discards logs unless the test runs verbose.
func quietLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// openStore opens a real bbolt store in a temporary directory.
func openStore(t testing.TB) *store.Bolt {
	t.Helper()
	st, err := store.Open(t.TempDir(), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newTestRelay starts a relay on st with fast timers.
func newTestRelay(t testing.TB, st store.Store, opts Options) *Relay {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger(t)
	}
	if opts.SyncInterval == 0 {
		opts.SyncInterval = 2 * time.Millisecond
	}
	if opts.StorageID == "" {
		opts.StorageID = "relay-storage"
	}
	r := New(st, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("relay close: %v", err)
		}
	})
	return r
}

// testPeer is an automerge-repo-like client speaking the wire protocol
// over an in-memory pipe, with automerge-go documents.
type testPeer struct {
	t       testing.TB
	id      string
	conn    *pipeConn
	relayID string
	served  chan error

	mu    sync.Mutex // guards docs
	docs  map[wire.DocumentID]*testDoc
	inbox chan wire.Message

	v2 bool // announce version 2 sync messages, as current Automerge does (transfer_test.go)
}

type testDoc struct {
	doc   *automerge.Doc
	state *automerge.SyncState
}

// rawPeer connects to r without a handshake.
func rawPeer(t testing.TB, r *Relay, id string) *testPeer {
	t.Helper()
	mine, theirs := newPipe()
	p := &testPeer{t: t, id: id, conn: mine, served: make(chan error, 1), docs: map[wire.DocumentID]*testDoc{}, inbox: make(chan wire.Message, 4096)}
	go func() { p.served <- r.Accept(context.Background(), theirs, AnonymousPrincipal) }()
	t.Cleanup(func() { p.conn.Close("") })
	return p
}

// connect connects to r and completes the handshake.
func connect(t testing.TB, r *Relay, id string, meta *wire.PeerMetadata) *testPeer {
	t.Helper()
	p := rawPeer(t, r, id)
	if meta == nil {
		meta = &wire.PeerMetadata{IsEphemeral: true}
	}
	p.sendMsg(wire.Message{Type: wire.TypeJoin, SenderID: id, PeerMetadata: meta, SupportedProtocolVersions: []string{"1"}})
	m := p.recvRaw(5 * time.Second)
	if m.Type != wire.TypePeer {
		t.Fatalf("handshake: got %+v", m)
	}
	p.relayID = m.SenderID
	go p.pump()
	return p
}

func (p *testPeer) sendMsg(m wire.Message) {
	p.t.Helper()
	b, err := wire.Encode(m)
	if err != nil {
		p.t.Fatal(err)
	}
	p.sendFrame(b)
}

func (p *testPeer) sendFrame(b []byte) {
	_ = p.conn.WriteFrame(context.Background(), b)
}

// recvRaw reads the next message directly from the connection.
func (p *testPeer) recvRaw(timeout time.Duration) wire.Message {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	f, err := p.conn.ReadFrame(ctx)
	if err != nil {
		return wire.Message{Type: "closed", ErrorMessage: err.Error()}
	}
	m, err := wire.Decode(f, 0)
	if err != nil {
		p.t.Fatalf("relay sent an undecodable frame: %v", err)
	}
	return m
}

// pump reads messages after the handshake: sync messages are applied to
// the peer's documents and answered; everything is also put in inbox.
func (p *testPeer) pump() {
	for {
		f, err := p.conn.ReadFrame(context.Background())
		if err != nil {
			close(p.inbox)
			return
		}
		m, err := wire.Decode(f, 0)
		if err != nil {
			p.t.Errorf("relay sent an undecodable frame: %v", err)
			continue
		}
		if m.Type == wire.TypeSync {
			p.mu.Lock()
			d := p.docLocked(m.DocumentID)
			if err := receiveSync(d, m.Data); err != nil {
				p.t.Errorf("peer %s: applying relay's sync message: %v", p.id, err)
			}
			p.mu.Unlock()
			p.syncDoc(m.DocumentID, wire.TypeSync)
		}
		p.inbox <- m
	}
}

func (p *testPeer) docLocked(id wire.DocumentID) *testDoc {
	d := p.docs[id]
	if d == nil {
		doc := automerge.New()
		d = &testDoc{doc: doc, state: automerge.NewSyncState(doc)}
		p.docs[id] = d
	}
	return d
}

// doc returns the peer's copy of a document, creating an empty one.
func (p *testPeer) doc(id wire.DocumentID) *automerge.Doc {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.docLocked(id).doc
}

// change edits the peer's copy and sends what the relay lacks.
func (p *testPeer) change(id wire.DocumentID, key string, value any) {
	p.t.Helper()
	p.mu.Lock()
	d := p.docLocked(id)
	if err := d.doc.RootMap().Set(key, value); err != nil {
		p.t.Fatal(err)
	}
	if _, err := d.doc.Commit("set " + key); err != nil {
		p.t.Fatal(err)
	}
	p.mu.Unlock()
	p.syncDoc(id, wire.TypeSync)
}

// syncDoc sends the next sync message for a document, if any.
func (p *testPeer) syncDoc(id wire.DocumentID, typ wire.Type) {
	p.mu.Lock()
	d := p.docLocked(id)
	m, ok := d.state.GenerateMessage()
	p.mu.Unlock()
	if ok {
		data := m.Bytes()
		if p.v2 {
			data = append(data, v2Flags...)
		}
		p.sendMsg(wire.Message{Type: typ, SenderID: p.id, TargetID: p.relayID, DocumentID: id, Data: data})
	}
}

// find asks the relay for a document the peer does not have.
func (p *testPeer) find(id wire.DocumentID) {
	p.syncDoc(id, wire.TypeRequest)
}

// get reads a key of the peer's copy of a document.
func (p *testPeer) get(id wire.DocumentID, key string) any {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, err := p.docLocked(id).doc.Path(key).Get()
	if err != nil || v.Kind() == automerge.KindVoid {
		return nil
	}
	return v.Interface()
}

// waitFor waits until cond holds on the peer's state.
func (p *testPeer) waitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("peer %s: timed out waiting for %s", p.id, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitValue waits until key of document id equals want.
func (p *testPeer) waitValue(id wire.DocumentID, key string, want any) {
	p.t.Helper()
	p.waitFor(key+" to arrive", func() bool { return p.get(id, key) == want })
}

// expect waits for a message of type typ, skipping others.
func (p *testPeer) expect(typ wire.Type) wire.Message {
	p.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-p.inbox:
			if !ok {
				p.t.Fatalf("peer %s: connection closed while waiting for %s", p.id, typ)
			}
			if m.Type == typ {
				return m
			}
		case <-timeout:
			p.t.Fatalf("peer %s: no %s message", p.id, typ)
		}
	}
}

// waitClosed waits until the relay ends the connection and returns Accept's result.
func (p *testPeer) waitClosed() error {
	p.t.Helper()
	select {
	case err := <-p.served:
		return err
	case <-time.After(5 * time.Second):
		p.t.Fatalf("peer %s: relay did not close the connection", p.id)
		return errors.New("unreachable")
	}
}

// emptySyncMessage is the first sync message of a peer with an empty document.
func emptySyncMessage() []byte {
	m, _ := automerge.NewSyncState(automerge.New()).GenerateMessage()
	return m.Bytes()
}
