//go:build !linux

package main

import (
	"runtime"
	"runtime/debug"
	"time"
)

// tuneMalloc does nothing outside Linux (glibc).
func tuneMalloc() {}

// releaseFreeMemory runs the finalizers that free Automerge's memory and
// returns the Go heap's free memory; the C allocator is left alone outside
// Linux (glibc).
func releaseFreeMemory() {
	runtime.GC()
	time.Sleep(time.Second)
	debug.FreeOSMemory()
}
