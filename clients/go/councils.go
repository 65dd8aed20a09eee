package client

import (
	"context"
	"net/http"

	"github.com/veche-sync/veche/api"
)

// CreateCouncil founds a council with its first member (POST
// /api/councils). It needs the operator's token, or none on a relay with
// open registration. The answer holds the founder's token, shown once.
func (c *Client) CreateCouncil(ctx context.Context, req api.CreateCouncilRequest) (*api.CreateCouncilAnswer, error) {
	var ans api.CreateCouncilAnswer
	return &ans, c.do(ctx, http.MethodPost, "/api/councils", req, &ans)
}

// Invite makes an invite code to the client's council, good once.
func (c *Client) Invite(ctx context.Context, council string, req api.InviteRequest) (*api.InviteAnswer, error) {
	var ans api.InviteAnswer
	return &ans, c.do(ctx, http.MethodPost, councilPath(council, "invites"), req, &ans)
}

// AcceptInvite joins a council with an invite code; it needs no token.
// The answer holds the new member's token, shown once.
func (c *Client) AcceptInvite(ctx context.Context, req api.AcceptInviteRequest) (*api.AcceptInviteAnswer, error) {
	var ans api.AcceptInviteAnswer
	return &ans, c.do(ctx, http.MethodPost, "/api/invites/accept", req, &ans)
}

// RevokeToken revokes the client's own token.
func (c *Client) RevokeToken(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/api/tokens/revoke", struct{}{}, nil)
}

// Council reads a council with every derived status.
func (c *Client) Council(ctx context.Context, council string) (*api.CouncilView, error) {
	var v api.CouncilView
	return &v, c.do(ctx, http.MethodGet, councilPath(council), nil, &v)
}

// History lists every change of a council's document.
func (c *Client) History(ctx context.Context, council string) (*api.HistoryAnswer, error) {
	var h api.HistoryAnswer
	return &h, c.do(ctx, http.MethodGet, councilPath(council, "history"), nil, &h)
}

// write makes one council write and returns its answer.
func (c *Client) write(ctx context.Context, method, path string, body any) (*api.WriteAnswer, error) {
	if body == nil {
		body = struct{}{}
	}
	var ans api.WriteAnswer
	if err := c.do(ctx, method, path, body, &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

// Join adds a member who has no token of their own.
func (c *Client) Join(ctx context.Context, council string, req api.MemberRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "members"), req)
}

// Leave: the client's member leaves the council; their tokens stop working.
func (c *Client) Leave(ctx context.Context, council, member string) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "members", member, "leave"), nil)
}

// Propose makes a proposal; a mandate proposal also makes its mandate
// (the answer's Mandate).
func (c *Client) Propose(ctx context.Context, council string, req api.ProposalRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "proposals"), req)
}

// EditProposal replaces the body text of an open proposal.
func (c *Client) EditProposal(ctx context.Context, council, proposal string, req api.EditProposalRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPatch, councilPath(council, "proposals", proposal), req)
}

// Vote casts (or changes) the client's member's vote.
func (c *Client) Vote(ctx context.Context, council, proposal string, req api.VoteRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "proposals", proposal, "votes"), req)
}

// WithdrawProposal withdraws the member's own open proposal.
func (c *Client) WithdrawProposal(ctx context.Context, council, proposal string) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "proposals", proposal, "withdraw"), nil)
}

// Report: the delegate reports on their mandate.
func (c *Client) Report(ctx context.Context, council, mandate string, req api.ReportRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "mandates", mandate, "reports"), req)
}

// Resign: the delegate resigns from their mandate.
func (c *Client) Resign(ctx context.Context, council, mandate string) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "mandates", mandate, "resign"), nil)
}

// Complete: the delegate reports the mandate's task done.
func (c *Client) Complete(ctx context.Context, council, mandate string) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "mandates", mandate, "complete"), nil)
}

// PostOffer offers produce.
func (c *Client) PostOffer(ctx context.Context, council string, req api.ProduceRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "offers"), req)
}

// PostNeed posts a need.
func (c *Client) PostNeed(ctx context.Context, council string, req api.ProduceRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "needs"), req)
}

// WithdrawOffer withdraws an offer.
func (c *Client) WithdrawOffer(ctx context.Context, council, offer string) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "offers", offer, "withdraw"), nil)
}

// WithdrawNeed withdraws a need.
func (c *Client) WithdrawNeed(ctx context.Context, council, need string) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "needs", need, "withdraw"), nil)
}

// Pledge pledges a quantity against a need.
func (c *Client) Pledge(ctx context.Context, council string, req api.PledgeRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "pledges"), req)
}

// JoinFederation records in the council that it joined a federation.
func (c *Client) JoinFederation(ctx context.Context, council string, req api.FederationRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "federation", "join"), req)
}

// LeaveFederation records in the council that it left a federation.
func (c *Client) LeaveFederation(ctx context.Context, council string, req api.FederationRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "federation", "leave"), req)
}

// AdmitCouncil records in a federation that it admitted a council.
func (c *Client) AdmitCouncil(ctx context.Context, federation string, req api.MemberCouncilRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(federation, "federation", "admit"), req)
}

// RemoveCouncil records in a federation that it removed a council.
func (c *Client) RemoveCouncil(ctx context.Context, federation string, req api.MemberCouncilRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(federation, "federation", "remove"), req)
}

// StartMinutes starts the minutes of a meeting.
func (c *Client) StartMinutes(ctx context.Context, council string, req api.MinutesRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "minutes"), req)
}

// EditMinutes replaces the notes of minutes.
func (c *Client) EditMinutes(ctx context.Context, council, minutes string, req api.EditMinutesRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPatch, councilPath(council, "minutes", minutes), req)
}

// AddKey adds the public key of the member's own device (see
// POST /api/councils/{id}/keys).
func (c *Client) AddKey(ctx context.Context, council string, req api.KeyRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "keys"), req)
}

// ApplyRecord sends a record the member signed on their device (see
// POST /api/councils/{id}/records).
func (c *Client) ApplyRecord(ctx context.Context, council string, req api.RecordRequest) (*api.WriteAnswer, error) {
	return c.write(ctx, http.MethodPost, councilPath(council, "records"), req)
}

// TokenSelf says whom the client's token speaks for.
func (c *Client) TokenSelf(ctx context.Context) (*api.TokenAnswer, error) {
	var ans api.TokenAnswer
	return &ans, c.do(ctx, http.MethodGet, "/api/tokens/self", nil, &ans)
}
