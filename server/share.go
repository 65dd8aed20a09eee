package server

import (
	"fmt"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/syncmsg"
	"github.com/veche-sync/veche/server/wire"
)

// A SharePolicy decides which documents a relay offers a peer it dialed.
// A relay that dials — a village relay linking to its district, a client
// replica reaching a relay — starts the sync of each document the policy
// names right after the handshake: a sync message for a document it holds,
// a request for one it does not (as a fresh automerge-repo client asks).
// The accepting side then serves it under its own grants, as for any peer.
type SharePolicy interface {
	// Share lists the documents to offer the peer p, dialed just now.
	Share(p Principal) []wire.DocumentID
}

// A SyncObserver hears what peers say of the documents they sync, so that
// a dialing client can tell when it has converged with a relay. Its
// methods are called on the relay's goroutines, inside a document's
// synchronizer: they must return at once and must not call the relay.
type SyncObserver interface {
	// PeerHeads reports the heads a sync message from p announced for
	// doc: what p held of it when it wrote the message.
	PeerHeads(p Principal, doc wire.DocumentID, heads []automerge.ChangeHash)
	// PeerUnavailable reports that p answered doc-unavailable: it does
	// not hold doc, or will not share it with this relay.
	PeerUnavailable(p Principal, doc wire.DocumentID)
}

// offerShared starts syncing the documents the share policy names for a
// peer the relay dialed. Called on the read loop's goroutine before it
// reads, so pe.docs is its own.
func (pe *peer) offerShared() error {
	share := pe.relay.opts.Share
	if share == nil {
		return nil
	}
	for _, id := range share.Share(pe.principal) {
		if !id.Valid() || pe.docs[string(id)] != nil {
			continue
		}
		if len(pe.docs) >= pe.relay.opts.MaxDocumentsPerConn {
			return fmt.Errorf("the share policy names more than %d documents for one connection", pe.relay.opts.MaxDocumentsPerConn)
		}
		s := pe.relay.acquire(string(id))
		if s == nil {
			return ErrRelayClosed
		}
		pe.addDoc(string(id), s)
		if !s.deliver(event{peer: pe, offer: true}) {
			delete(pe.docs, string(id))
			pe.relay.release(s)
		}
	}
	return nil
}

// offer starts the sync of the document with a peer the relay dialed.
// Called with mu held.
func (s *synchronizer) offer(pe *peer) {
	ps := s.peers[pe]
	if ps == nil {
		ps = &peerState{}
		s.peers[pe] = ps
	}
	if s.doc == nil {
		// The relay lacks the document too: ask for it with the sync
		// message of an empty document, kept in memory only until
		// changes arrive.
		s.doc = automerge.New()
		s.lastHeads = nil
		s.startSync(pe, ps)
		if m, ok := s.generate(ps); ok {
			pe.send(wire.Message{Type: wire.TypeRequest, DocumentID: wire.DocumentID(s.id), Data: m})
		}
		return
	}
	if ps.sync == nil {
		s.startSync(pe, ps)
	}
	ps.pending = true // the next flush sends our heads and what the peer lacks
}

// observeHeads tells the observer what a peer's message announced.
func (s *synchronizer) observeHeads(pe *peer, heads []automerge.ChangeHash) {
	if o := s.relay.opts.Observer; o != nil {
		o.PeerHeads(pe.principal, wire.DocumentID(s.id), heads)
	}
}

// headsMessage is the Automerge sync message (v1) that announces heads
// where Automerge itself would say nothing (see answer): no needs, no
// changes, and a have saying the sender holds those heads and nothing past
// them (lastSync = heads, an empty bloom filter), exactly true of a relay
// whose heads they are. A peer learns from it that the relay holds
// everything up to heads — a replica that it has converged, a client that
// its change is acknowledged — and, from the have, pushes its next changes
// without waiting to be asked for them.
func headsMessage(heads []automerge.ChangeHash) []byte {
	hs := hashes(heads)
	return syncmsg.Message{Type: syncmsg.V1, Heads: hs, Have: []syncmsg.Have{{LastSync: hs}}}.Encode()
}
