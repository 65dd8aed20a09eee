package client

import (
	"errors"
	"testing"
	"time"
)

// TestLinkThatEndedStopsAtOnce: Sync and the watch loop learn that a link
// ended by receiving from done, then stop the link; stopping must not wait
// for that end a second time (it did, and a dropped link hung `veche sync`
// and `veche sync --watch` for good).
func TestLinkThatEndedStopsAtOnce(t *testing.T) {
	d := &dialed{id: "relay:test", cancel: func() {}, done: make(chan struct{}), links: newLinks()}
	go func() {
		d.err = errors.New("the relay went away")
		close(d.done)
	}()
	<-d.done // as Sync does
	if d.err == nil {
		t.Fatal("the link's end carries no reason")
	}
	stopped := make(chan struct{})
	go func() {
		d.stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("stopping a link that had ended hung")
	}
}
