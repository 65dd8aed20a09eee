package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/metrics"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/auth"
	"github.com/veche-sync/veche/server/crashmark"
	"github.com/veche-sync/veche/server/sandbox"
	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/wsconn"
)

// Main is the relay program: flags and environment wired into a store, a
// relay and the HTTP surface. End-to-end tests run it in-process on :0.
type Main struct {
	// Addr is the listen address. Flag --addr, env VECHE_ADDR; default ":8080".
	Addr string
	// DataDir holds the bbolt store. Flag --data, env VECHE_DATA; default "./veche-data".
	DataDir string
	// Anonymous lets websocket connections without a token sync, as
	// server.AnonymousPrincipal (the REST API always wants a token). Flag
	// --anonymous, env VECHE_ANONYMOUS; default false.
	Anonymous bool
	// OpenRegistration lets anyone create a council; else only the
	// operator may. Flag --open-registration, env
	// VECHE_OPEN_REGISTRATION; default false.
	OpenRegistration bool
	// Limits bounds what one peer may ask of the relay, and the size of
	// the messages it sends. Flags --max-frame-bytes,
	// --max-documents-per-connection, --max-messages-per-second,
	// --max-document-bytes, --max-message-bytes (env VECHE_MAX_…);
	// defaults 8 MiB, 4096, 200, 256 MiB, 128 KiB.
	Limits Limits
	// AuthFailuresPerMinute is how many failed authentications one remote
	// address may make in a minute before it is answered 429 for the rest
	// of it. Flag --auth-failures-per-minute, env
	// VECHE_AUTH_FAILURES_PER_MINUTE; default 20.
	AuthFailuresPerMinute int
	// TLSCert and TLSKey are PEM files of a certificate (chain) and its
	// key; with both, the relay serves HTTPS and wss:// itself. Flags
	// --tls-cert and --tls-key, env VECHE_TLS_CERT and VECHE_TLS_KEY;
	// default none (plain HTTP, e.g. behind a proxy that terminates TLS).
	TLSCert, TLSKey string
	// LogLevel is debug, info, warn or error. Flag --log-level, env VECHE_LOG_LEVEL; default info.
	LogLevel string
	// SyncInterval is the longest a busy document waits between two
	// rounds of sync messages (one per peer); changes arriving meanwhile
	// travel together. It is the pace under load: while the relay has CPU
	// to spare, rounds come every MinSyncInterval. Flag --sync-interval,
	// env VECHE_SYNC_INTERVAL; default 500ms.
	SyncInterval time.Duration
	// CompressMinBytes is the size from which a websocket frame the relay
	// sends goes compressed (permessage-deflate) to a peer that offers it,
	// as stock Node and browser clients do; 0 turns compression off. Flag
	// --compress-min-bytes, env VECHE_COMPRESS_MIN_BYTES; default 4096.
	CompressMinBytes int64
	// MinSyncInterval is the wait between two rounds of a busy document
	// while the relay has CPU to spare; it grows to SyncInterval as the
	// relay's load grows (server.Options.MinSyncInterval). Set it to
	// SyncInterval for a fixed pace. Flag --min-sync-interval, env
	// VECHE_MIN_SYNC_INTERVAL; default 50ms.
	MinSyncInterval time.Duration
	// Keepalive is how often a quiet connection is pinged; a peer silent
	// for twice as long again is dropped. Flag --keepalive, env
	// VECHE_KEEPALIVE; default 30s.
	Keepalive time.Duration
	// TrustedProxy lists (comma-separated CIDRs) the reverse proxies whose
	// X-Forwarded-For names the client for the limits per address. Flag
	// --trusted-proxy, env VECHE_TRUSTED_PROXY; default none (the TCP
	// peer is the client).
	TrustedProxy string
	// SandboxWorkers is how many worker processes check untrusted
	// Automerge input before the relay applies it (see server/doc.go).
	// Flag --sandbox-workers, env VECHE_SANDBOX_WORKERS; default the
	// number of CPUs, at most 4.
	SandboxWorkers int
	// Sandbox says when untrusted input meets the Automerge core in the
	// sandbox workers before the relay's own core: "auto", the default:
	// never while nothing has crashed the core, always from the start
	// after a crash — while the supervisor hands over crash marks, or the
	// quarantine recorded an incident within SandboxAfterCrash — and
	// always without a supervisor (a crash there would end the relay);
	// "always"; or "never" (only the supervisor contains a crash, which
	// restarts the relay and drops every connection once). "true" and
	// "false" mean always and never. Flag --sandbox, env VECHE_SANDBOX.
	// server/doc.go (Containment) says why auto is the default.
	Sandbox string
	// Supervise runs the relay as a child process of veche serve, which
	// starts it again at once when the Automerge core kills it, and tells
	// it what was in the core then (supervise.go). Flag --supervise, env
	// VECHE_SUPERVISE; default true. Only the veche command supervises;
	// Main.Run always runs the relay itself.
	Supervise bool
	// ShutdownTimeout bounds a graceful shutdown. Default 10s.
	ShutdownTimeout time.Duration
	// MetricsAddr, if set, is a second listen address serving GET
	// /metrics (Prometheus) to anyone who can reach it: keep it on
	// loopback or a private network. Flag --metrics-addr, env
	// VECHE_METRICS_ADDR; default none.
	MetricsAddr string
	// PublicMetrics serves GET /metrics on the main listener too, to the
	// operator token only. Flag --public-metrics, env
	// VECHE_PUBLIC_METRICS; default false.
	PublicMetrics bool

	// OperatorTokenPath is where the operator token is kept, once Run
	// returned: <DataDir>/operator.token.
	OperatorTokenPath string

	logOutput   io.Writer     // where logs go; nil: os.Stderr
	commitDelay time.Duration // env VECHE_TEST_COMMIT_DELAY only: a slow disk, for crash tests
	log         *slog.Logger
	store       *store.Bolt
	sandbox     *sandbox.Pool
	marks       *crashmark.Board // shared with the supervisor; nil unsupervised
	crashSite   string           // where the core said it panicked when it killed the last relay process
	relay       *server.Relay
	http        *http.Server
	listener    net.Listener
	served      chan error
	metrics     *metrics.Prometheus

	metricsHTTP     *http.Server
	metricsListener net.Listener
}

// NewMain returns a Main with the defaults.
func NewMain() *Main {
	return &Main{
		Addr:             ":8080",
		DataDir:          "./veche-data",
		LogLevel:         "info",
		SyncInterval:     server.DefaultSyncInterval,
		MinSyncInterval:  server.DefaultMinSyncInterval,
		Keepalive:        30 * time.Second,
		CompressMinBytes: wsconn.DefaultCompressMinSize,
		ShutdownTimeout:  10 * time.Second,
		Sandbox:          sandboxAuto,
		Supervise:        true,

		AuthFailuresPerMinute: api.DefaultAuthFailuresPerMinute,
		Limits: Limits{
			MaxFrameBytes:             8 << 20,
			MaxDocumentsPerConnection: 4096,
			MaxDocumentsPerCouncil:    server.DefaultMaxDocumentsPerCouncil,
			MaxMessagesPerSecond:      200,
			MaxDocumentBytes:          256 << 20,
			MaxConnectionsPerToken:    api.DefaultMaxConnectionsPerToken,
			MaxConnectionsPerAddress:  api.DefaultMaxConnectionsPerAddress,
			TokenRequestsPerSecond:    api.DefaultTokenRequestsPerSecond,
			MaxMessageBytes:           server.DefaultMaxMessageSize,
		},
	}
}

// ParseFlags reads the environment, then flags, which win.
func (m *Main) ParseFlags(args []string) error {
	if v := os.Getenv("VECHE_ADDR"); v != "" {
		m.Addr = v
	}
	if v := os.Getenv("VECHE_DATA"); v != "" {
		m.DataDir = v
	}
	if v := os.Getenv("VECHE_METRICS_ADDR"); v != "" {
		m.MetricsAddr = v
	}
	for name, dst := range map[string]*bool{"VECHE_ANONYMOUS": &m.Anonymous, "VECHE_OPEN_REGISTRATION": &m.OpenRegistration, "VECHE_PUBLIC_METRICS": &m.PublicMetrics,
		"VECHE_SUPERVISE": &m.Supervise} {
		if v := os.Getenv(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s=%q: want true or false", name, v)
			}
			*dst = b
		}
	}
	if v := os.Getenv("VECHE_AUTH_FAILURES_PER_MINUTE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("VECHE_AUTH_FAILURES_PER_MINUTE=%q: want a number", v)
		}
		m.AuthFailuresPerMinute = n
	}
	for name, dst := range map[string]*int64{
		"VECHE_MAX_FRAME_BYTES":              &m.Limits.MaxFrameBytes,
		"VECHE_MAX_DOCUMENTS_PER_CONNECTION": &m.Limits.MaxDocumentsPerConnection,
		"VECHE_MAX_DOCUMENTS_PER_COUNCIL":    &m.Limits.MaxDocumentsPerCouncil,
		"VECHE_MAX_MESSAGES_PER_SECOND":      &m.Limits.MaxMessagesPerSecond,
		"VECHE_MAX_DOCUMENT_BYTES":           &m.Limits.MaxDocumentBytes,
		"VECHE_MAX_CONNECTIONS_PER_TOKEN":    &m.Limits.MaxConnectionsPerToken,
		"VECHE_MAX_CONNECTIONS_PER_ADDRESS":  &m.Limits.MaxConnectionsPerAddress,
		"VECHE_TOKEN_REQUESTS_PER_SECOND":    &m.Limits.TokenRequestsPerSecond,
		"VECHE_MAX_MESSAGE_BYTES":            &m.Limits.MaxMessageBytes,
		"VECHE_COMPRESS_MIN_BYTES":           &m.CompressMinBytes,
	} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%s=%q: want a whole number", name, v)
			}
			*dst = n
		}
	}
	if v := os.Getenv("VECHE_TEST_COMMIT_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("VECHE_TEST_COMMIT_DELAY=%q: %w", v, err)
		}
		m.commitDelay = d
	}
	if v := os.Getenv("VECHE_TRUSTED_PROXY"); v != "" {
		m.TrustedProxy = v
	}
	if v := os.Getenv("VECHE_SANDBOX"); v != "" {
		m.Sandbox = v
	}
	if v := os.Getenv("VECHE_SANDBOX_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("VECHE_SANDBOX_WORKERS=%q: want a number", v)
		}
		m.SandboxWorkers = n
	}
	if v := os.Getenv("VECHE_TLS_CERT"); v != "" {
		m.TLSCert = v
	}
	if v := os.Getenv("VECHE_TLS_KEY"); v != "" {
		m.TLSKey = v
	}
	if v := os.Getenv("VECHE_LOG_LEVEL"); v != "" {
		m.LogLevel = v
	}
	if v := os.Getenv("VECHE_SYNC_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("VECHE_SYNC_INTERVAL=%q: %w", v, err)
		}
		m.SyncInterval = d
	}
	if v := os.Getenv("VECHE_MIN_SYNC_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("VECHE_MIN_SYNC_INTERVAL=%q: %w", v, err)
		}
		m.MinSyncInterval = d
	}
	if v := os.Getenv("VECHE_KEEPALIVE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("VECHE_KEEPALIVE=%q: %w", v, err)
		}
		m.Keepalive = d
	}
	fs := flag.NewFlagSet("veche serve", flag.ContinueOnError)
	fs.StringVar(&m.Addr, "addr", m.Addr, "listen address (env VECHE_ADDR)")
	fs.StringVar(&m.DataDir, "data", m.DataDir, "data directory holding the bbolt store (env VECHE_DATA)")
	fs.BoolVar(&m.Anonymous, "anonymous", m.Anonymous, "let websocket connections without a token sync (env VECHE_ANONYMOUS)")
	fs.BoolVar(&m.OpenRegistration, "open-registration", m.OpenRegistration, "let anyone create a council, not only the operator (env VECHE_OPEN_REGISTRATION)")
	fs.Int64Var(&m.Limits.MaxFrameBytes, "max-frame-bytes", m.Limits.MaxFrameBytes, "largest websocket frame a peer may send (env VECHE_MAX_FRAME_BYTES)")
	fs.Int64Var(&m.Limits.MaxDocumentsPerConnection, "max-documents-per-connection", m.Limits.MaxDocumentsPerConnection, "documents one connection may sync at once (env VECHE_MAX_DOCUMENTS_PER_CONNECTION)")
	fs.Int64Var(&m.Limits.MaxDocumentsPerCouncil, "max-documents-per-council", m.Limits.MaxDocumentsPerCouncil, "documents the members of one council may create over the websocket, all told (env VECHE_MAX_DOCUMENTS_PER_COUNCIL)")
	fs.Int64Var(&m.Limits.MaxMessagesPerSecond, "max-messages-per-second", m.Limits.MaxMessagesPerSecond, "messages one connection may send per second, sustained (env VECHE_MAX_MESSAGES_PER_SECOND)")
	fs.Int64Var(&m.Limits.MaxDocumentBytes, "max-document-bytes", m.Limits.MaxDocumentBytes, "largest stored size of one document (env VECHE_MAX_DOCUMENT_BYTES)")
	fs.Int64Var(&m.Limits.MaxMessageBytes, "max-message-bytes", m.Limits.MaxMessageBytes, "largest sync message the relay sends; a larger answer goes as slices a phone keeps as they arrive (env VECHE_MAX_MESSAGE_BYTES)")
	fs.Int64Var(&m.CompressMinBytes, "compress-min-bytes", m.CompressMinBytes, "websocket frames the relay sends of at least this size go compressed (permessage-deflate) to peers that offer it; 0: never (env VECHE_COMPRESS_MIN_BYTES)")
	fs.IntVar(&m.AuthFailuresPerMinute, "auth-failures-per-minute", m.AuthFailuresPerMinute, "failed authentications one address may make in a minute before it gets 429 (env VECHE_AUTH_FAILURES_PER_MINUTE)")
	fs.StringVar(&m.TLSCert, "tls-cert", m.TLSCert, "PEM certificate file; with --tls-key, serve HTTPS and wss:// (env VECHE_TLS_CERT)")
	fs.StringVar(&m.TLSKey, "tls-key", m.TLSKey, "PEM key file of --tls-cert (env VECHE_TLS_KEY)")
	fs.DurationVar(&m.SyncInterval, "sync-interval", m.SyncInterval, "longest wait between two sync messages to one peer for a busy document: the pace when the relay is loaded (env VECHE_SYNC_INTERVAL)")
	fs.DurationVar(&m.MinSyncInterval, "min-sync-interval", m.MinSyncInterval, "wait between two sync messages to one peer for a busy document while the relay has CPU to spare; --sync-interval or more for a fixed pace (env VECHE_MIN_SYNC_INTERVAL)")
	fs.DurationVar(&m.Keepalive, "keepalive", m.Keepalive, "ping a quiet connection this often; drop a peer silent for three times as long (env VECHE_KEEPALIVE)")
	fs.StringVar(&m.MetricsAddr, "metrics-addr", m.MetricsAddr, "serve GET /metrics (Prometheus) on this second address, without a token: keep it private (env VECHE_METRICS_ADDR)")
	fs.StringVar(&m.Sandbox, "sandbox", m.Sandbox, "when untrusted Automerge input meets the core in worker processes first: auto (never until the core crashes, then always while an incident is less than a day old; always without the supervisor); always; or never (the supervisor alone contains a crash: it restarts the relay and every connection drops once) (env VECHE_SANDBOX)")
	fs.BoolVar(&m.Supervise, "supervise", m.Supervise, "run the relay in a child process and start it again at once if the Automerge core kills it (env VECHE_SUPERVISE)")
	fs.BoolVar(&m.PublicMetrics, "public-metrics", m.PublicMetrics, "serve GET /metrics on the main listener too, to the operator token only (env VECHE_PUBLIC_METRICS)")
	fs.Int64Var(&m.Limits.MaxConnectionsPerToken, "max-connections-per-token", m.Limits.MaxConnectionsPerToken, "sync connections one member (token) may hold open at once (env VECHE_MAX_CONNECTIONS_PER_TOKEN)")
	fs.Int64Var(&m.Limits.MaxConnectionsPerAddress, "max-connections-per-address", m.Limits.MaxConnectionsPerAddress, "sync connections one remote address may hold open at once (env VECHE_MAX_CONNECTIONS_PER_ADDRESS)")
	fs.Int64Var(&m.Limits.TokenRequestsPerSecond, "token-requests-per-second", m.Limits.TokenRequestsPerSecond, "requests one token may make per second, sustained, five seconds' worth at once (env VECHE_TOKEN_REQUESTS_PER_SECOND)")
	fs.StringVar(&m.TrustedProxy, "trusted-proxy", m.TrustedProxy, "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client (env VECHE_TRUSTED_PROXY)")
	fs.IntVar(&m.SandboxWorkers, "sandbox-workers", m.SandboxWorkers, "worker processes that check untrusted Automerge input before the relay applies it; 0: one per CPU, at most 4 (env VECHE_SANDBOX_WORKERS)")
	fs.StringVar(&m.LogLevel, "log-level", m.LogLevel, "debug, info, warn or error (env VECHE_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return err
	}
	if m.Keepalive < time.Second {
		return fmt.Errorf("--keepalive %s: must be at least 1s", m.Keepalive)
	}
	if m.SyncInterval <= 0 {
		return fmt.Errorf("--sync-interval %s: must be positive", m.SyncInterval)
	}
	if m.MinSyncInterval <= 0 {
		return fmt.Errorf("--min-sync-interval %s: must be positive", m.MinSyncInterval)
	}
	if err := m.Limits.check(); err != nil {
		return err
	}
	if m.CompressMinBytes < 0 || m.CompressMinBytes > 1<<30 {
		return fmt.Errorf("--compress-min-bytes %d: must be between 0 (off) and 1 GiB", m.CompressMinBytes)
	}
	if _, err := m.trustedProxies(); err != nil {
		return err
	}
	switch m.Sandbox {
	case sandboxAuto, sandboxAlways, sandboxNever:
	case "true":
		m.Sandbox = sandboxAlways
	case "false":
		m.Sandbox = sandboxNever
	default:
		return fmt.Errorf("--sandbox %q: want auto, always or never", m.Sandbox)
	}
	if m.SandboxWorkers < 0 {
		return fmt.Errorf("--sandbox-workers %d: must not be negative", m.SandboxWorkers)
	}
	if m.AuthFailuresPerMinute < 1 {
		return fmt.Errorf("--auth-failures-per-minute %d: must be at least 1", m.AuthFailuresPerMinute)
	}
	if (m.TLSCert == "") != (m.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both, or neither")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}

// Run opens the store, starts the relay and begins serving; it returns once
// the listener is up.
func (m *Main) Run(ctx context.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(m.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", m.LogLevel)
	}
	out := m.logOutput
	if out == nil {
		out = os.Stderr
	}
	m.log = slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))

	tuneMalloc()
	st, err := store.Open(m.DataDir, nil)
	if err != nil {
		return err
	}
	m.store = st
	storageID, err := st.StorageID(ctx)
	if err != nil {
		_ = st.Close()
		return err
	}
	credentials := auth.New(st)
	path, created, err := auth.EnsureOperatorToken(ctx, credentials, m.DataDir)
	if err != nil {
		_ = st.Close()
		return err
	}
	m.OperatorTokenPath = path
	if created {
		m.log.Info("created the operator token: it creates councils; keep it secret", "file", path)
	} else {
		m.log.Info("operator token", "file", path)
	}
	var tlsConfig *tls.Config
	if m.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(m.TLSCert, m.TLSKey)
		if err != nil {
			_ = st.Close()
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	// The Automerge core aborts the process on a panic, and malformed
	// changes are known to panic it: untrusted input meets it first in
	// worker processes (server/doc.go).
	var pool *sandbox.Pool
	m.metrics = metrics.New(build())
	m.metrics.WatchStore(st.Stats)
	if err := m.openMarks(); err != nil {
		_ = st.Close()
		return err
	}
	// What the last relay process left in the core when it died is read
	// before this one marks anything.
	left := m.marks.Left()
	m.marks.Clear()
	if len(left) > 0 && os.Getenv(envAborted) != "1" {
		// Killed from outside (out of memory, say) or a panic of our own:
		// what was in the core then is not to blame.
		for _, mk := range left {
			m.log.Warn("the last relay process did not die of the Automerge core; not blaming what it had in the core", "doc", mk.Document, "op", mk.Op.String(), "principal", mk.Principal)
		}
		left = nil
	}
	if on, why := m.sandboxNeeded(ctx, st, left); on {
		if pool, err = sandbox.Start(sandbox.Options{Workers: m.SandboxWorkers, Logger: m.log}); err != nil {
			_ = st.Close()
			return err
		}
		m.sandbox = pool
		m.metrics.WatchSandbox(pool.Restarts)
		m.log.Info("sandbox on: untrusted input meets the Automerge core in worker processes first", "why", why)
	} else {
		m.log.Info("sandbox off: untrusted input meets the relay's own Automerge core, and the supervisor contains a crash", "why", why)
	}
	m.relay = server.New(st, server.Options{
		Metrics:                m.metrics,
		Sandbox:                pool,
		Marks:                  m.marks,
		CommitDelay:            m.commitDelay,
		Quarantine:             st,
		StorageID:              storageID,
		Logger:                 m.log,
		SyncInterval:           m.SyncInterval,
		MinSyncInterval:        min(m.MinSyncInterval, m.SyncInterval),
		MaxFrameSize:           int(m.Limits.MaxFrameBytes),
		MaxDocumentsPerConn:    int(m.Limits.MaxDocumentsPerConnection),
		MaxDocumentsPerCouncil: int(m.Limits.MaxDocumentsPerCouncil),
		MaxMessagesPerSecond:   float64(m.Limits.MaxMessagesPerSecond),
		MaxDocumentSize:        m.Limits.MaxDocumentBytes,
		MaxMessageSize:         int(m.Limits.MaxMessageBytes),
	})
	m.metrics.WatchTraffic(m.relay.Traffic)
	m.relay.Recover(left, m.crashSite)
	go releaseAfterUnload(ctx, 5*time.Second, m.relay.LoadedDocuments, collectGarbage, releaseFreeMemory)
	custody, err := auth.OpenCustody(st, m.DataDir)
	if err != nil {
		_ = st.Close()
		return err
	}
	// Every grant derives from the verified fact logs of the council
	// documents; the REST API reads councils through the same cached logs.
	grants := server.NewGrants(m.relay, st)
	if m.Anonymous {
		// Anonymous relays are for trusted networks: every connection may
		// read and write every document.
		m.log.Warn("anonymous access is on: every websocket connection may read and write every document")
	} else {
		m.relay.SetAccess(grants)
	}
	if m.OpenRegistration {
		m.log.Warn("open registration is on: anyone may create a council")
	}
	var metricsHandler http.Handler
	if m.PublicMetrics {
		metricsHandler = m.metrics.Handler()
	}
	proxies, _ := m.trustedProxies() // checked by ParseFlags
	srv := api.New(m.relay, api.Options{
		Metrics:        m.metrics,
		MetricsHandler: metricsHandler,
		Backup: func(ctx context.Context, begin func(int64) (io.Writer, error)) error {
			_, err := st.WriteBackup(ctx, begin)
			return err
		},
		BackupStaging:            m.DataDir,
		Auth:                     credentials,
		Custody:                  custody,
		Councils:                 grants,
		AllowAnonymous:           m.Anonymous,
		OpenRegistration:         m.OpenRegistration,
		AuthFailuresPerMinute:    m.AuthFailuresPerMinute,
		TokenRequestsPerSecond:   float64(m.Limits.TokenRequestsPerSecond),
		MaxConnectionsPerToken:   int(m.Limits.MaxConnectionsPerToken),
		MaxConnectionsPerAddress: int(m.Limits.MaxConnectionsPerAddress),
		TrustedProxies:           proxies,
		Logger:                   m.log,
		WebSocket: wsconn.Options{PingInterval: m.Keepalive, PongTimeout: 2 * m.Keepalive, MaxFrameSize: m.Limits.MaxFrameBytes,
			CompressMinSize: m.compressMinSize()},
	})

	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		_ = m.relay.Close(ctx)
		_ = st.Close()
		return err
	}
	m.listener = ln
	m.http = &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		// Bodies are held to a minimal rate by the API (api/body.go), not
		// a fixed ReadTimeout a slow but live link could not meet; a
		// kept-alive connection with nothing to say is closed after this.
		IdleTimeout: 2 * time.Minute,
		TLSConfig:   tlsConfig,
		ErrorLog:    slog.NewLogLogger(m.log.Handler(), slog.LevelDebug), // TLS handshake failures and the like
	}
	m.served = make(chan error, 1)
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		go func() { m.served <- m.http.ServeTLS(ln, "", "") }()
	} else {
		go func() { m.served <- m.http.Serve(ln) }()
	}
	m.log.Info("relay listening", "addr", ln.Addr().String(), "scheme", scheme, "data", m.DataDir, "peer", m.relay.PeerID())
	// Copies a backup left behind when the relay died while sending it.
	if stale, _ := filepath.Glob(filepath.Join(m.DataDir, api.BackupStagingPattern)); len(stale) > 0 {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	if err := writeEndpoint(m.DataDir, ln.Addr(), m.TLSCert); err != nil {
		m.log.Warn("cannot say where the relay listens (veche backup will need --relay)", "err", err)
	}
	if m.MetricsAddr != "" {
		if err := m.serveMetrics(); err != nil {
			_ = m.Close()
			return fmt.Errorf("--metrics-addr: %w", err)
		}
	}
	return nil
}

// serveMetrics serves GET /metrics on MetricsAddr.
func (m *Main) serveMetrics() error {
	ln, err := net.Listen("tcp", m.MetricsAddr)
	if err != nil {
		return err
	}
	m.metricsListener = ln
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.metrics.Handler())
	m.metricsHTTP = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = m.metricsHTTP.Serve(ln) }()
	m.log.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	return nil
}

// MetricsListenAddr is the address of the metrics listener, once Run
// returned with MetricsAddr set.
func (m *Main) MetricsListenAddr() string { return m.metricsListener.Addr().String() }

// ListenAddr is the address the relay listens on, once Run returned.
func (m *Main) ListenAddr() string { return m.listener.Addr().String() }

// Close stops taking requests, closes every connection after flushing what
// it applied, and closes the store.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), m.ShutdownTimeout)
	defer cancel()
	var errs []error
	if m.metricsHTTP != nil {
		if err := m.metricsHTTP.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if m.http != nil {
		if err := m.http.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if m.relay != nil {
		if err := m.relay.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if m.sandbox != nil {
		_ = m.sandbox.Close()
	}
	if m.store != nil {
		_ = os.Remove(filepath.Join(m.DataDir, endpointFile))
		if err := m.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.log != nil {
		m.log.Info("relay stopped")
	}
	return errors.Join(errs...)
}

// Limits bounds what one peer may ask of the relay; every field must be
// positive.
type Limits struct {
	MaxFrameBytes             int64
	MaxDocumentsPerConnection int64
	MaxDocumentsPerCouncil    int64
	MaxMessagesPerSecond      int64
	MaxDocumentBytes          int64
	MaxConnectionsPerToken    int64
	MaxConnectionsPerAddress  int64
	TokenRequestsPerSecond    int64
	MaxMessageBytes           int64
}

func (l Limits) check() error {
	for name, v := range map[string]int64{
		"--max-frame-bytes":              l.MaxFrameBytes,
		"--max-documents-per-connection": l.MaxDocumentsPerConnection,
		"--max-documents-per-council":    l.MaxDocumentsPerCouncil,
		"--max-messages-per-second":      l.MaxMessagesPerSecond,
		"--max-document-bytes":           l.MaxDocumentBytes,
		"--max-connections-per-token":    l.MaxConnectionsPerToken,
		"--max-connections-per-address":  l.MaxConnectionsPerAddress,
		"--token-requests-per-second":    l.TokenRequestsPerSecond,
	} {
		if v < 1 {
			return fmt.Errorf("%s %d: must be at least 1", name, v)
		}
	}
	if l.MaxMessageBytes < 1<<10 || l.MaxMessageBytes > 1<<30 {
		return fmt.Errorf("--max-message-bytes %d: must be between 1 KiB and 1 GiB", l.MaxMessageBytes)
	}
	return nil
}

// compressMinSize is CompressMinBytes as wsconn takes it: negative for off.
func (m *Main) compressMinSize() int {
	if m.CompressMinBytes == 0 {
		return -1
	}
	return int(m.CompressMinBytes)
}

// trustedProxies parses TrustedProxy.
func (m *Main) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(m.TrustedProxy, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxy %q: want CIDRs like 10.0.0.1/32,fd00::/8: %w", m.TrustedProxy, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// releaseAfterUnload runs collect every interval (5 s in serve) and
// release whenever fewer documents are loaded than at the last look.
// automerge-go frees the C memory of every document and every result of a
// call in Go finalizers, which run only after a Go collection; the relay's
// Go heap is small, so without a nudge a collection comes rarely and
// Automerge's freed memory piles up by the gigabyte under load (issue 11).
// collect (collectGarbage) is that nudge: a collection of a small heap,
// a few milliseconds. release (releaseFreeMemory) also gives the C
// allocator's free memory back to the system, so a relay that served many
// councils and is now idle returns near its baseline; while documents
// stay loaded nothing is returned, and the allocator's tuning for busy
// documents (tuneMalloc) holds.
func releaseAfterUnload(ctx context.Context, interval time.Duration, loaded func() int, collect, release func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	last := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := loaded()
		if n < last {
			release()
		} else {
			collect()
		}
		last = n
	}
}

// The values of Main.Sandbox.
const (
	sandboxAuto   = "auto"
	sandboxAlways = "always"
	sandboxNever  = "never"
)

// SandboxAfterCrash is how long, under --sandbox auto, a quarantine
// incident keeps the sandbox on at the relay's next starts.
const SandboxAfterCrash = 24 * time.Hour

// sandboxNeeded decides whether this relay process checks untrusted input
// in sandbox workers first, and says why.
func (m *Main) sandboxNeeded(ctx context.Context, st *store.Bolt, left []crashmark.Mark) (bool, string) {
	switch {
	case m.Sandbox == sandboxAlways:
		return true, "--sandbox always"
	case m.Sandbox == sandboxNever:
		return false, "--sandbox never"
	case !supervised():
		return true, "no supervisor would restart the relay after a crash"
	case len(left) > 0:
		return true, "the Automerge core killed the last relay process"
	case os.Getenv(envAborted) == "1":
		// It died of an abort, as the core's panics end, with nothing
		// marked: a crash in a call no mark covers. Nothing can be blamed,
		// and no incident keeps the sandbox on, so without this the same
		// input could restart the relay again and again.
		return true, "the last relay process died of an abort with nothing marked (a crash in the Automerge core outside a marked call)"
	}
	incidents, err := st.Incidents(ctx)
	if err != nil {
		return true, "the quarantine cannot be read: " + err.Error()
	}
	for _, inc := range incidents {
		if time.Since(inc.At) < SandboxAfterCrash {
			return true, fmt.Sprintf("input crashed the Automerge core at %s (incident %s)", inc.At.Format(time.RFC3339), inc.ID)
		}
	}
	return false, "nothing crashed the Automerge core in the last " + SandboxAfterCrash.String() + " (--sandbox auto)"
}
