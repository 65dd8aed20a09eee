package server

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/wire"
)

// recordingStore remembers every head it has durably committed.
type recordingStore struct {
	store.Store
	mu        sync.Mutex
	committed map[string]bool
}

func (s *recordingStore) Append(ctx context.Context, id string, chunk []byte, heads []string) (store.Meta, error) {
	m, err := s.Store.Append(ctx, id, chunk, heads)
	if err == nil {
		s.mu.Lock()
		for _, h := range heads {
			s.committed[h] = true
		}
		s.mu.Unlock()
	}
	return m, err
}

func (s *recordingStore) isCommitted(h string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed[h]
}

// advertCheckConn fails the test when the relay writes a sync message whose
// heads the store has not committed.
type advertCheckConn struct {
	*pipeConn
	t     *testing.T
	st    *recordingStore
	mu    sync.Mutex
	syncs int
}

func (c *advertCheckConn) WriteFrame(ctx context.Context, frame []byte) error {
	m, err := wire.Decode(frame, 0)
	if err == nil && m.Type == wire.TypeSync {
		sm, err := automerge.NewSyncState(automerge.New()).ReceiveMessage(m.Data)
		if err != nil {
			c.t.Errorf("relay sent an undecodable sync message: %v", err)
		} else {
			for _, h := range sm.Heads() {
				if !c.st.isCommitted(h.String()) {
					c.t.Errorf("relay advertised head %s before committing it", h)
				}
			}
		}
		c.mu.Lock()
		c.syncs++
		c.mu.Unlock()
	}
	return c.pipeConn.WriteFrame(ctx, frame)
}

// connectChecked connects a peer whose relay side checks every sync message.
func connectChecked(t *testing.T, r *Relay, st *recordingStore, id string, docs map[wire.DocumentID]*testDoc) (*testPeer, *advertCheckConn) {
	mine, theirs := newPipe()
	checked := &advertCheckConn{pipeConn: theirs, t: t, st: st}
	if docs == nil {
		docs = map[wire.DocumentID]*testDoc{}
	}
	p := &testPeer{t: t, id: id, conn: mine, served: make(chan error, 1), docs: docs, inbox: make(chan wire.Message, 4096)}
	go func() { p.served <- r.Accept(context.Background(), checked, AnonymousPrincipal) }()
	t.Cleanup(func() { p.conn.Close("") })
	p.sendMsg(wire.Message{Type: wire.TypeJoin, SenderID: id, SupportedProtocolVersions: []string{"1"}})
	if m := p.recvRaw(5e9); m.Type != wire.TypePeer {
		t.Fatalf("handshake: %+v", m)
	}
	p.relayID = r.PeerID()
	go p.pump()
	return p, checked
}

func TestNoHeadsAdvertisedBeforeCommit(t *testing.T) {
	st := &recordingStore{Store: openStore(t), committed: map[string]bool{}}
	r := newTestRelay(t, st, Options{})
	id := wire.NewDocumentID()
	var peers []*testPeer
	var conns []*advertCheckConn
	for i := range 4 {
		p, c := connectChecked(t, r, st, fmt.Sprintf("w%d", i), nil)
		peers = append(peers, p)
		conns = append(conns, c)
	}
	peers[0].change(id, "seed", int64(0))
	for _, p := range peers[1:] {
		p.find(id)
		p.waitValue(id, "seed", int64(0))
	}
	// Concurrent writers.
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 30 {
				p.change(id, fmt.Sprintf("p%d-%d", i, j), int64(j))
			}
		}()
	}
	wg.Wait()
	for _, p := range peers {
		for i := range peers {
			p.waitValue(id, fmt.Sprintf("p%d-29", i), int64(29))
		}
	}
	total := 0
	for _, c := range conns {
		c.mu.Lock()
		total += c.syncs
		c.mu.Unlock()
	}
	if total == 0 {
		t.Fatal("no sync messages were checked")
	}
	t.Logf("%d sync messages checked", total)
}
