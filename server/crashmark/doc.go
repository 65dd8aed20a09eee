// Package crashmark records which document, and which input, each call
// into the Automerge core is working on, in shared memory that outlives
// the process: after the core aborts the relay (automerge-go's Rust core
// is built with panic=abort, and recover() cannot catch an abort), the
// supervisor that restarts it hands the same memory to the next relay
// process, which reads the marks the dead one left (Board.Left) and
// quarantines what was in the core when it died.
//
// # Types
//
// A Board is a fixed number of slots in a file mapped shared (a memfd
// the supervisor made, see Create). A Mark is what one slot says: the
// operation (Op), the document, the principal whose input it is and,
// for a received sync message, the message itself, as far as the slot
// holds it.
//
// # Data path
//
// The relay calls Enter before a call into the core and Leave after it.
// Enter takes a free slot (waiting while all are taken), writes the mark
// and then, last, flags the slot in use; Leave clears the flag. Nothing
// is written to disk and nothing is synced: the marks need to outlive the
// process, not the machine (a machine that crashes was not crashed by a
// change). A process that dies inside the core leaves its slot flagged.
// A slot that held a message larger than 64 KiB gives those pages back on
// Leave, so the board's resident memory stays near what small messages
// touch.
//
// # Locking
//
// Slots are handed out through a channel, so a slot has one writer at a
// time; the flag is written with an atomic store after the mark, so a
// reader in another process (after this one died) never sees a flagged
// slot with a half-written mark. A nil *Board is valid and records
// nothing (a relay that runs without a supervisor).
package crashmark
