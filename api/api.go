package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/auth"
	"github.com/veche-sync/veche/server/bundle"
	"github.com/veche-sync/veche/server/wsconn"
)

// Options configure the HTTP surface. The zero value of every field
// selects the default documented on it.
type Options struct {
	// Auth checks tokens and invite codes, and issues member tokens.
	// Default: nil, and then no token is valid: only anonymous sync (if
	// allowed) and open registration work.
	Auth *auth.Service
	// AllowAnonymous lets websocket connections without a token sync,
	// bound to server.AnonymousPrincipal. It does not open the REST API,
	// where the token decides who acts. Default: false, and then a
	// connection without a token is refused with 401 before the upgrade.
	AllowAnonymous bool
	// OpenRegistration lets anyone create a council with POST
	// /api/councils. Default: false, and then only the operator may.
	OpenRegistration bool
	// AuthFailuresPerMinute is how many failed authentications (bad
	// tokens, bad invite codes) one remote address may make in a minute,
	// sustained; past it, its further bad credentials are answered 429
	// instead of 401. Valid credentials from it are still accepted.
	// Default: DefaultAuthFailuresPerMinute (20).
	AuthFailuresPerMinute int
	// TokenRequestsPerSecond is how many requests (a websocket connection
	// counts one) one token may make per second, sustained, with five
	// seconds' worth at once; past it, 429. Default:
	// DefaultTokenRequestsPerSecond (20).
	TokenRequestsPerSecond float64
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed: the client address (for the limits per address) is then
	// the right-most one in the header that is not a trusted proxy.
	// Default: none, and the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// MaxConnectionsPerToken bounds the sync connections one token's
	// principal may hold open at once (anonymous connections are bounded
	// by address only). Default: DefaultMaxConnectionsPerToken.
	MaxConnectionsPerToken int
	// MaxConnectionsPerAddress bounds the sync connections one remote
	// address may hold open at once (a village behind one NAT address is
	// many phones). Default: DefaultMaxConnectionsPerAddress.
	MaxConnectionsPerAddress int
	// BodyMinRate and BodyGrace bound how slowly a request body may
	// arrive: by BodyGrace plus one second per BodyMinRate bytes read so
	// far, or the request is answered 408 and its connection closed.
	// Defaults: DefaultBodyMinRate (500 B/s) and DefaultBodyGrace (30s),
	// sized for a 10 kbit/s link with 800 ms round trips (see body.go).
	BodyMinRate int
	BodyGrace   time.Duration
	// Custody holds the custodial keys the relay signs REST writes with,
	// for members without a key of their own. Default: nil, and then
	// every council write is refused (the relay cannot sign).
	Custody *auth.Custody
	// Signers, if set, gives the keys member writes are signed with
	// instead of Custody: an offline replica signs with the member's own
	// device key. Default: nil (Custody signs).
	Signers Signers
	// Councils reads council documents through cached verified logs
	// (server.Grants). Default: nil, and then every read verifies the
	// whole log (crdt.Read).
	Councils CouncilReader
	// WebSocket tunes sync connections (keepalive, write timeout, frame
	// size). Default: wsconn's defaults.
	WebSocket wsconn.Options
	// Logger receives request errors and the access log: one line per
	// request, and per websocket session when it ends, at info. Default:
	// slog.Default().
	Logger *slog.Logger
	// Metrics is told about requests and refused credentials. Default:
	// NopMetrics.
	Metrics Metrics
	// Backup, if set, serves GET /api/backup to the operator token.
	// Default: nil, and GET /api/backup answers 503.
	Backup BackupFunc
	// BackupStaging is the directory where GET /api/backup writes its copy
	// before sending it (files named BackupStagingPattern; the relay's data
	// directory, which has room for one and is private, fits best).
	// Default: os.TempDir().
	BackupStaging string
	// MetricsHandler, if set, serves GET /metrics to the operator token
	// (a scraper sends it as a bearer token). Default: nil, and the main
	// listener serves no metrics.
	MetricsHandler http.Handler
	// MaxBundleSize bounds the changes of one bundle taken in by POST
	// /api/bundles. Default: bundle.DefaultMaxSize (64 MiB).
	MaxBundleSize int64
}

// Signers gives the signer a member's REST writes are signed with;
// auth.Custody is one.
type Signers interface {
	Signer(ctx context.Context, council, member string) (crdt.Signer, error)
}

// CouncilReader reads a council document through a cached verified
// fact log; server.Grants is one. ReadCouncil is called with the
// document's synchronizer lock held.
type CouncilReader interface {
	ReadCouncil(council string, doc *automerge.Doc, now time.Time) (crdt.View, []crdt.Problem, []crdt.Fact)
}

// Server routes HTTP requests to the relay.
type Server struct {
	relay    *server.Relay
	auth     *auth.Service
	opts     Options
	log      *slog.Logger
	metrics  Metrics
	failures *failureLimiter
	tokens   *keyedLimiter
	conns    *connLimiter
	echo     *echo.Echo
	upgrader wsconn.Upgrader
}

// New returns the HTTP surface of relay.
func New(relay *server.Relay, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBundleSize <= 0 {
		opts.MaxBundleSize = bundle.DefaultMaxSize
	}
	if opts.AuthFailuresPerMinute <= 0 {
		opts.AuthFailuresPerMinute = DefaultAuthFailuresPerMinute
	}
	if opts.Metrics == nil {
		opts.Metrics = NopMetrics{}
	}
	if opts.TokenRequestsPerSecond <= 0 {
		opts.TokenRequestsPerSecond = DefaultTokenRequestsPerSecond
	}
	if opts.MaxConnectionsPerToken <= 0 {
		opts.MaxConnectionsPerToken = DefaultMaxConnectionsPerToken
	}
	if opts.MaxConnectionsPerAddress <= 0 {
		opts.MaxConnectionsPerAddress = DefaultMaxConnectionsPerAddress
	}
	if opts.BodyMinRate <= 0 {
		opts.BodyMinRate = DefaultBodyMinRate
	}
	if opts.BodyGrace <= 0 {
		opts.BodyGrace = DefaultBodyGrace
	}
	s := &Server{
		relay:    relay,
		auth:     opts.Auth,
		opts:     opts,
		log:      opts.Logger,
		metrics:  opts.Metrics,
		failures: newFailureLimiter(opts.AuthFailuresPerMinute, opts.Metrics),
		tokens:   newKeyedLimiter(rate.Limit(opts.TokenRequestsPerSecond), max(1, int(5*opts.TokenRequestsPerSecond))),
		conns:    newConnLimiter(opts.MaxConnectionsPerToken, opts.MaxConnectionsPerAddress),
		echo:     echo.New(),
		upgrader: wsconn.Upgrader{
			// Clients authenticate with a token, not a cookie, so a page
			// from another origin gains nothing by connecting.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	s.echo.HideBanner = true
	s.echo.HidePort = true
	s.echo.HTTPErrorHandler = s.handleError
	s.echo.IPExtractor = ipExtractor(opts.TrustedProxies)
	s.echo.Use(s.accessLog)
	s.echo.Use(s.bodyDeadline)
	s.routes()
	return s
}

// Handler is the http.Handler serving every route.
func (s *Server) Handler() http.Handler { return s.echo }

func (s *Server) routes() {
	s.echo.GET("/healthz", s.healthz)
	s.echo.GET("/sync", s.sync)
	s.echo.GET("/api/openapi.json", s.openAPI)
	if s.opts.MetricsHandler != nil {
		s.echo.GET("/metrics", echo.WrapHandler(s.opts.MetricsHandler), s.requireOperator)
	}

	// Credentials: accepting an invite (the code is the credential) and
	// revoking the token presented.
	s.echo.POST("/api/invites/accept", s.acceptInvite)
	s.echo.POST("/api/tokens/revoke", s.revokeToken, s.requireToken)
	s.echo.GET("/api/tokens/self", s.tokenSelf, s.requireToken)

	// Changes carried by hand: a bundle names its council, and is taken
	// in with the same grants as sync.
	s.echo.POST("/api/bundles", s.importBundle, s.requireToken)

	// The quarantine: input that crashed the Automerge core, and the
	// principals suspended for sending it (operator only).
	s.echo.GET("/api/quarantine", s.listQuarantine, s.requireOperator)
	s.echo.POST("/api/quarantine/:incident/release", s.releaseQuarantine, s.requireOperator)

	// Operations: a hot backup of the store, for the operator.
	s.echo.GET("/api/backup", s.backup, s.requireOperator)

	// The council REST API. Every write is one Automerge change the relay
	// makes on the acting member's behalf, durable before the answer and
	// synced to every connected peer. api/openapi.json documents each
	// route; a test keeps the two in step.
	// member is per route: group middleware would register catch-all routes.
	member := s.requireMember
	g := s.echo.Group("/api/councils")
	g.POST("", s.createCouncil, s.requireCreator)
	g.POST("/:id/invites", s.createInvite, member)
	g.GET("/:id", s.viewCouncil, member)
	g.GET("/:id/history", s.history, member)
	g.GET("/:id/bundle", s.exportBundle, member)
	g.POST("/:id/members", s.join, member)
	g.POST("/:id/members/:member/leave", s.leave, member)
	g.POST("/:id/proposals", s.propose, member)
	g.PATCH("/:id/proposals/:proposal", s.editProposal, member)
	g.POST("/:id/proposals/:proposal/votes", s.vote, member)
	g.POST("/:id/proposals/:proposal/withdraw", s.withdrawProposal, member)
	g.POST("/:id/mandates/:mandate/reports", s.report, member)
	g.POST("/:id/mandates/:mandate/resign", s.resign, member)
	g.POST("/:id/mandates/:mandate/complete", s.complete, member)
	g.POST("/:id/offers", s.postOffer, member)
	g.POST("/:id/offers/:offer/withdraw", s.withdrawOffer, member)
	g.POST("/:id/needs", s.postNeed, member)
	g.POST("/:id/needs/:need/withdraw", s.withdrawNeed, member)
	g.POST("/:id/pledges", s.pledge, member)
	g.POST("/:id/federation/join", s.joinFederation, member)
	g.POST("/:id/federation/leave", s.leaveFederation, member)
	g.POST("/:id/federation/admit", s.admitCouncil, member)
	g.POST("/:id/federation/remove", s.removeCouncil, member)
	g.POST("/:id/minutes", s.startMinutes, member)
	g.PATCH("/:id/minutes/:minutes", s.editMinutes, member)
	g.POST("/:id/records", s.applyRecord, member)
	g.POST("/:id/keys", s.addKey, member)
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{
		"status": "ok",
		"peers":  s.relay.Peers(),
	})
}
