package server

import (
	"context"
	"strings"
)

// Shadows: no existence oracle, across connections and time.
//
// A principal that may create documents sends a first sync message for an
// id. Were the id free, the message would create a new document: stored,
// counted in the creator's quota, and readable and writable from then on
// by whoever may read and write a document that principal creates (under
// Grants: every member of its council, on any connection, after any
// restart). When the id is taken by a document the principal may not
// read (Y), answering doc-unavailable would tell it that Y exists; so
// would anything that answered "as a new document" but forgot what was
// written when the connection ended, or counted differently. So the
// relay creates a shadow of Y instead: a document of its own, stored
// under a key of its own, shadowKey(scope, Y), where scope names the
// principals who share what this one creates (CreatorScope; Grants: its
// council). From then on the shadow is, to everyone who could observe it,
// exactly what the new document would have been: it is stored (bbolt,
// durable before advertised), counted in the quota (CreationQuota.Created
// with the shadow's key), owned as a new document is (the access policy
// is asked about the shadow's key, and Grants records the council as its
// owner), and served under the id Y to every principal of the scope that
// may not read Y — over the websocket and over REST (Relay.ViewAs,
// Relay.CanRead).
//
// One place decides which document serves a principal's id: route (first
// sync messages) and readKey (everything else). A principal that may read
// Y always gets Y itself, never a shadow; one that may not gets its
// scope's shadow, if there is one; else a message that would create a
// document creates one, the real one when the id is free and a shadow
// when it is taken. A shadow never touches Y: it has its own stored
// chunks, sync states (keyed by the shadow's key), sandbox copy, crash
// marks and quarantine incidents, the commit hook never reads it (what a
// scope writes there grants nothing), and it is never offered over a peer
// link (share policies name document ids; a shadow's key is not one, and
// its id names Y). Y's readers never see a shadow, nor a shadow's readers
// Y.
//
// When the scope is later granted Y (its council joins the federation Y,
// say), its principals get Y from their next first sync on — a
// connection that syncs the shadow switches at its next message — and the
// shadow stays stored but is served to no one. This is the safe way
// round: nothing of Y was ever shown to them before the grant, and
// nothing of the shadow is shown to Y's readers after it. The scope's own
// clients still hold the shadow's changes under the id Y, and may send
// them to Y as they may send any change of theirs, if they may write Y.
//
// Stored shadows are documents like any other to the operator's tools:
// veche check loads and checks them, backups and veche compact copy them,
// and their owner records and sync states are leftovers once the shadow
// is gone, like a real document's. Their keys ("shadow/<scope>/<id>")
// are not document ids, so no peer can name one.

// CreatorScope is an optional interface of an Access: the principals
// that share what p creates — a document p creates is theirs to read and
// write — are named by one scope, and a shadow of a taken id is kept per
// scope. Grants answers the member's council. Without it the relay keeps
// one shadow per id for everyone: the policy is then taken to let every
// creator read what any creator made.
type CreatorScope interface {
	CreatorScope(p Principal) string
}

// CreationLedger is an optional interface of an Access that records who
// created what (Grants: the owner records): Claimed reports whether
// someone created documentID, stored yet or not. An id claimed that way
// is taken, as a stored one is: a member who started a document and
// wrote nothing to it yet keeps the id, and another council writing
// there gets a shadow instead of the owner record.
type CreationLedger interface {
	Claimed(documentID string) bool
}

// shadowPrefix starts every shadow's key. Document ids are base58, which
// has no '/': a shadow's key is never a document id.
const shadowPrefix = "shadow/"

// shadowKey is where scope's shadow of document id is stored.
func shadowKey(scope, id string) string {
	return shadowPrefix + scope + "/" + id
}

// documentOfKey returns the document id a storage key serves and whether
// the key is a shadow's.
func documentOfKey(key string) (id string, shadow bool) {
	if !strings.HasPrefix(key, shadowPrefix) {
		return key, false
	}
	return key[strings.LastIndexByte(key, '/')+1:], true
}

// scopeOf names the principals that share what p creates.
func (r *Relay) scopeOf(p Principal) string {
	if cs, ok := r.opts.Access.(CreatorScope); ok {
		return cs.CreatorScope(p)
	}
	return "*"
}

// readKey returns the storage key of the document p reads as id: id
// itself when p may read it, else the shadow of p's scope when p may read
// that, else "".
func (r *Relay) readKey(p Principal, id string) string {
	access := r.opts.Access
	if access.CanRead(p, id) {
		return id
	}
	if key := shadowKey(r.scopeOf(p), id); access.CanRead(p, key) {
		return key
	}
	return ""
}

// route decides which document serves p's first message for id, and
// returns its synchronizer with a reference held: the document p reads as
// id (readKey); else, when create (a sync message: the sender has the
// document) and p may create, a new document — id itself when nobody
// holds id (stores it, holds it in memory, or created it: CreationLedger),
// else a new shadow of p's scope (see above); both are counted
// alike by the creation quota, and both are refused alike (full) once it
// is reached. It returns nil when p gets nothing: doc-unavailable, as for
// an id nobody holds. err is ErrRelayClosed once the relay is closing.
func (r *Relay) route(p Principal, id string, create bool) (s *synchronizer, full bool, err error) {
	acquired := func(s *synchronizer) (*synchronizer, bool, error) {
		if s == nil {
			return nil, false, ErrRelayClosed
		}
		return s, false, nil
	}
	if key := r.readKey(p, id); key != "" {
		return acquired(r.acquire(key))
	}
	access := r.opts.Access
	if !create || !access.CanCreate(p) {
		return nil, false, nil
	}
	quota, limited := access.(CreationQuota)
	if limited && quota.QuotaFull(p) {
		return nil, true, nil
	}
	stored, err := r.store.Exists(context.Background(), id)
	if err != nil {
		r.log.Error("looking a document up", "doc", id, "err", err)
		return nil, false, nil
	}
	if ledger, ok := access.(CreationLedger); ok && !stored && ledger.Claimed(id) {
		stored = true // created by someone, not written yet: taken all the same
	}
	if !stored {
		// Free, unless someone holds it in memory (created and not yet
		// committed): claimed under the lock, so that two creators of one
		// id never share a document.
		s, taken, closing := r.claim(id)
		if closing {
			return nil, false, ErrRelayClosed
		}
		if !taken {
			if limited {
				quota.Created(p, id)
			}
			return s, false, nil
		}
	}
	key := shadowKey(r.scopeOf(p), id)
	if limited {
		quota.Created(p, key)
	}
	return acquired(r.acquire(key))
}

// claim starts the synchronizer of document id, with a reference held,
// unless the relay holds it in memory already (taken) or is closing.
func (r *Relay) claim(id string) (s *synchronizer, taken, closing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return nil, false, true
	}
	if r.docs[id] != nil {
		return nil, true, false
	}
	s = newSynchronizer(r, id)
	r.docs[id] = s
	s.refs++
	return s, false, false
}
