package server

import "sync"

// ephemeralFilter drops ephemeral messages the relay has already seen, as
// upstream does: per sessionId it remembers the highest count relayed, so a
// message that comes back round a loop of relays is not relayed again.
type ephemeralFilter struct {
	mu       sync.Mutex // guards the following
	sessions map[string]uint64
}

// maxEphemeralSessions bounds the filter's memory; past it the filter
// forgets everything and starts over, which at worst relays a duplicate.
const maxEphemeralSessions = 100_000

func newEphemeralFilter() *ephemeralFilter {
	return &ephemeralFilter{sessions: make(map[string]uint64)}
}

// first reports whether (session, count) is new, and records it.
func (f *ephemeralFilter) first(session string, count uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if last, ok := f.sessions[session]; ok && count <= last {
		return false
	}
	if len(f.sessions) >= maxEphemeralSessions {
		clear(f.sessions)
	}
	f.sessions[session] = count
	return true
}
