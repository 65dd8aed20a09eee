package server

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/automerge/automerge-go"
)

// Link fit (DESIGN.md principle 7: connections drop mid-message). A sync
// message is the unit a phone keeps: one that is cut mid-frame is lost
// whole, and the next connection starts it again from its first byte. On
// a link that drops every few seconds, a message larger than what one
// connection carries never arrives, however often the phone reconnects:
// at 10 kbit/s a 128 KiB slice takes 105 s.
//
// So the relay learns, per phone and document, how large a message gets
// through. A phone's first message of a connection announces its heads;
// when they are the heads it announced on its previous connection, and
// the relay sent it a message of some size on that connection, nothing
// of that message arrived. Once may be bad luck, a drop that would have
// cut any message: the same size is tried again, since a smaller one can
// cost much more in all (a document saved whole is a fraction of its
// changes sent one by one: a twenty-sixth for a council of small votes).
// From the second time in a row, the phone's limit becomes half of what
// failed or less, a power of two (down to minFitBytes), so that a
// document keeps a compressed image for a few sizes at most. When the heads moved, the link carried
// something: the limit doubles, up to the relay's MaxMessageSize, but not
// back to a size that failed within fitCeilingFor. The limit bounds every message to
// that phone for that document (the compressed image, the compressed
// answer, the slices), so each connection adds at least one message to
// what the phone holds, and a first sync of megabytes completes across
// drops, resuming where the last connection stopped.
//
// The phone is known by its principal and its senderId, which a stock
// client keeps across reconnects (not its storageId: two tabs of a browser
// share one, and each would take the other's heads for no progress). A
// peer can only shrink its own messages, or, anonymously, those of a peer
// whose senderId it copies: that costs bytes, never data.

// minFitBytes is the smallest message limit the relay learns: below it a
// link carries nothing useful. A change larger than the limit still
// travels alone.
const minFitBytes = 1 << 10

// fitCeilingFor is how long a size that failed is not tried again.
const fitCeilingFor = 10 * time.Minute

// fitForget is how long the relay remembers a phone it has not seen.
const fitForget = time.Hour

// fitEntries bounds how many phones and documents the relay remembers.
const fitEntries = 1 << 14

// fitKey names one phone's view of one document.
type fitKey struct {
	principal, peer, doc string
}

// fitEntry is what the relay learned of one phone's link for one
// document.
type fitEntry struct {
	limit   int       // the largest message to send; 0: the relay's maximum
	ceiling int       // a size that failed at ceilingAt; 0: none
	fails   int       // connections in a row that carried none of what was sent
	from    string    // the heads the phone announced first on its last connection
	sent    int       // the largest message sent since, on that connection
	seen    time.Time // when the phone last began a connection
	ceilAt  time.Time
}

// linkFit holds what the relay learned. Safe for concurrent use; mu is a
// leaf lock.
type linkFit struct {
	max int

	mu      sync.Mutex // guards entries
	entries map[fitKey]*fitEntry
}

func newLinkFit(max int) *linkFit {
	return &linkFit{max: max, entries: make(map[fitKey]*fitEntry)}
}

// fitKeyOf names pe's view of doc.
func fitKeyOf(pe *peer, doc string) fitKey {
	return fitKey{principal: pe.principal.ID, peer: pe.id, doc: doc}
}

// begin records the heads a phone announced first on a new connection and
// returns the message limit for the connection.
func (f *linkFit) begin(k fitKey, heads []automerge.ChangeHash, now time.Time) int {
	from := headsKey(heads)
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.entries[k]
	if e == nil || now.Sub(e.seen) > fitForget {
		if e == nil && len(f.entries) >= fitEntries {
			f.sweep(now)
		}
		e = &fitEntry{}
		f.entries[k] = e
	} else {
		if e.ceiling > 0 && now.Sub(e.ceilAt) > fitCeilingFor {
			e.ceiling = 0
		}
		limit := e.limit
		if limit == 0 {
			limit = f.max
		}
		switch {
		case e.sent > minFitBytes && e.from == from:
			// Nothing of the last connection's answer arrived.
			if e.fails++; e.fails >= 2 {
				e.ceiling, e.ceilAt = min(limit, e.sent), now
				e.limit = max(minFitBytes, powerOfTwoAtMost(e.ceiling/2))
			}
		case e.from != from:
			e.fails = 0
			if e.limit == 0 {
				break
			}
			// It carried something: try larger, short of what failed.
			next := min(f.max, 2*e.limit)
			if e.ceiling == 0 || next < e.ceiling {
				e.limit = next
			}
			if e.limit >= f.max {
				e.limit = 0
			}
		}
	}
	e.from, e.sent, e.seen = from, 0, now
	if e.limit == 0 {
		return f.max
	}
	return e.limit
}

// sent records the largest message sent to the phone on its connection.
func (f *linkFit) sent(k fitKey, size int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.entries[k]; e != nil && size > e.sent {
		e.sent = size
	}
}

// sweep forgets phones not seen for fitForget, and if that is not enough,
// a quarter of the others. Called with mu held.
func (f *linkFit) sweep(now time.Time) {
	for k, e := range f.entries {
		if now.Sub(e.seen) > fitForget {
			delete(f.entries, k)
		}
	}
	for k := range f.entries {
		if len(f.entries) < fitEntries*3/4 {
			break
		}
		delete(f.entries, k)
	}
}

// headsKey is a set of heads as a comparable string.
func headsKey(heads []automerge.ChangeHash) string {
	keys := make([]string, len(heads))
	for i, h := range heads {
		keys[i] = string(h[:])
	}
	slices.Sort(keys)
	return strings.Join(keys, "")
}

// powerOfTwoAtMost is the largest power of two not over n (n ≥ 1).
func powerOfTwoAtMost(n int) int {
	p := 1
	for p*2 <= n {
		p *= 2
	}
	return p
}
