package server

import (
	"context"
	"fmt"
	"time"

	"github.com/veche-sync/veche/server/crashmark"
	"github.com/veche-sync/veche/server/sandbox"
	"github.com/veche-sync/veche/server/store"
)

// enter marks a call into the Automerge core on this document, with the
// principal whose input it is and the input (crashmark); pass the slot it
// returns to leave. Called with mu held.
func (s *synchronizer) enter(op crashmark.Op, from *Principal, input []byte) int {
	b := s.relay.opts.Marks
	if b == nil {
		return -1
	}
	m := crashmark.Mark{Op: op, Document: s.key, Message: input}
	if from != nil {
		m.Principal, m.PrincipalKind = from.ID, string(from.Kind)
	}
	return b.Enter(&m)
}

// leave clears the mark enter made. Called with mu held.
func (s *synchronizer) leave(slot int) { s.relay.opts.Marks.Leave(slot) }

// Recover deals with the marks a relay process left when the Automerge
// core killed it, which its supervisor hands to the next one (crashmark):
// call it once, before serving. site is where the core said it panicked,
// if known.
//
// A principal's input that was in the core — a sync message being
// applied, changes a bundle brought — is quarantined as the sandbox
// quarantines what crashes a worker: its crashing change when a worker
// can tell which, else the whole input, by hash, refused from anyone from
// now on, and the principal suspended. Any other call (answering a peer,
// saving, loading, reading) crashed on the document's own state: the
// document is marked unavailable until the operator releases it.
//
// When several calls were in the core at once, only the one that died is
// to blame. A sandbox worker then replays each principal's input, and
// only input that crashes the worker is quarantined; without a sandbox,
// or when none crashes it, nothing is blamed and every mark is logged.
func (r *Relay) Recover(marks []crashmark.Mark, site string) {
	if len(marks) == 0 {
		return
	}
	if site == "" {
		site = "unknown (the relay process died in the Automerge core)"
	}
	for _, m := range marks {
		r.log.Error("the Automerge core killed the relay process while it worked on a document",
			"doc", m.Document, "op", m.Op.String(), "principal", m.Principal, "input_bytes", len(m.Message), "site", site)
	}
	sure := len(marks) == 1
	for _, m := range marks {
		input := m.Message
		if m.Op == crashmark.OpLocal && input != nil && !m.Truncated {
			var err error
			if input, err = untrustedMessage(input); err != nil {
				input = nil
			}
		}
		switch {
		case input != nil && !m.Truncated:
			r.recoverInput(m, input, site, sure)
		case m.Message != nil && m.Principal != "":
			// A principal's input larger than its mark holds (a bundle
			// may be larger than a frame), or not readable as kept: its
			// hash is unknown, and its changes cannot be read back. It
			// was the principal's input all the same, not the
			// document's state: its sender is suspended when it alone
			// was in the core, and the document stays available
			// (TestLargeBundleCrasherBlamesItsSender).
			if sure && suspendable(Principal{ID: m.Principal, Kind: PrincipalKind(m.PrincipalKind)}) {
				r.suspendSender(m, site)
			}
		case sure:
			r.poisonDocument(m.Document, fmt.Sprintf("%s (while %s)", site, m.Op))
		}
	}
}

// recoverInput quarantines a principal's input that was in the core when
// it died: at once when it alone was there, else only if it crashes a
// sandbox worker.
func (r *Relay) recoverInput(m crashmark.Mark, msg []byte, site string, sure bool) {
	from := Principal{ID: m.Principal, Kind: PrincipalKind(m.PrincipalKind)}
	changes, whole := messageKeys(msg)
	culprit, confirmed, poisoned := -1, false, false
	if s := r.acquire(m.Document); s != nil {
		s.locked(func() {
			if poisoned = s.poisoned; !poisoned {
				culprit, confirmed = s.culprit(msg, sure)
			}
		})
		r.release(s)
	}
	if poisoned {
		// The document as stored crashes the core when loaded (a sandbox
		// worker found it so, and marked it unavailable): its own state,
		// not this input, which was never stored, is to blame.
		r.log.Warn("not blamed: the document's own stored state crashes the Automerge engine",
			"doc", m.Document, "principal", m.Principal)
		return
	}
	if !sure && !confirmed {
		r.log.Warn("not blamed: the input does not crash a sandbox worker, and another call was in the core too",
			"doc", m.Document, "principal", m.Principal)
		return
	}
	var blamed []string
	if culprit >= 0 && culprit < len(changes) {
		blamed = changes[culprit : culprit+1]
	}
	r.contain(m.Document, from, nil, msg, blamed, whole, &sandbox.Crash{Op: m.Op.String(), Site: site})
}

// suspendSender suspends the principal of a mark whose input
// was too large to keep, with an incident naming the document.
func (r *Relay) suspendSender(m crashmark.Mark, site string) {
	inc := store.Incident{
		ID:        fmt.Sprintf("input:%s:%d", m.Document, time.Now().UnixNano()),
		Kind:      "change",
		Document:  m.Document,
		Principal: m.Principal,
		Site:      site + " (the input was larger than its crash mark holds; only its sender is known)",
		At:        time.Now().UTC(),
	}
	err := r.quarantine.add(context.Background(), inc)
	if err != nil {
		r.log.Error("recording the quarantine incident", "err", err)
	}
	r.metrics.Quarantined()
	r.log.Error("suspended the sender of input that crashed the Automerge engine: the input was larger than its crash mark holds",
		"doc", m.Document, "principal", m.Principal, "incident", inc.ID, "site", site, "stored", err == nil)
}

// poisonDocument marks a document unavailable: its own state crashed the
// core.
func (r *Relay) poisonDocument(id, site string) {
	if s := r.acquire(id); s != nil {
		s.mu.Lock()
		s.poison(&sandbox.Crash{Op: "load", Site: site})
		s.loaded = true
		s.mu.Unlock()
		r.release(s)
	}
}

// locked runs fn with mu held and the document loaded (as deliver does).
func (s *synchronizer) locked(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	if !s.loaded {
		s.load()
		s.loaded = true
		s.relay.metrics.DocumentLoaded()
	}
	fn()
}

// untrustedMessage wraps change chunks a local call brought (a bundle) in
// a sync message, as the quarantine keys them.
func untrustedMessage(changes []byte) ([]byte, error) {
	chunks := localChunks(changes)
	if chunks == nil && len(changes) > 0 {
		return nil, fmt.Errorf("%w: malformed change chunks", ErrQuarantined)
	}
	return pushMessage(chunks...), nil
}
