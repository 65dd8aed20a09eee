package api

import (
	"errors"
	"testing"
	"time"
)

func TestFailureLimiterWindow(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newFailureLimiter(2, NopMetrics{})
	l.now = func() time.Time { return now }
	l.fail("a")
	l.fail("a")
	var tooMany *tooManyFailures
	if err := l.check("a"); !errors.As(err, &tooMany) || tooMany.seconds() != 60 {
		t.Fatalf("at the limit: %v", err)
	}
	if err := l.check("b"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	now = now.Add(59*time.Second + time.Millisecond)
	if err := l.check("a"); !errors.As(err, &tooMany) || tooMany.seconds() != 1 {
		t.Fatalf("late in the minute: %v", err)
	}
	now = now.Add(time.Second)
	if err := l.check("a"); err != nil {
		t.Fatalf("after the minute: %v", err)
	}
	if len(l.addrs) != 0 {
		t.Fatalf("the window outlived its minute: %v", l.addrs)
	}
}
