// Package api is veche's HTTP surface, built on echo: the websocket
// endpoint that stock automerge-repo clients connect to, health checks,
// and (in later issues) the council REST API. It authenticates requests
// and upgrades connections; everything about syncing is the relay's
// business (package server).
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
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{
		"status": "ok",
		"peers":  s.relay.Peers(),
	})
}
