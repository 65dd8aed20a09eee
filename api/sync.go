package api

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/wsconn"
)

// sync upgrades GET /sync to a websocket and hands it to the relay, bound
// to the principal the request proved.
func (s *Server) sync(c echo.Context) error {
	p, err := s.authenticate(c)
	if err != nil {
		return err
	}
	ws, err := s.upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // the upgrader has answered the client already
	}
	conn := wsconn.New(ws, s.opts.WebSocket)
	// The connection outlives the request; the relay's Close ends it.
	ctx := context.WithoutCancel(c.Request().Context())
	if err := s.relay.Accept(ctx, conn, p); err != nil {
		s.log.Debug("sync connection ended", "remote", conn.RemoteAddr(), "err", err)
	}
	return nil
}

// authenticate finds the principal of a request. Until tokens exist only
// anonymous access can succeed, and only when it is enabled.
func (s *Server) authenticate(c echo.Context) (server.Principal, error) {
	if s.opts.AllowAnonymous {
		return server.AnonymousPrincipal, nil
	}
	return server.Principal{}, &Error{Code: CodeUnauthenticated, Message: "this relay does not accept anonymous connections"}
}
