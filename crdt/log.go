package crdt

import (
	"errors"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/automerge/automerge-go"
)

// Log is the fact log of one council document: every change of its
// history with the record its message carries, parsed and with its
// signature checked once. Update reads only the changes added since the
// last update, so keeping a Log beside a document makes verification
// incremental: signatures are checked once per change, and Derive replays
// the checked records (no cryptography) to build the view.
//
// A Log is not safe for concurrent use; the caller serializes Update and
// Derive (a relay holds one per document under the document's lock).
type Log struct {
	heads   []automerge.ChangeHash
	entries []LogEntry
	seen    map[string]bool
}

// LogEntry is one change of a document's history and what its message
// carries.
type LogEntry struct {
	Hash    string    // hex change hash
	Actor   string    // hex Automerge actor id of the writing replica
	Seq     uint64    // the change's sequence number for its actor
	Time    time.Time // the change's own timestamp (unverified)
	Message string    // the raw change message
	// Record is the signed record the message carries, with a valid
	// signature over its own key; nil if there is none or it is bad.
	Record *Record
	// Err says why the message's record was rejected (malformed, badly
	// signed); nil if the record is well formed or there is no record.
	Err error
}

// NewLog returns an empty log; Update fills it from a document.
func NewLog() *Log {
	return &Log{seen: map[string]bool{}}
}

// Len returns the number of changes read so far.
func (l *Log) Len() int { return len(l.entries) }

// Entries returns the changes read so far, in the order they were read
// (every change after the changes it depends on). The slice must not be
// modified.
func (l *Log) Entries() []LogEntry { return l.entries }

// Update reads the changes of doc that the log has not seen: those not
// covered by the heads of the last update. doc must be the same document
// (or a later version of it) as in earlier updates.
func (l *Log) Update(doc *automerge.Doc) error {
	if doc == nil {
		return errors.New("crdt: nil document")
	}
	heads := doc.Heads()
	if sameHeads(heads, l.heads) {
		return nil
	}
	changes, err := doc.Changes(l.heads...)
	if err != nil {
		// The old heads are unknown to doc (a different document?): read
		// everything, skipping what was seen.
		if changes, err = doc.Changes(); err != nil {
			return err
		}
	}
	for _, c := range changes {
		h := c.Hash().String()
		if l.seen[h] {
			continue
		}
		l.seen[h] = true
		e := LogEntry{Hash: h, Actor: c.ActorID(), Seq: c.ActorSeq(), Time: c.Timestamp().UTC(), Message: c.Message()}
		rec, err := ParseRecord(e.Message)
		switch {
		case errors.Is(err, ErrNoRecord):
		case err != nil:
			e.Err = err
		default:
			e.Record = rec
		}
		l.entries = append(l.entries, e)
	}
	l.heads = heads
	return nil
}

// sameHeads reports whether a and b hold the same hashes in the same order
// (automerge-go returns heads sorted).
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

// cachedLog is the shared log of one document, for LogOf.
type cachedLog struct {
	mu  sync.Mutex // guards log
	log *Log
}

// docLogs maps documents (weakly: a document that is collected drops its
// entry) to their shared logs.
var docLogs sync.Map // weak.Pointer[automerge.Doc] → *cachedLog

// WithLog runs fn with doc's shared log (the one Read and the operations
// use), brought up to date; see withLog. A relay derives grants through it,
// so a document's log lives exactly as long as the loaded document.
func WithLog(doc *automerge.Doc, fn func(*Log)) { withLog(doc, fn) }

// withLog runs fn with doc's shared log, brought up to date: every
// operation and every Read of a document reuses the signatures and
// records its earlier reads checked, so validating an operation against a
// council of thousands of facts does not re-read its whole history. The
// log is keyed by the *automerge.Doc itself and dropped when that document
// is garbage collected; fn runs under the log's lock.
func withLog(doc *automerge.Doc, fn func(*Log)) {
	key := weak.Make(doc)
	v, ok := docLogs.Load(key)
	if !ok {
		var loaded bool
		v, loaded = docLogs.LoadOrStore(key, &cachedLog{log: NewLog()})
		if !loaded {
			runtime.AddCleanup(doc, func(k weak.Pointer[automerge.Doc]) { docLogs.Delete(k) }, key)
		}
	}
	c := v.(*cachedLog)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.log.Update(doc); err != nil {
		c.log = NewLog() // an unreadable history: start again next time
	}
	fn(c.log)
}
