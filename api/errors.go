package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/auth"
	"github.com/veche-sync/veche/server/bundle"
)

// Error is the one error type of the HTTP API: a machine-readable code and
// a message for people. It is rendered as {"error":{"code","message"}}.
// Handlers return it, or an error of a lower layer (*crdt.Error,
// server.ErrDocumentNotFound, …) that errorOf translates.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Error codes, each mapped to one HTTP status by StatusOf. A refused write
// changes nothing, whatever its code.
const (
	// CodeUnauthenticated (401): the request proved no principal: no
	// token, a malformed Authorization header, or a token that is unknown
	// or revoked. The answer carries WWW-Authenticate: Bearer.
	CodeUnauthenticated = "unauthenticated"
	// CodeInviteInvalid (401): the invite code is unknown, used or
	// expired. An invite is good once.
	CodeInviteInvalid = "invite_invalid"
	// CodeForbidden (403): the principal is known and may not do this: a
	// member creating a council on a relay without open registration, a
	// member acting for another (leaving in their name, pledging for
	// another council), a member whose writes the relay cannot sign (they
	// retired the custodial key it holds for them, or it holds none).
	CodeForbidden = "forbidden"
	// CodeQuarantined (403): the principal sent a change that crashes the
	// relay's Automerge engine and is suspended until the operator
	// releases it (veche quarantine release).
	CodeQuarantined = "quarantined"
	// CodeTooManyRequests (429): the remote address failed to
	// authenticate too often this minute (Options.AuthFailuresPerMinute);
	// the answer's Retry-After says when to try again.
	CodeTooManyRequests = "too_many_requests"
	// CodeNotFound (404): no such council (including a malformed council
	// id, and a council the principal may not read: existence is not
	// leaked), no such proposal, mandate, offer, need or minutes in it, or no
	// such route.
	CodeNotFound = "not_found"
	// CodeBadRequest (400): HTTP refused the request before any handler
	// read it.
	CodeBadRequest = "bad_request"
	// CodeMethodNotAllowed (405): the route exists, not with this method.
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeInvalidArgument (400): the request is wrong whatever the council
	// holds: malformed JSON, an unknown field, an empty name, a negative
	// quantity, an unknown kind or choice, a closing time in the past.
	CodeInvalidArgument = "invalid_argument"
	// CodeBodyTooSlow (408): the request body arrived slower than the
	// relay allows (Options.BodyMinRate); the connection is closed.
	CodeBodyTooSlow = "body_too_slow"
	// CodeTooLarge (413): the request body is over MaxBodySize.
	CodeTooLarge = "too_large"
	// CodeUnknownMember (422): a member a request names (a delegate) is
	// not a member of the council.
	CodeUnknownMember = "unknown_member"
	// CodeMemberLeft (422): the acting member has left the council.
	CodeMemberLeft = "member_left"
	// CodeNotProposer (403): only the proposer may withdraw a proposal.
	CodeNotProposer = "not_proposer"
	// CodeNotDelegate (403): only a mandate's delegate may report on it,
	// resign or complete it.
	CodeNotDelegate = "not_delegate"
	// CodeProposalClosed (409): the proposal is decided or withdrawn.
	CodeProposalClosed = "proposal_closed"
	// CodeMandateNotActive (409): the mandate's status forbids the
	// operation (e.g. a report on a pending mandate, a recall of a
	// resigned one).
	CodeMandateNotActive = "mandate_not_active"
	// CodeWithdrawn (409): the offer or need is withdrawn.
	CodeWithdrawn = "withdrawn"
	// CodeExists (409): an explicit id is taken, or the federation link
	// is recorded already.
	CodeExists = "exists"
	// CodeNotACouncil (409): the document holds no council.
	CodeNotACouncil = "not_a_council"
	// CodeUnsupportedSchema (409): the council document has a schema this
	// relay does not write (it can still be read).
	CodeUnsupportedSchema = "unsupported_schema"
	// CodeMalformedDocument (409): the part of the document the write
	// touches has an unexpected shape.
	CodeMalformedDocument = "malformed_document"
	// CodeBadBundle (400): the body of POST /api/bundles is not a
	// bundle, or is truncated, damaged or altered (package bundle).
	CodeBadBundle = "bad_bundle"
	// CodeBundleOutOfOrder (409): the bundle continues from changes the
	// relay does not hold: an earlier bundle must be imported first.
	CodeBundleOutOfOrder = "bundle_out_of_order"
	// CodeBundleForeign (409): the bundle holds another document's
	// history than the council it names.
	CodeBundleForeign = "bundle_foreign"
	// CodeUnavailable (503): the relay is shutting down, or the request
	// was cancelled.
	CodeUnavailable = "unavailable"
	// CodeInternal (500): anything else; the details are logged.
	CodeInternal = "internal"
)

// StatusOf maps an error code to its HTTP status: the one place that does.
// Clients that meet the same errors without HTTP (a local replica) use it
// too.
func StatusOf(code string) int {
	switch code {
	case CodeUnauthenticated, CodeInviteInvalid:
		return http.StatusUnauthorized
	case CodeForbidden, CodeQuarantined:
		return http.StatusForbidden
	case CodeTooManyRequests:
		return http.StatusTooManyRequests
	case CodeNotFound:
		return http.StatusNotFound
	case CodeBadRequest, CodeInvalidArgument, CodeBadBundle:
		return http.StatusBadRequest
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeBodyTooSlow:
		return http.StatusRequestTimeout
	case CodeUnknownMember, CodeMemberLeft:
		return http.StatusUnprocessableEntity
	case CodeNotProposer, CodeNotDelegate:
		return http.StatusForbidden
	case CodeProposalClosed, CodeMandateNotActive, CodeWithdrawn, CodeExists,
		CodeNotACouncil, CodeUnsupportedSchema, CodeMalformedDocument,
		CodeBundleOutOfOrder, CodeBundleForeign:
		return http.StatusConflict
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// crdtCodes maps the codes of package crdt to API codes.
var crdtCodes = map[crdt.Code]string{
	crdt.CodeInvalid:           CodeInvalidArgument,
	crdt.CodeNotFound:          CodeNotFound,
	crdt.CodeExists:            CodeExists,
	crdt.CodeUnknownMember:     CodeUnknownMember,
	crdt.CodeMemberLeft:        CodeMemberLeft,
	crdt.CodeProposalClosed:    CodeProposalClosed,
	crdt.CodeNotProposer:       CodeNotProposer,
	crdt.CodeNotDelegate:       CodeNotDelegate,
	crdt.CodeKeyNotCounted:     CodeForbidden, // the key the relay signs with no longer counts for the member
	crdt.CodeMandateNotActive:  CodeMandateNotActive,
	crdt.CodeWithdrawn:         CodeWithdrawn,
	crdt.CodeNoCouncil:         CodeNotACouncil,
	crdt.CodeUnsupportedSchema: CodeUnsupportedSchema,
	crdt.CodeMalformed:         CodeMalformedDocument,
}

// errorOf translates any error a handler returns into an *Error: the one
// place that knows the errors of the layers below. ok is false for errors
// it does not know, which are internal and worth logging.
func errorOf(err error) (apiErr *Error, ok bool) {
	var crdtErr *crdt.Error
	var httpErr *echo.HTTPError
	var tooLarge *http.MaxBytesError
	var over *tooMany
	switch {
	case errors.As(err, &apiErr):
		return apiErr, true
	case errors.As(err, &over):
		return over.apiError(), true
	case errors.Is(err, auth.ErrInviteInvalid):
		return &Error{Code: CodeInviteInvalid, Message: "the invite code is unknown, used or expired"}, true
	case errors.As(err, &crdtErr):
		code, known := crdtCodes[crdtErr.Code]
		if !known {
			return &Error{Code: CodeInternal, Message: "internal error"}, false
		}
		msg := crdtErr.Message
		if msg == "" {
			msg = string(crdtErr.Code)
		}
		return &Error{Code: code, Message: msg}, true
	case errors.Is(err, bundle.ErrTooLarge):
		return &Error{Code: CodeTooLarge, Message: err.Error()}, true
	case errors.Is(err, bundle.ErrOutOfOrder):
		return &Error{Code: CodeBundleOutOfOrder, Message: err.Error()}, true
	case errors.Is(err, bundle.ErrForeign):
		return &Error{Code: CodeBundleForeign, Message: err.Error()}, true
	case errors.Is(err, bundle.ErrMalformed), errors.Is(err, bundle.ErrTruncated), errors.Is(err, bundle.ErrDamaged):
		return &Error{Code: CodeBadBundle, Message: err.Error()}, true
	case errors.Is(err, server.ErrDocumentNotFound):
		// Callers wrap it in an *Error naming the council; this is the
		// fallback for those that do not.
		return &Error{Code: CodeNotFound, Message: "no such council"}, true
	case errors.As(err, &errBodyTooSlow{}):
		return &Error{Code: CodeBodyTooSlow, Message: err.Error()}, true
	case errors.As(err, &tooLarge):
		return &Error{Code: CodeTooLarge, Message: "request body too large"}, true
	case errors.Is(err, server.ErrQuarantined):
		return &Error{Code: CodeQuarantined, Message: err.Error()}, true
	case errors.Is(err, server.ErrNoIncident):
		return &Error{Code: CodeNotFound, Message: "no such quarantine incident"}, true
	case errors.Is(err, server.ErrRelayClosed):
		return &Error{Code: CodeUnavailable, Message: "the relay is shutting down"}, true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeUnavailable, Message: "the request was cancelled"}, true
	case errors.As(err, &httpErr) && httpErr.Code == http.StatusNotFound:
		return &Error{Code: CodeNotFound, Message: "no such route"}, true
	case errors.As(err, &httpErr) && httpErr.Code == http.StatusMethodNotAllowed:
		return &Error{Code: CodeMethodNotAllowed, Message: "method not allowed on this route"}, true
	case errors.As(err, &httpErr) && httpErr.Code == http.StatusRequestEntityTooLarge:
		return &Error{Code: CodeTooLarge, Message: "request body too large"}, true
	case errors.As(err, &httpErr) && httpErr.Code < 500:
		return &Error{Code: CodeBadRequest, Message: http.StatusText(httpErr.Code)}, true
	default:
		return &Error{Code: CodeInternal, Message: "internal error"}, false
	}
}

// handleError renders every error a handler returns.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	apiErr, ok := errorOf(err)
	if !ok {
		// c.Path is the route's pattern: no query string, so no ?token=.
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
	}
	h := c.Response().Header()
	switch apiErr.Code {
	case CodeUnauthenticated:
		h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="veche"`)
	case CodeTooManyRequests:
		var over *tooMany
		if errors.As(err, &over) {
			over.header(h)
		}
	}
	_ = c.JSON(StatusOf(apiErr.Code), map[string]any{"error": apiErr})
}
