package crdt

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
)

// NewID returns a fresh random id: 16 lowercase hex characters (64 bits)
// from crypto/rand. Operations use it when a spec leaves its ID empty.
func NewID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crdt: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// maxIDLen bounds explicit ids (and council document ids).
const maxIDLen = 64

// ValidID reports whether s may be used as an id inside a document (and in
// a change message): 1 to 64 characters from [A-Za-z0-9._-], starting with
// a letter or digit. Random ids from NewID and automerge-repo document ids
// (base58) qualify.
func ValidID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// validTime reports whether t can be stored as an Automerge timestamp and
// shown in JSON: not zero, year 1 to 9999.
func validTime(t time.Time) bool {
	return !t.IsZero() && t.Year() >= 1 && t.Year() <= 9999
}

// msTime truncates t to the millisecond precision of Automerge timestamps,
// in UTC, so validation compares exactly what will be stored.
func msTime(t time.Time) time.Time {
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// tx is one operation in preparation. Every operation runs in two phases:
//
//  1. validate: begin derives the council's verified view at the
//     operation's time and the operation checks its input against it,
//     returning a typed *Error before anything is written;
//  2. write: commit signs the operation's record (for operations that
//     record a fact), applies the state writes to a fork of the document
//     that keeps the document's actor id, commits them there as one change
//     whose message carries the record, and applies that single change to
//     the document. If any write, the commit or the apply fails, the fork
//     is dropped and the document is untouched.
type tx struct {
	op     Op
	doc    *automerge.Doc
	at     time.Time
	view   View
	info   ChangeInfo
	signer Signer
	args   map[string]string
	// unsigned: the change carries no record (collaborative text edits).
	unsigned bool
}

// begin validates at and derives the view of council as.Council at that
// time; it checks that the document holds that council.
func begin(doc *automerge.Doc, op Op, as Signer, at time.Time) (*tx, error) {
	if doc == nil {
		return nil, errorf(op, CodeInvalid, "nil document")
	}
	if !validTime(at) {
		return nil, errorf(op, CodeInvalid, "time %v is zero or out of range", at)
	}
	if !as.valid() {
		return nil, errorf(op, CodeInvalid, "the signer needs a valid member id and an Ed25519 private key")
	}
	if !ValidID(as.Council) {
		return nil, errorf(op, CodeInvalid, "the signer names no council (Signer.Council)")
	}
	at = msTime(at)
	// The view at the operation's time, of the records dated at or before
	// it: records dated later (by a device whose clock is ahead) are
	// replayed after this operation's record, so it must not depend on them.
	// Only the verified log: the document state is not read (texts that
	// edits need are read by the edits themselves).
	var view View
	withLog(doc, func(log *Log) { view, _, _ = log.derive(as.Council, at, as.Others, 0) })
	if view.ID == "" {
		return nil, errorf(op, CodeNoCouncil, "the document holds no valid founding record of council %q", as.Council)
	}
	return &tx{op: op, doc: doc, at: at, view: view, info: ChangeInfo{Op: op, By: as.Member}, signer: as}, nil
}

// beginAs begins a transaction acted by the signer, who must be an active
// member whose key counts at the operation's time.
func beginAs(doc *automerge.Doc, op Op, as Signer, at time.Time) (*tx, error) {
	t, err := begin(doc, op, as, at)
	if err != nil {
		return nil, err
	}
	if _, err := t.actor(as.Member); err != nil {
		return nil, err
	}
	m, _ := t.view.member(as.Member)
	if !m.HasKey(as.PublicKey(), t.at) {
		return nil, t.errorf(CodeKeyNotCounted, "the key does not count for member %q (unknown or retired)", as.Member)
	}
	return t, nil
}

// errorf returns an *Error for the transaction's operation.
func (t *tx) errorf(code Code, format string, args ...any) *Error {
	return errorf(t.op, code, format, args...)
}

// arg records key=value in the operation's record (and, for ids, in the
// message's summary line).
func (t *tx) arg(key, value string) {
	if value == "" {
		return
	}
	if t.args == nil {
		t.args = map[string]string{}
	}
	t.args[key] = value
}

// actor checks that id names a member active at the operation's time.
func (t *tx) actor(id string) (*Member, error) {
	return t.activeMember(id, "member")
}

// activeMember checks that id names a member active at the operation's time.
func (t *tx) activeMember(id, what string) (*Member, error) {
	if !ValidID(id) {
		return nil, t.errorf(CodeInvalid, "%s id %q is not a valid id", what, id)
	}
	m, ok := t.view.member(id)
	switch {
	case !ok:
		return nil, t.errorf(CodeUnknownMember, "no %s %q", what, id)
	case m.JoinedAt.After(t.at):
		return nil, t.errorf(CodeUnknownMember, "%s %q joins only at %v", what, id, m.JoinedAt)
	case m.LeftAt != nil && !m.LeftAt.After(t.at):
		return nil, t.errorf(CodeMemberLeft, "%s %q left at %v", what, id, *m.LeftAt)
	}
	return m, nil
}

// message signs the operation's record and returns the change message.
func (t *tx) message(council string) (string, *Record, error) {
	if t.unsigned {
		info := t.info
		for _, k := range summaryArgs {
			if v := t.args[k]; v != "" {
				if info.Args == nil {
					info.Args = map[string]string{}
				}
				info.Args[k] = v
			}
		}
		return info.String(), nil, nil
	}
	if r := t.signer.signed; r != nil {
		// A record signed elsewhere: carried as is, if it is exactly the
		// record this operation makes.
		if r.Council != council || r.Op != t.op || !r.At.Equal(t.at) || r.By != t.signer.Member || !maps.Equal(r.Args, t.args) {
			return "", nil, t.errorf(CodeInvalid, "the signed record is not the one this operation makes: its arguments must be exactly %v (no empty values; numbers and times as ApplyRecord documents)", t.args)
		}
		return r.Message(), r, nil
	}
	rec := &Record{Council: council, Op: t.op, At: t.at, Args: t.args}
	if err := rec.sign(t.signer); err != nil {
		return "", nil, t.errorf(CodeInvalid, "cannot sign: %v", err)
	}
	return rec.Message(), rec, nil
}

// newID returns the explicit id if valid and unused (taken reports use),
// or a fresh random one.
func (t *tx) newID(explicit, what string, taken func(string) bool) (string, error) {
	if explicit == "" {
		for {
			id := NewID()
			if !taken(id) {
				return id, nil
			}
		}
	}
	if !ValidID(explicit) {
		return "", t.errorf(CodeInvalid, "%s id %q is not a valid id", what, explicit)
	}
	if taken(explicit) {
		return "", t.errorf(CodeExists, "%s id %q is taken", what, explicit)
	}
	return explicit, nil
}

// commit runs write against a fork of the document, commits the result as
// one change carrying the operation's message and time, and applies that
// change to the document. On any failure the document is unchanged.
//
// A Doc must not be written by two operations at once: both would number
// their change with the same actor sequence, and the second apply fails
// (harmlessly, with CodeMalformed). Callers serialize writes per document.
func (t *tx) commit(write func(w *automerge.Doc) error) error {
	msg, _, err := t.message(t.view.ID)
	if err != nil {
		return err
	}
	return t.commitMessage(msg, write)
}

// commitMessage is commit with the change message made already.
func (t *tx) commitMessage(msg string, write func(w *automerge.Doc) error) error {
	fork, err := t.doc.Fork()
	if err != nil {
		return &Error{Code: CodeMalformed, Op: t.op, Message: "cannot fork the document", Err: err}
	}
	if err := fork.SetActorID(t.doc.ActorID()); err != nil {
		return &Error{Code: CodeMalformed, Op: t.op, Message: "cannot set the actor", Err: err}
	}
	heads := fork.Heads()
	if err := write(fork); err != nil {
		return &Error{Code: CodeMalformed, Op: t.op, Message: "cannot write the document", Err: err}
	}
	at := t.at
	if _, err := fork.Commit(msg, automerge.CommitOptions{Time: &at, AllowEmpty: true}); err != nil {
		return &Error{Code: CodeMalformed, Op: t.op, Message: "cannot commit", Err: err}
	}
	changes, err := fork.Changes(heads...)
	if err != nil {
		return &Error{Code: CodeMalformed, Op: t.op, Message: "cannot read the new change", Err: err}
	}
	if len(changes) != 1 {
		return t.errorf(CodeMalformed, "the operation made %d changes, want 1", len(changes))
	}
	if err := t.doc.Apply(changes...); err != nil {
		return &Error{Code: CodeMalformed, Op: t.op, Message: "cannot apply the change (concurrent write?)", Err: err}
	}
	return nil
}

// requireText checks that a required string argument is not blank.
func (t *tx) requireText(value, what string) error {
	if strings.TrimSpace(value) == "" {
		return t.errorf(CodeInvalid, "%s is empty", what)
	}
	return nil
}

// currentText returns the text at path in doc ("" if absent or not text).
func currentText(doc *automerge.Doc, path ...any) string {
	v, err := doc.Path(path...).Get()
	if err != nil || isAbsent(v) {
		return ""
	}
	s, _ := asString(v)
	return s
}

// editText applies edit to the Text at path in w.
func editText(w *automerge.Doc, edit TextEdit, path ...any) error {
	return w.Path(path...).Text().Splice(edit.Pos, edit.Delete, edit.Insert)
}
