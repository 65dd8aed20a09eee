package client_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/auth"
	"github.com/veche-sync/veche/server/store"
)

// testRelay is a relay wired as veche serve wires it (bbolt store, grants
// from verified fact logs, tokens, custodial keys sealed with a relay
// secret in its data directory), served by httptest on loopback.
type testRelay struct {
	URL      string
	Operator string // the operator's token
	Relay    *server.Relay
	Store    *store.Bolt
	ID       string // the relay's storage id
	close    func()
	ts       *httptest.Server
}

// startRelay starts a relay with its data in dir. Examples call it too,
// so it reports failure by panicking rather than through a *testing.T.
func startRelay(dir string) *testRelay {
	st, err := store.Open(dir, &store.Options{NoSync: true})
	if err != nil {
		panic(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	storageID, err := st.StorageID(context.Background())
	if err != nil {
		panic(err)
	}
	relay := server.New(st, server.Options{Logger: log, StorageID: storageID, SyncInterval: 20 * time.Millisecond})
	grants := server.NewGrants(relay, st)
	relay.SetAccess(grants)
	credentials := auth.New(st)
	operator, err := credentials.IssueOperatorToken(context.Background(), "test")
	if err != nil {
		panic(err)
	}
	custody, err := auth.OpenCustody(st, dir)
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(api.New(relay, api.Options{Auth: credentials, Custody: custody, Councils: grants, Logger: log}).Handler())
	r := &testRelay{URL: ts.URL, Operator: operator, Relay: relay, Store: st, ID: storageID, ts: ts}
	r.close = func() {
		r.ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = relay.Close(ctx)
		_ = st.Close()
	}
	return r
}

// Close stops the relay.
func (r *testRelay) Close() { r.close() }

// WSURL is the relay's websocket endpoint.
func (r *testRelay) WSURL() string { return "ws" + strings.TrimPrefix(r.URL, "http") + "/sync" }

// tempDir makes a temporary directory for examples; remove it when done.
func tempDir() string {
	dir, err := os.MkdirTemp("", "veche-client-")
	if err != nil {
		panic(err)
	}
	return dir
}

func sub(dir, name string) string { return filepath.Join(dir, name) }

// Stop stops serving HTTP (the relay engine and store stay): the relay is
// out of reach.
func (r *testRelay) Stop() { r.ts.Close() }

// Restart serves the relay again on addr.
func (r *testRelay) Restart(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	ts := httptest.NewUnstartedServer(r.ts.Config.Handler)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	r.ts = ts
}
