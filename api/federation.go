package api

import (
	"net/http"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/crdt"
)

// Joining a federation takes one write on each side: the council records
// it belongs to the federation (join), the federation records the council
// as a member (admit). Leaving likewise (leave, remove).

// FederationRequest is the body of POST /api/councils/:id/federation/join
// and .../leave: the federation, in the council's own document.
type FederationRequest struct {
	// Federation is the documentId of the federation.
	Federation string `json:"federation"`
}

// MemberCouncilRequest is the body of POST /api/councils/:id/federation/admit
// and .../remove, in a federation's document.
type MemberCouncilRequest struct {
	// Council is the documentId of the member council.
	Council string `json:"council"`
}

// joinFederation serves POST /api/councils/:id/federation/join.
func (s *Server) joinFederation(c echo.Context) error {
	return s.federationLink(c, crdt.JoinFederation, true)
}

// leaveFederation serves POST /api/councils/:id/federation/leave.
func (s *Server) leaveFederation(c echo.Context) error {
	return s.federationLink(c, crdt.LeaveFederation, true)
}

// admitCouncil serves POST /api/councils/:id/federation/admit.
func (s *Server) admitCouncil(c echo.Context) error {
	return s.federationLink(c, crdt.AdmitCouncil, false)
}

// removeCouncil serves POST /api/councils/:id/federation/remove.
func (s *Server) removeCouncil(c echo.Context) error {
	return s.federationLink(c, crdt.RemoveCouncil, false)
}

// federationLink runs one of the four federation operations; memberOf
// says whether the body names a federation (the council's side) or a
// council (the federation's side).
func (s *Server) federationLink(c echo.Context, op func(doc *automerge.Doc, as crdt.Signer, councilID string, at time.Time) error, memberOf bool) error {
	var other string
	if memberOf {
		var req FederationRequest
		if err := bind(c, &req, false); err != nil {
			return err
		}
		other = req.Federation
	} else {
		var req MemberCouncilRequest
		if err := bind(c, &req, false); err != nil {
			return err
		}
		other = req.Council
	}
	field := "council"
	if memberOf {
		field = "federation"
	}
	other, err := documentIDArg(field, other, false)
	if err != nil {
		return err
	}
	return s.write(c, http.StatusOK, func(doc *automerge.Doc, as crdt.Signer, now time.Time) (Created, error) {
		return Created{}, op(doc, as, other, now)
	})
}
