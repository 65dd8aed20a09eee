package sandbox

/*
#include "worker.h"
*/
import "C"

import (
	"os"

	// The worker calls the core through the C API of the library that
	// automerge-go links; importing it makes sure that library is linked.
	_ "github.com/automerge/automerge-go"
)

// workerEnv marks a process started by a Pool as a worker.
const workerEnv = "VECHE_SANDBOX_WORKER"

// RunIfWorker turns the process into a sandbox worker when a Pool started
// it, and never returns then; otherwise it returns at once. Every program
// that runs a Pool calls it first thing in main (and test binaries in
// TestMain), because a Pool starts its workers by running its own
// executable again.
//
// The worker's loop is C (worker.c), called once: it reads a request from
// stdin, calls the Automerge core through its C API (the same library
// automerge-go wraps, so the same code that will run in the relay), and
// writes the answer to stdout, until stdin ends. Nothing of Go's runtime
// runs between requests: no scheduler hand-offs, no system monitor waking
// every few microseconds after each wake-up, no collector or finalizers
// for the core's results. A worker is woken for every message a peer
// sends, so that overhead was most of what containment cost.
func RunIfWorker() {
	if os.Getenv(workerEnv) != "1" {
		return
	}
	os.Exit(int(C.veche_sandbox_serve(0, 1)))
}
