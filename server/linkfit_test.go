package server

import (
	"testing"
	"time"

	"github.com/automerge/automerge-go"
)

// TestLinkFit: a phone that comes back with the heads it had, after the
// relay sent it a message, got none of it. Once is tolerated; from the
// second time in a row its limit halves (to a power of two), down to
// minFitBytes; progress
// doubles it again, short of what failed; small messages and other
// phones are not affected.
func TestLinkFit(t *testing.T) {
	const max = 128 << 10
	f := newLinkFit(max)
	now := time.Now()
	k := fitKey{principal: "p", peer: "phone", doc: "d"}
	none := []automerge.ChangeHash(nil)
	some := []automerge.ChangeHash{{1}}
	more := []automerge.ChangeHash{{2}}
	step := func(heads []automerge.ChangeHash, sent int) int {
		now = now.Add(10 * time.Second)
		limit := f.begin(k, heads, now)
		if sent > 0 {
			f.sent(k, min(sent, limit))
		}
		return limit
	}
	want := func(got, want int, what string) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: limit %d, want %d", what, got, want)
		}
	}
	want(step(none, 50_000), max, "first connection")
	want(step(none, 50_000), max, "one connection that carried nothing")
	want(step(none, 50_000), 16<<10, "two in a row")
	want(step(none, 50_000), 8<<10, "three in a row")
	want(step(some, 8<<10), 8<<10, "progress after a failure")
	want(step(more, 8<<10), 8<<10, "progress: 16 KiB failed ten minutes ago at most")
	now = now.Add(fitCeilingFor)
	want(step(some, 0), 16<<10, "progress, the failure forgotten")
	for range 20 {
		step(some, max)
	}
	want(step(some, 0), minFitBytes, "the floor")
	want(step(some, 100), minFitBytes, "a small message sent")
	want(step(some, 0), minFitBytes, "nothing sent is no evidence")

	other := fitKey{principal: "p", peer: "other phone", doc: "d"}
	if got := f.begin(other, none, now); got != max {
		t.Fatalf("another phone starts at %d", got)
	}
	now = now.Add(fitForget + time.Second)
	want(step(some, 0), max, "a phone not seen for long")
}
