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
*/
import "C"

// tuneMalloc adjusts the C allocator the Automerge core uses; see the C
// comment above. It is called once, before the relay starts.
func tuneMalloc() { C.veche_tune_malloc() }
