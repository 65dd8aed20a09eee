package main

/*
#include <malloc.h>

static void veche_tune_malloc(void) {
	// Automerge (Rust, via cgo) allocates and frees large temporary
	// structures on every sync message. With glibc's defaults those come
	// from fresh mmaps and the heap top is trimmed after each burst, so
	// every message pays for page faults. Keeping freed memory mapped
	// makes them reuse memory instead (256 MiB of free heap may stay
	// mapped; RSS follows the peak).
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
}
static void veche_trim_malloc(void) { malloc_trim(0); }
*/
import "C"

import (
	"runtime"
	"runtime/debug"
	"time"
)

// tuneMalloc adjusts the C allocator the Automerge core uses; see the C
// comment above. It is called once, before the relay starts.
func tuneMalloc() { C.veche_tune_malloc() }

// releaseFreeMemory gives the C allocator's free memory back to the system
// (malloc_trim: every arena, including free pages inside the heaps). The
// tuning above keeps it mapped for speed while the relay is busy; once
// documents were unloaded it would otherwise stay resident for good.
// automerge-go frees a document's C memory in finalizers, which run only
// after a Go collection: one is forced first, and the finalizers given a
// moment.
func releaseFreeMemory() {
	runtime.GC()
	time.Sleep(time.Second)
	debug.FreeOSMemory()
	C.veche_trim_malloc()
}
