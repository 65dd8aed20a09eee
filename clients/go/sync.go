package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/wire"
	"github.com/veche-sync/veche/server/wsconn"
)

// SyncReport says what one sync of a council with a relay did.
type SyncReport struct {
	Council string
	Relay   string
	// Received counts the changes the replica got; Sent those it had
	// that the relay lacked when they met.
	Received, Sent int
	// Heads are the council's heads after the sync, the same on both sides.
	Heads []string
}

// Sync syncs the membership's council with its relay once: it dials the
// relay's websocket with the member's token, exchanges what either side
// lacks, and returns once both hold the same heads (or ctx ends). The
// replica asks for a council it does not hold yet. Sync state is kept on
// both sides, so the next sync costs one round trip and what changed.
func (r *Replica) Sync(ctx context.Context, m Membership) (*SyncReport, error) {
	id := wire.DocumentID(m.Council)
	before, _ := r.Holds(ctx, m.Council)
	link, err := r.dial(ctx, m)
	if err != nil {
		return nil, err
	}
	defer link.stop()
	var first []automerge.ChangeHash
	for {
		heads, heard, refused, changed := r.links.state(link.id)
		if refused {
			return nil, &Error{Code: api.CodeNotFound, Status: http.StatusNotFound,
				Message: fmt.Sprintf("the relay at %s does not share council %s with this token (no such council there, or the member may not read it)", m.Relay, m.Council)}
		}
		if heard {
			if first == nil {
				first = heads
			}
			if local, ok := r.Holds(ctx, m.Council); ok && sameHeads(local, hexHeads(heads)) {
				break
			}
		}
		select {
		case <-changed:
		case <-link.done:
			return nil, r.linkError(m, link.err)
		case <-time.After(250 * time.Millisecond): // local changes committed meanwhile
		case <-ctx.Done():
			return nil, &Error{Code: CodeUnreachable, Message: fmt.Sprintf("sync of council %s with %s did not finish: %v", m.Council, m.Relay, ctx.Err()), Err: ctx.Err()}
		}
	}
	report := &SyncReport{Council: m.Council, Relay: m.Relay}
	err = r.relay.View(ctx, id, func(doc *automerge.Doc) error {
		report.Heads = hexHeads(doc.Heads())
		// What is new since before came from the relay; what the relay's
		// first heads lacked went to it.
		if hs, err := hashes(before); err == nil {
			if got, err := doc.Changes(hs...); err == nil {
				report.Received = len(got)
			}
		}
		if sent, err := doc.Changes(first...); err == nil {
			report.Sent = len(sent)
		}
		return nil
	})
	if err != nil {
		return nil, &Error{Code: CodeInternal, Message: err.Error(), Err: err}
	}
	return report, nil
}

// A dialed link: one websocket to a relay, carrying one council.
type dialed struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{} // closed when the link has ended; err is then set
	err    error         // why the link ended (nil: the relay closed it)
	links  *links
}

// stop ends the link and waits for it; it may follow a receive from done.
func (d *dialed) stop() {
	d.cancel()
	<-d.done
	d.links.close(d.id)
}

// dial opens the websocket to the membership's relay and starts the
// replica's side of it.
func (r *Replica) dial(ctx context.Context, m Membership) (*dialed, error) {
	u, err := syncURL(m.Relay)
	if err != nil {
		return nil, err
	}
	header := http.Header{"Authorization": {"Bearer " + m.Token}}
	dialer := websocket.Dialer{HandshakeTimeout: 60 * time.Second, Proxy: http.ProxyFromEnvironment,
		NetDialContext: wsconn.DialContext, EnableCompression: true,
		ReadBufferSize: wsconn.ReadBufferSize, WriteBufferSize: wsconn.WriteBufferSize, WriteBufferPool: wsconn.WriteBufferPool}
	ws, resp, err := dialer.DialContext(ctx, u, header)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return nil, &Error{Code: api.CodeUnauthenticated, Status: http.StatusUnauthorized,
				Message: fmt.Sprintf("the relay at %s refused the member's token (revoked, or for another relay): log in again", m.Relay)}
		}
		if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			return nil, &Error{Code: api.CodeTooManyRequests, Status: resp.StatusCode, Message: fmt.Sprintf("the relay at %s asks to wait (too many failed attempts)", m.Relay)}
		}
		return nil, &Error{Code: CodeUnreachable, Message: fmt.Sprintf("cannot reach the relay at %s: %v", m.Relay, err), Err: err}
	}
	d := &dialed{id: "relay:" + m.Relay + "#" + m.Council + "/" + m.Member, done: make(chan struct{}), links: r.links}
	r.links.open(d.id, wire.DocumentID(m.Council))
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	conn := wsconn.New(ws, wsconn.Options{})
	go func() {
		d.err = r.relay.Dial(lctx, conn, server.Principal{ID: d.id, Kind: server.KindPeer})
		close(d.done)
	}()
	return d, nil
}

func (r *Replica) linkError(m Membership, err error) error {
	if err == nil {
		err = errors.New("the relay closed the connection")
	}
	return &Error{Code: CodeUnreachable, Message: fmt.Sprintf("the link to %s ended: %v", m.Relay, err), Err: err}
}

// Run keeps every membership of the home synced while ctx lasts: it holds
// a link to each relay, redialing with exponential backoff and jitter
// (from 1s to 5 minutes) whenever one cannot be reached or drops, and
// reports each sync it completes to report (which may be nil).
func (r *Replica) Run(ctx context.Context, report func(*SyncReport, error)) error {
	ms, err := r.home.Memberships()
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return errorf(CodeOffline, "this home (%s) is no member of any council yet", r.home.dir)
	}
	done := make(chan struct{}, len(ms))
	for _, m := range ms {
		go func() {
			defer func() { done <- struct{}{} }()
			r.keep(ctx, m, report, Backoff{Min: time.Second, Max: 5 * time.Minute})
		}()
	}
	for range ms {
		<-done
	}
	return nil
}

// keep holds one membership's link until ctx ends.
func (r *Replica) keep(ctx context.Context, m Membership, report func(*SyncReport, error), b Backoff) {
	for ctx.Err() == nil {
		rep, err := r.Sync(ctx, m)
		if report != nil && ctx.Err() == nil {
			report(rep, err)
		}
		if err == nil {
			b.Reset()
			// Stay connected: changes either side makes flow at once.
			link, derr := r.dial(ctx, m)
			if derr == nil {
				select {
				case <-link.done:
				case <-ctx.Done():
				}
				link.stop()
				continue
			}
		}
		select {
		case <-time.After(b.Next()):
		case <-ctx.Done():
		}
	}
}

// Backoff is exponential backoff with jitter: each wait is twice the last,
// from Min to at most Max, with up to a fifth added at random so that
// many replicas coming back at once do not knock together.
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration
}

// Next returns the next wait.
func (b *Backoff) Next() time.Duration {
	if b.next < b.Min {
		b.next = b.Min
	}
	d := b.next
	b.next = min(2*b.next, b.Max)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// Reset starts over from Min.
func (b *Backoff) Reset() { b.next = 0 }

// syncURL is the websocket URL of a relay's sync endpoint.
func syncURL(relay string) (string, error) {
	u, err := url.Parse(relay)
	if err != nil || u.Host == "" {
		return "", errorf(CodeUsage, "relay URL %q: want a URL like http://localhost:8080", relay)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", errorf(CodeUsage, "relay URL %q: want http, https, ws or wss", relay)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/sync"
	return u.String(), nil
}

func sameHeads(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]bool, len(a))
	for _, h := range a {
		seen[h] = true
	}
	for _, h := range b {
		if !seen[h] {
			return false
		}
	}
	return true
}

func hashes(hs []string) ([]automerge.ChangeHash, error) {
	out := make([]automerge.ChangeHash, 0, len(hs))
	for _, s := range hs {
		h, err := automerge.NewChangeHash(s)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}
