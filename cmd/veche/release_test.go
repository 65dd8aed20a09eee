package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestReleaseAfterUnload: memory is collected while documents are
// loaded, and released after documents were unloaded, not while they stay
// loaded or grow.
func TestReleaseAfterUnload(t *testing.T) {
	var loaded, released, collected atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go releaseAfterUnload(ctx, 5*time.Millisecond, func() int { return int(loaded.Load()) },
		func() { collected.Add(1) }, func() { released.Add(1) })
	step := func(n int64) {
		loaded.Store(n)
		time.Sleep(50 * time.Millisecond)
	}
	step(10)
	step(20)
	if n := released.Load(); n != 0 {
		t.Fatalf("released %d times while documents were loading", n)
	}
	if collected.Load() == 0 {
		t.Fatal("no collection while documents were loaded")
	}
	step(3)
	if n := released.Load(); n != 1 {
		t.Fatalf("released %d times after an unload; want once", n)
	}
	step(3)
	if n := released.Load(); n != 1 {
		t.Fatalf("released %d times with nothing unloaded since; want still once", n)
	}
}
