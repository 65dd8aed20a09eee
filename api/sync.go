package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// sync upgrades GET /sync to a websocket and hands it to the relay, bound
// to the principal the request proved (Authorization: Bearer, or ?token=)
// for the connection's life. Without a valid token it answers 401 before
// the upgrade, unless anonymous access is on and no token was presented.
// A principal or an address over its cap of open connections gets 429
// before the upgrade.
func (s *Server) sync(c echo.Context) error {
	p, err := s.authenticate(c, s.opts.AllowAnonymous, true)
	if err != nil {
		return err
	}
	c.Set(principalKey, p)
	who := p.ID
	if p.Anonymous {
		who = "" // anonymous connections share one principal: bounded by address only
	}
	release, err := s.conns.acquire(who, remoteIP(c))
	if err != nil {
		return err
	}
	conn, err := s.upgrader.Upgrade(c.Response(), c.Request(), s.opts.WebSocket)
	if err != nil {
		release()
		return nil // the upgrader has answered the client already
	}
	c.Set(sessionKey, true)
	kind := string(p.Kind)
	if kind == "" {
		kind = "none"
	}
	entry := accessEntry{msg: "sync session ended", method: c.Request().Method, path: c.Request().URL.Path,
		route: c.Path(), status: http.StatusSwitchingProtocols, principal: kind}
	start := time.Now()
	// The relay takes the session over and the handler returns: the HTTP
	// server's goroutine, its deep stack and its 8 KiB of buffers are let
	// go, and no goroutine waits for the session, so an idle phone costs
	// only what the session holds (issue 11). The relay's Close ends the
	// session.
	s.relay.Start(context.Background(), conn, p, func(err error) {
		defer release()
		if err != nil {
			s.log.Debug("sync connection ended", "remote", conn.RemoteAddr(), "err", err)
		}
		entry.duration = time.Since(start)
		entry.read, entry.written = conn.Bytes()
		s.logAccess(entry)
	})
	return nil
}
