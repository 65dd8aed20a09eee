package server

import "fmt"

// A decoy stands in for a document a peer may not read when the peer,
// which may create documents, sends a first sync message for its id: had
// the id been free, that message would have created a new document and
// been answered as one. Answering doc-unavailable instead would tell the
// peer that the id exists (an existence oracle), so the relay answers
// exactly as for a new document — from an empty copy that belongs to this
// connection alone, goes through the sandbox like any document, and is
// never stored nor shown to anyone else. It lives as long as the
// connection syncs it.
//
// decoy returns a started decoy for id with one reference held, as
// acquire does for a real document.
func (r *Relay) decoy(pe *peer, id string) *synchronizer {
	s := newSynchronizer(r, id)
	s.decoy = true
	s.mirror = fmt.Sprintf("decoy:%p:%s", pe, id)
	r.mu.Lock()
	s.refs = 1 // released by the peer like any document; never in r.docs
	r.mu.Unlock()
	return s
}
