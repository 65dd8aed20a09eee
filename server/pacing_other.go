//go:build !unix

package server

import "time"

// processCPUTime is nil where the process's CPU time is not known: a busy
// document is then paced at SyncInterval whatever the load.
var processCPUTime func() time.Duration
