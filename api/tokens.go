package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// TokenAnswer is the answer to GET /api/tokens/self: whom the token
// presented speaks for. It never holds the token.
type TokenAnswer struct {
	// Kind is member, operator or peer.
	Kind string `json:"kind"`
	// Council and Member name a member token's member.
	Council string `json:"council,omitempty"`
	Member  string `json:"member,omitempty"`
}

// tokenSelf serves GET /api/tokens/self, so a client holding a token (a
// replica about to sync) learns which member acts with it.
func (s *Server) tokenSelf(c echo.Context) error {
	p := principalOf(c)
	return c.JSON(http.StatusOK, TokenAnswer{Kind: string(p.Kind), Council: p.Council, Member: p.Member})
}
