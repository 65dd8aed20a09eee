package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/server/wsconn"
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
	defer release()
	ws, err := s.upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // the upgrader has answered the client already
	}
	c.Response().Status = http.StatusSwitchingProtocols // for the access log: the upgrader wrote it on the hijacked connection
	conn := wsconn.New(ws, s.opts.WebSocket)
	// The connection outlives the request; the relay's Close ends it.
	ctx := context.WithoutCancel(c.Request().Context())
	if err := s.relay.Accept(ctx, conn, p); err != nil {
		s.log.Debug("sync connection ended", "remote", conn.RemoteAddr(), "err", err)
	}
	read, written := conn.Bytes()
	c.Set(sessionKey, &sessionBytes{read: read, written: written})
	return nil
}
