package main

import (
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/automerge/automerge-go"
)

// TestMallocArenasCapped: Automerge used from many threads at once (cgo
// calls during a reconnect storm run on as many threads as are busy)
// stays within one C allocator arena per CPU, where glibc would make up
// to eight per CPU, each keeping its own free memory mapped (issue 11:
// the storm's peak RSS). The cap holds for the whole process, from
// before the Go runtime started.
func TestMallocArenasCapped(t *testing.T) {
	const threads = 24
	var ready, done sync.WaitGroup
	release := make(chan struct{})
	for i := 0; i < threads; i++ {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread() // a thread of its own, held until all have allocated
			defer runtime.UnlockOSThread()
			doc := automerge.New()
			for j := 0; j < 50; j++ {
				if err := doc.RootMap().Set("k"+strconv.Itoa(j), j); err != nil {
					t.Error(err)
				}
			}
			if _, err := doc.Commit("x"); err != nil {
				t.Error(err)
			}
			_ = doc.Save()
			ready.Done()
			<-release
		}()
	}
	ready.Wait()
	n := mallocArenas()
	close(release)
	done.Wait()
	if n < 1 {
		t.Fatalf("malloc_info reported %d arenas", n)
	}
	if limit := mallocArenaLimit(); limit < 2 || n > limit {
		t.Fatalf("%d threads using Automerge made %d arenas; want at most %d", threads, n, limit)
	}
	t.Logf("%d threads, %d arenas (limit %d)", threads, n, mallocArenaLimit())
}
