package client

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is the one error type of package client: whatever goes wrong —
// the relay refused a request, the relay could not be reached, a bundle
// is damaged, the replica's store failed — a caller gets an *Error with a
// machine-readable Code and a Message for people.
//
// Codes the relay answers are the API's (api.Code…: "not_found",
// "proposal_closed", …) and carry the HTTP Status they came with; the
// codes below are the client's own.
type Error struct {
	// Code is an api.Code… constant or one of the client's codes.
	Code string
	// Message says what went wrong, for people.
	Message string
	// Status is the HTTP status of a relay's answer; 0 when the error
	// did not come from an HTTP answer.
	Status int
	// Err is the underlying cause, if any (a network error, a store
	// error); errors.Is and errors.As see it.
	Err error
}

// Codes of errors that do not come from a relay's answer.
const (
	// CodeUnreachable: the relay could not be reached or its answer could
	// not be read (no network, wrong URL, the relay is down).
	CodeUnreachable = "unreachable"
	// CodeBadAnswer: the relay answered something that is not the API's
	// answer (a proxy's error page, a different server).
	CodeBadAnswer = "bad_answer"
	// CodeUsage: the call is wrong whatever the relay holds (no token, a
	// malformed relay URL).
	CodeUsage = "usage"
	// CodeOffline: the replica holds nothing to act on (a council it has
	// never synced, an identity it does not know).
	CodeOffline = "offline"
	// CodeInternal: anything else; Err says what.
	CodeInternal = "internal"
)

// Error returns the code and the message.
func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Code + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns the code of err if it is (or wraps) an *Error,
// CodeInternal for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the message of err if it is an *Error, else
// err.Error().
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// errorf returns an *Error with code and a formatted message.
func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// answerError turns a relay's error answer into an *Error: the API's
// {"error":{"code","message"}} when the body holds one, else a code
// derived from the status (a proxy's page, an old relay).
func answerError(status int, code, message string) *Error {
	if code == "" {
		code = CodeBadAnswer
		if message == "" {
			message = http.StatusText(status)
		}
		message = fmt.Sprintf("HTTP %d: %s", status, message)
	}
	return &Error{Code: code, Message: message, Status: status}
}
