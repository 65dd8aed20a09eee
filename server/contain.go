package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/sandbox"
	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/syncmsg"
	"github.com/veche-sync/veche/server/wire"
)

// errQuarantined closes the connections of a suspended principal.
var errQuarantined = errors.New("quarantined: this principal sent a change that crashes the relay's Automerge engine; the operator must release it")

// Suspended reports whether p is suspended because it sent input that
// crashed the Automerge core. Anonymous connections and peer relays are
// never suspended (the first share one principal, the second only forward
// what others wrote); their connection is cut instead.
func (r *Relay) Suspended(p Principal) bool {
	return r.quarantine.isSuspended(p.ID)
}

// Incidents returns what the quarantine holds, oldest first.
func (r *Relay) Incidents() []store.Incident {
	out := r.quarantine.list()
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	for i := range out {
		out[i].Message = nil // the record keeps it; listings do not need it
	}
	return out
}

// Release lifts incident id: its principal's tokens work again (unless
// another incident holds it), and a document that crashed on load is
// tried again. The quarantined changes stay refused.
func (r *Relay) Release(ctx context.Context, id string) (store.Incident, error) {
	inc, err := r.quarantine.release(ctx, id, time.Now())
	if err == nil {
		r.log.Warn("quarantine incident released by the operator", "incident", id, "doc", inc.Document, "principal", inc.Principal)
	}
	inc.Message = nil
	return inc, err
}

// cutPrincipal closes every connection of principal id.
func (r *Relay) cutPrincipal(id, reason string) {
	r.mu.Lock()
	var cut []*peer
	for pe := range r.peers {
		if pe.principal.ID == id {
			cut = append(cut, pe)
		}
	}
	r.mu.Unlock()
	for _, pe := range cut {
		pe.sendNow(wire.Message{Type: wire.TypeError, ErrorMessage: reason})
		pe.cut(reason)
	}
}

// suspendable reports whether a principal is suspended for what it sent.
func suspendable(p Principal) bool {
	return p.Kind != KindAnonymous && p.Kind != KindPeer && p.ID != ""
}

// screen decides whether a sync message may reach the relay's Automerge
// core: it is refused when it carries a quarantined change (from any
// peer), and, with a sandbox, it must first survive a worker holding the
// same document. A message that kills the worker is quarantined and its
// sender suspended. A routine acknowledgement (see routine) skips the
// sandbox. It reports whether the message may be applied. Called with mu
// held.
func (s *synchronizer) screen(pe *peer, msg wire.Message, routine bool) bool {
	if err := validateSyncMessage(msg.Data); err != nil {
		s.reject(pe, fmt.Errorf("sync message rejected: %w", err))
		return false
	}
	if s.relay.quarantine.holdsChanges() {
		changes, whole := messageKeys(msg.Data)
		if id := s.relay.quarantine.refused(append(changes, whole)); id != "" {
			pe.docError(wire.DocumentID(s.id), fmt.Sprintf("refused: the message carries a quarantined change (incident %s)", id))
			return false
		}
	}
	pool := s.relay.opts.Sandbox
	if pool == nil || routine {
		return true
	}
	err := s.check(peerKey(pe), msg.Data)
	var crash *sandbox.Crash
	var rejected *sandbox.Rejected
	switch {
	case err == nil:
		return true
	case errors.As(err, &crash) && crash.External:
		// Killed from outside (out of memory, say): not this message's
		// fault. Fail closed without blame; the peer retries later.
		s.log.Warn("sandbox worker killed from outside; refusing a sync message for now", "site", crash.Site)
		pe.docError(wire.DocumentID(s.id), "the relay cannot check changes right now; try again later")
		return false
	case errors.As(err, &rejected) && rejected.Op == "load":
		// The relay's own copy does not load in a worker: whatever made it
		// so, it is not this peer's message.
		s.poison(&sandbox.Crash{Op: "load", Site: "the document's saved state does not load: " + rejected.Reason})
		s.unavailable(pe, s.peers[pe])
		return false
	case errors.As(err, &rejected):
		s.reject(pe, fmt.Errorf("sync message rejected: %s", rejected.Reason))
		return false
	case errors.As(err, &crash) && crash.Op == "load":
		// The relay's own copy kills the core: stop serving it.
		s.poison(crash)
		s.unavailable(pe, s.peers[pe])
		return false
	case errors.As(err, &crash):
		changes, whole := messageKeys(msg.Data)
		var culprit []string
		if i, _ := s.culprit(msg.Data, true); i >= 0 {
			culprit = changes[i : i+1]
		}
		s.relay.contain(s.key, pe.principal, pe, msg.Data, culprit, whole, crash)
		delete(s.peers, pe)
		return false
	default:
		// No sandbox to check with: fail closed, the peer retries later.
		s.log.Error("sandbox unavailable; refusing a sync message", "err", err)
		pe.docError(wire.DocumentID(s.id), "the relay cannot check changes right now; try again later")
		return false
	}
}

// maxRemembered bounds synchronizer.advertised: past it, the hashes are
// forgotten but the current heads.
const maxRemembered = 1024

// rememberHeads notes heads of the document the relay holds (as
// advertised in its messages), starting afresh when the document was
// replaced (loaded again, rebuilt after a failed commit) or too many are
// held. Called with mu held.
func (s *synchronizer) rememberHeads(heads []automerge.ChangeHash) {
	if s.advertisedOf != s.doc || len(s.advertised)+len(heads) > maxRemembered {
		s.advertised = make(map[automerge.ChangeHash]struct{}, len(heads))
		s.advertisedOf = s.doc
	}
	for _, h := range heads {
		s.advertised[h] = struct{}{}
	}
}

// routine reports whether a sync message is an acknowledgement of the
// commonest shape, which a relay receives from every peer after every
// message it sends: no changes, no needs, at most one have, and every
// hash it names (heads, the have's last sync) a head this relay held in
// the document it holds now — so the core receives it and answers it
// along the path every sync exercises, with no input but those known
// hashes and a bloom filter validateSyncMessage has checked in full.
// Such a message skips the sandbox: it is half of what a busy document's
// peers send, and the core's crash sites are all in applying changes and
// in answering changes just applied (testdata/crashers; the fuzzer of
// package sandbox, which mutates acknowledgements too, has found no
// other). Anything else — a change, a need, an unknown hash, a second
// have — is checked as before. Called with mu held.
func (s *synchronizer) routine(m syncmsg.Message) bool {
	if s.doc == nil || s.advertisedOf != s.doc || m.Type != syncmsg.V1 ||
		len(m.Changes) > 0 || len(m.Need) > 0 || len(m.Have) > 1 || len(m.Heads) == 0 {
		return false
	}
	// Known, distinct and few: a peer's heads and last sync are a
	// handful of hashes; a list of one head repeated thousands of times is
	// no acknowledgement and goes to the sandbox like anything unusual.
	known := func(hs []syncmsg.Hash) bool {
		if len(hs) > maxRoutineHashes {
			return false
		}
		for i, h := range hs {
			if _, ok := s.advertised[automerge.ChangeHash(h)]; !ok || slices.Contains(hs[:i], h) {
				return false
			}
		}
		return true
	}
	if !known(m.Heads) {
		return false
	}
	for _, h := range m.Have {
		if !known(h.LastSync) {
			return false
		}
	}
	return true
}

// maxRoutineHashes bounds the heads, and the last sync, of a routine
// acknowledgement.
const maxRoutineHashes = 32

// maxProbes bounds how many changes of a crashing message are tried one
// by one to find the one that crashes the core.
const maxProbes = 256

// culprit finds which change of msg crashes the core, and whether a
// sandbox worker confirmed it: the first change that, sent alone, crashes
// a worker holding the document. A message known to crash the core
// (crashed) that carries one change needs no probe. Without a sandbox, a
// lone change is the only candidate, unconfirmed. -1 when it cannot
// tell. Called with mu held.
func (s *synchronizer) culprit(msg []byte, crashed bool) (culprit int, confirmed bool) {
	chunks, err := syncMessageChunks(msg)
	if err != nil || len(chunks) == 0 || len(chunks) > maxProbes {
		return -1, false
	}
	if crashed && len(chunks) == 1 {
		return 0, true
	}
	pool := s.relay.opts.Sandbox
	if pool == nil || s.poisoned {
		if len(chunks) == 1 {
			return 0, false
		}
		return -1, false
	}
	probe := "probe:" + s.mirror
	defer pool.Forget(probe)
	for i, c := range chunks {
		if asCrash(pool.Check(probe, "", pushMessage(c), s.mirrorState)) {
			return i, true
		}
	}
	return -1, false
}

// asCrash reports whether err is a crash of a worker on its input (not a
// kill from outside).
func asCrash(err error) bool {
	var crash *sandbox.Crash
	return errors.As(err, &crash) && !crash.External
}

// pushMessage is a sync message carrying changes and nothing else.
func pushMessage(changes ...[]byte) []byte {
	m := []byte{0x42, 0, 0, 0}
	m = binary.AppendUvarint(m, uint64(len(changes)))
	for _, c := range changes {
		m = binary.AppendUvarint(m, uint64(len(c)))
		m = append(m, c...)
	}
	return m
}

// peerKey names a peer's sync state in the sandbox.
func peerKey(pe *peer) string { return fmt.Sprintf("%p", pe) }

// check runs a peer's message through the sandbox against the mirror of
// the document. A mirror the worker cannot load from the document saved
// whole (a change in it breaks the saved form, see reloads) is loaded from
// its changes as they came instead: the document is not to blame, and
// marking it unavailable would let any member who wrote such a change,
// then any message the core refuses (which drops the mirror), take the
// whole council down. Called with mu held.
func (s *synchronizer) check(peer string, msg []byte) error {
	pool := s.relay.opts.Sandbox
	err := pool.Check(s.mirror, peer, msg, s.mirrorState)
	var rejected *sandbox.Rejected
	if errors.As(err, &rejected) && rejected.Op == "load" && !s.unsaveable {
		s.unsaveable = true
		s.log.Warn("the document saved whole does not load again: its sandbox copy is loaded from its changes instead", "err", err)
		err = pool.Check(s.mirror, peer, msg, s.mirrorState)
	}
	return err
}

// mirrorState is the document as the relay holds it, for a sandbox worker
// that does not hold it yet. It saves a fork: Save on the document itself
// would mark uncommitted changes as saved. A document whose saved form does
// not load again goes as its changes instead (slower to load). Called with
// mu held.
func (s *synchronizer) mirrorState() [][]byte {
	if s.doc == nil || len(s.doc.Heads()) == 0 {
		return nil
	}
	if s.unsaveable {
		cs, err := s.doc.Changes()
		if err != nil {
			return nil
		}
		return [][]byte{nil, automerge.SaveChanges(cs)}
	}
	fork, err := s.doc.Fork()
	if err != nil {
		return nil
	}
	return [][]byte{fork.Save()}
}

// mirrorChanges hands the sandbox the changes a local call made since
// heads, so its copy keeps up with the relay's. Called with mu held.
func (s *synchronizer) mirrorChanges(heads []automerge.ChangeHash) {
	pool := s.relay.opts.Sandbox
	if pool == nil || s.doc == nil {
		return
	}
	cs, err := s.doc.Changes(heads...)
	if err != nil || len(cs) == 0 {
		pool.Forget(s.mirror)
		return
	}
	if err := pool.Apply(s.mirror, automerge.SaveChanges(cs)); err != nil {
		s.log.Warn("sandbox copy dropped after a local change", "err", err)
	}
}

// contain records a message that crashed the core: durably, before the
// relay answers anyone about it, then suspends its sender and cuts it.
func (r *Relay) contain(doc string, from Principal, pe *peer, msg []byte, changes []string, whole string, crash *sandbox.Crash) string {
	inc := store.Incident{
		ID:          whole,
		Kind:        "change",
		Document:    doc,
		Changes:     changes,
		MessageHash: whole,
		Message:     msg,
		Site:        crash.Site,
		At:          time.Now().UTC(),
	}
	if len(changes) > 0 {
		inc.ID = changes[0]
	}
	if suspendable(from) {
		inc.Principal = from.ID
	}
	err := r.quarantine.add(context.Background(), inc)
	r.metrics.Quarantined()
	r.log.Error("quarantined a sync message that crashes the Automerge engine",
		"doc", doc, "principal", from.ID, "incident", inc.ID, "changes", len(changes), "site", crash.Site, "core", crash.Detail, "stored", err == nil)
	if err != nil {
		r.log.Error("recording the quarantine incident", "err", err)
	}
	reason := fmt.Sprintf("change quarantined (incident %s): it crashes the relay's Automerge engine", inc.ID)
	if pe != nil {
		pe.protocolError(reason)
		pe.cut(reason)
	}
	if inc.Principal != "" {
		r.cutPrincipal(inc.Principal, errQuarantined.Error())
	}
	return reason
}

// screenLocal checks changes a local call is about to load for a
// principal (a bundle) as screen checks a peer's message. Called with mu
// held.
func (s *synchronizer) screenLocal(from Principal, changes []byte) error {
	msg, err := untrustedMessage(changes)
	if err != nil {
		return err
	}
	keys, whole := messageKeys(msg)
	if id := s.relay.quarantine.refused(keys); id != "" {
		return fmt.Errorf("%w: the changes include a quarantined change (incident %s)", ErrQuarantined, id)
	}
	pool := s.relay.opts.Sandbox
	if pool == nil {
		return nil
	}
	err = s.check("", msg)
	var crash *sandbox.Crash
	switch {
	case err == nil:
		return nil
	case errors.As(err, &crash) && crash.Op != "load":
		var culprit []string
		if i, _ := s.culprit(msg, true); i >= 0 {
			culprit = keys[i : i+1]
		}
		reason := s.relay.contain(s.key, from, nil, msg, culprit, whole, crash)
		return fmt.Errorf("%w: %s", ErrQuarantined, reason)
	default:
		return fmt.Errorf("the changes could not be checked: %w", err)
	}
}

// chunkLen is the length of the chunk b starts with (magic, checksum,
// type, uvarint length, body), or 0 when b does not start with one.
func chunkLen(b []byte) int {
	if len(b) < 10 {
		return 0
	}
	n, k := binary.Uvarint(b[9:])
	if k <= 0 || n > uint64(len(b)-9-k) {
		return 0
	}
	return 9 + k + int(n)
}

// poison marks the document unavailable because loading it crashes the
// core: recorded durably, logged, and never loaded again until the
// operator releases it. Called with mu held.
func (s *synchronizer) poison(crash *sandbox.Crash) {
	s.doc = nil
	s.poisoned = true
	inc := store.Incident{
		ID:       "document:" + s.key,
		Kind:     "document",
		Document: s.key,
		Site:     crash.Site,
		At:       time.Now().UTC(),
	}
	err := s.relay.quarantine.add(context.Background(), inc)
	s.relay.metrics.Quarantined()
	s.log.Error("stored document crashes the Automerge engine when loaded: marked unavailable until the operator releases it",
		"incident", inc.ID, "site", crash.Site, "core", crash.Detail, "stored", err == nil)
}
