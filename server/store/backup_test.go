package store_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/veche-sync/veche/server/store"
)

// fill stores docs documents of a few chunks each, and a sync state.
func fill(t *testing.T, s *store.Bolt, docs int) map[string]store.Meta {
	t.Helper()
	ctx := context.Background()
	metas := map[string]store.Meta{}
	for i := range docs {
		id := "doc-" + string(rune('a'+i))
		var m store.Meta
		var err error
		for j := range 3 {
			m, err = s.Append(ctx, id, bytes.Repeat([]byte{byte(i), byte(j)}, 500), []string{id + "-head"})
			if err != nil {
				t.Fatal(err)
			}
		}
		metas[id] = m
	}
	if err := s.SaveSyncState(ctx, "peer-storage", "doc-a", []byte("state")); err != nil {
		t.Fatal(err)
	}
	return metas
}

// backup returns the archive of s.
func backup(t *testing.T, s *store.Bolt) ([]byte, store.BackupInfo) {
	t.Helper()
	var buf bytes.Buffer
	var announced int64
	info, err := s.WriteBackup(context.Background(), func(size int64) (io.Writer, error) {
		announced = size
		return &buf, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != announced || info.ArchiveBytes != announced {
		t.Fatalf("archive of %d bytes, announced %d, info %d", buf.Len(), announced, info.ArchiveBytes)
	}
	return buf.Bytes(), info
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	src, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	metas := fill(t, src, 5)
	archive, info := backup(t, src)

	// A standard tar reader sees veche.db and its checksum.
	tr := tar.NewReader(bytes.NewReader(archive))
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
		if h.Name == "SHA256SUMS" {
			b, _ := io.ReadAll(tr)
			if string(b) != info.SHA256+"  veche.db\n" {
				t.Errorf("SHA256SUMS = %q", b)
			}
		}
	}
	if strings.Join(names, ",") != "veche.db,SHA256SUMS" {
		t.Fatalf("archive holds %v", names)
	}

	// Plain and gzip-compressed archives restore to the same documents.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(archive)
	zw.Close()
	for name, raw := range map[string][]byte{"tar": archive, "tar.gz": gz.Bytes()} {
		dir := filepath.Join(t.TempDir(), "restored")
		got, err := store.Restore(ctx, bytes.NewReader(raw), dir, store.RestoreOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.SHA256 != info.SHA256 || got.DBBytes != info.DBBytes {
			t.Fatalf("%s: restored %+v, backed up %+v", name, got, info)
		}
		dst, err := store.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		for id, want := range metas {
			m, err := dst.Meta(ctx, id)
			if err != nil || m.Chunks != want.Chunks || m.Heads[0] != want.Heads[0] {
				t.Errorf("%s: %s restored as %+v (%v), want %+v", name, id, m, err, want)
			}
		}
		if st, err := dst.LoadSyncState(ctx, "peer-storage", "doc-a"); err != nil || string(st) != "state" {
			t.Errorf("%s: sync state %q %v", name, st, err)
		}
		if n := dst.Stats().Documents; n != 5 {
			t.Errorf("%s: %d documents counted", name, n)
		}
		dst.Close()
	}
}

func TestRestoreRefusesWithoutChangingAnything(t *testing.T) {
	ctx := context.Background()
	src, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, src, 2)
	archive, _ := backup(t, src)
	src.Close()

	// A data directory with a store of its own.
	dir := t.TempDir()
	own, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, own, 1)
	own.Close()
	before, _ := os.ReadFile(filepath.Join(dir, store.FileName))
	unchanged := func(what string) {
		t.Helper()
		after, _ := os.ReadFile(filepath.Join(dir, store.FileName))
		if !bytes.Equal(before, after) {
			t.Fatalf("%s changed the data directory", what)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Fatalf("%s left files behind: %v", what, entries)
		}
	}

	if _, err := store.Restore(ctx, bytes.NewReader(archive), dir, store.RestoreOptions{}); !errors.Is(err, store.ErrNotEmpty) {
		t.Fatalf("restore into a non-empty directory: %v, want ErrNotEmpty", err)
	}
	unchanged("a refused restore")

	flipped := bytes.Clone(archive)
	flipped[512+4096+100] ^= 0xff // inside veche.db
	if _, err := store.Restore(ctx, bytes.NewReader(flipped), dir, store.RestoreOptions{Force: true}); !errors.Is(err, store.ErrChecksum) {
		t.Fatalf("restore of a damaged archive: %v, want ErrChecksum", err)
	}
	unchanged("a damaged archive")

	if _, err := store.Restore(ctx, bytes.NewReader(archive[:len(archive)/2]), dir, store.RestoreOptions{Force: true}); !errors.Is(err, store.ErrChecksum) {
		t.Fatalf("restore of a truncated archive: %v, want ErrChecksum", err)
	}
	unchanged("a truncated archive")

	if _, err := store.Restore(ctx, strings.NewReader("not a backup at all"), dir, store.RestoreOptions{Force: true}); !errors.Is(err, store.ErrChecksum) {
		t.Fatalf("restore of garbage: %v, want ErrChecksum", err)
	}
	unchanged("garbage")

	// A relay running on the directory holds its store: no swap under it.
	running, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Restore(ctx, bytes.NewReader(archive), dir, store.RestoreOptions{Force: true, LockTimeout: 100e6}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("restore under a running relay: %v, want ErrLocked", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("a restore under a running relay left files behind: %v", entries)
	}
	if ids, _ := running.DocumentIDs(ctx); strings.Join(ids, ",") != "doc-a" {
		t.Fatalf("the running relay's store now holds %v", ids)
	}
	running.Close()

	// With --force and the relay stopped, the backup replaces the store.
	if _, err := store.Restore(ctx, bytes.NewReader(archive), dir, store.RestoreOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ids, _ := s.DocumentIDs(ctx); strings.Join(ids, ",") != "doc-a,doc-b" {
		t.Fatalf("after a forced restore the store holds %v", ids)
	}
}

func TestCompactFileReturnsSpace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(dir, &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	// Many chunks, then folded into small snapshots: the file keeps the
	// space the chunks took.
	for d := range 4 {
		id := "doc-" + string(rune('a'+d))
		for i := range 200 {
			if _, err := s.Append(ctx, id, bytes.Repeat([]byte{byte(i)}, 4096), []string{"h"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Compact(ctx, id, []byte("snapshot of "+id), 200, []string{"h2"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := store.CompactFile(ctx, dir, nil); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("compact under an open store: %v, want ErrLocked", err)
	}
	s.Close()

	var calls int
	before, after, err := store.CompactFile(ctx, dir, func(done, total int64) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if before < 2<<20 || after > before/4 {
		t.Fatalf("compacted %d → %d bytes: expected most of it back", before, after)
	}
	if fi, _ := os.Stat(filepath.Join(dir, store.FileName)); fi.Size() != after {
		t.Fatalf("file is %d bytes, reported %d", fi.Size(), after)
	}
	if calls == 0 {
		t.Error("progress never called")
	}
	s, err = store.Open(dir, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for d := range 4 {
		id := "doc-" + string(rune('a'+d))
		doc, err := s.Load(ctx, id)
		if err != nil || string(doc.Snapshot) != "snapshot of "+id || len(doc.Chunks) != 0 || doc.Meta.Heads[0] != "h2" {
			t.Fatalf("%s after compaction: %+v %v", id, doc.Meta, err)
		}
	}
	if problems, err := s.CheckFile(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("check after compaction: %v %v", problems, err)
	}
}

func TestLeftovers(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fill(t, s, 1) // doc-a, with a sync state
	if l, err := s.Leftovers(ctx); err != nil || len(l) != 0 {
		t.Fatalf("leftovers of a sound store: %v %v", l, err)
	}
	if err := s.SaveSyncState(ctx, "peer-storage", "gone", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOwner(ctx, "never-stored", "doc-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOwner(ctx, "doc-a", "no-such-council"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, [32]byte{1}, store.TokenRecord{Kind: store.TokenMember, Council: "dissolved", Member: "m1"}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Leftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range l {
		got = append(got, x.String())
	}
	want := []string{
		"sync peer-storage/gone: document gone is not stored",
		"auth/owners doc-a: document no-such-council is not stored",
		"auth/owners never-stored: document never-stored is not stored",
		"auth/tokens member token of m1: document dissolved is not stored",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("leftovers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n, err := s.SyncStates(ctx); err != nil || n != 2 {
		t.Fatalf("sync states: %d %v", n, err)
	}
	// Removed, they are gone, and nothing else is.
	if n, err := s.RemoveLeftovers(ctx); err != nil || n != 4 {
		t.Fatalf("removed %d leftovers: %v", n, err)
	}
	if l, err := s.Leftovers(ctx); err != nil || len(l) != 0 {
		t.Fatalf("leftovers after removing them: %v %v", l, err)
	}
	if st, err := s.LoadSyncState(ctx, "peer-storage", "doc-a"); err != nil || string(st) != "state" {
		t.Fatalf("the sync state of a stored document: %q %v", st, err)
	}
	if ids, _ := s.DocumentIDs(ctx); len(ids) != 1 {
		t.Fatalf("documents after removing leftovers: %v", ids)
	}
}

func TestOpenReadOnly(t *testing.T) {
	if _, err := store.Open(filepath.Join(t.TempDir(), "none"), &store.Options{ReadOnly: true}); !errors.Is(err, store.ErrNoStore) {
		t.Fatalf("read-only open of nothing: %v, want ErrNoStore", err)
	}
	dir := t.TempDir()
	s, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, 2)
	if _, err := store.Open(dir, &store.Options{ReadOnly: true, LockTimeout: 100e6}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("read-only open beside a writer: %v, want ErrLocked", err)
	}
	s.Close()
	ro, err := store.Open(dir, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.Stats().Documents != 2 {
		t.Fatalf("documents: %d", ro.Stats().Documents)
	}
	if _, err := ro.Append(context.Background(), "doc-z", []byte("x"), nil); err == nil {
		t.Fatal("a read-only store took a write")
	}
}

// TestRestoreAndCompactKeepTheRelaysOwner: run by root for a relay that
// runs as its own user (systemd's DynamicUser), the new veche.db belongs
// to that user, not to root.
func TestRestoreAndCompactKeepTheRelaysOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (CI runs as root): it hands files to another user")
	}
	ctx := context.Background()
	src, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, src, 1)
	archive, _ := backup(t, src)
	src.Close()

	const uid, gid = 61234, 61235
	dir := filepath.Join(t.TempDir(), "veche")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	owner := func(what string) {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dir, store.FileName))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid {
			t.Fatalf("after %s veche.db belongs to %d:%d, want the relay's %d:%d", what, st.Uid, st.Gid, uid, gid)
		}
	}
	if _, err := store.Restore(ctx, bytes.NewReader(archive), dir, store.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	owner("restore")
	if _, _, err := store.CompactFile(ctx, dir, nil); err != nil {
		t.Fatal(err)
	}
	owner("compact")
}
