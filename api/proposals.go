package api

import (
	"net/http"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/crdt"
)

// ProposalRequest is the body of POST /api/councils/:id/proposals.
type ProposalRequest struct {
	// ID is an optional explicit proposal id; random if empty.
	ID string `json:"id,omitempty"`
	// Kind is general (the default), mandate, recall, exchange, rule or
	// expel.
	Kind  crdt.ProposalKind `json:"kind,omitempty"`
	Title string            `json:"title"`
	// Body is the initial text of the proposal.
	Body string `json:"body,omitempty"`
	// ClosesAt, if set, is when voting closes; without it the proposal is
	// decided once every member has voted.
	ClosesAt *time.Time `json:"closesAt,omitempty"`
	// Subject: the mandate to recall (kind recall), the member to expel
	// (kind expel), optionally an offer or need (kind exchange).
	Subject string `json:"subject,omitempty"`
	// Mandate is the mandate a proposal of kind mandate approves.
	Mandate *MandateRequest `json:"mandate,omitempty"`
	// Rule is the rule a proposal of kind rule puts in force once it
	// passes; required for that kind, refused for the others.
	Rule *crdt.Rule `json:"rule,omitempty"`
}

// MandateRequest describes the mandate of a mandate proposal: a delegate
// sent for one task to one body.
type MandateRequest struct {
	// ID is an optional explicit mandate id; random if empty.
	ID   string `json:"id,omitempty"`
	Task string `json:"task"`
	// Body is the documentId of the council the delegate acts in
	// (usually a federation).
	Body     string `json:"body"`
	Delegate string `json:"delegate"`
}

// VoteRequest is the body of POST /api/councils/:id/proposals/:proposal/votes.
type VoteRequest struct {
	Choice crdt.Choice `json:"choice"` // yes, no or abstain
}

// EditProposalRequest is the body of PATCH /api/councils/:id/proposals/:proposal.
type EditProposalRequest struct {
	// Body is the whole new body text. The relay writes the one splice
	// that turns the current text into it, so concurrent edits elsewhere
	// in the text merge.
	Body string `json:"body"`
}

// propose serves POST /api/councils/:id/proposals.
func (s *Server) propose(c echo.Context) error {
	var req ProposalRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	if req.Kind == "" {
		req.Kind = crdt.ProposalGeneral
		if req.Mandate != nil {
			req.Kind = crdt.ProposalMandate
		}
	}
	switch {
	case req.Kind == crdt.ProposalMandate && req.Mandate == nil:
		return invalid("mandate: required for a proposal of kind mandate ({\"task\", \"body\", \"delegate\"})")
	case req.Kind != crdt.ProposalMandate && req.Mandate != nil:
		return invalid("mandate: only a proposal of kind mandate carries one (kind is %q)", req.Kind)
	case req.Kind == crdt.ProposalRule && req.Rule == nil:
		return invalid("rule: required for a proposal of kind rule ({\"quorum\", \"majority\"})")
	case req.Kind != crdt.ProposalRule && req.Rule != nil:
		return invalid("rule: only a proposal of kind rule carries one (kind is %q)", req.Kind)
	}
	if req.Mandate != nil {
		body, err := documentIDArg("mandate.body", req.Mandate.Body, false)
		if err != nil {
			return err
		}
		req.Mandate.Body = body
	}
	spec := crdt.ProposalSpec{ID: req.ID, Kind: req.Kind, Title: req.Title, Body: req.Body, Subject: req.Subject, Rule: req.Rule}
	if req.ClosesAt != nil {
		spec.ClosesAt = *req.ClosesAt
	}
	return s.write(c, http.StatusCreated, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		if req.Kind != crdt.ProposalMandate {
			id, err := crdt.Propose(doc, as, spec, now)
			return Created{ID: id}, err
		}
		m := crdt.MandateSpec{ID: req.Mandate.ID, Task: req.Mandate.Task, Body: req.Mandate.Body, Delegate: req.Mandate.Delegate}
		pid, mid, err := crdt.ProposeMandate(doc, as, spec, m, now)
		return Created{ID: pid, Mandate: mid}, err
	})
}

// vote serves POST /api/councils/:id/proposals/:proposal/votes: the acting
// member's vote, replacing their earlier one.
func (s *Server) vote(c echo.Context) error {
	var req VoteRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	proposal := c.Param("proposal")
	return s.write(c, http.StatusCreated, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		return Created{}, crdt.CastVote(doc, as, proposal, req.Choice, now)
	})
}

// withdrawProposal serves POST /api/councils/:id/proposals/:proposal/withdraw.
func (s *Server) withdrawProposal(c echo.Context) error {
	if err := bind(c, &struct{}{}, true); err != nil {
		return err
	}
	proposal := c.Param("proposal")
	return s.write(c, http.StatusOK, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		return Created{}, crdt.WithdrawProposal(doc, as, proposal, now)
	})
}

// editProposal serves PATCH /api/councils/:id/proposals/:proposal: a new
// body text for an open proposal.
func (s *Server) editProposal(c echo.Context) error {
	var req EditProposalRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	proposal := c.Param("proposal")
	return s.write(c, http.StatusOK, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		view, _ := s.readCouncil(as.Council, doc, now)
		current, _ := view.Proposal(proposal) // a missing proposal is refused by EditProposal
		return Created{}, crdt.EditProposal(doc, as, proposal, crdt.TextEditBetween(current.Body, req.Body), now)
	})
}
