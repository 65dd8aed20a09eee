package main

import "runtime"

// collectGarbage runs a Go collection, so that the finalizers of
// automerge-go's documents and results free their C memory
// (releaseAfterUnload).
func collectGarbage() { runtime.GC() }
