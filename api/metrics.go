package api

import "time"

// Metrics is told about requests and refused credentials, so an operator
// can watch them (package server/metrics implements it with Prometheus).
// Implementations must be safe for concurrent use and cheap. Arguments come
// from small fixed sets: the route pattern, never the path; never a token.
type Metrics interface {
	// Request observes one finished request: its method (one of HTTP's
	// own, or "other"), route pattern
	// ("/api/councils/:id", or "unmatched" for a path no route serves),
	// status and duration. A websocket session is one request, finished
	// when the session ends.
	Request(method, route string, status int, d time.Duration)
	// AuthRefused counts a refused credential, for one of the AuthRefusal
	// reasons.
	AuthRefused(reason AuthRefusal)
}

// AuthRefusal says why a credential was refused.
type AuthRefusal string

// The reasons a credential is refused.
const (
	// AuthMissing: no token where one is needed.
	AuthMissing AuthRefusal = "missing"
	// AuthInvalid: a bad, unknown or revoked token, or a bad invite code.
	AuthInvalid AuthRefusal = "invalid"
	// AuthRateLimited: the address is over its failed authentications.
	AuthRateLimited AuthRefusal = "rate_limited"
)

// NopMetrics is the Metrics of a server nobody watches.
type NopMetrics struct{}

var _ Metrics = NopMetrics{}

// Request does nothing.
func (NopMetrics) Request(string, string, int, time.Duration) {}

// AuthRefused does nothing.
func (NopMetrics) AuthRefused(AuthRefusal) {}
