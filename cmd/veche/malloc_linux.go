package main

/*
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

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

// Every thread that enters the core gets an arena of its own, up to eight
// per CPU, and cgo calls run on many threads at once during a reconnect
// storm: each arena then keeps its own free memory mapped, and the
// storm's peak RSS grew by hundreds of MiB (issue 11). One arena per CPU
// (at least two) is as many as can be busy at once. The cap is set when
// the binary is loaded, before the Go runtime starts threads that could
// make arenas of their own first.
static int veche_arena_limit;

__attribute__((constructor)) static void veche_cap_arenas(void) {
	int n = get_nprocs();
	veche_arena_limit = n < 2 ? 2 : n;
	mallopt(M_ARENA_MAX, veche_arena_limit);
}

static int veche_get_arena_limit(void) { return veche_arena_limit; }

static void veche_trim_malloc(void) { malloc_trim(0); }

// The number of arenas the C allocator has, read from malloc_info; -1
// when it cannot be read.
static int veche_malloc_arenas(void) {
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL) return -1;
	malloc_info(0, f);
	fclose(f);
	int n = 0;
	for (char *p = buf; (p = strstr(p, "<heap nr=")) != NULL; p++) n++;
	free(buf);
	return n;
}
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

// mallocArenaLimit is how many arenas the C allocator may make: one per
// CPU, at least two (set when the binary is loaded; see the C comment).
func mallocArenaLimit() int { return int(C.veche_get_arena_limit()) }

// mallocArenas is how many arenas the C allocator has made (-1 when it
// cannot tell).
func mallocArenas() int { return int(C.veche_malloc_arenas()) }

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
