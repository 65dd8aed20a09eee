package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/crashmark"
	"github.com/veche-sync/veche/server/sandbox"
	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/syncmsg"
	"github.com/veche-sync/veche/server/wire"
)

// event is what a peer's read loop hands a document's synchronizer.
type event struct {
	peer  *peer
	msg   wire.Message // sync, request or ephemeral
	gone  bool         // the peer disconnected
	call  *call        // local work instead of a peer's message
	offer bool         // start syncing with a peer the relay dialed (SharePolicy)

	canWrite bool // the peer may change the document (decided by the sender, outside any lock)
}

// synchronizer owns one document while it is in memory: the Automerge
// document, and the sync state of every peer syncing it. The goroutine
// that delivers an event — a peer's read loop, a local call, a timer —
// handles it under mu, so a message costs no hand-off between goroutines.
//
// A delivered message is applied at once; committing and generating are
// paced (see flush): under load they happen once per SyncInterval, so a
// burst of changes costs one commit and one generation per peer, not one
// per change. Before any generation it commits what was applied: the relay
// never advertises heads its store does not hold (durable before
// advertised).
type synchronizer struct {
	relay *Relay
	id    string // the document's id: what peers call it
	key   string // where it is stored and held in Relay.docs: id, or its shadow's key (decoy.go)
	log   *slog.Logger

	refs int // peers holding it; guarded by relay.mu

	mu        sync.Mutex // guards the following
	loaded    bool
	stopped   bool
	poisoned  bool           // the stored document crashes the core: never loaded
	shadow    bool           // it stands in for document id to a scope that may not read it (decoy.go)
	mirror    string         // the document's name in the sandbox: its key
	doc       *automerge.Doc // nil while the document does not exist
	meta      store.Meta
	received  bool  // messages arrived since the heads were last compared
	dirty     bool  // applied changes not yet committed
	unstored  int64 // bytes of sync messages applied since the last commit
	peers     map[*peer]*peerState
	lastHeads []automerge.ChangeHash
	// advertised holds hashes that were heads of advertisedOf, the
	// document as loaded, while the relay held it: changes it holds.
	// See routine.
	advertised   map[automerge.ChangeHash]struct{}
	advertisedOf *automerge.Doc
	budget       flushBudget
	rate         changeRate  // changes per second reaching the document
	fanout       fanoutPeak  // its fan-out as the pace follows it
	flushTimer   *time.Timer // armed while a paced flush waits
	flushDue     time.Time   // when flushTimer fires
	flushArmed   uint64      // how many flush timers were armed: names the current one
	idleTimer    *time.Timer // armed while no peer syncs the document
	unsaveable   bool        // the document saved whole does not load again: never compacted
	// heldBack: without a sandbox, the input that keyed ops by list
	// position (or did more than set values) while the core held back
	// changes waiting for their dependencies; until none wait, the maps
	// are searched and the lists checked after every message, under this
	// input's crash mark (probe).
	heldBack *heldInput
	// knownMaps: without a sandbox, the document's maps the probe's walks
	// met (an object's kind never changes): a message that only sets
	// values in these needs no check of the lists (probe).
	knownMaps map[syncmsg.ObjectID]bool
	// heldFor are the principals whose input left changes waiting in the
	// core for their dependencies (noteHeld); nil while none wait. Input
	// of any other principal that brings one of those dependencies first
	// drops them (dropHeldFor), so they are only ever released into the
	// core by their own sender's input, under its crash mark.
	heldFor []Principal
	// imgs are saved images sent to peers that had nothing, by message
	// size, all made at heads imgsAt (transfer.go).
	imgs   map[int]image
	imgsAt []automerge.ChangeHash
}

// peerState is what a synchronizer knows of one peer.
type peerState struct {
	sync      *automerge.SyncState // nil while the document does not exist
	pending   bool                 // something may need saying to the peer
	lastSaved time.Time            // when its sync state was last persisted
	waiting   bool                 // it asked for the document before it existed

	// advertised is the heads the last answer sent to the peer announced
	// this session (nil before the first): flush owes the peer a message
	// whenever the document's heads are not those (see answer).
	advertised []automerge.ChangeHash

	v2      bool // its messages announce it reads version 2 sync messages
	empty   bool // its last message announced empty heads: it has nothing
	claimed bool // sync state records a document sent but not acknowledged: not persisted
	sending bool // a sliced answer is still being written; generation waits for it

	// limit bounds the messages sent to the peer: what its link carries
	// between drops (linkfit.go); 0 until its first message.
	limit int
}

// newSynchronizer returns the synchronizer of the document stored under
// key: a document id, or a shadow's key (decoy.go).
func newSynchronizer(r *Relay, key string) *synchronizer {
	id, shadow := documentOfKey(key)
	return &synchronizer{
		relay:  r,
		id:     id,
		key:    key,
		shadow: shadow,
		log:    r.log.With("doc", key),
		peers:  make(map[*peer]*peerState),
		mirror: key,
	}
}

// deliver handles an event on the caller's goroutine. It reports false
// when the synchronizer has stopped; the caller then starts a new one.
func (s *synchronizer) deliver(ev event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	if !s.loaded {
		s.load()
		s.loaded = true
		s.relay.metrics.DocumentLoaded()
	}
	s.handle(ev)
	s.settle()
	return true
}

// settle flushes what is due, arms the flush timer for what is not, and
// watches for the document falling idle. A flush due sooner than the
// armed timer (the relay's load fell, so the pace is shorter now) re-arms
// it. Called with mu held.
func (s *synchronizer) settle() {
	if wait := s.flush(); wait > 0 {
		due := time.Now().Add(wait)
		if s.flushTimer == nil || due.Before(s.flushDue) {
			if s.flushTimer != nil {
				s.flushTimer.Stop()
			}
			s.flushArmed++
			armed := s.flushArmed
			s.flushTimer = time.AfterFunc(wait, func() { s.onFlushTimer(armed) })
			s.flushDue = due
		}
	}
	if len(s.peers) == 0 && s.idleTimer == nil {
		s.idleTimer = time.AfterFunc(s.relay.opts.IdleTimeout, s.onIdle)
	}
}

// onFlushTimer runs when the flush timer armed as number armed fires; a
// timer that was replaced (stopped too late) leaves its successor armed.
func (s *synchronizer) onFlushTimer(armed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flushArmed == armed {
		s.flushTimer = nil
	}
	if !s.stopped {
		s.settle()
	}
}

// onIdle unloads the document once no peer has synced it for IdleTimeout.
func (s *synchronizer) onIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idleTimer = nil
	if s.stopped || len(s.peers) > 0 {
		return // a peer came back: the timer is armed again when it leaves
	}
	s.noteChanges()
	s.commit() // before leaving the map, so a successor loads it all
	if !s.relay.retire(s) {
		s.idleTimer = time.AfterFunc(s.relay.opts.IdleTimeout, s.onIdle)
		return
	}
	s.shutdown()
}

// stop commits, persists sync states and ends the synchronizer.
func (s *synchronizer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.shutdown()
	}
}

func (s *synchronizer) ctx() context.Context { return context.Background() }

// load reads the document from the store; a document the store does not
// hold stays nil until a peer creates it.
func (s *synchronizer) load() {
	s.doc = nil
	s.heldBack = nil // the core's held-back changes go with its document
	s.heldFor = nil
	if s.relay.quarantine.documentPoisoned(s.key) {
		s.poisoned = true
		s.log.Warn("document is quarantined: it crashed the Automerge engine when loaded; release it with veche quarantine release")
		return
	}
	stored, err := s.relay.store.Load(s.ctx(), s.key)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		s.log.Error("loading document", "err", err)
		return
	}
	if pool := s.relay.opts.Sandbox; pool != nil {
		// A worker loads it first: a document that kills the core (a
		// poisoned change stored by an older version) must not kill the
		// relay, at this start or any later one.
		err := pool.Load(s.mirror, append([][]byte{stored.Snapshot}, stored.Chunks...))
		var crash *sandbox.Crash
		if errors.As(err, &crash) {
			s.poison(crash)
			return
		}
		if err != nil {
			s.log.Error("document in store cannot be loaded", "err", err)
			return
		}
	}
	slot := s.enter(crashmark.OpLoad, nil, nil)
	doc, err := rebuild(stored)
	if err == nil && s.relay.opts.Sandbox == nil {
		// As a worker ends a load (above): a stored change that would
		// crash the core at the next search or answer (stored by an older
		// version) crashes it here, where the document is to blame —
		// not later, under the crash mark of the next member's message
		// (TestLatentCrasherInTheStoreBlamesTheDocument).
		// Its walk also learns the document's maps (knownMaps).
		if s.knownMaps == nil {
			s.knownMaps = map[syncmsg.ObjectID]bool{}
		}
		sandbox.Probe(doc, true, true, s.knownMaps)
	}
	s.leave(slot)
	if err != nil {
		s.log.Error("document in store cannot be loaded", "err", err)
		return
	}
	s.doc = doc
	s.meta = stored.Meta
	s.lastHeads = doc.Heads()
	s.rememberHeads(s.lastHeads)
}

// retryPoisoned loads a document marked unavailable again, after the
// operator released it; the peers that were told it is unavailable are
// synced if it loads (else it is marked again, with a new incident).
// Called with mu held.
func (s *synchronizer) retryPoisoned() {
	s.poisoned = false
	s.log.Info("quarantined document released: loading it again")
	s.load()
	if s.doc == nil {
		return
	}
	for pe, ps := range s.peers {
		s.startSync(pe, ps)
		ps.waiting = false
		ps.pending = true
	}
}

// rebuild turns a stored snapshot and its chunks back into a document whose
// next SaveIncremental holds only changes made after this call.
func rebuild(stored store.Document) (*automerge.Doc, error) {
	doc := automerge.New()
	if len(stored.Snapshot) > 0 {
		var err error
		if doc, err = automerge.Load(stored.Snapshot); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
	}
	for i, chunk := range stored.Chunks {
		if err := doc.LoadIncremental(chunk); err != nil {
			return nil, fmt.Errorf("chunk %d: %w", i, err)
		}
	}
	doc.SaveIncremental() // what was loaded is stored already
	return doc, nil
}

// handle applies one event. A panic from the Automerge binding (a Go
// panic; the Rust core aborts instead) cuts the peer that caused it.
func (s *synchronizer) handle(ev event) {
	defer func() {
		if v := recover(); v != nil {
			if ev.call != nil {
				s.log.Error("panic in local call", "panic", v)
				ev.call.done <- fmt.Errorf("internal error: %v", v)
				return
			}
			s.log.Error("panic handling message", "peer", ev.peer.id, "panic", v)
			ev.peer.protocolError(fmt.Sprintf("message could not be handled: %v", v))
			ev.peer.cut("internal error")
			s.forget(ev.peer)
		}
	}()
	switch {
	case ev.call != nil:
		s.runCall(ev.call)
	case ev.offer:
		s.offer(ev.peer)
	case ev.gone:
		s.forget(ev.peer)
	case ev.msg.Type == wire.TypeEphemeral:
		s.relayEphemeral(ev.peer, ev.msg)
	default:
		s.receiveSync(ev.peer, ev.msg, ev.canWrite)
	}
}

// forget drops a peer, persisting its sync state.
func (s *synchronizer) forget(pe *peer) {
	ps := s.peers[pe]
	if ps == nil {
		return
	}
	s.saveSyncState(pe, ps)
	delete(s.peers, pe)
	if pool := s.relay.opts.Sandbox; pool != nil {
		pool.Leave(s.mirror, peerKey(pe))
	}
}

// relayEphemeral passes an ephemeral message to the document's other
// peers with the original sender's senderId, as upstream does, so
// presence can be told apart per peer. Peers of another principal get a
// stable alias instead (senderAlias): it tells peers apart just as well,
// and a senderId is nothing another principal needs to know.
func (s *synchronizer) relayEphemeral(from *peer, msg wire.Message) {
	for pe := range s.peers {
		if pe == from {
			continue
		}
		msg.SenderID = from.id
		if pe.principal.ID != from.principal.ID {
			msg.SenderID = s.relay.senderAlias(from.id)
		}
		msg.TargetID = pe.id
		pe.send(msg)
	}
}

func (s *synchronizer) receiveSync(pe *peer, msg wire.Message, canWrite bool) {
	// Read once in Go; a message Go cannot read counts as carrying
	// changes (the core decides, after the checks below).
	parsed, parseErr := syncmsg.Decode(msg.Data)
	carries := carriesChanges(msg.Data, parsed, parseErr)
	if !canWrite && carries {
		// Read-only: nothing it sent is applied or stored.
		s.relay.metrics.Refused(RefusedReadOnly)
		pe.docError(wire.DocumentID(s.id), "no write access to this document: changes refused")
		return
	}
	// The stored size, what was applied since the last commit (a busy
	// document commits once per interval), and the changes of this
	// message the document does not hold yet (a peer resends what was
	// not acknowledged; that does not grow the document).
	size := s.meta.SnapshotBytes + s.meta.ChunkBytes + s.unstored
	growth := int64(len(msg.Data))
	if parseErr == nil {
		growth = s.newChangeBytes(parsed.Changes, s.relay.opts.MaxDocumentSize-size)
	}
	if size+growth > s.relay.opts.MaxDocumentSize && carries {
		s.relay.metrics.Refused(RefusedDocumentTooLarge)
		pe.docError(wire.DocumentID(s.id), fmt.Sprintf("document too large: over the relay's limit of %d bytes; changes refused", s.relay.opts.MaxDocumentSize))
		return
	}
	ps := s.peers[pe]
	if ps == nil {
		ps = &peerState{}
		s.peers[pe] = ps
	}
	if carries {
		var changes [][]byte
		if parseErr == nil {
			changes = parsed.Changes
		}
		s.dropHeldFor(pe.principal, changes)
	}
	if s.poisoned && !s.relay.quarantine.documentPoisoned(s.key) {
		// The operator released it (veche quarantine release): try it
		// again now, not once every peer asking for it has gone and the
		// document has been unloaded.
		s.retryPoisoned()
	}
	if s.poisoned || (s.doc == nil && (msg.Type == wire.TypeRequest || !canWrite)) {
		// A request comes from a peer that lacks the document too.
		s.unavailable(pe, ps)
		return
	}
	if !s.screen(pe, msg, parseErr == nil && s.routine(parsed)) {
		return
	}
	if s.doc == nil {
		// A sync message says the sender has the document, so the relay
		// starts an empty copy to receive it (kept in memory only until it
		// has changes).
		s.doc = automerge.New()
		s.lastHeads = nil
		for other, ops := range s.peers {
			s.startSync(other, ops)
		}
	}
	if ps.sync == nil {
		s.startSync(pe, ps)
	}
	if parseErr == nil {
		ps.v2 = ps.v2 || parsed.SupportsV2()
		ps.empty = len(parsed.Heads) == 0
		if ps.limit == 0 {
			ps.limit = s.relay.fit.begin(fitKeyOf(pe, s.key), changeHashes(parsed.Heads), time.Now())
			if ps.limit < s.relay.opts.MaxMessageSize {
				s.log.Debug("messages sized to the peer's link", "peer", pe.id, "limit", ps.limit)
			}
		}
	}
	ps.claimed = false // the peer's own word replaces what was assumed
	slot := s.enter(crashmark.OpReceive, &pe.principal, msg.Data)
	sm, err := ps.sync.ReceiveMessage(msg.Data)
	if err == nil && s.relay.opts.Sandbox == nil {
		chunks := parsed.Changes
		if parseErr != nil {
			chunks, _ = syncMessageChunks(msg.Data) // what the core took, as far as Go reads it
		}
		sandbox.ProbeClocks(s.doc, chunks)
	}
	searchHeld := false
	switch {
	case err != nil:
	case parseErr == nil && len(parsed.Changes) > 0:
		searchHeld = s.probe(heldInput{crashmark.OpReceive, pe.principal, msg.Data}, keysByPosition(parsed.Changes), !valuesInKnownMaps(parsed.Changes, s.knownMaps))
	case parseErr != nil:
		// The core took what Go could not read (bytes after the changes,
		// which the core skips; TestHolderCrashBlamesItsSender's
		// trailing-byte cases): it may have applied changes of any kind,
		// so the probe runs in full.
		searchHeld = s.probe(heldInput{crashmark.OpReceive, pe.principal, msg.Data}, true, true)
	}
	if err == nil && carries {
		s.noteHeld(pe.principal)
	}
	s.leave(slot)
	if searchHeld {
		s.searchHeldBack()
	}
	if err != nil {
		s.reject(pe, fmt.Errorf("sync message rejected: %w", err))
		return
	}
	if parseErr == nil {
		if s.relay.opts.Observer != nil {
			s.observeHeads(pe, changeHashes(parsed.Heads))
		}
		if n := len(parsed.Changes); n > 0 {
			s.relay.metrics.ChangesApplied(n)
			s.rate.add(time.Now(), n)
		}
	} else {
		s.observeHeads(pe, sm.Heads())
	}
	s.received = true // heads are compared once per flush, not per message
	s.unstored += growth
	if msg.Type == wire.TypeRequest && len(s.lastHeads) == 0 && len(s.doc.Heads()) == 0 {
		s.unavailable(pe, ps)
		return
	}
	ps.pending = true
}

// probe runs in the relay's own core, when it has no sandbox, what a
// sandbox worker runs after a message moved the heads (sandbox.Probe):
// the clock of the new heads, where a change whose sequence number skips
// ahead of its actor's crashes the core, and a search of every map key,
// where a change that put a list element's key into a map does. Either
// would otherwise crash the core later — answering a peer that holds the
// new heads, or reading the council after the commit (the grants do, at
// once) — when the crash would blame the document, not its sender (see
// doc.go, Containment). Here it comes while the input's crash mark is
// set and before anything is committed. The maps are searched only when
// the input keyed an op by list position (in, byPosition; only such an
// op can be misplaced in a map), and every list and text is checked for
// an element keyed like a map entry (a later write after it crashes the
// core in its merge) only when the input did more than set values in the
// maps the walks met (checkLists, or byPosition; knownMaps). When the core holds back changes of such
// an input, waiting for their dependencies, a later input may release
// them: probe then reports that the maps are due a search under the held
// input's mark (searchHeldBack), after the caller's mark is left. Called
// with mu held, under the caller's crash mark.
func (s *synchronizer) probe(in heldInput, byPosition, checkLists bool) (searchHeld bool) {
	if s.relay.opts.Sandbox != nil || s.doc == nil {
		return false
	}
	if s.knownMaps == nil {
		s.knownMaps = map[syncmsg.ObjectID]bool{}
	}
	if !byPosition && !checkLists {
		sandbox.Probe(s.doc, false, false, nil)
		return s.heldBack != nil
	}
	if sandbox.Probe(s.doc, byPosition, true, s.knownMaps) {
		if s.heldBack == nil {
			in.input = bytes.Clone(in.input) // the caller's buffer is not ours to keep
			s.heldBack = &in
		}
	} else {
		s.heldBack = nil
	}
	return false
}

// heldInput is an input whose changes the core held back (probe): what
// its crash mark needs.
type heldInput struct {
	op    crashmark.Op
	from  Principal
	input []byte
}

// searchHeldBack searches the maps, as probe does, under the crash mark
// of the input whose changes were held back: a crash there is theirs, not
// the later input's that released them. Called with mu held and no mark.
func (s *synchronizer) searchHeldBack() {
	h := s.heldBack
	if h == nil || s.doc == nil {
		return
	}
	slot := s.enter(h.op, &h.from, h.input)
	waiting := sandbox.Probe(s.doc, true, true, s.knownMaps)
	s.leave(slot)
	if !waiting {
		s.heldBack = nil
	}
}

// noteHeld records, right after a principal's changes met the core,
// whether the core now holds changes back until their dependencies
// arrive, and whose input left them there. Called with mu held, under
// the input's crash mark.
func (s *synchronizer) noteHeld(from Principal) {
	if s.doc == nil || !sandbox.Waiting(s.doc) {
		s.heldFor = nil
		return
	}
	if !slices.ContainsFunc(s.heldFor, func(p Principal) bool { return samePrincipal(p, from) }) {
		s.heldFor = append(s.heldFor, from)
	}
}

func samePrincipal(a, b Principal) bool { return a.ID == b.ID && a.Kind == b.Kind }

// dropHeldFor drops the changes the core holds back for another
// principal's input when from's input (changes, the chunks of its
// changes; nil when they cannot be read) brings one of the dependencies
// they wait for, before it meets the core. The core applies held-back
// changes in the call that releases them, so a crashing change held back
// would crash the core (or a sandbox worker, whose copy holds it too)
// under the releasing input's crash mark: its sender, a member who merely
// sent a change the relay lacked, would be suspended and that change
// refused from anyone (TestReleasedCrashBlamesItsSender). Dropped
// instead, the changes are not lost to their sender: the relay commits
// what it applied, loads the document again from the store (which holds
// no waiting changes; with a sandbox the worker's copy is loaded again
// with it), starts every other peer's sync state afresh, and cuts the
// senders' connections to it, so that a stock client reconnects and
// sends them again — now that their dependencies are in, they meet the
// core with their own sender's input. Honest clients leave changes
// waiting only when a bloom filter's false positive hid a dependency,
// which that client itself then sends; input that brings no missing
// dependency, all ordinary traffic, costs one look at the core's list of
// them. Called with mu held.
func (s *synchronizer) dropHeldFor(from Principal, changes [][]byte) {
	if len(s.heldFor) == 0 || s.doc == nil {
		return
	}
	others := false
	for _, p := range s.heldFor {
		others = others || !samePrincipal(p, from)
	}
	if !others || (changes != nil && !s.releases(changes)) {
		return
	}
	held := s.heldFor
	s.log.Info("dropping changes held back for their dependencies before another principal's input that brings them meets the core; their senders are asked for them again",
		"held_for", len(held), "input_of", from.ID)
	s.noteChanges()
	if !s.commit() {
		return // loaded again from the store, and the peers cut
	}
	s.load()
	for pe, ps := range s.peers {
		if !samePrincipal(pe.principal, from) && slices.ContainsFunc(held, func(p Principal) bool { return samePrincipal(p, pe.principal) }) {
			// Its sync state says the relay has what was dropped, and a
			// peer never sends again what it believes was received: cut,
			// a stock client reconnects with a fresh state and sends it.
			pe.docError(wire.DocumentID(s.id), "changes waiting for their dependencies were dropped; reconnect to sync them again")
			pe.cut("held-back changes dropped")
			s.forget(pe)
			continue
		}
		ps.sync = nil // of the document replaced; nil while there is none
		s.startSync(pe, ps)
		ps.pending = true
		ps.waiting = false
	}
}

// releases reports whether changes (change chunks) bring a dependency
// that the core's waiting changes lack; true when it cannot tell (a
// compressed chunk, whose hash is that of its uncompressed form). Called
// with mu held.
func (s *synchronizer) releases(changes [][]byte) bool {
	missing, ok := sandbox.MissingDeps(s.doc)
	if !ok {
		return true
	}
	want := make(map[automerge.ChangeHash]bool, len(missing))
	for _, h := range missing {
		want[h] = true
	}
	for _, c := range changes {
		if len(c) < 10 || c[8] != 1 {
			return true
		}
		if want[automerge.ChangeHash(sha256.Sum256(c[8:]))] {
			return true
		}
	}
	return false
}

// newChangeBytes is the size of the changes of a sync message that the
// document does not hold yet. While even all of them fit in room, the
// bytes left under the size limit, it is simply their size: looking up
// each change costs a call into the core per change, worth paying only
// near the limit. Called with mu held.
func (s *synchronizer) newChangeBytes(chunks [][]byte, room int64) int64 {
	var all int64
	for _, c := range chunks {
		all += int64(len(c))
	}
	if all <= room || s.doc == nil {
		return all
	}
	var n int64
	for _, c := range chunks {
		if h, err := automerge.NewChangeHash(chunkHash(c)); err == nil {
			if _, err := s.doc.Change(h); err == nil {
				continue // held already
			}
		}
		n += int64(len(c))
	}
	return n
}

// unavailable tells a peer the relay does not have the document. The peer
// stays registered, and is synced if the document appears while it is
// connected.
func (s *synchronizer) unavailable(pe *peer, ps *peerState) {
	ps.waiting = true
	pe.send(wire.Message{Type: wire.TypeDocUnavailable, DocumentID: wire.DocumentID(s.id)})
}

// startSync gives a peer its sync state, resumed from the store when the
// peer persists its own side.
func (s *synchronizer) startSync(pe *peer, ps *peerState) {
	if s.doc == nil {
		return
	}
	ps.sync = automerge.NewSyncState(s.doc)
	sid := pe.storageID()
	if sid == "" {
		return
	}
	raw, err := s.relay.store.LoadSyncState(s.ctx(), sid, s.key)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("loading sync state", "storage", sid, "err", err)
		}
		return
	}
	if st, err := automerge.LoadSyncState(s.doc, raw); err == nil {
		ps.sync = st
		ps.lastSaved = time.Now()
	}
}

// reject answers a message Automerge refused and cuts the peer: its view
// of the document can no longer be trusted. Nothing it sent was stored.
func (s *synchronizer) reject(pe *peer, err error) {
	s.relay.metrics.Refused(RefusedSyncMessage)
	s.relay.metrics.PeerCut(CutProtocol)
	if pool := s.relay.opts.Sandbox; pool != nil {
		pool.Forget(s.mirror) // its copy may hold part of what was refused
	}
	pe.protocolError(err.Error())
	pe.cut(err.Error())
	delete(s.peers, pe)
}

// noteChanges marks the document dirty when its heads moved. It runs once
// per batch of messages.
func (s *synchronizer) noteChanges() {
	if s.doc == nil {
		return
	}
	heads := s.doc.Heads()
	if sameHeads(heads, s.lastHeads) {
		return
	}
	s.lastHeads = heads
	s.rememberHeads(heads)
	s.dirty = true
	for _, ps := range s.peers {
		ps.pending = true
		ps.waiting = false
	}
}

func sameHeads(a, b []automerge.ChangeHash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// commit makes applied changes durable. On failure the document is
// reloaded from the store, so the relay's memory never runs ahead of its
// disk, and its peers are cut: they reconnect and send again, from their
// own copies, what was lost.
func (s *synchronizer) commit() bool {
	if !s.dirty || s.doc == nil {
		return true
	}
	slot := s.enter(crashmark.OpSave, nil, nil)
	chunk := s.doc.SaveIncremental()
	s.leave(slot)
	heads := hexHeads(s.lastHeads)
	start := time.Now()
	if d := s.relay.opts.CommitDelay; d > 0 {
		time.Sleep(d) // a slow disk, for crash tests
	}
	meta, err := s.relay.store.Append(s.ctx(), s.key, chunk, heads)
	s.unstored = 0
	s.relay.metrics.Committed(time.Since(start), err)
	if err != nil {
		s.log.Error("commit failed; reloading the document from the store", "err", err)
		if pool := s.relay.opts.Sandbox; pool != nil {
			pool.Forget(s.mirror)
		}
		s.load()
		s.dirty = false
		s.unstored = 0
		// The peers' sync states say the relay has what was lost, and a
		// peer never sends again what it believes was received: they must
		// start over. Cut, a stock client reconnects with a fresh state and
		// sends what the relay lacks.
		for pe := range s.peers {
			pe.docError(wire.DocumentID(s.id), "the relay could not store changes; reconnect to sync them again")
			pe.cut("relay storage failed")
			delete(s.peers, pe)
		}
		return false
	}
	s.dirty = false
	s.meta = meta
	if hook, ok := s.relay.opts.Access.(CommitHook); ok && !s.shadow {
		// The policy reads the document (the grants read its fact log):
		// a crash there is the document's state. A shadow is never read
		// as document id: what a scope writes there grants nothing.
		slot := s.enter(crashmark.OpRead, nil, nil)
		hook.Committed(s.id, s.doc)
		s.leave(slot)
	}
	s.maybeCompact()
	return true
}

// Compaction thresholds: chunks are folded into a new snapshot once they
// outweigh it (and a minimum, so tiny documents do not compact on every
// change), or once there are many of them.
const (
	compactMinBytes = 64 << 10
	compactMaxCount = 1000
)

func (s *synchronizer) maybeCompact() {
	m := s.meta
	if !(m.ChunkBytes > m.SnapshotBytes && m.ChunkBytes > compactMinBytes) && m.Chunks < compactMaxCount {
		return
	}
	s.compact()
}

func (s *synchronizer) compact() {
	if s.unsaveable {
		return
	}
	slot := s.enter(crashmark.OpSave, nil, nil) // reloads loads it here when there is no sandbox
	snapshot := s.doc.Save()
	err := s.reloads(snapshot)
	s.leave(slot)
	if err != nil {
		// Compacting would replace changes that load with a snapshot that
		// does not: the document would be lost at its next load.
		s.unsaveable = true
		s.log.Error("the document saved whole does not load again (a change in it breaks Automerge's saved form): keeping its changes as they came instead of compacting", "err", err)
		return
	}
	meta, err := s.relay.store.Compact(s.ctx(), s.key, snapshot, s.meta.Chunks, hexHeads(s.lastHeads))
	if err != nil {
		s.log.Error("compaction failed", "err", err)
		return
	}
	s.meta = meta
}

// reloads reports whether saved, the document saved whole, loads again.
// A change can apply, be answered and be stored as it came without
// complaint from the core, yet leave a document whose saved form Automerge
// refuses ("mismatching heads": a change whose columns do not encode back
// to the bytes its hash was taken of; a hostile member needs a few tries
// of mutated bytes to write one). The relay's store keeps such a document
// loadable as long as it holds the changes as they came, so compaction,
// and the compressed document a new phone gets, check the saved form
// first: in a sandbox worker when there is one (a saved form that crashes
// the core costs a worker), else here. Called with mu held.
func (s *synchronizer) reloads(saved []byte) error {
	if pool := s.relay.opts.Sandbox; pool != nil {
		key := "reload:" + s.mirror
		defer pool.Forget(key)
		return pool.Load(key, [][]byte{saved})
	}
	_, err := automerge.Load(saved)
	return err
}

func hexHeads(heads []automerge.ChangeHash) []string {
	out := make([]string, len(heads))
	for i, h := range heads {
		out[i] = h.String()
	}
	return out
}

// flush commits, then generates a sync message for every peer that may
// need one. A busy document flushes once per interval the relay's pacer
// sets (pacing.go): MinSyncInterval while the relay has CPU to spare and
// the document's fan-out (changes per second × peers) is small, up to
// SyncInterval as either load grows. Whatever arrives meanwhile — from any
// number of peers — is carried by the next round, so one commit and one
// message per peer serve a whole burst. A quiet document answers at once
// (see flushBudget), so the few round trips of a first sync are not
// slowed. It returns how long until the next flush is allowed, or 0 when
// nothing is pending.
func (s *synchronizer) flush() time.Duration {
	if s.received {
		s.received = false
		s.noteChanges()
	}
	pending := false
	for _, ps := range s.peers {
		if ps.pending && ps.sync != nil && !ps.waiting && !ps.sending {
			pending = true
			break
		}
	}
	if !pending && !s.dirty {
		return 0
	}
	now := time.Now()
	fanout := s.fanout.follow(now, s.rate.per(now)*float64(len(s.peers)))
	if wait := s.budget.take(now, s.relay.pacer.interval(now, fanout)); wait > 0 {
		return wait
	}
	if !s.commit() {
		return s.relay.opts.SyncInterval
	}
	for pe, ps := range s.peers {
		if s.poisoned {
			break // every sync state holds the document that crashes the core
		}
		if !ps.pending || ps.sync == nil || ps.waiting || ps.sending {
			continue
		}
		ps.pending = false
		s.answer(pe, ps)
		if now.Sub(ps.lastSaved) > s.relay.opts.SyncStateInterval {
			s.saveSyncState(pe, ps)
		}
	}
	return 0
}

func (s *synchronizer) generate(ps *peerState) ([]byte, bool) {
	start := time.Now()
	slot := s.enter(crashmark.OpAnswer, nil, nil)
	m, ok := ps.sync.GenerateMessage()
	s.leave(slot)
	s.relay.metrics.Generated(time.Since(start))
	if !ok {
		return nil, false
	}
	return m.Bytes(), true
}

// answer sends a peer what it lacks: the whole compressed document if it
// has nothing and reads version 2 messages, else what the state machine
// generates, sliced when it is larger than MaxMessageSize (transfer.go).
// A sliced answer goes through the peer's bulk lane; the peer gets nothing
// more for this document until its last slice is written.
func (s *synchronizer) answer(pe *peer, ps *peerState) {
	var msgs [][]byte
	var err error
	limit := ps.limit
	if limit == 0 {
		limit = s.relay.opts.MaxMessageSize
	}
	if ps.empty && ps.v2 && len(s.lastHeads) > 0 {
		ps.empty = false
		msgs, err = s.wholeDocument(pe, ps, limit)
		if errors.Is(err, errPoisoned) {
			s.unavailable(pe, ps)
			return
		}
		if err != nil {
			s.log.Warn("whole-document answer failed; sending changes", "peer", pe.id, "err", err)
		}
	}
	if msgs == nil {
		m, ok := s.generate(ps)
		if !ok && len(s.lastHeads) > 0 && !sameHeads(ps.advertised, s.lastHeads) {
			// Automerge says nothing once the peer's last message announced
			// exactly our heads, but the peer has not heard them from us: a
			// peer that connected in sync, or one whose change was applied
			// and which, before this paced flush, answered an older message
			// of ours with the heads that change made (Automerge then counts
			// the change as acknowledged). Our heads tell it the relay holds
			// them, durably: flush committed them before calling.
			m, ok = headsMessage(s.lastHeads), true
		}
		if !ok {
			return
		}
		if ps.v2 && len(m) > wholeDocumentThreshold {
			m = s.compressed(m, limit)
		}
		if msgs, err = s.slices(m, limit); err != nil {
			s.log.Warn("slicing a large answer failed; sending it whole", "peer", pe.id, "err", err)
			msgs = [][]byte{m}
		}
	}
	largest := 0
	for _, m := range msgs {
		largest = max(largest, len(m))
	}
	s.relay.fit.sent(fitKeyOf(pe, s.key), largest)
	if last, err := syncmsg.Decode(msgs[len(msgs)-1]); err == nil {
		ps.advertised = changeHashes(last.Heads) // a sliced answer's last slice has them all
	}
	id := wire.DocumentID(s.id)
	if len(msgs) == 1 {
		pe.send(wire.Message{Type: wire.TypeSync, DocumentID: id, Data: msgs[0]})
		return
	}
	ps.sending = true
	pe.sendBulk(id, msgs, func() { s.sent(pe) })
}

// sent is called by a peer's write loop once the last slice of a sliced
// answer is written: generation for the peer resumes.
func (s *synchronizer) sent(pe *peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	if ps := s.peers[pe]; ps != nil {
		ps.sending = false
		ps.pending = true
	}
	s.settle()
}

func (s *synchronizer) saveSyncState(pe *peer, ps *peerState) {
	sid := pe.storageID()
	if sid == "" || ps.sync == nil || ps.claimed {
		return
	}
	if err := s.relay.store.SaveSyncState(s.ctx(), sid, s.key, ps.sync.Save()); err != nil {
		s.log.Warn("saving sync state", "storage", sid, "err", err)
		return
	}
	ps.lastSaved = time.Now()
}

// shutdown commits what was applied and persists every peer's sync state.
func (s *synchronizer) shutdown() {
	s.stopped = true
	if s.loaded {
		defer s.relay.metrics.DocumentUnloaded()
	}
	if s.flushTimer != nil {
		s.flushTimer.Stop()
	}
	if s.idleTimer != nil {
		s.idleTimer.Stop()
	}
	s.noteChanges()
	s.commit()
	for pe, ps := range s.peers {
		s.saveSyncState(pe, ps)
	}
	if s.doc != nil && s.meta.Chunks >= 16 {
		s.compact()
	}
	if pool := s.relay.opts.Sandbox; pool != nil {
		pool.Forget(s.mirror)
	}
	s.doc = nil
}

// flushBurst is how many flushes a quiet document may make back to back:
// enough for the round trips of a first sync.
const flushBurst = 4

// flushBudget is a token bucket pacing a document's flushes: it holds up to
// flushBurst tokens and regains one per interval (the pacer's, as it is
// when a flush is due).
type flushBudget struct {
	tokens float64
	last   time.Time
}

// take spends a token and returns 0, or returns how long until one is
// available.
func (b *flushBudget) take(now time.Time, interval time.Duration) time.Duration {
	if b.last.IsZero() {
		b.tokens = flushBurst
	} else {
		b.tokens = min(flushBurst, b.tokens+float64(now.Sub(b.last))/float64(interval))
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(interval))
}
