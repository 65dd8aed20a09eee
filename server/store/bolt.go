package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the name of the bbolt file Open keeps in the data directory.
const FileName = "veche.db"

// Bucket and key names; see the package documentation for the layout.
var (
	bucketDocs   = []byte("docs")
	bucketSync   = []byte("sync")
	bucketChunks = []byte("chunks")
	keySnapshot  = []byte("snapshot")
	keyMeta      = []byte("meta")
)

// documentsPage is how many documents Documents reads per read transaction.
const documentsPage = 256

// Options for Open. The zero value (or a nil *Options) gives the defaults; a
// zero or negative duration or size also means the default.
type Options struct {
	// LockTimeout is how long Open waits for another holder of the data
	// directory's lock to let go before it fails with ErrLocked.
	// Default 1s.
	LockTimeout time.Duration

	// MaxBatchDelay is the longest an Append or SaveSyncState that starts
	// while another write is under way waits for others to share its commit
	// (and fsync). A write that starts alone does not wait. Default 2ms.
	MaxBatchDelay time.Duration

	// MaxBatchSize is how many waiting Appends and SaveSyncStates make a
	// commit start at once, before MaxBatchDelay. Default 1000.
	MaxBatchSize int

	// NoSync skips fsync on commit: a crash of the machine (not just the
	// process) may lose acknowledged writes or corrupt the file. Only for
	// tests and benchmarks. Default false.
	NoSync bool

	// ReadOnly opens an existing store for reading only (veche check,
	// veche backup on a stopped relay): nothing is created or written, and
	// every write fails. The directory must hold a store (else ErrNoStore).
	// Default false.
	ReadOnly bool
}

// Defaults for Options.
const (
	DefaultLockTimeout   = time.Second
	DefaultMaxBatchDelay = 2 * time.Millisecond
	DefaultMaxBatchSize  = 1000
)

// withDefaults returns a copy of o (which may be nil) with defaults filled in.
func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.LockTimeout <= 0 {
		r.LockTimeout = DefaultLockTimeout
	}
	if r.MaxBatchDelay <= 0 {
		r.MaxBatchDelay = DefaultMaxBatchDelay
	}
	if r.MaxBatchSize <= 0 {
		r.MaxBatchSize = DefaultMaxBatchSize
	}
	return r
}

// Stats are counters since Open, for metrics and benchmarks.
type Stats struct {
	// Commits is the number of write transactions committed; each one costs
	// one fsync of the file unless Options.NoSync. Appends/Commits shows how
	// well group commit works.
	Commits int64
	// Appends is the number of chunks durably appended.
	Appends int64
	// Documents is the number of documents stored.
	Documents int64
	// FileBytes is the size of the bbolt file (0 if it cannot be read).
	FileBytes int64
}

// Bolt is a Store kept in one bbolt file, dir/veche.db.
type Bolt struct {
	db   *bolt.DB
	path string

	commits   atomic.Int64
	appends   atomic.Int64
	documents atomic.Int64
	writing   atomic.Int64 // Appends and SaveSyncStates under way (see groupCommit)

	// lastTx is the last write transaction countCommit saw. It is only used
	// inside write transactions, so bbolt's writer lock guards it.
	lastTx *bolt.Tx

	mu     sync.RWMutex // held for reading by every operation; guards the following
	closed bool
}

var _ Store = (*Bolt)(nil)

// Open opens the store in dir, creating dir (mode 0700) and dir/veche.db
// (mode 0600) if needed. A nil opts means the defaults.
//
// A data directory is used by one process at a time. If another process (or
// another Open in this process) holds it, Open returns an error wrapping
// ErrLocked ("data directory /x is in use by another veche process") after
// Options.LockTimeout; it never waits longer.
func Open(dir string, opts *Options) (*Bolt, error) {
	o := opts.withDefaults()
	if dir == "" {
		return nil, fmt.Errorf("store: open: %w: empty data directory", ErrInvalid)
	}
	path := filepath.Join(dir, FileName)
	if o.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrNoStore, dir, err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      o.LockTimeout,
		NoSync:       o.NoSync,
		ReadOnly:     o.ReadOnly,
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: data directory %s is in use by another veche process (no lock on %s within %s)",
			ErrLocked, dir, FileName, o.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.MaxBatchDelay = o.MaxBatchDelay
	db.MaxBatchSize = o.MaxBatchSize

	s := &Bolt{db: db, path: path}
	prepare := func(tx *bolt.Tx) error {
		if !o.ReadOnly {
			s.countCommit(tx)
			for _, name := range [][]byte{bucketDocs, bucketSync} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return fmt.Errorf("create bucket %s: %w", name, err)
				}
			}
		}
		docs := tx.Bucket(bucketDocs)
		if docs == nil {
			return fmt.Errorf("%w: no docs bucket", ErrNoStore)
		}
		var n int64
		c := docs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil {
				n++
			}
		}
		s.documents.Store(n)
		return nil
	}
	if o.ReadOnly {
		err = db.View(prepare)
	} else {
		err = db.Update(prepare)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

// Path returns the path of the bbolt file.
func (s *Bolt) Path() string { return s.path }

// Stats returns the counters since Open.
func (s *Bolt) Stats() Stats {
	st := Stats{Commits: s.commits.Load(), Appends: s.appends.Load(), Documents: s.documents.Load()}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	return st
}

// Load implements Store.
func (s *Bolt) Load(ctx context.Context, id string) (doc Document, err error) {
	defer wrap(&err, "load %q", id)
	if err := checkID("document id", id); err != nil {
		return Document{}, err
	}
	if err := s.acquire(ctx); err != nil {
		return Document{}, err
	}
	defer s.mu.RUnlock()

	err = s.db.View(func(tx *bolt.Tx) error {
		b := docBucket(tx, id)
		if b == nil {
			return ErrNotFound
		}
		m, err := readMeta(b)
		if err != nil {
			return err
		}
		chunks := b.Bucket(bucketChunks)
		if chunks == nil {
			return fmt.Errorf("%w: document has no chunks bucket", ErrCorrupt)
		}
		doc = Document{Snapshot: bytes.Clone(b.Get(keySnapshot)), Meta: m}
		doc.Chunks = make([][]byte, 0, m.Chunks)
		err = chunks.ForEach(func(_, v []byte) error {
			doc.Chunks = append(doc.Chunks, bytes.Clone(v))
			return nil
		})
		if err != nil {
			return err
		}
		if len(doc.Chunks) != m.Chunks {
			return fmt.Errorf("%w: meta counts %d chunks, %d stored", ErrCorrupt, m.Chunks, len(doc.Chunks))
		}
		return nil
	})
	if err != nil {
		return Document{}, err
	}
	return doc, nil
}

// Exists implements Store.
func (s *Bolt) Exists(ctx context.Context, id string) (ok bool, err error) {
	defer wrap(&err, "exists %q", id)
	if err := checkID("document id", id); err != nil {
		return false, err
	}
	if err := s.acquire(ctx); err != nil {
		return false, err
	}
	defer s.mu.RUnlock()

	err = s.db.View(func(tx *bolt.Tx) error {
		ok = docBucket(tx, id) != nil
		return nil
	})
	return ok, err
}

// Meta implements Store.
func (s *Bolt) Meta(ctx context.Context, id string) (m Meta, err error) {
	defer wrap(&err, "meta %q", id)
	if err := checkID("document id", id); err != nil {
		return Meta{}, err
	}
	if err := s.acquire(ctx); err != nil {
		return Meta{}, err
	}
	defer s.mu.RUnlock()

	err = s.db.View(func(tx *bolt.Tx) error {
		b := docBucket(tx, id)
		if b == nil {
			return ErrNotFound
		}
		m, err = readMeta(b)
		return err
	})
	return m, err
}

// groupCommit runs fn in a write transaction. A write that starts while
// no other is under way commits at once (DB.Update): a lone busy document
// does not wait MaxBatchDelay, nor hand its commit to a timer's
// goroutine. A write that starts while another is under way goes through
// DB.Batch and shares one commit, one fsync, with the others that arrive
// within MaxBatchDelay (group commit). DB.Batch may run fn more than once,
// so fn derives everything (time, sequence, sizes) from the transaction it
// is given.
func (s *Bolt) groupCommit(fn func(*bolt.Tx) error) error {
	defer s.writing.Add(-1)
	if s.writing.Add(1) == 1 {
		return s.db.Update(fn)
	}
	return s.db.Batch(fn)
}

// Append implements Store. It commits through groupCommit.
func (s *Bolt) Append(ctx context.Context, id string, chunk []byte, heads []string) (m Meta, err error) {
	defer wrap(&err, "append to %q", id)
	if err := checkID("document id", id); err != nil {
		return Meta{}, err
	}
	if err := checkValue("chunk", chunk); err != nil {
		return Meta{}, err
	}
	heads = cloneHeads(heads)
	if err := s.acquire(ctx); err != nil {
		return Meta{}, err
	}
	defer s.mu.RUnlock()

	err = s.groupCommit(func(tx *bolt.Tx) error {
		s.countCommit(tx)
		now := time.Now().UTC()
		docs := tx.Bucket(bucketDocs)
		b := docs.Bucket([]byte(id))
		var cur Meta
		if b == nil {
			var err error
			if b, err = docs.CreateBucket([]byte(id)); err != nil {
				return err
			}
			if _, err = b.CreateBucket(bucketChunks); err != nil {
				return err
			}
			cur.Created = now
			tx.OnCommit(func() { s.documents.Add(1) })
		} else {
			var err error
			if cur, err = readMeta(b); err != nil {
				return err
			}
		}
		chunks := b.Bucket(bucketChunks)
		if chunks == nil {
			return fmt.Errorf("%w: document has no chunks bucket", ErrCorrupt)
		}
		seq, err := chunks.NextSequence()
		if err != nil {
			return err
		}
		if err := chunks.Put(seqKey(seq), chunk); err != nil {
			return err
		}
		cur.Updated = later(now, cur.Updated)
		cur.Heads = heads
		cur.ChunkBytes += int64(len(chunk))
		cur.Chunks++
		if err := writeMeta(b, cur); err != nil {
			return err
		}
		m = cur
		return nil
	})
	if err != nil {
		return Meta{}, err
	}
	s.appends.Add(1)
	return m, nil
}

// Compact implements Store. It is rare and large, so it commits on its own
// rather than joining a batch.
func (s *Bolt) Compact(ctx context.Context, id string, snapshot []byte, coveredChunks int, heads []string) (m Meta, err error) {
	defer wrap(&err, "compact %q", id)
	if err := checkID("document id", id); err != nil {
		return Meta{}, err
	}
	if err := checkValue("snapshot", snapshot); err != nil {
		return Meta{}, err
	}
	if coveredChunks < 0 {
		return Meta{}, fmt.Errorf("%w: negative coveredChunks %d", ErrInvalid, coveredChunks)
	}
	heads = cloneHeads(heads)
	if err := s.acquire(ctx); err != nil {
		return Meta{}, err
	}
	defer s.mu.RUnlock()

	err = s.db.Update(func(tx *bolt.Tx) error {
		s.countCommit(tx)
		b := docBucket(tx, id)
		if b == nil {
			return ErrNotFound
		}
		cur, err := readMeta(b)
		if err != nil {
			return err
		}
		if coveredChunks > cur.Chunks {
			return fmt.Errorf("%w: coveredChunks %d but only %d chunks stored", ErrInvalid, coveredChunks, cur.Chunks)
		}
		chunks := b.Bucket(bucketChunks)
		if chunks == nil {
			return fmt.Errorf("%w: document has no chunks bucket", ErrCorrupt)
		}
		// Collect first, then delete: deleting under a moving cursor skips keys.
		covered := make([][]byte, 0, coveredChunks)
		var freed int64
		c := chunks.Cursor()
		for k, v := c.First(); k != nil && len(covered) < coveredChunks; k, v = c.Next() {
			covered = append(covered, bytes.Clone(k))
			freed += int64(len(v))
		}
		if len(covered) < coveredChunks {
			return fmt.Errorf("%w: meta counts %d chunks, fewer stored", ErrCorrupt, cur.Chunks)
		}
		for _, k := range covered {
			if err := chunks.Delete(k); err != nil {
				return err
			}
		}
		if err := b.Put(keySnapshot, snapshot); err != nil {
			return err
		}
		cur.Updated = later(time.Now().UTC(), cur.Updated)
		cur.Heads = heads
		cur.SnapshotBytes = int64(len(snapshot))
		cur.ChunkBytes -= freed
		cur.Chunks -= coveredChunks
		if err := writeMeta(b, cur); err != nil {
			return err
		}
		m = cur
		return nil
	})
	if err != nil {
		return Meta{}, err
	}
	return m, nil
}

// LoadSyncState implements Store.
func (s *Bolt) LoadSyncState(ctx context.Context, storageID, docID string) (state []byte, err error) {
	defer wrap(&err, "load sync state of peer %q for %q", storageID, docID)
	if err := checkID("storage id", storageID); err != nil {
		return nil, err
	}
	if err := checkID("document id", docID); err != nil {
		return nil, err
	}
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()

	err = s.db.View(func(tx *bolt.Tx) error {
		peer := tx.Bucket(bucketSync).Bucket([]byte(storageID))
		if peer == nil {
			return ErrNotFound
		}
		v := peer.Get([]byte(docID))
		if v == nil {
			return ErrNotFound
		}
		state = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return state, nil
}

// SaveSyncState implements Store. Like Append it is group-committed.
func (s *Bolt) SaveSyncState(ctx context.Context, storageID, docID string, state []byte) (err error) {
	defer wrap(&err, "save sync state of peer %q for %q", storageID, docID)
	if err := checkID("storage id", storageID); err != nil {
		return err
	}
	if err := checkID("document id", docID); err != nil {
		return err
	}
	if err := checkValue("sync state", state); err != nil {
		return err
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()

	return s.groupCommit(func(tx *bolt.Tx) error {
		s.countCommit(tx)
		peer, err := tx.Bucket(bucketSync).CreateBucketIfNotExists([]byte(storageID))
		if err != nil {
			return err
		}
		return peer.Put([]byte(docID), state)
	})
}

// Documents implements Store. It reads the documents a page at a time, each
// page in its own read transaction, and calls fn between transactions.
func (s *Bolt) Documents(ctx context.Context, fn func(id string, m Meta) error) error {
	var after []byte
	for {
		page, err := s.documentsAfter(ctx, after)
		if err != nil {
			return fmt.Errorf("store: documents: %w", err)
		}
		for _, d := range page {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("store: documents: %w", err)
			}
			if err := fn(d.id, d.meta); err != nil {
				return err
			}
		}
		if len(page) < documentsPage {
			return nil
		}
		after = []byte(page[len(page)-1].id)
	}
}

// idMeta is one entry of a Documents page.
type idMeta struct {
	id   string
	meta Meta
}

// documentsAfter returns up to documentsPage documents whose ids sort after
// after (from the first when after is nil).
func (s *Bolt) documentsAfter(ctx context.Context, after []byte) ([]idMeta, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()

	var page []idMeta
	err := s.db.View(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		c := docs.Cursor()
		k, v := c.First()
		if after != nil {
			k, v = c.Seek(after)
			if bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(page) < documentsPage; k, v = c.Next() {
			if v != nil {
				continue // not a document bucket
			}
			b := docs.Bucket(k)
			m, err := readMeta(b)
			if err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
			page = append(page, idMeta{id: string(k), meta: m})
		}
		return nil
	})
	return page, err
}

// Backup implements Store with bbolt's Tx.WriteTo. Writers proceed while it
// runs, except one that must grow the file's memory map, which waits for the
// copy to finish. Cancelling ctx stops the copy at the next write to w.
func (s *Bolt) Backup(ctx context.Context, w io.Writer) (n int64, err error) {
	defer wrap(&err, "backup")
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()

	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx: ctx, w: w})
		return err
	})
	return n, err
}

// Close implements Store.
func (s *Bolt) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// acquire starts an operation: it fails if ctx is done or the store is
// closed, and otherwise returns with mu held for reading, which the caller
// releases.
func (s *Bolt) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// countCommit arranges for tx's commit to be counted once, however many
// batched calls share tx. It is called inside write transactions only.
func (s *Bolt) countCommit(tx *bolt.Tx) {
	if s.lastTx == tx {
		return
	}
	s.lastTx = tx
	tx.OnCommit(func() { s.commits.Add(1) })
}

// docBucket returns the bucket of document id, or nil.
func docBucket(tx *bolt.Tx, id string) *bolt.Bucket {
	return tx.Bucket(bucketDocs).Bucket([]byte(id))
}

// seqKey is the key of chunk number seq: big-endian, so keys sort in
// append order.
func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// later returns the later of a and b, so Updated never moves backwards when
// the wall clock does.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// checkID refuses an empty or over-long id.
func checkID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%w: %s of %d bytes, longer than %d", ErrInvalid, what, len(id), MaxIDLen)
	}
	return nil
}

// checkValue refuses an empty value or one bbolt cannot store.
func checkValue(what string, v []byte) error {
	switch {
	case len(v) == 0:
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(v) > bolt.MaxValueSize:
		return fmt.Errorf("%w: %s of %d bytes, larger than %d", ErrInvalid, what, len(v), bolt.MaxValueSize)
	}
	return nil
}

// wrap prefixes a non-nil *err with "store: " and the operation.
func wrap(err *error, format string, args ...any) {
	if *err != nil {
		*err = fmt.Errorf("store: %s: %w", fmt.Sprintf(format, args...), *err)
	}
}

// ctxWriter is an io.Writer that fails once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

// Syncing reports whether commits are fsync'd: true unless the store was
// opened with Options.NoSync.
func (s *Bolt) Syncing() bool { return !s.db.NoSync }
