package sandbox

import (
	"errors"
	"testing"
	"time"
)

// TestWorkerKilledFromOutsideIsNotTheInputsFault: a worker killed with
// SIGKILL by someone else (the kernel's out-of-memory killer) ends the
// request with a Crash marked External, which the relay does not hold
// against the message; a crash of the core itself is never External. The
// pool serves on after both.
// emptySyncMessage is a sync message (v1) that says nothing: no heads, no
// needs, no have, no changes.
var emptySyncMessage = []byte{0x42, 0, 0, 0, 0}

func TestWorkerKilledFromOutsideIsNotTheInputsFault(t *testing.T) {
	pool, err := Start(Options{Workers: 1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pool.workers[0].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err = pool.Check("doc", "peer", emptySyncMessage, func() [][]byte { return nil })
	var crash *Crash
	if !errors.As(err, &crash) || !crash.External {
		t.Fatalf("after an outside SIGKILL: %#v, want an External crash", err)
	}
	if pool.Restarts() != 1 {
		t.Fatalf("%d restarts, want 1", pool.Restarts())
	}
	// The restarted worker answers.
	if err := pool.Check("doc", "peer", emptySyncMessage, func() [][]byte { return nil }); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}
