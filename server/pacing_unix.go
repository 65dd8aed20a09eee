//go:build unix

package server

import (
	"syscall"
	"time"
)

// processCPUTime is the CPU time this process used so far, user and
// system, all threads.
var processCPUTime = func() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
