package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veche-sync/veche/server/store"
)

// Run runs the conformance suite against the stores open returns. Subtests
// run in parallel.
//
// open is called with each subtest's t. The first call for a given t must
// return an empty store; a later call with the same t, made after the
// previous store was closed, must reopen the same data. Run closes every
// store it opens, possibly twice (a second Close must return nil).
//
// Backups are checked by saving them as dir/veche.db and opening that with
// store.Open: whatever the implementation, Backup writes a bbolt store file.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"LoadMissing", testLoadMissing},
		{"AppendLoad", testAppendLoad},
		{"Meta", testMeta},
		{"NoAliasing", testNoAliasing},
		{"Invalid", testInvalid},
		{"Compact", testCompact},
		{"CompactFailsWhole", testCompactFailsWhole},
		{"SyncState", testSyncState},
		{"Documents", testDocuments},
		{"ConcurrentAppends", testConcurrentAppends},
		{"Backup", testBackup},
		{"Reopen", testReopen},
		{"Closed", testClosed},
		{"Canceled", testCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// openClosing calls open and closes the store when t ends.
func openClosing(t *testing.T, open func(t *testing.T) store.Store) store.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func testLoadMissing(t *testing.T, open func(t *testing.T) store.Store) {
	s := openClosing(t, open)
	ctx := t.Context()

	if _, err := s.Load(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Load missing: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Meta(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Meta missing: err = %v, want ErrNotFound", err)
	}
	if ok, err := s.Exists(ctx, "nope"); err != nil || ok {
		t.Errorf("Exists missing = %v, %v; want false, nil", ok, err)
	}
	if _, err := s.Compact(ctx, "nope", []byte("snap"), 0, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Compact missing: err = %v, want ErrNotFound", err)
	}
	if _, err := s.LoadSyncState(ctx, "peer", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LoadSyncState missing: err = %v, want ErrNotFound", err)
	}
	if ok, err := s.Exists(ctx, "nope"); err != nil || ok {
		t.Errorf("Exists after failed Compact = %v, %v; want false, nil", ok, err)
	}
}

func testAppendLoad(t *testing.T, open func(t *testing.T) store.Store) {
	s := openClosing(t, open)
	ctx := t.Context()

	want := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	for i, c := range want {
		m, err := s.Append(ctx, "doc", c, []string{fmt.Sprintf("h%d", i)})
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if m.Chunks != i+1 {
			t.Errorf("Append %d: Meta.Chunks = %d, want %d", i, m.Chunks, i+1)
		}
	}
	if ok, err := s.Exists(ctx, "doc"); err != nil || !ok {
		t.Errorf("Exists = %v, %v; want true, nil", ok, err)
	}
	doc := mustLoad(t, s, "doc")
	if doc.Snapshot != nil {
		t.Errorf("Snapshot = %q before any Compact, want nil", doc.Snapshot)
	}
	checkChunks(t, doc, want...)
	if got := doc.Meta.Heads; !slices.Equal(got, []string{"h2"}) {
		t.Errorf("Heads = %q, want [h2]", got)
	}
}

func testMeta(t *testing.T, open func(t *testing.T) store.Store) {
	s := openClosing(t, open)
	ctx := t.Context()

	before := time.Now()
	m1, err := s.Append(ctx, "doc", []byte("12345"), []string{"aa", "bb"})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if m1.Created.Before(before.Add(-time.Second)) || m1.Created.After(after.Add(time.Second)) {
		t.Errorf("Created = %v, want between %v and %v", m1.Created, before, after)
	}
	if m1.Updated.Before(m1.Created) {
		t.Errorf("Updated %v before Created %v", m1.Updated, m1.Created)
	}
	checkMeta(t, "after first Append", m1, store.Meta{
		Created: m1.Created, Updated: m1.Updated,
		Heads: []string{"aa", "bb"}, ChunkBytes: 5, Chunks: 1,
	})

	time.Sleep(2 * time.Millisecond)
	m2, err := s.Append(ctx, "doc", []byte("123"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !m2.Created.Equal(m1.Created) {
		t.Errorf("Created changed from %v to %v", m1.Created, m2.Created)
	}
	if m2.Updated.Before(m1.Updated) {
		t.Errorf("Updated went back from %v to %v", m1.Updated, m2.Updated)
	}
	checkMeta(t, "after second Append", m2, store.Meta{
		Created: m1.Created, Updated: m2.Updated,
		Heads: nil, ChunkBytes: 8, Chunks: 2,
	})

	got, err := s.Meta(ctx, "doc")
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, "Meta", got, m2)
	checkMeta(t, "Load().Meta", mustLoad(t, s, "doc").Meta, m2)

	m3, err := s.Compact(ctx, "doc", []byte("snapshot"), 1, []string{"cc"})
	if err != nil {
		t.Fatal(err)
	}
	if m3.Updated.Before(m2.Updated) {
		t.Errorf("Compact: Updated went back from %v to %v", m2.Updated, m3.Updated)
	}
	checkMeta(t, "after Compact", m3, store.Meta{
		Created: m1.Created, Updated: m3.Updated,
		Heads: []string{"cc"}, SnapshotBytes: 8, ChunkBytes: 3, Chunks: 1,
	})
	got, err = s.Meta(ctx, "doc")
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, "Meta after Compact", got, m3)
}

// testNoAliasing checks the store neither keeps the caller's slices nor hands
// out its own.
func testNoAliasing(t *testing.T, open func(t *testing.T) store.Store) {
	s := openClosing(t, open)
	ctx := t.Context()

	chunk := []byte("chunk")
	heads := []string{"h1"}
	if _, err := s.Append(ctx, "doc", chunk, heads); err != nil {
		t.Fatal(err)
	}
	chunk[0] = 'X'
	heads[0] = "changed"

	doc := mustLoad(t, s, "doc")
	checkChunks(t, doc, []byte("chunk"))
	if !slices.Equal(doc.Meta.Heads, []string{"h1"}) {
		t.Errorf("Heads = %q after caller changed its slice, want [h1]", doc.Meta.Heads)
	}
	doc.Chunks[0][0] = 'Y'
	doc.Meta.Heads[0] = "mine"
	checkChunks(t, mustLoad(t, s, "doc"), []byte("chunk"))

	state := []byte("state")
	if err := s.SaveSyncState(ctx, "peer", "doc", state); err != nil {
		t.Fatal(err)
	}
	state[0] = 'X'
	got, err := s.LoadSyncState(ctx, "peer", "doc")
	if err != nil || string(got) != "state" {
		t.Fatalf("LoadSyncState = %q, %v; want state", got, err)
	}
	got[0] = 'Y'
	if got, _ := s.LoadSyncState(ctx, "peer", "doc"); string(got) != "state" {
		t.Errorf("LoadSyncState = %q after caller changed the last result, want state", got)
	}
}

func testInvalid(t *testing.T, open func(t *testing.T) store.Store) {
	s := openClosing(t, open)
	ctx := t.Context()
	long := strings.Repeat("x", store.MaxIDLen+1)

	checkInvalid := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", what, err)
		}
	}
	_, err := s.Append(ctx, "", []byte("c"), nil)
	checkInvalid("Append empty id", err)
	_, err = s.Append(ctx, long, []byte("c"), nil)
	checkInvalid("Append long id", err)
	_, err = s.Append(ctx, "doc", nil, nil)
	checkInvalid("Append empty chunk", err)
	_, err = s.Load(ctx, "")
	checkInvalid("Load empty id", err)
	_, err = s.Meta(ctx, "")
	checkInvalid("Meta empty id", err)
	_, err = s.Exists(ctx, "")
	checkInvalid("Exists empty id", err)
	_, err = s.Compact(ctx, "", []byte("s"), 0, nil)
	checkInvalid("Compact empty id", err)
	checkInvalid("SaveSyncState empty storage id", s.SaveSyncState(ctx, "", "doc", []byte("s")))
	checkInvalid("SaveSyncState empty doc id", s.SaveSyncState(ctx, "peer", "", []byte("s")))
	checkInvalid("SaveSyncState empty state", s.SaveSyncState(ctx, "peer", "doc", nil))
	_, err = s.LoadSyncState(ctx, "", "doc")
	checkInvalid("LoadSyncState empty storage id", err)
	_, err = s.LoadSyncState(ctx, "peer", long)
	checkInvalid("LoadSyncState long doc id", err)

	if ids := documentIDs(t, s); len(ids) != 0 {
		t.Errorf("documents after refused writes: %q, want none", ids)
	}
	if _, err := s.LoadSyncState(ctx, "peer", "doc"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LoadSyncState after refused save: err = %v, want ErrNotFound", err)
	}
}

func testCompact(t *testing.T, open func(t *testing.T) store.Store) {
	s := openClosing(t, open)
	ctx := t.Context()

	mustAppend(t, s, "doc", "c1", "c2", "c3")
	m, err := s.Meta(ctx, "doc")
	if err != nil {
		t.Fatal(err)
	}
	// A writer appends after the compactor read Meta; its chunk is not covered.
	mustAppend(t, s, "doc", "c4")
	m, err = s.Compact(ctx, "doc", []byte("S12"), m.Chunks-1, []string{"h"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Chunks != 2 || m.ChunkBytes != 4 || m.SnapshotBytes != 3 {
		t.Errorf("Meta after Compact = %+v, want 2 chunks, 4 chunk bytes, 3 snapshot bytes", m)
	}
	doc := mustLoad(t, s, "doc")
	if string(doc.Snapshot) != "S12" {
		t.Errorf("Snapshot = %q, want S12", doc.Snapshot)
	}
	checkChunks(t, doc, []byte("c3"), []byte("c4"))

	mustAppend(t, s, "doc", "c5")
	checkChunks(t, mustLoad(t, s, "doc"), []byte("c3"), []byte("c4"), []byte("c5"))

	// Covering nothing only replaces the snapshot.
	if _, err := s.Compact(ctx, "doc", []byte("S2"), 0, nil); err != nil {
		t.Fatal(err)
	}
	doc = mustLoad(t, s, "doc")
	if string(doc.Snapshot) != "S2" {
		t.Errorf("Snapshot = %q, want S2", doc.Snapshot)
	}
	checkChunks(t, doc, []byte("c3"), []byte("c4"), []byte("c5"))

	// Covering everything leaves no chunks.
	m, err = s.Compact(ctx, "doc", []byte("S12345"), 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Chunks != 0 || m.ChunkBytes != 0 || m.SnapshotBytes != 6 {
		t.Errorf("Meta after full Compact = %+v, want no chunks and 6 snapshot bytes", m)
	}
	doc = mustLoad(t, s, "doc")
	checkChunks(t, doc)
	mustAppend(t, s, "doc", "c6")
	checkChunks(t, mustLoad(t, s, "doc"), []byte("c6"))
}

func testCompactFailsWhole(t *testing.T, open func(t *testing.T) store.Store) {
	s := openClosing(t, open)
	ctx := t.Context()

	mustAppend(t, s, "doc", "c1", "c2")
	if _, err := s.Compact(ctx, "doc", []byte("S"), 1, nil); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "doc", "c3")
	before := mustLoad(t, s, "doc")

	for _, tc := range []struct {
		name     string
		snapshot []byte
		covered  int
	}{
		{"more chunks than stored", []byte("S2"), 3},
		{"negative count", []byte("S2"), -1},
		{"empty snapshot", nil, 1},
	} {
		_, err := s.Compact(ctx, "doc", tc.snapshot, tc.covered, []string{"new"})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Compact %s: err = %v, want ErrInvalid", tc.name, err)
		}
		after := mustLoad(t, s, "doc")
		if !bytes.Equal(after.Snapshot, before.Snapshot) {
			t.Errorf("Compact %s changed the snapshot to %q", tc.name, after.Snapshot)
		}
		checkChunks(t, after, before.Chunks...)
		checkMeta(t, "Meta after failed Compact "+tc.name, after.Meta, before.Meta)
	}
}

func testSyncState(t *testing.T, open func(t *testing.T) store.Store) {
	s := openClosing(t, open)
	ctx := t.Context()

	save := func(peer, doc, state string) {
		t.Helper()
		if err := s.SaveSyncState(ctx, peer, doc, []byte(state)); err != nil {
			t.Fatalf("SaveSyncState(%s, %s): %v", peer, doc, err)
		}
	}
	check := func(peer, doc, want string) {
		t.Helper()
		got, err := s.LoadSyncState(ctx, peer, doc)
		if want == "" {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("LoadSyncState(%s, %s) = %q, %v; want ErrNotFound", peer, doc, got, err)
			}
			return
		}
		if err != nil || string(got) != want {
			t.Errorf("LoadSyncState(%s, %s) = %q, %v; want %q", peer, doc, got, err, want)
		}
	}

	save("p1", "d1", "p1d1")
	check("p1", "d1", "p1d1")
	check("p1", "d2", "")
	check("p2", "d1", "")

	save("p1", "d2", "p1d2")
	save("p2", "d1", "p2d1")
	save("p1", "d1", "p1d1-v2")
	check("p1", "d1", "p1d1-v2")
	check("p1", "d2", "p1d2")
	check("p2", "d1", "p2d1")
	check("p2", "d2", "")

	// Sync state is not a document.
	if ids := documentIDs(t, s); len(ids) != 0 {
		t.Errorf("documents = %q, want none", ids)
	}

	// Concurrent saves (group-committed in Bolt) all land.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if err := s.SaveSyncState(ctx, fmt.Sprintf("peer%d", i%5), fmt.Sprintf("doc%d", i), []byte(fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range 50 {
		check(fmt.Sprintf("peer%d", i%5), fmt.Sprintf("doc%d", i), fmt.Sprint(i))
	}
}

func testDocuments(t *testing.T, open func(t *testing.T) store.Store) {
	s := openClosing(t, open)
	ctx := t.Context()

	if ids := documentIDs(t, s); len(ids) != 0 {
		t.Errorf("documents of an empty store = %q, want none", ids)
	}

	// Enough documents to cross any reasonable page size, written
	// concurrently so that group commit keeps this fast.
	const n = 600
	var want []string
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprintf("doc-%04d", i)
		want = append(want, id)
		wg.Go(func() {
			for j := range i%3 + 1 {
				if _, err := s.Append(ctx, id, fmt.Appendf(nil, "%s/%d", id, j), nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	var got []string
	err := s.Documents(ctx, func(id string, m store.Meta) error {
		got = append(got, id)
		var i int
		if _, err := fmt.Sscanf(id, "doc-%d", &i); err != nil {
			return err
		}
		if m.Chunks != i%3+1 {
			t.Errorf("%s: Meta.Chunks = %d, want %d", id, m.Chunks, i%3+1)
		}
		// fn may call the store.
		if _, err := s.Meta(ctx, id); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Documents visited %d ids (first %q), want %d in order", len(got), got[:min(3, len(got))], len(want))
	}

	stop := errors.New("stop")
	calls := 0
	err = s.Documents(ctx, func(string, store.Meta) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Errorf("Documents with fn failing at call 3: err = %v after %d calls, want stop after 3", err, calls)
	}
}

// testConcurrentAppends has many goroutines append to many documents, some
// shared, and checks that every acknowledged chunk is stored, in each
// writer's order, also after reopening.
func testConcurrentAppends(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()

	const (
		docs      = 16
		perDoc    = 3 // writers per document
		perWriter = 20
	)
	var wg sync.WaitGroup
	for d := range docs {
		for w := range perDoc {
			wg.Go(func() {
				id := fmt.Sprintf("doc%d", d)
				for i := range perWriter {
					if _, err := s.Append(ctx, id, fmt.Appendf(nil, "w%d/%d", w, i), []string{fmt.Sprint(i)}); err != nil {
						t.Errorf("Append %s: %v", id, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	check := func(s store.Store) {
		t.Helper()
		for d := range docs {
			id := fmt.Sprintf("doc%d", d)
			doc := mustLoad(t, s, id)
			if len(doc.Chunks) != perDoc*perWriter || doc.Meta.Chunks != perDoc*perWriter {
				t.Errorf("%s: %d chunks, Meta.Chunks %d; want %d", id, len(doc.Chunks), doc.Meta.Chunks, perDoc*perWriter)
				continue
			}
			next := make([]int, perDoc)
			for _, c := range doc.Chunks {
				var w, i int
				if _, err := fmt.Sscanf(string(c), "w%d/%d", &w, &i); err != nil || w < 0 || w >= perDoc {
					t.Fatalf("%s: unexpected chunk %q", id, c)
				}
				if i != next[w] {
					t.Errorf("%s: writer %d's chunk %d stored where %d was due", id, w, i, next[w])
				}
				next[w] = i + 1
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openClosing(t, open))
}

func testBackup(t *testing.T, open func(t *testing.T) store.Store) {
	s := openClosing(t, open)
	ctx := t.Context()

	mustAppend(t, s, "a", "a1", "a2", "a3")
	if _, err := s.Compact(ctx, "a", []byte("A"), 2, []string{"ha"}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "b", "b1")
	if err := s.SaveSyncState(ctx, "peer", "a", []byte("state")); err != nil {
		t.Fatal(err)
	}

	// Writers keep going during the backup; the copy is consistent anyway.
	mustAppend(t, s, "busy", "0")
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if _, err := s.Append(ctx, "busy", fmt.Appendf(nil, "%d", i), nil); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var buf bytes.Buffer
	n, err := s.Backup(ctx, &buf)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("Backup returned %d, wrote %d bytes", n, buf.Len())
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, store.FileName), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	restored, err := store.Open(dir, nil)
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	defer restored.Close()

	for _, id := range []string{"a", "b"} {
		want, got := mustLoad(t, s, id), mustLoad(t, restored, id)
		if !bytes.Equal(got.Snapshot, want.Snapshot) {
			t.Errorf("%s: restored snapshot %q, want %q", id, got.Snapshot, want.Snapshot)
		}
		checkChunks(t, got, want.Chunks...)
		checkMeta(t, id+" restored", got.Meta, want.Meta)
	}
	if got, err := restored.LoadSyncState(ctx, "peer", "a"); err != nil || string(got) != "state" {
		t.Errorf("restored sync state = %q, %v; want state", got, err)
	}
	busy := mustLoad(t, restored, "busy")
	for i, c := range busy.Chunks {
		if string(c) != fmt.Sprint(i) {
			t.Fatalf("restored busy chunk %d = %q: the copy is not consistent", i, c)
		}
	}
}

func testReopen(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()

	mustAppend(t, s, "a", "a1", "a2")
	if _, err := s.Compact(ctx, "a", []byte("A"), 1, []string{"ha"}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "a", "a3")
	mustAppend(t, s, "b", "b1")
	if err := s.SaveSyncState(ctx, "peer", "b", []byte("state")); err != nil {
		t.Fatal(err)
	}
	want := map[string]store.Document{"a": mustLoad(t, s, "a"), "b": mustLoad(t, s, "b")}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openClosing(t, open)
	for id, want := range want {
		got := mustLoad(t, s, id)
		if !bytes.Equal(got.Snapshot, want.Snapshot) {
			t.Errorf("%s: snapshot after reopen %q, want %q", id, got.Snapshot, want.Snapshot)
		}
		checkChunks(t, got, want.Chunks...)
		checkMeta(t, id+" after reopen", got.Meta, want.Meta)
	}
	if got, err := s.LoadSyncState(ctx, "peer", "b"); err != nil || string(got) != "state" {
		t.Errorf("sync state after reopen = %q, %v; want state", got, err)
	}
	if ids := documentIDs(t, s); !slices.Equal(ids, []string{"a", "b"}) {
		t.Errorf("documents after reopen = %q, want [a b]", ids)
	}
	// Sequence numbers continue: new chunks go after the old ones.
	mustAppend(t, s, "a", "a4")
	checkChunks(t, mustLoad(t, s, "a"), []byte("a2"), []byte("a3"), []byte("a4"))
}

func testClosed(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := t.Context()
	mustAppend(t, s, "doc", "c1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}

	for name, err := range allOps(ctx, s) {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
}

func testCanceled(t *testing.T, open func(t *testing.T) store.Store) {
	s := openClosing(t, open)
	mustAppend(t, s, "doc", "c1")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for name, err := range allOps(ctx, s) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with canceled context: err = %v, want context.Canceled", name, err)
		}
	}
	if ok, err := s.Exists(t.Context(), "new"); err != nil || ok {
		t.Errorf("Exists(new) after canceled Append = %v, %v; want false", ok, err)
	}
	checkChunks(t, mustLoad(t, s, "doc"), []byte("c1"))
}

// allOps calls every Store method but Close on existing data and returns
// their errors by name.
func allOps(ctx context.Context, s store.Store) map[string]error {
	errs := make(map[string]error)
	_, errs["Load"] = s.Load(ctx, "doc")
	_, errs["Exists"] = s.Exists(ctx, "doc")
	_, errs["Meta"] = s.Meta(ctx, "doc")
	_, errs["Append"] = s.Append(ctx, "new", []byte("c"), nil)
	_, errs["Compact"] = s.Compact(ctx, "doc", []byte("s"), 0, nil)
	_, errs["LoadSyncState"] = s.LoadSyncState(ctx, "peer", "doc")
	errs["SaveSyncState"] = s.SaveSyncState(ctx, "peer", "doc", []byte("s"))
	errs["Documents"] = s.Documents(ctx, func(string, store.Meta) error { return nil })
	_, errs["Backup"] = s.Backup(ctx, &bytes.Buffer{})
	return errs
}

func mustAppend(t *testing.T, s store.Store, id string, chunks ...string) {
	t.Helper()
	for _, c := range chunks {
		if _, err := s.Append(t.Context(), id, []byte(c), nil); err != nil {
			t.Fatalf("Append(%s, %q): %v", id, c, err)
		}
	}
}

func mustLoad(t *testing.T, s store.Store, id string) store.Document {
	t.Helper()
	doc, err := s.Load(t.Context(), id)
	if err != nil {
		t.Fatalf("Load(%s): %v", id, err)
	}
	return doc
}

func documentIDs(t *testing.T, s store.Store) []string {
	t.Helper()
	var ids []string
	err := s.Documents(t.Context(), func(id string, _ store.Meta) error {
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		t.Fatalf("Documents: %v", err)
	}
	return ids
}

// checkChunks checks doc's chunks and their count and size in doc.Meta.
func checkChunks(t *testing.T, doc store.Document, want ...[]byte) {
	t.Helper()
	if len(doc.Chunks) != len(want) {
		t.Errorf("got %d chunks %q, want %d %q", len(doc.Chunks), doc.Chunks, len(want), want)
		return
	}
	var size int64
	for i := range want {
		if !bytes.Equal(doc.Chunks[i], want[i]) {
			t.Errorf("chunk %d = %q, want %q", i, doc.Chunks[i], want[i])
		}
		size += int64(len(want[i]))
	}
	if doc.Meta.Chunks != len(want) || doc.Meta.ChunkBytes != size {
		t.Errorf("Meta counts %d chunks of %d bytes, want %d of %d", doc.Meta.Chunks, doc.Meta.ChunkBytes, len(want), size)
	}
	if doc.Meta.SnapshotBytes != int64(len(doc.Snapshot)) {
		t.Errorf("Meta.SnapshotBytes = %d, snapshot has %d", doc.Meta.SnapshotBytes, len(doc.Snapshot))
	}
}

// checkMeta compares metadata, times by instant.
func checkMeta(t *testing.T, what string, got, want store.Meta) {
	t.Helper()
	if !got.Created.Equal(want.Created) || !got.Updated.Equal(want.Updated) {
		t.Errorf("%s: Created, Updated = %v, %v; want %v, %v", what, got.Created, got.Updated, want.Created, want.Updated)
	}
	got.Created, got.Updated, want.Created, want.Updated = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: Meta = %+v, want %+v", what, got, want)
	}
}
