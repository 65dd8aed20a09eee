package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DefaultAuthFailuresPerMinute is Options.AuthFailuresPerMinute's default.
const DefaultAuthFailuresPerMinute = 20

// maxLimitedAddrs is how many addresses failureLimiter remembers before it
// forgets those whose minute is over.
const maxLimitedAddrs = 100_000

// failureLimiter counts failed authentications (a bad token, a bad invite
// code) per remote address in windows of one minute from the first
// failure. Once an address reaches the limit, every request it makes that
// needs authentication is answered 429 until its minute is over, whether
// its token is good or not, so guessing gains nothing.
type failureLimiter struct {
	limit   int
	now     func() time.Time
	metrics Metrics

	mu      sync.Mutex // guards the following
	addrs   map[string]*failureWindow
	pruneAt int // prune addrs when it grows to this many
}

type failureWindow struct {
	start    time.Time
	failures int
}

func newFailureLimiter(limit int, m Metrics) *failureLimiter {
	return &failureLimiter{limit: limit, now: time.Now, metrics: m, addrs: map[string]*failureWindow{}, pruneAt: maxLimitedAddrs}
}

// window returns addr's current window, or nil. Called with mu held.
func (l *failureLimiter) window(addr string, now time.Time) *failureWindow {
	w := l.addrs[addr]
	if w != nil && now.Sub(w.start) >= time.Minute {
		delete(l.addrs, addr)
		return nil
	}
	return w
}

// check answers a too_many_requests error while addr is over its limit.
func (l *failureLimiter) check(addr string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.window(addr, now)
	if w == nil || w.failures < l.limit {
		return nil
	}
	l.metrics.AuthRefused(AuthRateLimited)
	return &tooManyFailures{retryAfter: w.start.Add(time.Minute).Sub(now)}
}

// fail counts a failed authentication of addr.
func (l *failureLimiter) fail(addr string) {
	l.metrics.AuthRefused(AuthInvalid)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.window(addr, now)
	if w == nil {
		if len(l.addrs) >= l.pruneAt {
			for a, w := range l.addrs {
				if now.Sub(w.start) >= time.Minute {
					delete(l.addrs, a)
				}
			}
			l.pruneAt = max(maxLimitedAddrs, 2*len(l.addrs))
		}
		w = &failureWindow{start: now}
		l.addrs[addr] = w
	}
	w.failures++
}

// tooManyFailures is the answer to an address over its limit.
type tooManyFailures struct{ retryAfter time.Duration }

func (e *tooManyFailures) Error() string { return "too many failed authentications" }

// apiError is the answer's *Error.
func (e *tooManyFailures) apiError() *Error {
	return &Error{Code: CodeTooManyRequests, Message: "too many failed authentications from this address; try again in " +
		strconv.Itoa(e.seconds()) + "s"}
}

func (e *tooManyFailures) seconds() int {
	s := int((e.retryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// header sets Retry-After.
func (e *tooManyFailures) header(h http.Header) {
	h.Set("Retry-After", strconv.Itoa(e.seconds()))
}
