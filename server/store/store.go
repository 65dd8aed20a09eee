package store

import (
	"context"
	"io"
	"time"
)

// MaxIDLen is the longest document id or peer storage id, in bytes, that a
// Store accepts. Automerge document ids and storage ids are far shorter; the
// bound keeps keys well inside bbolt's key size limit.
const MaxIDLen = 1024

// Meta describes one stored document.
type Meta struct {
	// Created is when the document was first stored (UTC).
	Created time.Time
	// Updated is when the document was last written by Append or Compact (UTC).
	Updated time.Time
	// Heads are the hex change hashes the writer reported with the last
	// write; nil when it reported none.
	Heads []string
	// SnapshotBytes is the size of the current snapshot, 0 when there is none.
	SnapshotBytes int64
	// ChunkBytes is the total size of the chunks appended since the snapshot.
	ChunkBytes int64
	// Chunks is the number of chunks appended since the snapshot.
	Chunks int
}

// Document is everything needed to rebuild a document: load Snapshot (which
// is nil before the first Compact), then apply Chunks in order.
type Document struct {
	Snapshot []byte
	Chunks   [][]byte
	Meta     Meta
}

// Store is the persistence a relay needs. Implementations must be safe for
// concurrent use. Every write returns only after it is durable (fsync'd).
//
// Every method returns an error wrapping ErrClosed after Close, ErrInvalid for
// an argument it refuses (before writing anything), and ctx.Err() (wrapped) if
// ctx is already done when it is called. The package storetest holds the
// conformance suite every implementation must pass.
type Store interface {
	// Load returns the document or an error wrapping ErrNotFound. The returned
	// bytes belong to the caller.
	Load(ctx context.Context, id string) (Document, error)

	// Exists reports whether a document is stored.
	Exists(ctx context.Context, id string) (bool, error)

	// Meta returns the metadata or an error wrapping ErrNotFound.
	Meta(ctx context.Context, id string) (Meta, error)

	// Append durably adds an incremental chunk (creating the document if
	// absent), sets heads and Updated, and returns the new Meta. Concurrent
	// Appends (from different documents' goroutines) are group-committed so
	// one fsync serves many. An empty chunk is refused with ErrInvalid.
	Append(ctx context.Context, id string, chunk []byte, heads []string) (Meta, error)

	// Compact replaces the snapshot with snapshot, deletes the first
	// coveredChunks chunks (the ones the snapshot covers; chunks appended
	// after the caller read Meta survive) and sets heads, in one transaction:
	// on any error nothing changes. The document must exist (ErrNotFound) and
	// coveredChunks must lie in [0, Meta.Chunks] (ErrInvalid).
	Compact(ctx context.Context, id string, snapshot []byte, coveredChunks int, heads []string) (Meta, error)

	// LoadSyncState returns a peer's persisted sync state for a document, or
	// an error wrapping ErrNotFound.
	LoadSyncState(ctx context.Context, storageID, docID string) ([]byte, error)

	// SaveSyncState durably persists a peer's sync state for a document,
	// replacing any earlier one. Concurrent saves are group-committed.
	SaveSyncState(ctx context.Context, storageID, docID string, state []byte) error

	// Documents calls fn for each stored document id, in byte order of the
	// ids, with its metadata. It stops at, and returns, the first error fn
	// returns. fn runs outside any transaction, so it may call the Store;
	// documents created or changed during the walk may or may not be seen.
	Documents(ctx context.Context, fn func(id string, m Meta) error) error

	// Backup writes a consistent hot copy of the whole store to w and returns
	// the number of bytes written. The copy is a bbolt file: saved as
	// dir/veche.db it opens with Open. Writers are not blocked meanwhile.
	Backup(ctx context.Context, w io.Writer) (int64, error)

	// Close waits for operations in flight, then releases the store. Calling
	// Close again returns nil.
	Close() error
}
