package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultAuthFailuresPerMinute is Options.AuthFailuresPerMinute's default.
const DefaultAuthFailuresPerMinute = 20

// DefaultTokenRequestsPerSecond is Options.TokenRequestsPerSecond's default.
const DefaultTokenRequestsPerSecond = 20

// maxLimited is how many keys a keyedLimiter remembers before it forgets
// those whose bucket is full again (they have nothing to remember).
const maxLimited = 100_000

// keyedLimiter is a token bucket (golang.org/x/time/rate) per key: a
// remote address, or a token's digest.
type keyedLimiter struct {
	every rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex // guards the following
	keys    map[string]*rate.Limiter
	pruneAt int // prune keys when it grows to this many
}

func newKeyedLimiter(every rate.Limit, burst int) *keyedLimiter {
	return &keyedLimiter{every: every, burst: burst, now: time.Now, keys: map[string]*rate.Limiter{}, pruneAt: maxLimited}
}

// limiter returns key's bucket, making it. Called with mu held.
func (l *keyedLimiter) limiter(key string, now time.Time) *rate.Limiter {
	lim := l.keys[key]
	if lim != nil {
		return lim
	}
	if len(l.keys) >= l.pruneAt {
		for k, lim := range l.keys {
			if lim.TokensAt(now) >= float64(l.burst) {
				delete(l.keys, k)
			}
		}
		l.pruneAt = max(maxLimited, 2*len(l.keys))
	}
	lim = rate.NewLimiter(l.every, l.burst)
	l.keys[key] = lim
	return lim
}

// take spends one token of key's bucket; when there is none it spends
// nothing and returns how long until one is back.
func (l *keyedLimiter) take(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	lim := l.limiter(key, now)
	if lim.AllowN(now, 1) {
		return 0, true
	}
	return l.wait(lim, now), false
}

// empty reports whether key's bucket is empty, and how long until it is not.
func (l *keyedLimiter) empty(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	lim := l.keys[key]
	if lim == nil || lim.TokensAt(now) >= 1 {
		return 0, false
	}
	return l.wait(lim, now), true
}

func (l *keyedLimiter) wait(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	return time.Duration(missing / float64(l.every) * float64(time.Second))
}

// failureLimiter limits failed authentications (a bad token, a bad invite
// code) per remote address: limit a minute, sustained, and as many at once.
// An address over its limit gets 429 instead of 401 for each further bad
// credential, but a valid credential from it is never refused: behind a
// reverse proxy or a village's one NAT address, one client guessing must
// not lock everyone else out. (Tokens and invite codes are 256 random
// bits: guessing gains nothing either way.)
type failureLimiter struct {
	*keyedLimiter
	metrics Metrics
}

func newFailureLimiter(perMinute int, m Metrics) *failureLimiter {
	return &failureLimiter{keyedLimiter: newKeyedLimiter(rate.Limit(float64(perMinute)/60), perMinute), metrics: m}
}

// fail counts a failed authentication of addr. It returns a
// too_many_requests error when addr is over its limit, else nil (the
// caller answers 401).
func (l *failureLimiter) fail(addr string) error {
	if wait, ok := l.take(addr); !ok {
		l.metrics.AuthRefused(AuthRateLimited)
		return &tooMany{retryAfter: wait, what: "failed authentications from this address"}
	}
	l.metrics.AuthRefused(AuthInvalid)
	return nil
}

// tooMany is the answer to an address or token over a limit.
type tooMany struct {
	retryAfter time.Duration
	what       string
}

func (e *tooMany) Error() string { return "too many " + e.what }

// apiError is the answer's *Error.
func (e *tooMany) apiError() *Error {
	return &Error{Code: CodeTooManyRequests, Message: "too many " + e.what + "; try again in " + strconv.Itoa(e.seconds()) + "s"}
}

func (e *tooMany) seconds() int {
	s := int((e.retryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// header sets Retry-After.
func (e *tooMany) header(h http.Header) {
	h.Set("Retry-After", strconv.Itoa(e.seconds()))
}
