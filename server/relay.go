package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/veche-sync/veche/server/crashmark"
	"github.com/veche-sync/veche/server/sandbox"
	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/wire"
)

// Options configure a Relay. The zero value of every field selects the
// default documented on it.
type Options struct {
	// PeerID is the senderId the relay announces. Default: "veche-" and
	// 8 random hex bytes, new at every start.
	PeerID string
	// StorageID identifies the relay's store to peers, which key the sync
	// state they persist by it. It must be stable across restarts for
	// reconnecting peers to resume cheaply. Default: none announced.
	StorageID string
	// Access decides who may read and write which document.
	// Default: AllowAll.
	Access Access
	// Logger receives structured logs. Default: slog.Default().
	Logger *slog.Logger
	// MaxFrameSize bounds one incoming frame. Default: wire.DefaultMaxFrameSize.
	MaxFrameSize int
	// MaxDocumentsPerConn bounds how many documents one connection may
	// sync at once. Default: 4096.
	MaxDocumentsPerConn int
	// MaxDocumentsPerCouncil bounds how many documents the members of one
	// council may create over the websocket, all told (Grants only), a
	// shadow of a taken id (decoy.go) counting as one, as the new
	// document it stands for would: past it, a sync message for a
	// document they may not read gets an error, whether the id is free
	// or taken.
	// Default: DefaultMaxDocumentsPerCouncil; negative: no bound.
	MaxDocumentsPerCouncil int
	// MaxMessagesPerSecond bounds the messages one connection may send,
	// sustained; MessageBurst more may come at once (a phone that was
	// offline syncs all its documents on reconnect). A connection over
	// the rate gets an error and is closed. Default: 200 per second, burst
	// 2×MaxDocumentsPerConn.
	MaxMessagesPerSecond float64
	// MessageBurst: see MaxMessagesPerSecond.
	MessageBurst int
	// MaxDocumentSize bounds the stored size of one document (snapshot and
	// chunks); a change that would grow a document past it is refused
	// with an error and not applied. Default: 256 MiB.
	MaxDocumentSize int64
	// MaxMessageSize bounds the sync messages the relay sends. A larger
	// answer (a first sync of a long-lived council) goes out as a sequence
	// of messages, each a causally ordered slice of changes, that a phone
	// applies and keeps as they arrive: a dropped link costs one slice, not
	// the transfer. Default: DefaultMaxMessageSize.
	MaxMessageSize int
	// SendQueue is how many outgoing messages may wait for a slow peer
	// before it is cut off. A peer has about one message in flight per
	// document it syncs, so this should exceed MaxDocumentsPerConn.
	// Default: 2×MaxDocumentsPerConn.
	SendQueue int
	// HandshakeTimeout bounds the wait for a peer's join (accepting) or
	// peer message (dialing). A stock client sends join as soon as the
	// websocket is open, so even an 800 ms link needs one round trip;
	// the rest of the default is for a congested one. A connection that
	// says nothing is cut by then, with a close reason. Default:
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// SyncInterval is the most a busy document waits between two
	// flushes: under load it commits and generates sync messages at most
	// once per interval, and everything that arrived meanwhile, from any
	// number of peers, travels in that one round — a burst costs one
	// commit and one message per peer, not one per change. While the
	// relay has CPU to spare the wait is shorter (MinSyncInterval; see
	// CPU). A quiet document answers at once (a few rounds back to back),
	// so a first sync is not slowed. Default: DefaultSyncInterval.
	SyncInterval time.Duration
	// MinSyncInterval is the wait between two flushes of a busy document
	// while the relay's load (CPU) is at most SpareLoad and the document's
	// fan-out at most SpareFanout; from BusyLoad or BusyFanout on it is
	// SyncInterval, and in between it grows
	// geometrically with the load (pacing.go). Set it to SyncInterval (or
	// more) for a fixed pace whatever the load. Default:
	// DefaultMinSyncInterval, or SyncInterval if that is shorter.
	MinSyncInterval time.Duration
	// SpareLoad and BusyLoad are the relay's loads, as a share of the
	// cores it may use (GOMAXPROCS), between which a busy document's pace
	// goes from MinSyncInterval to SyncInterval. Defaults:
	// DefaultSpareLoad, DefaultBusyLoad.
	SpareLoad, BusyLoad float64
	// SpareFanout and BusyFanout are a document's fan-outs — changes per
	// second reaching it (over the last quarter second) times the peers
	// syncing it; a peak is held a second, then halves every second —
	// between which its pace goes from MinSyncInterval to SyncInterval
	// whatever the relay's load. Defaults:
	// DefaultSpareFanout, DefaultBusyFanout.
	SpareFanout, BusyFanout float64
	// CPU tells how busy the relay is. Default: the CPU time of this
	// process over the last second (getrusage); where the platform cannot
	// tell it, busy documents are paced at SyncInterval.
	CPU CPUMeter
	// IdleTimeout is how long a document stays in memory after its last
	// peer left. Default: 30s.
	IdleTimeout time.Duration
	// CommitDelay stretches every commit by that long before the store's
	// write, as a slow disk would: crash tests use it to widen the
	// moments a kill must hit. Default: none; never set in production.
	CommitDelay time.Duration
	// Sandbox, when set, runs every sync message (and every stored
	// document before it is loaded) through worker processes before the
	// relay's own Automerge core sees it: input that crashes a worker is
	// quarantined instead of crashing the relay. Default: nil, and the
	// relay trusts its peers' input (tests and embedded use only; veche
	// serve always sets it). See doc.go.
	Sandbox *sandbox.Pool

	// Marks, when set, records every call into the Automerge core in
	// memory that outlives this process (package crashmark), so that a
	// supervisor that restarts the relay after the core killed it can
	// tell the next relay what was in the core (Relay.Recover). Default:
	// nil, no marks (a relay without a supervisor).
	Marks *crashmark.Board
	// Quarantine keeps incidents durably. Default: nil, and they are kept
	// in memory only.
	Quarantine QuarantineStore
	// Share names the documents the relay offers a peer it dialed (see
	// SharePolicy). Default: none; the relay then only answers.
	Share SharePolicy
	// Observer hears the heads peers announce (see SyncObserver).
	// Default: none.
	Observer SyncObserver
	// SyncStateInterval is how often the sync state of peers with a
	// storageId is persisted while they stay connected; it is always
	// persisted when they leave. Default: 30s.
	SyncStateInterval time.Duration
	// Metrics is told what the relay does (connections, messages,
	// commits, refusals, …). Default: NopMetrics.
	Metrics Metrics
}

func (o Options) withDefaults() Options {
	if o.PeerID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.PeerID = "veche-" + hex.EncodeToString(b[:])
	}
	if o.Access == nil {
		o.Access = AllowAll{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxFrameSize <= 0 {
		o.MaxFrameSize = wire.DefaultMaxFrameSize
	}
	if o.MaxDocumentsPerConn <= 0 {
		o.MaxDocumentsPerConn = 4096
	}
	if o.MaxDocumentsPerCouncil == 0 {
		o.MaxDocumentsPerCouncil = DefaultMaxDocumentsPerCouncil
	}
	if o.MaxMessagesPerSecond <= 0 {
		o.MaxMessagesPerSecond = 200
	}
	if o.MessageBurst <= 0 {
		o.MessageBurst = 2 * o.MaxDocumentsPerConn
	}
	if o.MaxDocumentSize <= 0 {
		o.MaxDocumentSize = 256 << 20
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.SendQueue <= 0 {
		o.SendQueue = 2 * o.MaxDocumentsPerConn
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.MinSyncInterval <= 0 {
		o.MinSyncInterval = min(DefaultMinSyncInterval, o.SyncInterval)
	}
	if o.SpareLoad <= 0 {
		o.SpareLoad = DefaultSpareLoad
	}
	if o.BusyLoad <= o.SpareLoad {
		o.BusyLoad = max(DefaultBusyLoad, 2*o.SpareLoad)
	}
	if o.SpareFanout <= 0 {
		o.SpareFanout = DefaultSpareFanout
	}
	if o.BusyFanout <= o.SpareFanout {
		o.BusyFanout = max(DefaultBusyFanout, 2*o.SpareFanout)
	}
	if o.CPU == nil {
		if m := newProcessCPU(); m != nil {
			o.CPU = m
		} else {
			o.MinSyncInterval = o.SyncInterval
		}
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.SyncStateInterval <= 0 {
		o.SyncStateInterval = 30 * time.Second
	}
	if o.Metrics == nil {
		o.Metrics = NopMetrics{}
	}
	return o
}

// DefaultHandshakeTimeout is the default Options.HandshakeTimeout.
const DefaultHandshakeTimeout = 15 * time.Second

// DefaultMaxMessageSize is the default Options.MaxMessageSize: 128 KiB,
// under a minute at 20 kbit/s, and room for the compressed document of a
// council with 20,000 changes, so a new phone gets such a council in one
// message (the saved form costs a few bytes a change; slices of changes
// cost about a hundred).
const DefaultMaxMessageSize = 128 << 10

// DefaultMaxDocumentsPerCouncil is the default Options.MaxDocumentsPerCouncil:
// far more than the attachments and drafts of a council, few enough that
// one member cannot fill a Raspberry Pi's disk with empty documents (some
// 80 MiB of bbolt at the bound).
const DefaultMaxDocumentsPerCouncil = 10000

// DefaultSyncInterval is the default Options.SyncInterval: long enough that
// a burst of changes from many peers travels in one message per peer, and
// no longer than one round trip of the links veche is built for (600 ms and
// more on satellite). A quiet document answers at once regardless.
const DefaultSyncInterval = 500 * time.Millisecond

// ErrRelayClosed is returned by Accept and Dial once Close has begun.
var ErrRelayClosed = errors.New("relay is shutting down")

// Relay is the sync engine: an Automerge repo backed by a store, serving
// any number of peer connections. It knows nothing of HTTP; a transport
// hands it established connections through Accept and Dial.
type Relay struct {
	store   store.Store
	opts    Options
	log     *slog.Logger
	metrics Metrics

	pacer      pacer // shared by every document
	ephemeral  *ephemeralFilter
	quarantine *quarantine
	fit        *linkFit // what each phone's link carries between drops
	aliasKey   [32]byte // keys senderAlias; random at every start

	mu      sync.Mutex // guards the following
	closing bool
	peers   map[*peer]struct{}
	docs    map[string]*synchronizer
	byID    map[string]*peer // connected peers by senderId

	wg sync.WaitGroup // peers
}

// New returns a relay serving the documents in st.
func New(st store.Store, opts Options) *Relay {
	opts = opts.withDefaults()
	r := &Relay{
		store:      st,
		opts:       opts,
		log:        opts.Logger,
		metrics:    opts.Metrics,
		pacer:      newPacer(opts),
		ephemeral:  newEphemeralFilter(),
		quarantine: newQuarantine(opts.Quarantine),
		fit:        newLinkFit(opts.MaxMessageSize),
		peers:      make(map[*peer]struct{}),
		docs:       make(map[string]*synchronizer),
		byID:       make(map[string]*peer),
	}
	_, _ = rand.Read(r.aliasKey[:])
	if err := r.quarantine.load(context.Background()); err != nil {
		r.log.Error("reading the quarantine; starting with what was read", "err", err)
	}
	return r
}

// PeerID returns the senderId the relay announces.
func (r *Relay) PeerID() string { return r.opts.PeerID }

// Accept serves a connection a peer opened to us: it waits for the peer's
// join, answers, and syncs until the connection ends or ctx is done. It
// returns nil when the peer left cleanly.
func (r *Relay) Accept(ctx context.Context, conn Conn, p Principal) error {
	return r.serve(ctx, conn, p, false)
}

// Dial serves a connection we opened to another relay: it sends join,
// waits for the answer, and syncs until the connection ends or ctx is done.
func (r *Relay) Dial(ctx context.Context, conn Conn, p Principal) error {
	return r.serve(ctx, conn, p, true)
}

// Start serves a connection a peer opened to us, as Accept does, but
// returns at once: ended is called once the session is over (possibly
// before Start returns), with what Accept would have returned. No
// goroutine waits for the session meanwhile; over a Conn that can call
// back when input arrives (ReadNotifier), an idle session holds none at
// all (issue 11).
func (r *Relay) Start(ctx context.Context, conn Conn, p Principal, ended func(error)) {
	r.start(ctx, conn, p, false, ended)
}

func (r *Relay) serve(ctx context.Context, conn Conn, p Principal, dialing bool) error {
	errc := make(chan error, 1)
	r.start(ctx, conn, p, dialing, func(err error) { errc <- err })
	return <-errc
}

func (r *Relay) start(ctx context.Context, conn Conn, p Principal, dialing bool, ended func(error)) {
	if r.quarantine.isSuspended(p.ID) {
		_ = conn.Close(errQuarantined.Error())
		ended(errQuarantined)
		return
	}
	pe := newPeer(r, conn, p)
	pe.ctx, pe.ended = ctx, ended
	if !r.addPeer(pe) {
		_ = conn.Close("relay shutting down")
		ended(ErrRelayClosed)
		return
	}
	go pe.begin(dialing)
}

// addPeer registers pe; it reports false when the relay is closing.
func (r *Relay) addPeer(pe *peer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.peers[pe] = struct{}{}
	r.wg.Add(1)
	r.metrics.PeerConnected(pe.principal.Kind)
	return true
}

func (r *Relay) removePeer(pe *peer) {
	r.mu.Lock()
	delete(r.peers, pe)
	if pe.id != "" && r.byID[pe.id] == pe {
		delete(r.byID, pe.id)
	}
	r.mu.Unlock()
	r.metrics.PeerDisconnected(pe.principal.Kind)
}

// senderAlias is what peers of other principals see of a senderId: a
// keyed digest, stable while the relay runs, that tells peers apart
// without telling who they are.
func (r *Relay) senderAlias(id string) string {
	mac := hmac.New(sha256.New, r.aliasKey[:])
	mac.Write([]byte(id))
	return "peer-" + hex.EncodeToString(mac.Sum(nil)[:8])
}

// ErrSenderIDInUse fails the handshake of a connection whose senderId
// another principal's connection speaks as.
var ErrSenderIDInUse = errors.New("senderId in use by another connection")

// bindPeerID records that pe now speaks as senderId id. A connection of
// the same principal already speaking as id is replaced, as upstream
// does: a phone that reconnects before its old connection timed out must
// not be refused. A connection of another principal is not: a senderId
// proves nothing, so knowing one must not let anyone cut its owner off.
func (r *Relay) bindPeerID(pe *peer, id string) error {
	r.mu.Lock()
	old := r.byID[id]
	if old != nil && old != pe && old.principal.ID != pe.principal.ID {
		r.mu.Unlock()
		r.log.Warn("join refused: senderId in use by another principal", "peer", id, "principal", pe.principal.ID, "holder", old.principal.ID)
		return fmt.Errorf("%w: %w: choose another senderId", ErrHandshake, ErrSenderIDInUse)
	}
	r.byID[id] = pe
	r.mu.Unlock()
	if old != nil && old != pe {
		r.log.Info("peer reconnected, closing its old connection", "peer", id)
		old.cut("replaced by a newer connection of the same peer")
	}
	return nil
}

// acquire returns the synchronizer of a document, starting it if needed,
// with a reference held; the caller must release it. It returns nil when
// the relay is closing.
func (r *Relay) acquire(id string) *synchronizer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return nil
	}
	s := r.docs[id]
	if s == nil {
		s = newSynchronizer(r, id)
		r.docs[id] = s
	}
	s.refs++
	return s
}

// lookup returns the running synchronizer of a document, with a reference
// held, or nil when the document is not in memory.
func (r *Relay) lookup(id string) *synchronizer {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.docs[id]
	if s != nil {
		s.refs++
	}
	return s
}

func (r *Relay) release(s *synchronizer) {
	r.mu.Lock()
	s.refs--
	r.mu.Unlock()
}

// retire removes an idle synchronizer; it reports false when someone still
// holds or is about to use it, in which case it keeps running.
func (r *Relay) retire(s *synchronizer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.refs > 0 {
		return false
	}
	if r.docs[s.key] == s {
		delete(r.docs, s.key)
	}
	return true
}

// LoadedDocuments reports how many documents are in memory.
func (r *Relay) LoadedDocuments() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.docs)
}

// Peers reports how many peers are connected.
func (r *Relay) Peers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.peers)
}

// PeerTraffic is what the relay knows of one connected peer's traffic.
type PeerTraffic struct {
	PeerID       string // the senderId it announced
	Principal    string // who its token names
	Remote       string // its network address
	PendingBytes int64  // bytes queued for it and not yet handed to its connection
	UnsentBytes  int64  // bytes its connection holds that the peer has not acknowledged (-1: unknown)
}

// unsentCounter is implemented by connections that can tell how many
// written bytes the peer has not yet taken (wsconn, from the kernel).
type unsentCounter interface{ Unsent() int }

// Traffic reports the pending bytes of every peer past its handshake, for
// metrics.
func (r *Relay) Traffic() []PeerTraffic {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]PeerTraffic, 0, len(r.byID))
	for id, pe := range r.byID { // peers past their handshake
		t := PeerTraffic{PeerID: id, Principal: pe.principal.ID, Remote: pe.conn.RemoteAddr(), PendingBytes: pe.PendingBytes(), UnsentBytes: -1}
		if u, ok := pe.conn.(unsentCounter); ok {
			t.UnsentBytes = int64(u.Unsent())
		}
		out = append(out, t)
	}
	return out
}

// Close shuts the relay down gracefully: it stops taking connections,
// closes the open ones, lets every document finish what it applied
// (committing it and the peers' sync state), and waits for all of it or
// for ctx.
func (r *Relay) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return nil
	}
	r.closing = true
	peers := make([]*peer, 0, len(r.peers))
	for pe := range r.peers {
		peers = append(peers, pe)
	}
	docs := make([]*synchronizer, 0, len(r.docs))
	for _, s := range r.docs {
		docs = append(docs, s)
	}
	r.mu.Unlock()

	for _, pe := range peers {
		pe.cut("relay shutting down")
	}
	for _, s := range docs {
		s.stop()
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("relay close: %w", ctx.Err())
	}
}
