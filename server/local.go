package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/crashmark"
	"github.com/veche-sync/veche/server/sandbox"
	"github.com/veche-sync/veche/server/wire"
)

// ErrDocumentNotFound is returned by View and Change for a document the
// relay does not hold.
var ErrDocumentNotFound = errors.New("document not found")

// call is work the HTTP API (or any local user) runs on a document inside
// its synchronizer, where the document is safe to touch.
type call struct {
	fn     func(*automerge.Doc) error
	write  bool // fn changes the document
	create bool // the document must not exist yet
	adopt  bool // a write that makes the document if the relay lacks it
	done   chan error

	// untrusted are change chunks from a principal's hands that fn will
	// load: they meet the sandbox first (see ChangeUntrusted).
	untrusted []byte
	from      Principal
}

// View runs fn with the document, read-only. fn must not keep the
// document or change it.
func (r *Relay) View(ctx context.Context, id wire.DocumentID, fn func(*automerge.Doc) error) error {
	return r.local(ctx, id, &call{fn: fn})
}

// ViewAs is View of the document principal p reads as id: id itself, or
// the shadow p's scope holds of it (decoy.go). It returns
// ErrDocumentNotFound when p may read neither.
func (r *Relay) ViewAs(ctx context.Context, p Principal, id wire.DocumentID, fn func(*automerge.Doc) error) error {
	key, err := r.keyFor(p, id)
	if err != nil {
		return err
	}
	return r.localAt(ctx, key, &call{fn: fn})
}

// keyFor returns the storage key of the document p reads as id.
func (r *Relay) keyFor(p Principal, id wire.DocumentID) (string, error) {
	if !id.Valid() {
		return "", fmt.Errorf("%w: malformed document id %q", ErrDocumentNotFound, id)
	}
	key := r.readKey(p, string(id))
	if key == "" {
		return "", fmt.Errorf("%w: %s", ErrDocumentNotFound, id)
	}
	return key, nil
}

// Change runs fn on a copy of the document; if fn succeeds, what it
// changed is merged in, committed durably before Change returns, and sent
// to every peer syncing the document. If fn fails, the document is
// untouched and its error is returned.
func (r *Relay) Change(ctx context.Context, id wire.DocumentID, fn func(*automerge.Doc) error) error {
	return r.local(ctx, id, &call{fn: fn, write: true})
}

// ErrQuarantined is returned by ChangeUntrusted for changes that crash
// the Automerge core, or were quarantined before.
var ErrQuarantined = errors.New("quarantined")

// ChangeUntrusted is Change for a write that loads changes from a
// principal's hands (a bundle): changes, concatenated change chunks, are
// first applied to the document in the sandbox. If they crash it, they are
// quarantined and from suspended, exactly as over the websocket, and the
// error wraps ErrQuarantined; fn does not run.
func (r *Relay) ChangeUntrusted(ctx context.Context, id wire.DocumentID, from Principal, changes []byte, fn func(*automerge.Doc) error) error {
	return r.local(ctx, id, &call{fn: fn, write: true, untrusted: changes, from: from})
}

// ChangeUntrustedAs is ChangeUntrusted on the document from reads as id
// (ViewAs): id itself, or the shadow from's scope holds of it.
func (r *Relay) ChangeUntrustedAs(ctx context.Context, id wire.DocumentID, from Principal, changes []byte, fn func(*automerge.Doc) error) error {
	key, err := r.keyFor(from, id)
	if err != nil {
		return err
	}
	return r.localAt(ctx, key, &call{fn: fn, write: true, untrusted: changes, from: from})
}

// Create makes a new document, initialized by fn, committed durably
// before Create returns.
func (r *Relay) Create(ctx context.Context, fn func(*automerge.Doc) error) (wire.DocumentID, error) {
	id := wire.NewDocumentID()
	return id, r.local(ctx, id, &call{fn: fn, write: true, create: true})
}

// Adopt changes document id like Change, and makes it if the relay does
// not hold it yet: fn then runs on a new empty document, which is kept
// only if fn gave it changes. It is how changes that come from outside
// the sync protocol — a bundle carried by hand — reach a replica that
// never saw the document.
func (r *Relay) Adopt(ctx context.Context, id wire.DocumentID, fn func(*automerge.Doc) error) error {
	return r.local(ctx, id, &call{fn: fn, write: true, adopt: true})
}

// CreateAt makes a new document under a given id — a council's, which
// its founding record names — initialized by fn, committed durably before
// CreateAt returns. It fails if a document with that id exists.
func (r *Relay) CreateAt(ctx context.Context, id wire.DocumentID, fn func(*automerge.Doc) error) error {
	return r.local(ctx, id, &call{fn: fn, write: true, create: true})
}

func (r *Relay) local(ctx context.Context, id wire.DocumentID, c *call) error {
	if !id.Valid() {
		return fmt.Errorf("%w: malformed document id %q", ErrDocumentNotFound, id)
	}
	return r.localAt(ctx, string(id), c)
}

// localAt runs c in the synchronizer of the document stored under key.
func (r *Relay) localAt(ctx context.Context, key string, c *call) error {
	s := r.acquire(key)
	if s == nil {
		return ErrRelayClosed
	}
	defer r.release(s)
	c.done = make(chan error, 1)
	if !s.deliver(event{call: c}) {
		return ErrRelayClosed
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runCall runs a local call inside the synchronizer.
func (s *synchronizer) runCall(c *call) {
	err := s.doCall(c)
	if err == nil && c.write {
		s.relay.metrics.ChangesApplied(1)
	}
	c.done <- err
}

func (s *synchronizer) doCall(c *call) error {
	if c.create || (c.adopt && (s.doc == nil || len(s.doc.Heads()) == 0)) {
		if c.create && s.doc != nil {
			return fmt.Errorf("document %s exists already", s.id)
		}
		doc := automerge.New()
		slot := s.enter(crashmark.OpLocal, nil, nil)
		err := c.fn(doc)
		s.leave(slot)
		if err != nil {
			return err
		}
		if len(doc.Heads()) == 0 {
			return fmt.Errorf("%w: %s", ErrDocumentNotFound, s.id)
		}
		s.doc = doc
		s.lastHeads = nil
		if pool := s.relay.opts.Sandbox; pool != nil {
			pool.Forget(s.mirror) // loaded from the relay's copy when next needed
		}
		for pe, ps := range s.peers {
			s.startSync(pe, ps)
		}
		return s.commitLocal()
	}
	if s.doc == nil || len(s.doc.Heads()) == 0 {
		return fmt.Errorf("%w: %s", ErrDocumentNotFound, s.id)
	}
	if !c.write {
		slot := s.enter(crashmark.OpRead, nil, nil)
		defer s.leave(slot)
		return c.fn(s.doc)
	}
	if c.untrusted != nil {
		s.dropHeldFor(c.from, localChunks(c.untrusted)) // a local write works on a fork, which holds them too
		if s.doc == nil {
			return fmt.Errorf("%w: %s", ErrDocumentNotFound, s.id)
		}
		if err := s.screenLocal(c.from, c.untrusted); err != nil {
			return err
		}
	}
	// A principal's changes are marked as theirs: if they kill the core,
	// the next relay quarantines them (Relay.Recover).
	var from *Principal
	if c.untrusted != nil {
		from = &c.from
	}
	slot := s.enter(crashmark.OpLocal, from, c.untrusted)
	heads, err := s.applyLocal(c)
	if err == nil && from != nil {
		if s.relay.opts.Sandbox == nil {
			sandbox.ProbeClocks(s.doc, localChunks(c.untrusted))
		}
		s.probe(heldInput{crashmark.OpLocal, *from, c.untrusted}, true, true)
	}
	s.leave(slot)
	if err != nil {
		return err
	}
	s.mirrorChanges(heads)
	return s.commitLocal()
}

// applyLocal runs a local write on a fork and merges it, returning the
// heads from before. Called with mu held.
func (s *synchronizer) applyLocal(c *call) ([]automerge.ChangeHash, error) {
	fork, err := s.doc.Fork()
	if err != nil {
		return nil, err
	}
	if err := c.fn(fork); err != nil {
		return nil, err
	}
	heads := s.doc.Heads()
	if _, err := s.doc.Merge(fork); err != nil {
		return nil, err
	}
	return heads, nil
}

// commitLocal commits a local change at once, so the caller's answer means
// durable, and lets the next flush carry it to the peers.
func (s *synchronizer) commitLocal() error {
	s.noteChanges()
	if !s.commit() {
		return errors.New("the change could not be stored; nothing was changed")
	}
	return nil
}

// localChunks splits concatenated change chunks (a bundle's payload); nil
// when they cannot be read.
func localChunks(changes []byte) [][]byte {
	var out [][]byte
	for b := changes; len(b) > 0; {
		n := chunkLen(b)
		if n <= 0 {
			return nil
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}
