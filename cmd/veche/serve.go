package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server"
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
	// Anonymous lets connections without a token read and write every
	// document. Flag --anonymous, env VECHE_ANONYMOUS; default true until
	// access control lands.
	Anonymous bool
	// LogLevel is debug, info, warn or error. Flag --log-level, env VECHE_LOG_LEVEL; default info.
	LogLevel string
	// SyncInterval is the shortest time between two sync messages for one
	// peer of one document; changes arriving meanwhile travel together.
	// Flag --sync-interval, env VECHE_SYNC_INTERVAL; default 500ms.
	SyncInterval time.Duration
	// Keepalive is how often a quiet connection is pinged; a peer silent
	// for twice as long again is dropped. Flag --keepalive, env
	// VECHE_KEEPALIVE; default 30s.
	Keepalive time.Duration
	// ShutdownTimeout bounds a graceful shutdown. Default 10s.
	ShutdownTimeout time.Duration

	log      *slog.Logger
	store    *store.Bolt
	relay    *server.Relay
	http     *http.Server
	listener net.Listener
	served   chan error
}

// NewMain returns a Main with the defaults.
func NewMain() *Main {
	return &Main{
		Addr:            ":8080",
		DataDir:         "./veche-data",
		Anonymous:       true,
		LogLevel:        "info",
		SyncInterval:    server.DefaultSyncInterval,
		Keepalive:       30 * time.Second,
		ShutdownTimeout: 10 * time.Second,
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
	if v := os.Getenv("VECHE_ANONYMOUS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("VECHE_ANONYMOUS=%q: want true or false", v)
		}
		m.Anonymous = b
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
	fs.BoolVar(&m.Anonymous, "anonymous", m.Anonymous, "let connections without a token read and write every document (env VECHE_ANONYMOUS)")
	fs.DurationVar(&m.SyncInterval, "sync-interval", m.SyncInterval, "shortest time between two sync messages to one peer for one document (env VECHE_SYNC_INTERVAL)")
	fs.DurationVar(&m.Keepalive, "keepalive", m.Keepalive, "ping a quiet connection this often; drop a peer silent for three times as long (env VECHE_KEEPALIVE)")
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
	m.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

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
	m.relay = server.New(st, server.Options{StorageID: storageID, Logger: m.log, SyncInterval: m.SyncInterval})
	if m.Anonymous {
		m.log.Warn("anonymous access is on: every connection may read and write every document")
	}
	srv := api.New(m.relay, api.Options{
		AllowAnonymous: m.Anonymous,
		Logger:         m.log,
		WebSocket:      wsconn.Options{PingInterval: m.Keepalive, PongTimeout: 2 * m.Keepalive},
	})

	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		_ = m.relay.Close(ctx)
		_ = st.Close()
		return err
	}
	m.listener = ln
	m.http = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 30 * time.Second}
	m.served = make(chan error, 1)
	go func() { m.served <- m.http.Serve(ln) }()
	m.log.Info("relay listening", "addr", ln.Addr().String(), "data", m.DataDir, "peer", m.relay.PeerID())
	return nil
}

// ListenAddr is the address the relay listens on, once Run returned.
func (m *Main) ListenAddr() string { return m.listener.Addr().String() }

// Close stops taking requests, closes every connection after flushing what
// it applied, and closes the store.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), m.ShutdownTimeout)
	defer cancel()
	var errs []error
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
	if m.store != nil {
		if err := m.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.log != nil {
		m.log.Info("relay stopped")
	}
	return errors.Join(errs...)
}
