package store

import "errors"

// These errors can be returned by Open.
var (
	// ErrLocked is returned by Open when another process (or another Open in
	// this process) holds the data directory's lock for longer than
	// Options.LockTimeout. A store is opened once per process.
	ErrLocked = errors.New("store locked")

	// ErrNoStore is returned by Open with Options.ReadOnly for a directory
	// that holds no store.
	ErrNoStore = errors.New("no veche store here")
)

// These errors can be returned by any Store method.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("store closed")

	// ErrInvalid is returned, before anything is written, for an argument the
	// store refuses: an empty or over-long id (see MaxIDLen), an empty chunk,
	// snapshot or sync state, or a coveredChunks count outside [0, Meta.Chunks].
	ErrInvalid = errors.New("invalid argument")
)

// These errors describe what is, or is not, stored.
var (
	// ErrNotFound is returned when the document (or a peer's sync state for it)
	// is not stored.
	ErrNotFound = errors.New("not found")

	// ErrCorrupt is returned when stored data cannot be decoded or is
	// inconsistent with itself, for example metadata counting a different
	// number of chunks than are stored.
	ErrCorrupt = errors.New("store corrupt")
)
