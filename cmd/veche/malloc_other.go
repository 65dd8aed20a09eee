//go:build !linux

package main

// tuneMalloc does nothing outside Linux (glibc).
func tuneMalloc() {}
