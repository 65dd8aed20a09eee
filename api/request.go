package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/auth"
	"github.com/veche-sync/veche/server/wire"
)

// MaxBodySize bounds the JSON body of a council request.
const MaxBodySize = 1 << 20

// bind decodes the request's JSON body into v strictly: unknown fields,
// trailing data and a missing body (unless optional) are refused with
// invalid_argument, saying what is wrong. The body is read as JSON
// whatever its Content-Type, so `curl -d` works.
func bind(c echo.Context, v any, optional bool) error {
	r := c.Request()
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, MaxBodySize))
	if err != nil {
		return err // a *http.MaxBytesError, or the connection failed
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return invalid("the request needs a JSON body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("%s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("malformed JSON: more data after the JSON object")
	}
	return nil
}

// jsonProblem says what is wrong with a JSON body in words a client can act on.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tm *time.ParseError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: the body ends in the middle of a value"
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Sprintf("field %q: want %s, got JSON %s", typ.Field, jsonType(typ.Type), typ.Value)
	case errors.As(err, &typ):
		return fmt.Sprintf("want a JSON object, got JSON %s", typ.Value)
	case errors.As(err, &tm):
		return fmt.Sprintf("a time is not in RFC 3339 form (e.g. 2025-06-01T18:00:00Z): %q", tm.Value)
	default:
		return strings.TrimPrefix(err.Error(), "json: ")
	}
}

// jsonType names the JSON a Go type is decoded from.
func jsonType(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "a time as an RFC 3339 string"
	}
	switch t.Kind() {
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	case reflect.Slice:
		return "a list"
	case reflect.Bool:
		return "true or false"
	}
	return t.String()
}

// invalid returns an invalid_argument error.
func invalid(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// councilID reads the :id path parameter: a documentId, or an automerge
// URL. A malformed id is answered like an unknown one.
func councilID(c echo.Context) (wire.DocumentID, error) {
	raw := strings.TrimPrefix(c.Param("id"), wire.URLPrefix)
	id, err := wire.ParseDocumentID(raw)
	if err != nil {
		return "", noCouncil(raw)
	}
	return id, nil
}

func noCouncil(id string) *Error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf("no council %q on this relay", id)}
}

// CouncilView is the JSON view of a council: its document read at now,
// with every derived status, the problems the reader found, and the
// document's heads (hex change hashes), which change with every write.
type CouncilView struct {
	ID    string   `json:"id"`
	URL   string   `json:"url"`
	Heads []string `json:"heads"`
	crdt.View
	Problems []crdt.Problem `json:"problems"`
}

// readCouncil reads council's document at now from its verified fact
// log. Called inside the document's synchronizer.
func (s *Server) readCouncil(council string, doc *automerge.Doc, now time.Time) (crdt.View, []crdt.Problem) {
	if s.opts.Councils != nil {
		view, problems, _ := s.opts.Councils.ReadCouncil(council, doc, now)
		return view, problems
	}
	return crdt.Read(doc, council, now)
}

// facts returns the verdict on every change of council's history.
func (s *Server) facts(council string, doc *automerge.Doc, now time.Time) []crdt.Fact {
	if s.opts.Councils != nil {
		_, _, facts := s.opts.Councils.ReadCouncil(council, doc, now)
		return facts
	}
	log := crdt.NewLog()
	_ = log.Update(doc)
	_, _, facts := log.Derive(council, now, nil)
	return facts
}

// readView reads doc at now. Called inside the document's synchronizer.
func (s *Server) readView(id wire.DocumentID, doc *automerge.Doc, now time.Time) CouncilView {
	view, problems := s.readCouncil(string(id), doc, now)
	if problems == nil {
		problems = []crdt.Problem{}
	}
	heads := doc.Heads()
	hex := make([]string, len(heads))
	for i, h := range heads {
		hex[i] = h.String()
	}
	return CouncilView{ID: string(id), URL: id.URL(), Heads: hex, View: view, Problems: problems}
}

// Created names what a write made. Fields are empty when the write made
// no new thing (a vote, a withdrawal).
type Created struct {
	// ID is the id of what was made: member, proposal, offer, need,
	// pledge or minutes.
	ID string `json:"id,omitempty"`
	// Mandate is the id of the mandate a mandate proposal made.
	Mandate string `json:"mandate,omitempty"`
}

// WriteAnswer is the body of every successful write: what was made, and
// the council as it is right after the write.
type WriteAnswer struct {
	Created
	// By is the acting member: the one the request's token names.
	By   string      `json:"by"`
	View CouncilView `json:"view"`
}

// write runs op on the council named by the request, at the relay's
// clock, as one Automerge change the relay makes on behalf of the acting
// member, by: the member the request's token names. It is durable and on
// its way to every connected peer when write answers status and the view
// after the change. If op fails, nothing changes and its error is
// answered. A member who is no longer active in the council is answered
// like anyone who may not read it: 404.
func (s *Server) write(c echo.Context, status int, op func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error)) error {
	answer, err := s.change(c, op)
	if err != nil {
		return err
	}
	return c.JSON(status, answer)
}

// change is write without the answer: it makes the change and returns
// what write would answer.
func (s *Server) change(c echo.Context, op func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error)) (WriteAnswer, error) {
	var answer WriteAnswer
	id, err := councilID(c)
	if err != nil {
		return answer, err
	}
	by := principalOf(c).Member
	as, err := s.signer(c.Request().Context(), string(id), by)
	if err != nil {
		return answer, err
	}
	err = s.relay.Change(c.Request().Context(), id, func(doc *automerge.Doc) error {
		now := time.Now()
		if view, _ := s.readCouncil(string(id), doc, now); !activeMember(view, by) {
			return noCouncil(string(id))
		}
		made, err := op(doc, as, now)
		if err != nil {
			return err
		}
		answer = WriteAnswer{Created: made, By: by, View: s.readView(id, doc, now)}
		return nil
	})
	if errors.Is(err, server.ErrDocumentNotFound) {
		return answer, noCouncil(string(id))
	}
	return answer, err
}

// read runs fn on the council named by the request, read-only, with the
// council as read now. Like write, it answers 404 to a member who is no
// longer active in the council.
func (s *Server) read(c echo.Context, fn func(view CouncilView, doc *automerge.Doc) error) error {
	id, err := councilID(c)
	if err != nil {
		return err
	}
	p := principalOf(c)
	// What p reads as id: the council, or, for a member whose council
	// may not read id but made a document there, that document (a
	// shadow: server/decoy.go), exactly as the websocket serves it.
	err = s.relay.ViewAs(c.Request().Context(), p, id, func(doc *automerge.Doc) error {
		view := s.readView(id, doc, time.Now())
		// A reader from another council was admitted by the grants.
		if p.Council == string(id) && !activeMember(view.View, p.Member) {
			return noCouncil(string(id))
		}
		return fn(view, doc)
	})
	if errors.Is(err, server.ErrDocumentNotFound) {
		return noCouncil(string(id))
	}
	return err
}

// signer returns the custodial signer of a member: the relay signs the
// member's REST writes with the key it holds for them.
func (s *Server) signer(ctx context.Context, council, member string) (crdt.Signer, error) {
	if s.opts.Signers != nil {
		return s.opts.Signers.Signer(ctx, council, member)
	}
	if s.opts.Custody == nil {
		return crdt.Signer{}, &Error{Code: CodeUnavailable, Message: "this relay keeps no custodial keys: it cannot sign writes"}
	}
	as, err := s.opts.Custody.Signer(ctx, council, member)
	if errors.Is(err, auth.ErrNoCustodialKey) {
		return as, &Error{Code: CodeForbidden, Message: fmt.Sprintf("member %q signs on their own device: the relay holds no key for them", member)}
	}
	return as, err
}

// activeMember reports whether member is an active member of the council.
func activeMember(view crdt.View, member string) bool {
	m, ok := view.Member(member)
	return ok && m.Active
}

// documentIDArg checks a field of a request that names another council
// (a federation, the body of a mandate, a pledging council): a
// documentId, or an automerge URL, which it returns as a documentId.
// An empty value is returned as is when optional.
func documentIDArg(field, value string, optional bool) (string, error) {
	if value == "" && optional {
		return "", nil
	}
	id, err := wire.ParseDocumentID(strings.TrimPrefix(value, wire.URLPrefix))
	if err != nil {
		return "", invalid("%s: %q is not a council's documentId (e.g. 4KiMYeCRzQoq3QknKaKoAj4btvqR, or its automerge: URL)", field, value)
	}
	return string(id), nil
}
