package api

import (
	"errors"
	"net"
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
// whether ?token= is read. The answer is 429 while the remote address is
// over its limit of failed authentications, whatever the token.
func (s *Server) authenticate(c echo.Context, anonymous, query bool) (server.Principal, error) {
	addr := remoteIP(c)
	if err := s.failures.check(addr); err != nil {
		return server.Principal{}, err
	}
	token, presented, err := presentedToken(c, query)
	if err != nil {
		s.failures.fail(addr)
		return server.Principal{}, err
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
		s.failures.fail(addr)
		return server.Principal{}, errBadToken
	}
	p, err := s.auth.Authenticate(c.Request().Context(), token)
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		s.failures.fail(addr)
		return server.Principal{}, errBadToken
	case err != nil:
		return server.Principal{}, err // auth's errors never hold the token
	}
	if s.relay.Suspended(p) {
		return server.Principal{}, errQuarantined
	}
	return p, nil
}

var errQuarantined = &Error{Code: CodeQuarantined, Message: "quarantined: this token's principal sent a change that crashes the relay's engine; the relay's operator can release it"}

var errBadToken = &Error{Code: CodeUnauthenticated, Message: "invalid or revoked token"}

// remoteIP is the address failed authentications are counted against:
// the peer of the TCP connection. Forwarding headers are not trusted, so
// a client cannot dodge the limit by inventing them; behind a proxy every
// client shares the proxy's address.
func remoteIP(c echo.Context) string {
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}

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
