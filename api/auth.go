package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/auth"
)

// How a request proves its principal:
//
//   - REST: the header "Authorization: Bearer <token>".
//   - GET /sync: the same header, or "?token=<token>" because browsers
//     cannot set headers on a websocket; without either, the connection is
//     anonymous if Options.AllowAnonymous, else refused with 401 before
//     the upgrade.
//
// A token that is presented and not valid is refused with 401 whatever
// the options, and counts as a failed authentication of the remote
// address (see failureLimiter). Tokens are never logged nor quoted in an
// answer.

// principalKey is where a route's middleware leaves the principal.
const principalKey = "veche.principal"

// principalOf returns the principal the route's middleware proved.
func principalOf(c echo.Context) server.Principal {
	p, _ := c.Get(principalKey).(server.Principal)
	return p
}

// presentedToken returns the token of a request and whether one was
// presented at all; query says whether ?token= counts (GET /sync only,
// so tokens stay out of access logs of REST calls).
func presentedToken(c echo.Context, query bool) (token string, presented bool, err error) {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	if h != "" {
		scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return "", true, &Error{Code: CodeUnauthenticated, Message: "the Authorization header must be \"Bearer <token>\""}
		}
		return strings.TrimSpace(token), true, nil
	}
	if query {
		if t := c.QueryParam("token"); t != "" {
			return t, true, nil
		}
	}
	return "", false, nil
}

// authenticate finds the principal of a request. anonymous says whether a
// request without a token may go on as server.AnonymousPrincipal; query
// whether ?token= is read. A bad token counts as a failed authentication
// of the remote address, answered 401, or 429 once the address is over its
// limit; a valid token is never refused for its address's failures, only
// for its own rate (Options.TokenRequestsPerSecond) or its principal's
// quarantine.
func (s *Server) authenticate(c echo.Context, anonymous, query bool) (server.Principal, error) {
	addr := remoteIP(c)
	token, presented, err := presentedToken(c, query)
	if err != nil {
		return server.Principal{}, s.badCredential(addr, err)
	}
	if !presented {
		if anonymous {
			return server.AnonymousPrincipal, nil
		}
		s.metrics.AuthRefused(AuthMissing)
		how := "send \"Authorization: Bearer <token>\""
		if query {
			how += " or ?token=<token>"
		}
		return server.Principal{}, &Error{Code: CodeUnauthenticated, Message: "no token: " + how}
	}
	if s.auth == nil {
		return server.Principal{}, s.badCredential(addr, errBadToken)
	}
	p, err := s.auth.Authenticate(c.Request().Context(), token)
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		return server.Principal{}, s.badCredential(addr, errBadToken)
	case err != nil:
		return server.Principal{}, err // auth's errors never hold the token
	}
	if s.relay.Suspended(p) {
		return server.Principal{}, errQuarantined
	}
	if wait, ok := s.tokens.take(tokenKey(token)); !ok {
		return server.Principal{}, &tooMany{retryAfter: wait, what: "requests with this token"}
	}
	return p, nil
}

// badCredential counts a failed authentication of addr and returns what
// to answer: err, or 429 once addr is over its limit.
func (s *Server) badCredential(addr string, err error) error {
	if over := s.failures.fail(addr); over != nil {
		return over
	}
	return err
}

// tokenKey names a token in the per-token limiter: a digest, so the
// limiter's memory holds no secret.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:16])
}

var errQuarantined = &Error{Code: CodeQuarantined, Message: "quarantined: this token's principal sent a change that crashes the relay's engine; the relay's operator can release it"}

var errBadToken = &Error{Code: CodeUnauthenticated, Message: "invalid or revoked token"}

// remoteIP is the address failed authentications and connections are
// counted against: the peer of the TCP connection, or with
// Options.TrustedProxies, the client that X-Forwarded-For names, read from
// the right past the trusted proxies only (echo's IP extractor), so a
// client cannot dodge a limit by inventing the header.
func remoteIP(c echo.Context) string { return c.RealIP() }

// requireMember is the middleware of every route under
// /api/councils/:id: the request must carry the token of a member of that
// council. Any other principal (the operator, a member of another council,
// a peer) is answered 404 like a council that does not exist: a relay
// does not tell who may not read a council whether it exists.
func (s *Server) requireMember(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.authenticate(c, false, false)
		if err != nil {
			return err
		}
		id, err := councilID(c)
		if err != nil {
			return err
		}
		get := c.Request().Method == http.MethodGet
		switch {
		case p.Kind == server.KindMember && p.Council == string(id):
			// Their own council, while the grants hold (a delegate's seat
			// lasts as long as the mandate that sent them).
			if !s.relay.CanWrite(p, string(id)) {
				return noCouncil(string(id))
			}
		case get && s.relay.CanRead(p, string(id)):
			// Beyond their own council a member may read what the grants
			// allow (the federations their council belongs to), no more.
		default:
			return noCouncil(string(id))
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// requireToken is the middleware of routes any valid token may call.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.authenticate(c, false, false)
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// requireCreator is the middleware of POST /api/councils: the operator,
// or anyone when the relay runs with open registration (a token, if one
// is presented, must still be valid).
func (s *Server) requireCreator(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.authenticate(c, s.opts.OpenRegistration, false)
		if err != nil {
			return err
		}
		if p.Kind != server.KindOperator && !s.opts.OpenRegistration {
			return &Error{Code: CodeForbidden, Message: "only the relay's operator creates councils on this relay"}
		}
		c.Set(principalKey, p)
		return next(c)
	}
}
