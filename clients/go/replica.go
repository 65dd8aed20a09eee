package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/auth"
	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/wire"
)

// ReplicaOptions configure a Replica. The zero value of every field
// selects the default documented on it.
type ReplicaOptions struct {
	// Logger receives the replica's logs. Default: discarded.
	Logger *slog.Logger
	// SyncInterval paces the replica's engine (server.Options). Default:
	// 50ms: a replica has one peer at a time, and a person waiting.
	SyncInterval time.Duration
	// NoSync skips fsync in the replica's store: for tests only.
	NoSync bool
}

// A Replica is a local relay that does not listen: the same engine as
// `veche serve` (server.Relay) on its own bbolt store, in the home's
// replica/ directory. Council operations are made on it with no network,
// through the same API a relay serves (Client), and it syncs with relays
// whenever one answers (Sync, Run), over the automerge-repo protocol like
// any phone, with persisted sync state on both sides.
//
// A replica's store is opened by one process at a time; a second gets an
// error saying so.
type Replica struct {
	home      *Home
	storageID string // announced to relays, which key our sync state by it
	store     *store.Bolt
	relay     *server.Relay
	auth      *auth.Service
	local     *http.Client // the replica's own API, in process
	log       *slog.Logger
	links     *links
}

// OpenReplica opens (or makes) the home's replica.
func (h *Home) OpenReplica(opts ReplicaOptions) (*Replica, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = 50 * time.Millisecond
	}
	st, err := store.Open(filepath.Join(h.dir, replicaDir), &store.Options{NoSync: opts.NoSync})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, &Error{Code: CodeUsage, Message: fmt.Sprintf("the replica in %s is in use by another veche process (veche sync --watch?)", h.dir), Err: err}
		}
		return nil, &Error{Code: CodeInternal, Message: fmt.Sprintf("opening the replica in %s: %v", h.dir, err), Err: err}
	}
	storageID, err := st.StorageID(context.Background())
	if err != nil {
		st.Close()
		return nil, &Error{Code: CodeInternal, Message: err.Error(), Err: err}
	}
	l := newLinks()
	relay := server.New(st, server.Options{
		StorageID:    storageID,
		Logger:       opts.Logger,
		SyncInterval: opts.SyncInterval,
		Share:        l,
		Observer:     l,
	})
	credentials := auth.New(st)
	// The replica's own API serves one person on this computer: the
	// limits a relay keeps against strangers do not apply. Operations made
	// on it are signed with the home's device key (registered with the
	// council at login), verified like any other.
	handler := api.New(relay, api.Options{Auth: credentials, Signers: homeSigners{h}, Logger: opts.Logger, TokenRequestsPerSecond: 1e9}).Handler()
	return &Replica{
		home:      h,
		storageID: storageID,
		store:     st,
		relay:     relay,
		auth:      credentials,
		local:     &http.Client{Transport: inProcess{handler}},
		log:       opts.Logger,
		links:     l,
	}, nil
}

// StorageID is the id of the replica's store, which relays key the sync
// state they keep for it by.
func (r *Replica) StorageID() string { return r.storageID }

// Close stops the replica, committing what it holds, and closes its store.
func (r *Replica) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := r.relay.Close(ctx)
	if cerr := r.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// Holds reports whether the replica holds council, and its heads.
func (r *Replica) Holds(ctx context.Context, council string) ([]string, bool) {
	var heads []string
	err := r.relay.View(ctx, wire.DocumentID(council), func(doc *automerge.Doc) error {
		heads = hexHeads(doc.Heads())
		return nil
	})
	return heads, err == nil
}

// Client returns a client of the replica's own API acting as the home's
// member of council: the same typed calls as against a relay, answered by
// the replica with no network. The changes it makes travel at the next
// sync.
func (r *Replica) Client(ctx context.Context, council string) (*Client, error) {
	m, ok, err := r.home.Membership(council, "")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(CodeOffline, "this home (%s) is no member of council %s: log in once with its token (veche login), or accept an invite with --save", r.home.dir, council)
	}
	if _, held := r.Holds(ctx, council); !held {
		return nil, errorf(CodeOffline, "the replica does not hold council %s yet: run 'veche sync' once while its relay answers", council)
	}
	if m.LocalToken == "" {
		if m.LocalToken, err = r.auth.IssueMemberToken(ctx, council, m.Member); err != nil {
			return nil, &Error{Code: CodeInternal, Message: "issuing the replica's token", Err: err}
		}
		if err := r.home.Save(m); err != nil {
			return nil, err
		}
	}
	c := &Client{base: "http://replica.invalid", token: m.LocalToken, http: r.local}
	// Its writes are signed with this computer's key: it must count for
	// the member in the replica's copy of the council.
	key, err := r.home.Key()
	if err != nil {
		return nil, err
	}
	v, err := c.Council(ctx, council)
	if err != nil {
		return nil, err
	}
	if mm, ok := v.Member(m.Member); !ok || !mm.HasKey(crdt.EncodeKey(key.Public().(ed25519.PublicKey)), time.Now()) {
		return nil, errorf(CodeOffline, "this computer's key does not count for member %s in council %s yet: run 'veche login' once while the relay answers (it registers the key), then 'veche sync'", m.Member, council)
	}
	return c, nil
}

// inProcess is an http.RoundTripper that serves requests with a handler
// in this process: the replica's API has no listener.
type inProcess struct{ h http.Handler }

// RoundTrip serves req with the handler.
func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	req.RemoteAddr = "127.0.0.1:0" // for the API's failed-authentication limit
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// links is the replica's SharePolicy and SyncObserver: which council each
// dialed link carries, and what the relay at its other end announced.
type links struct {
	mu      sync.Mutex // guards the following
	share   map[string]wire.DocumentID
	heard   map[string][]automerge.ChangeHash
	refused map[string]bool
	changed chan struct{} // closed and replaced whenever something is heard
}

func newLinks() *links {
	return &links{share: map[string]wire.DocumentID{}, heard: map[string][]automerge.ChangeHash{}, refused: map[string]bool{}, changed: make(chan struct{})}
}

// Share implements server.SharePolicy.
func (l *links) Share(p server.Principal) []wire.DocumentID {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id, ok := l.share[p.ID]; ok {
		return []wire.DocumentID{id}
	}
	return nil
}

// PeerHeads implements server.SyncObserver.
func (l *links) PeerHeads(p server.Principal, doc wire.DocumentID, heads []automerge.ChangeHash) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.share[p.ID] == doc {
		l.heard[p.ID] = heads
		l.wake()
	}
}

// PeerUnavailable implements server.SyncObserver.
func (l *links) PeerUnavailable(p server.Principal, doc wire.DocumentID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.share[p.ID] == doc {
		l.refused[p.ID] = true
		l.wake()
	}
}

// wake tells waiters something was heard. Called with mu held.
func (l *links) wake() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// open registers a link about to be dialed.
func (l *links) open(id string, doc wire.DocumentID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.share[id] = doc
	delete(l.heard, id)
	delete(l.refused, id)
}

func (l *links) close(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.share, id)
	delete(l.heard, id)
	delete(l.refused, id)
}

// state returns what the link heard last, and a channel closed when it
// hears more.
func (l *links) state(id string) (heads []automerge.ChangeHash, heard, refused bool, changed <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	heads, heard = l.heard[id]
	return heads, heard, l.refused[id], l.changed
}

func hexHeads(hs []automerge.ChangeHash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}
