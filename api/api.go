// Package api is veche's HTTP surface, built on echo: the websocket
// endpoint that stock automerge-repo clients connect to, health checks,
// and the council REST API under /api/councils, described by the OpenAPI
// document served at /api/openapi.json. It authenticates requests and
// upgrades connections; everything about syncing is the relay's business
// (package server), everything about council documents is package crdt's.
//
// A REST write runs one crdt operation on the council's document inside
// its synchronizer (server.Relay.Change), at the relay's clock: the
// change is committed durably before the answer and reaches every
// connected automerge-repo peer through the normal sync path. A refused
// write changes nothing. Every error is an *Error, rendered as
// {"error":{"code","message"}}; errors.go maps codes to HTTP statuses.
//
// Until access control lands, the acting member of a write is the one its
// body names in "by", checked against the council's members only, and the
// token POST /api/councils answers is a placeholder the relay ignores.
package api

import (
	"log/slog"
	"net/http"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/wsconn"
)

// Options configure the HTTP surface. The zero value of every field
// selects the default documented on it.
type Options struct {
	// AllowAnonymous lets connections without a token sync, bound to
	// server.AnonymousPrincipal. Default: false, and then every request
	// without a valid token is refused with 401.
	AllowAnonymous bool
	// WebSocket tunes sync connections (keepalive, write timeout, frame
	// size). Default: wsconn's defaults.
	WebSocket wsconn.Options
	// Logger receives request errors. Default: slog.Default().
	Logger *slog.Logger
}

// Server routes HTTP requests to the relay.
type Server struct {
	relay    *server.Relay
	opts     Options
	log      *slog.Logger
	echo     *echo.Echo
	upgrader websocket.Upgrader
}

// New returns the HTTP surface of relay.
func New(relay *server.Relay, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		relay: relay,
		opts:  opts,
		log:   opts.Logger,
		echo:  echo.New(),
		upgrader: websocket.Upgrader{
			// Clients authenticate with a token, not a cookie, so a page
			// from another origin gains nothing by connecting.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	s.echo.HideBanner = true
	s.echo.HidePort = true
	s.echo.HTTPErrorHandler = s.handleError
	s.routes()
	return s
}

// Handler is the http.Handler serving every route.
func (s *Server) Handler() http.Handler { return s.echo }

func (s *Server) routes() {
	s.echo.GET("/healthz", s.healthz)
	s.echo.GET("/sync", s.sync)
	s.echo.GET("/api/openapi.json", s.openAPI)

	// The council REST API. Every write is one Automerge change the relay
	// makes on the acting member's behalf, durable before the answer and
	// synced to every connected peer. api/openapi.json documents each
	// route; a test keeps the two in step.
	// auth is per route: group middleware would register catch-all routes.
	auth := s.requirePrincipal
	g := s.echo.Group("/api/councils")
	g.POST("", s.createCouncil, auth)
	g.GET("/:id", s.viewCouncil, auth)
	g.GET("/:id/history", s.history, auth)
	g.POST("/:id/members", s.join, auth)
	g.POST("/:id/members/:member/leave", s.leave, auth)
	g.POST("/:id/proposals", s.propose, auth)
	g.PATCH("/:id/proposals/:proposal", s.editProposal, auth)
	g.POST("/:id/proposals/:proposal/votes", s.vote, auth)
	g.POST("/:id/proposals/:proposal/withdraw", s.withdrawProposal, auth)
	g.POST("/:id/mandates/:mandate/reports", s.report, auth)
	g.POST("/:id/mandates/:mandate/resign", s.resign, auth)
	g.POST("/:id/mandates/:mandate/complete", s.complete, auth)
	g.POST("/:id/offers", s.postOffer, auth)
	g.POST("/:id/offers/:offer/withdraw", s.withdrawOffer, auth)
	g.POST("/:id/needs", s.postNeed, auth)
	g.POST("/:id/needs/:need/withdraw", s.withdrawNeed, auth)
	g.POST("/:id/pledges", s.pledge, auth)
	g.POST("/:id/federation/join", s.joinFederation, auth)
	g.POST("/:id/federation/leave", s.leaveFederation, auth)
	g.POST("/:id/federation/admit", s.admitCouncil, auth)
	g.POST("/:id/federation/remove", s.removeCouncil, auth)
	g.POST("/:id/minutes", s.startMinutes, auth)
	g.PATCH("/:id/minutes/:minutes", s.editMinutes, auth)
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{
		"status": "ok",
		"peers":  s.relay.Peers(),
	})
}
