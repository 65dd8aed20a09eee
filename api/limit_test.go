package api

import (
	"errors"
	"testing"
	"time"
)

func TestFailureLimiterRate(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newFailureLimiter(2, NopMetrics{})
	l.now = func() time.Time { return now }
	if l.fail("a") != nil || l.fail("a") != nil {
		t.Fatal("within the limit, a failure is answered 429")
	}
	var over *tooMany
	if err := l.fail("a"); !errors.As(err, &over) || over.seconds() != 30 {
		t.Fatalf("over the limit: %v", err)
	}
	if err := l.fail("b"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// Two a minute, sustained: one more after 30 s.
	now = now.Add(30 * time.Second)
	if err := l.fail("a"); err != nil {
		t.Fatalf("after 30 s: %v", err)
	}
	if err := l.fail("a"); !errors.As(err, &over) {
		t.Fatalf("at once again: %v", err)
	}
}

func TestKeyedLimiterForgetsFullBuckets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newKeyedLimiter(1, 1)
	l.now = func() time.Time { return now }
	l.pruneAt = 2
	l.take("a")
	l.take("b")
	now = now.Add(time.Minute) // both full again
	l.take("c")
	if len(l.keys) != 1 {
		t.Fatalf("kept %d keys, want only c", len(l.keys))
	}
}

func TestBodyAllowanceFitsSlowLinks(t *testing.T) {
	// A 10 kbit/s link with 800 ms round trips: 1250 bytes a second once
	// the connection is up, a few round trips of slow start before.
	const link = 1250.0
	const setup = 5 * time.Second
	for _, n := range []int64{1, 1 << 10, 64 << 10, 1 << 20} {
		took := setup + time.Duration(float64(n)/link*float64(time.Second))
		if allowed := bodyAllowance(n, DefaultBodyMinRate, DefaultBodyGrace); allowed < took {
			t.Errorf("%d bytes take %s on the link, allowed %s", n, took, allowed)
		}
	}
	// A byte every 5 s falls behind within the grace period and a byte.
	if a := bodyAllowance(1, DefaultBodyMinRate, DefaultBodyGrace); a > DefaultBodyGrace+time.Second {
		t.Errorf("a one-byte dribble is allowed %s", a)
	}
}
