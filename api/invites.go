package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/auth"
	"github.com/veche-sync/veche/server/wire"
)

// MaxInviteTTL bounds how long an invite may last.
const MaxInviteTTL = 30 * 24 * time.Hour

// InviteRequest is the body of POST /api/councils/:id/invites; it may be
// empty.
type InviteRequest struct {
	// Role is the role the invited member joins with; empty: the one they
	// ask for when accepting, else the usual role of the council's kind.
	Role string `json:"role,omitempty"`
	// TTL is how long the invite lasts, as a duration ("72h"); default a
	// week (auth.DefaultInviteTTL), at most 30 days.
	TTL string `json:"ttl,omitempty"`
}

// InviteAnswer is the answer to POST /api/councils/:id/invites.
type InviteAnswer struct {
	// Code is the invite code, good once, until Expires. Whoever holds it
	// can join the council: hand it over as you would a key.
	Code    string    `json:"code"`
	Expires time.Time `json:"expires"`
}

// AcceptInviteRequest is the body of POST /api/invites/accept.
type AcceptInviteRequest struct {
	Code string `json:"code"`
	// Name is the new member's display name.
	Name string `json:"name"`
	// Role is used when the invite names none.
	Role string `json:"role,omitempty"`
}

// AcceptInviteAnswer is the answer to POST /api/invites/accept.
type AcceptInviteAnswer struct {
	Council string `json:"council"` // the council's documentId
	URL     string `json:"url"`     // automerge:<council>
	Member  string `json:"member"`  // the new member's id
	// Token is the new member's token: the only time the relay shows it.
	Token string `json:"token"`
}

// createInvite serves POST /api/councils/:id/invites: a member invites
// someone; the answer's code, good once, lets them join.
func (s *Server) createInvite(c echo.Context) error {
	var req InviteRequest
	if err := bind(c, &req, true); err != nil {
		return err
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > MaxInviteTTL {
			return invalid("ttl: %q: want a positive duration of at most %s, e.g. \"72h\"", req.TTL, MaxInviteTTL)
		}
		ttl = d
	}
	p := principalOf(c)
	// The inviter must still be an active member, as for any read.
	if err := s.read(c, func(CouncilView, *automerge.Doc) error { return nil }); err != nil {
		return err
	}
	code, expires, err := s.auth.CreateInvite(c.Request().Context(), p.Council, p.Member, req.Role, ttl)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, InviteAnswer{Code: code, Expires: expires})
}

// acceptInvite serves POST /api/invites/accept: the invite code is the
// credential. It is used up, the new member is added to the council's
// document as of the inviter, and their token is issued. A bad code
// counts as a failed authentication of the remote address; a good one is
// taken whatever that address did before.
func (s *Server) acceptInvite(c echo.Context) error {
	addr := remoteIP(c)
	var req AcceptInviteRequest
	if err := bind(c, &req, false); err != nil {
		return err
	}
	// Refuse what would fail after the code is used up.
	if req.Code == "" {
		return invalid("code: required: the invite code")
	}
	if strings.TrimSpace(req.Name) == "" {
		return invalid("name: required: the new member's name")
	}
	if s.auth == nil {
		return s.badCredential(addr, auth.ErrInviteInvalid)
	}
	ctx := c.Request().Context()
	inv, err := s.auth.TakeInvite(ctx, req.Code, time.Now())
	if errors.Is(err, auth.ErrInviteInvalid) {
		return s.badCredential(addr, err)
	}
	if err != nil {
		return err
	}
	// The code is spent: finish even if the client goes away.
	ctx = context.WithoutCancel(ctx)
	id := wire.DocumentID(inv.Council)
	var member string
	err = s.relay.Change(ctx, id, func(doc *automerge.Doc) error {
		now := time.Now()
		view, _ := s.readCouncil(inv.Council, doc, now)
		if !activeMember(view, inv.CreatedBy) {
			return &Error{Code: CodeInviteInvalid, Message: "the member who made this invite has left the council"}
		}
		role := inv.Role
		if role == "" {
			role = req.Role
		}
		if role == "" {
			role = DefaultRole(view.Council.Kind)
		}
		// The inviter admits the new member: the admission is signed with
		// the inviter's key, and the new member gets a custodial key.
		admitter, err := s.signer(ctx, inv.Council, inv.CreatedBy)
		if err != nil {
			return &Error{Code: CodeInviteInvalid, Message: "the relay cannot sign for the member who made this invite"}
		}
		member = crdt.NewID()
		key, err := s.opts.Custody.NewSigner(ctx, inv.Council, member)
		if err != nil {
			return err
		}
		_, err = crdt.Join(doc, admitter, crdt.MemberSpec{ID: member, Name: req.Name, Role: role, Key: key.PublicKey(), Custodial: true}, now)
		return err
	})
	if errors.Is(err, server.ErrDocumentNotFound) {
		return &Error{Code: CodeInviteInvalid, Message: "the council of this invite is no longer on this relay"}
	}
	if err != nil {
		return err
	}
	token, err := s.auth.IssueMemberToken(ctx, inv.Council, member)
	if err != nil {
		return fmt.Errorf("member %s joined council %s, but their token could not be issued: %w", member, inv.Council, err)
	}
	return c.JSON(http.StatusCreated, AcceptInviteAnswer{Council: inv.Council, URL: id.URL(), Member: member, Token: token})
}

// revokeToken serves POST /api/tokens/revoke: the token the request
// presents is revoked; it proves nothing from then on. Revoking the
// operator's token locks the operator out until <data>/operator.token is
// deleted and the relay restarted.
func (s *Server) revokeToken(c echo.Context) error {
	if err := bind(c, &struct{}{}, true); err != nil {
		return err
	}
	token, _, err := presentedToken(c, false)
	if err != nil {
		return err
	}
	if err := s.auth.Revoke(c.Request().Context(), token); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// DefaultRole is the usual role of a member of a council of kind.
func DefaultRole(kind crdt.CouncilKind) string {
	switch kind {
	case crdt.KindWorkers:
		return crdt.RoleWorker
	case crdt.KindConsumers:
		return crdt.RoleConsumer
	case crdt.KindFederation:
		return crdt.RoleDelegate
	}
	return crdt.RoleSmallFarmer
}
