// Package sandbox runs untrusted Automerge input through worker processes
// before the relay applies it, so that input which crashes the Automerge
// core (automerge-rs built with panic=abort: a panic ends the process and
// recover cannot catch it) costs a worker, never the relay.
//
// # Types
//
// A Pool holds a few workers (Options.Workers), each a process of the
// same program started again with VECHE_SANDBOX_WORKER=1; the program
// calls RunIfWorker first thing in main, which turns it into a worker.
// Every document always goes to the same worker (by a hash of its id),
// which keeps a mirror of it in memory and a sync state per peer of it.
// Check hands a worker a peer's sync message: it is applied to the mirror
// and the answer to that peer generated, as the relay is about to do. A
// nil error means the message survived; a *Crash that the worker died
// doing it (Site names where the core gave up, from its last words on
// stderr); a *Rejected that the core refused it with an error.
// Load, Apply, Leave and Forget keep the mirrors in step with the
// relay's documents.
//
// # Data path
//
// Parent and worker speak in frames over the worker's stdin and stdout
// (protocol.go). The worker's loop is C (worker.c), entered once from
// RunIfWorker: it calls the core through the C API of the same library
// automerge-go links, so the code that runs in the worker is the code
// that would run in the relay, and nothing of Go's runtime (scheduler,
// system monitor, collector, finalizers) runs per request. A worker that
// dies mid-request is reaped and restarted at once, and the request that
// killed it is answered with a *Crash; a request that takes longer than
// Options.Timeout kills the worker and counts as one too. A worker
// killed from outside (SIGKILL with no panic and not by the pool) is
// marked External: the input is not to blame.
//
// # Locking
//
// worker.mu serialises requests to one worker: exactly one is in flight
// per process, so a crash names its request. Pool itself holds no lock;
// its methods lock the worker of the document they touch, never two
// workers at once. Safe for concurrent use.
package sandbox
