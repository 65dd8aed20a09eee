package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/veche-sync/veche/server/store"
)

// QuarantineStore keeps incidents durably; store.Bolt implements it.
type QuarantineStore interface {
	// PutIncident durably records an incident, replacing one with its ID.
	PutIncident(ctx context.Context, inc store.Incident) error
	// Incidents returns every recorded incident.
	Incidents(ctx context.Context) ([]store.Incident, error)
}

// ErrNoIncident is returned by Release for an unknown incident.
var ErrNoIncident = errors.New("no such quarantine incident")

// quarantine is the relay's memory of input that crashed the Automerge
// core: the changes and messages it refuses from any peer, the principals
// it suspends, the stored documents it will not load. Every entry is
// durable (in the QuarantineStore) before it takes effect.
type quarantine struct {
	store QuarantineStore

	mu        sync.Mutex // guards the following
	incidents map[string]store.Incident
	changes   map[string]string // change hash or message hash → incident id
	suspended map[string]int    // principal id → incidents in force
	documents map[string]bool   // documents that crash the core when loaded
}

func newQuarantine(st QuarantineStore) *quarantine {
	return &quarantine{
		store:     st,
		incidents: make(map[string]store.Incident),
		changes:   make(map[string]string),
		suspended: make(map[string]int),
		documents: make(map[string]bool),
	}
}

// load reads the recorded incidents.
func (q *quarantine) load(ctx context.Context) error {
	if q.store == nil {
		return nil
	}
	incs, err := q.store.Incidents(ctx)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, inc := range incs {
		q.index(inc)
	}
	return nil
}

// index adds inc to the maps. Called with mu held.
func (q *quarantine) index(inc store.Incident) {
	if old, ok := q.incidents[inc.ID]; ok && old.Released.IsZero() && old.Principal != "" {
		q.suspended[old.Principal]--
	}
	q.incidents[inc.ID] = inc
	for _, h := range inc.Changes {
		q.changes[h] = inc.ID
	}
	if inc.MessageHash != "" {
		q.changes[inc.MessageHash] = inc.ID
	}
	if inc.Released.IsZero() {
		if inc.Principal != "" {
			q.suspended[inc.Principal]++
		}
		if inc.Kind == "document" {
			q.documents[inc.Document] = true
		}
	} else if inc.Kind == "document" {
		delete(q.documents, inc.Document)
	}
	if q.suspended[inc.Principal] <= 0 {
		delete(q.suspended, inc.Principal)
	}
}

// add records inc durably, then enforces it.
func (q *quarantine) add(ctx context.Context, inc store.Incident) error {
	var err error
	if q.store != nil {
		err = q.store.PutIncident(ctx, inc)
	}
	q.mu.Lock()
	q.index(inc) // enforced even if the disk refused: the core must not see it again
	q.mu.Unlock()
	return err
}

// refused returns the incident of the first quarantined change (or the
// whole message) among hashes, or "".
func (q *quarantine) refused(hashes []string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, h := range hashes {
		if id, ok := q.changes[h]; ok {
			return id
		}
	}
	return ""
}

// holdsChanges reports whether any change or message is refused: while
// none is, a message need not be hashed to be screened.
func (q *quarantine) holdsChanges() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.changes) > 0
}

func (q *quarantine) isSuspended(principal string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.suspended[principal] > 0
}

func (q *quarantine) documentPoisoned(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.documents[id]
}

func (q *quarantine) list() []store.Incident {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]store.Incident, 0, len(q.incidents))
	for _, inc := range q.incidents {
		out = append(out, inc)
	}
	return out
}

// release lifts an incident: its principal is no longer suspended for it,
// and a document incident lets the document load again. The changes stay
// refused: they still crash the core.
func (q *quarantine) release(ctx context.Context, id string, now time.Time) (store.Incident, error) {
	q.mu.Lock()
	inc, ok := q.incidents[id]
	q.mu.Unlock()
	if !ok {
		return store.Incident{}, fmt.Errorf("%w: %q", ErrNoIncident, id)
	}
	if !inc.Released.IsZero() {
		return inc, nil
	}
	inc.Released = now.UTC()
	return inc, q.add(ctx, inc)
}

// messageHash is the key of a whole sync message in the quarantine.
func messageHash(msg []byte) string {
	sum := sha256.Sum256(msg)
	return "message:" + hex.EncodeToString(sum[:])
}
