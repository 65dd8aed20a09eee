package server

import (
	"fmt"
	"testing"
)

// TestEphemeralLane: ephemeral frames wait in a lane of their own, behind
// every sync message and ahead of slices; past ephemeralLane frames the
// oldest is shed, never a sync message.
func TestEphemeralLane(t *testing.T) {
	pe := &peer{relay: &Relay{opts: Options{SendQueue: 8}}, done: make(chan struct{})}
	pe.out.writing = true // no writer: the test takes frames itself
	for i := range ephemeralLane + 10 {
		if got := pe.enqueue([]byte(fmt.Sprintf("eph %d", i)), true); got != queued {
			t.Fatalf("ephemeral frame %d: %v", i, got)
		}
	}
	pe.enqueueBulk([]*bulkItem{{frame: []byte("slice")}})
	if got := pe.enqueue([]byte("sync"), false); got != queued {
		t.Fatalf("sync frame: %v", got)
	}
	var order []string
	for {
		frame, _, ok := pe.next()
		if !ok {
			break
		}
		order = append(order, string(frame))
	}
	want := []string{"sync"}
	for i := 10; i < ephemeralLane+10; i++ {
		want = append(want, fmt.Sprintf("eph %d", i))
	}
	want = append(want, "slice")
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("written in the order\n%q\nwant\n%q", order, want)
	}
	// Pending bytes count what waits, shed frames no longer (the write
	// loop takes a frame off once written; slices count from sendBulk).
	var waiting int64
	for _, f := range want[:len(want)-1] {
		waiting += int64(len(f))
	}
	if n := pe.PendingBytes(); n != waiting {
		t.Fatalf("pending %d bytes, want %d", n, waiting)
	}
}
