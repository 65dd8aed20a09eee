package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server/wire"
)

// MemberRequest is the body of POST /api/councils/:id/members, and the
// founder of a new council.
type MemberRequest struct {
	// ID is an optional explicit member id; random if empty. A client on
	// a poor link can retry with the same id and get "exists" instead of
	// a second member.
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// spec returns the crdt spec of a member whose key the relay will hold.
func (m MemberRequest) spec() crdt.MemberSpec {
	return crdt.MemberSpec{ID: m.ID, Name: m.Name, Role: m.Role, Custodial: true}
}

// CreateCouncilRequest is the body of POST /api/councils.
type CreateCouncilRequest struct {
	Name   string           `json:"name"`
	Kind   crdt.CouncilKind `json:"kind"`
	Region string           `json:"region,omitempty"`
	// Rule defaults to crdt.DefaultRule (quorum 0.5, majority 0.5).
	Rule    *crdt.Rule     `json:"rule,omitempty"`
	Founder *MemberRequest `json:"founder"`
}

// CreateCouncilAnswer is the answer to POST /api/councils.
type CreateCouncilAnswer struct {
	ID  string `json:"id"`  // the documentId
	URL string `json:"url"` // automerge:<id>, for automerge-repo clients
	// Founder is the member id of the founding member.
	Founder string `json:"founder"`
	// Token is the founding member's token: the only time the relay
	// shows it. Whoever created the council (the operator, usually)
	// hands it to the founder.
	Token string      `json:"token"`
	View  CouncilView `json:"view"`
}

// createCouncil serves POST /api/councils: a new document holding the
// council and its founding member, durable before the answer, and a token
// for the founder.
func (s *Server) createCouncil(c echo.Context) error {
	if s.auth == nil {
		return errors.New("api: no auth service: cannot issue the founder's token")
	}
	var req CreateCouncilRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	if req.Founder == nil {
		return invalid("founder: required ({\"name\", \"role\"} of the founding member)")
	}
	spec := crdt.CouncilSpec{Name: req.Name, Kind: req.Kind, Region: req.Region, Rule: crdt.DefaultRule}
	if req.Rule != nil {
		spec.Rule = *req.Rule
	}
	if s.opts.Custody == nil {
		return &Error{Code: CodeUnavailable, Message: "this relay keeps no custodial keys: it cannot sign the founding record"}
	}
	spec.Founder = req.Founder.spec()
	// The founding record names the council: found it first, keep the
	// founder's key, then store the document under the id it names.
	now := time.Now()
	founder := crdt.NewSigner(spec.Founder.ID, true)
	founding, council, err := crdt.NewCouncil(spec, founder, now)
	if err != nil {
		return err
	}
	id := wire.DocumentID(council)
	founder.Council, founder.Member = council, founderOf(founding)
	ctx := c.Request().Context()
	if err := s.opts.Custody.Keep(ctx, founder); err != nil {
		return fmt.Errorf("keeping the founder's key: %w", err)
	}
	var answer CreateCouncilAnswer
	err = s.relay.CreateAt(ctx, id, func(doc *automerge.Doc) error {
		changes, err := founding.Changes()
		if err != nil {
			return err
		}
		if err := doc.Apply(changes...); err != nil {
			return err
		}
		answer = CreateCouncilAnswer{Founder: founder.Member, View: s.readView(id, doc, now)}
		return nil
	})
	if err != nil {
		return err
	}
	answer.Token, err = s.auth.IssueMemberToken(c.Request().Context(), string(id), answer.Founder)
	if err != nil {
		return fmt.Errorf("council %s was created, but the founder's token could not be issued: %w", id, err)
	}
	answer.ID, answer.URL = string(id), id.URL()
	answer.View.ID, answer.View.URL = answer.ID, answer.URL
	c.Response().Header().Set(echo.HeaderLocation, "/api/councils/"+string(id))
	return c.JSON(http.StatusCreated, answer)
}

// viewCouncil serves GET /api/councils/:id: the council read now.
func (s *Server) viewCouncil(c echo.Context) error {
	var view CouncilView
	err := s.read(c, func(v CouncilView, _ *automerge.Doc) error {
		view = v
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, view)
}

// HistoryEntry is one change of a council's history.
type HistoryEntry struct {
	Hash    string    `json:"hash"`    // hex change hash
	Actor   string    `json:"actor"`   // hex Automerge actor id of the writing replica
	Seq     uint64    `json:"seq"`     // the change's sequence number for its actor
	Time    time.Time `json:"time"`    // the change's timestamp
	Message string    `json:"message"` // the raw change message
	// Op is the council operation, when the change was written by veche
	// (or a client following its message format); empty otherwise.
	Op crdt.Op `json:"op,omitempty"`
	// By is the acting member's id, taken only from a valid signed record
	// of the change; Unverified ("unverified") for every other change —
	// never a name from an unsigned message.
	By string `json:"by"`
	// Verified: the change carries a valid signed record that counts.
	Verified bool `json:"verified"`
	// Custodial: that record was signed with a key the relay holds for
	// the member, so it rests on the relay's word.
	Custodial bool `json:"custodial,omitempty"`
	// Problem says why the change's record does not count, if it carries one.
	Problem string `json:"problem,omitempty"`
	// ByName is the acting member's name, when By is a member of this council.
	ByName string `json:"byName,omitempty"`
	// Args are the ids the operation names (proposal, mandate, …).
	Args map[string]string `json:"args,omitempty"`
}

// Unverified is the By of a history entry whose author no valid signed
// record names.
const Unverified = "unverified"

// founderOf returns the founder's member id in a new council document.
func founderOf(doc *automerge.Doc) string {
	log := crdt.NewLog()
	_ = log.Update(doc)
	for _, e := range log.Entries() {
		if e.Record != nil && e.Record.Op == crdt.OpCreateCouncil {
			return e.Record.By
		}
	}
	return ""
}

// HistoryAnswer is the answer to GET /api/councils/:id/history.
type HistoryAnswer struct {
	ID      string         `json:"id"`
	URL     string         `json:"url"`
	Changes []HistoryEntry `json:"changes"`
}

// history serves GET /api/councils/:id/history: every change of the
// document in causal order.
func (s *Server) history(c echo.Context) error {
	var answer HistoryAnswer
	err := s.read(c, func(view CouncilView, doc *automerge.Doc) error {
		changes, err := crdt.History(doc)
		if err != nil {
			return err
		}
		verdicts := map[string]crdt.Fact{}
		for _, f := range s.facts(view.ID, doc, view.Now) {
			verdicts[f.Hash] = f
		}
		answer = HistoryAnswer{ID: view.ID, URL: view.URL, Changes: make([]HistoryEntry, 0, len(changes))}
		for _, ch := range changes {
			e := HistoryEntry{Hash: ch.Hash, Actor: ch.Actor, Seq: ch.Seq, Time: ch.Time, Message: ch.Message, By: Unverified}
			if ch.Veche {
				e.Op, e.Args = ch.Info.Op, ch.Info.Args
			}
			if f, ok := verdicts[ch.Hash]; ok {
				e.Op, e.Problem, e.Custodial = f.Op, f.Problem, f.Custodial
				if f.Counted {
					e.By, e.Verified = f.By, true
					if m, ok := view.Member(f.By); ok && ch.Info.Args["council"] == "" {
						e.ByName = m.Name
					}
				}
			}
			answer.Changes = append(answer.Changes, e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, answer)
}

// join serves POST /api/councils/:id/members: a member adds a member
// (one without a token: someone who takes part through the others, or
// who will get one later). To bring in someone with their own token, a
// member creates an invite instead.
func (s *Server) join(c echo.Context) error {
	var req MemberRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	spec := req.spec()
	if spec.ID == "" {
		spec.ID = crdt.NewID()
	}
	return s.write(c, http.StatusCreated, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		// The new member gets a custodial key, so they can get a token later.
		key, err := s.opts.Custody.NewSigner(context.WithoutCancel(c.Request().Context()), as.Council, spec.ID)
		if err != nil {
			return Created{}, err
		}
		spec.Key = key.PublicKey()
		id, err := crdt.Join(doc, as, spec, now)
		return Created{ID: id}, err
	})
}

// leave serves POST /api/councils/:id/members/:member/leave: the member
// leaves, and every token of theirs is revoked. Only the member themself
// may; the body is empty or {}.
func (s *Server) leave(c echo.Context) error {
	if err := bind(c, &struct{}{}, true); err != nil {
		return err
	}
	member := c.Param("member")
	p := principalOf(c)
	if member != p.Member {
		return &Error{Code: CodeForbidden, Message: fmt.Sprintf("only member %q may leave in their name; your token is member %q's", member, p.Member)}
	}
	answer, err := s.change(c, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		return Created{}, crdt.Leave(doc, as, now)
	})
	if err != nil {
		return err
	}
	// The member has left: whatever happens next, the relay answers 404
	// to their tokens (see read), and revoking them makes that final.
	if _, err := s.auth.RevokeMember(context.WithoutCancel(c.Request().Context()), p.Council, p.Member); err != nil {
		return fmt.Errorf("member %s left, but revoking their tokens failed: %w", p.ID, err)
	}
	return c.JSON(http.StatusOK, answer)
}
