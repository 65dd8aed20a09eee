package crdt

import (
	"errors"
	"fmt"
)

// Code classifies why an operation was refused. Codes are stable strings: an
// API maps them to HTTP statuses in one place and may show them to clients.
type Code string

// Codes of errors returned by operations, grouped by what went wrong.
const (
	// Input errors: the request itself is wrong, whatever the document says.

	// CodeInvalid: an argument is malformed — an empty name, a negative
	// quantity, an unknown kind or choice, a fraction outside [0, 1], a
	// closing time before the proposal, a zero time, a bad id.
	CodeInvalid Code = "invalid"

	// Document-state errors: the request does not fit the current document.

	// CodeNotFound: a proposal, mandate, offer, need, minutes entry or
	// federation link named by the request does not exist.
	CodeNotFound Code = "not-found"
	// CodeExists: an explicit id is already taken, the council already
	// exists, or the federation link is already recorded.
	CodeExists Code = "exists"
	// CodeUnknownMember: the acting member is not a member of the council
	// (or had not joined yet at the time of the operation).
	CodeUnknownMember Code = "unknown-member"
	// CodeMemberLeft: the acting member has left the council.
	CodeMemberLeft Code = "member-left"
	// CodeProposalClosed: the proposal is decided or withdrawn.
	CodeProposalClosed Code = "proposal-closed"
	// CodeNotProposer: only the member who made a proposal may withdraw it.
	CodeNotProposer Code = "not-proposer"
	// CodeNotDelegate: only a mandate's delegate may report on it, resign
	// or complete it.
	CodeNotDelegate Code = "not-delegate"
	// CodeKeyNotCounted: the signing key does not count for the acting
	// member (not theirs, not yet added, or retired).
	CodeKeyNotCounted Code = "key-not-counted"
	// CodeMandateNotActive: the mandate is not in a status that allows the
	// operation (e.g. reporting on a pending mandate, recalling a resigned one).
	CodeMandateNotActive Code = "mandate-not-active"
	// CodeWithdrawn: the offer or need is already withdrawn.
	CodeWithdrawn Code = "withdrawn"

	// Document errors: the document cannot be written safely.

	// CodeNoCouncil: the document holds no council yet (CreateCouncil first).
	CodeNoCouncil Code = "no-council"
	// CodeUnsupportedSchema: the document declares a schema this package
	// does not write (e.g. a newer version). It can still be Read.
	CodeUnsupportedSchema Code = "unsupported-schema"
	// CodeMalformed: the part of the document the operation writes has an
	// unexpected shape (a list where a map belongs, a string where a text
	// belongs), or Automerge refused the write. Nothing was changed.
	CodeMalformed Code = "malformed"
)

// Error is the error type of every operation in this package. Compare with
// errors.Is against the sentinel values (ErrNotFound, …), which match any
// *Error of the same Code, or use errors.As to get the Code for an API.
type Error struct {
	Code    Code   // why the operation was refused
	Op      Op     // the operation, e.g. OpVote; empty on sentinels
	Message string // human-readable detail; empty on sentinels
	Err     error  // underlying error, e.g. from Automerge; may be nil
}

// Error implements error.
func (e *Error) Error() string {
	s := "crdt"
	if e.Op != "" {
		s += ": " + string(e.Op)
	}
	s += ": " + string(e.Code)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, ErrNotFound) holds for every not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinel errors, one per Code, for errors.Is. Operations return an
// *Error with more detail that matches the sentinel of its Code.
var (
	// ErrInvalid: an argument is malformed (CodeInvalid).
	ErrInvalid = &Error{Code: CodeInvalid}
	// ErrNotFound: the thing named does not exist (CodeNotFound).
	ErrNotFound = &Error{Code: CodeNotFound}
	// ErrExists: the id, council or link already exists (CodeExists).
	ErrExists = &Error{Code: CodeExists}
	// ErrUnknownMember: the acting member is not a member (CodeUnknownMember).
	ErrUnknownMember = &Error{Code: CodeUnknownMember}
	// ErrMemberLeft: the acting member has left (CodeMemberLeft).
	ErrMemberLeft = &Error{Code: CodeMemberLeft}
	// ErrProposalClosed: the proposal is decided or withdrawn (CodeProposalClosed).
	ErrProposalClosed = &Error{Code: CodeProposalClosed}
	// ErrNotProposer: only the proposer may withdraw (CodeNotProposer).
	ErrNotProposer = &Error{Code: CodeNotProposer}
	// ErrNotDelegate: only the delegate may act on the mandate (CodeNotDelegate).
	ErrNotDelegate = &Error{Code: CodeNotDelegate}
	// ErrKeyNotCounted: the signing key does not count (CodeKeyNotCounted).
	ErrKeyNotCounted = &Error{Code: CodeKeyNotCounted}
	// ErrMandateNotActive: the mandate's status forbids the operation (CodeMandateNotActive).
	ErrMandateNotActive = &Error{Code: CodeMandateNotActive}
	// ErrWithdrawn: the offer or need is withdrawn (CodeWithdrawn).
	ErrWithdrawn = &Error{Code: CodeWithdrawn}
	// ErrNoCouncil: the document holds no council (CodeNoCouncil).
	ErrNoCouncil = &Error{Code: CodeNoCouncil}
	// ErrUnsupportedSchema: the document's schema is not written by this
	// package (CodeUnsupportedSchema).
	ErrUnsupportedSchema = &Error{Code: CodeUnsupportedSchema}
	// ErrMalformed: the document could not be written safely (CodeMalformed).
	ErrMalformed = &Error{Code: CodeMalformed}
)

// ErrorCode returns the Code of err if it is (or wraps) an *Error, and ""
// otherwise.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// errorf returns an *Error for op with a formatted message.
func errorf(op Op, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Op: op, Message: fmt.Sprintf(format, args...)}
}
