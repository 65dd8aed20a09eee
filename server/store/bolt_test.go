package store_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/store/storetest"
)

func TestBolt(t *testing.T) {
	root := t.TempDir()
	storetest.Run(t, func(t *testing.T) store.Store {
		// One directory per subtest, so a second call reopens the same data.
		s, err := store.Open(filepath.Join(root, url.PathEscape(t.Name())), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "relay")
	s, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	if s.Path() != filepath.Join(dir, store.FileName) {
		t.Errorf("Path = %s, want %s", s.Path(), filepath.Join(dir, store.FileName))
	}
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, s.Path(): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
}

func TestOpenEmptyDir(t *testing.T) {
	if _, err := store.Open("", nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Open(\"\"): err = %v, want ErrInvalid", err)
	}
}

// TestOpenTwiceInProcess checks that bbolt's flock, taken per open file,
// also keeps a second Open in the same process out.
func TestOpenTwiceInProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	s2, err := store.Open(dir, &store.Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("second Open took %v with a 100ms LockTimeout", elapsed)
	}
	if !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not say that %s is in use", err, dir)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(dir, nil)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s.Close()
}

// TestOpenLockedByOtherProcess opens a store, then has a child process open
// it with the default LockTimeout: the child must fail promptly with
// ErrLocked, and succeed once the parent has closed the store.
func TestOpenLockedByOtherProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	out := runHelper(t, "lock", dir)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("child took %v to give up on the lock", elapsed)
	}
	if !strings.Contains(out, "locked=true") || !strings.Contains(out, "in use by another veche process") {
		t.Errorf("child with the store held elsewhere said %q, want ErrLocked saying the directory is in use", out)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if out := runHelper(t, "lock", dir); !strings.Contains(out, "err=<nil>") {
		t.Errorf("child after Close said %q, want it to open the store", out)
	}
}

// runHelper runs TestHelperProcess in a child process and returns its output.
func runHelper(t *testing.T, mode, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := helperCommand(ctx, mode, dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper %s: %v\n%s", mode, err, out)
	}
	return string(out)
}

func helperCommand(ctx context.Context, mode, dir string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "VECHE_STORE_HELPER="+mode, "VECHE_STORE_DIR="+dir)
	return cmd
}

// TestHelperProcess is not a test: it is the child process of the tests
// above, selected by the VECHE_STORE_HELPER environment variable.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("VECHE_STORE_DIR")
	switch os.Getenv("VECHE_STORE_HELPER") {
	case "":
		return // run as a test, it has nothing to do
	case "lock":
		s, err := store.Open(dir, nil)
		fmt.Printf("locked=%v err=%v\n", errors.Is(err, store.ErrLocked), err)
		if err == nil {
			s.Close()
		}
	case "crash":
		crashChild(dir)
	default:
		t.Fatalf("unknown helper mode %q", os.Getenv("VECHE_STORE_HELPER"))
	}
}

// crashDocs are the documents crashChild writes, one goroutine each.
var crashDocs = []string{"d0", "d1", "d2", "d3"}

// crashChild appends to crashDocs until it is killed. Chunk k of a document
// is "k\n", so a document's content (snapshot, then chunks) must read
// "0\n1\n…". It prints "ack <doc> <k>" once Append of chunk k has returned,
// "sync <doc> <k>" once the sync state "k" is saved, and compacts every 25
// chunks.
func crashChild(dir string) {
	s, err := store.Open(dir, nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, id := range crashDocs {
		wg.Go(func() {
			next := 0
			if doc, err := s.Load(ctx, id); err == nil {
				next = len(crashContent(doc))
			} else if !errors.Is(err, store.ErrNotFound) {
				fmt.Println("load:", err)
				os.Exit(1)
			}
			for k := next; ; k++ {
				if _, err := s.Append(ctx, id, fmt.Appendf(nil, "%d\n", k), []string{strconv.Itoa(k)}); err != nil {
					fmt.Println("append:", err)
					os.Exit(1)
				}
				fmt.Printf("ack %s %d\n", id, k)
				if k%10 == 0 {
					if err := s.SaveSyncState(ctx, "peer", id, []byte(strconv.Itoa(k))); err != nil {
						fmt.Println("save sync state:", err)
						os.Exit(1)
					}
					fmt.Printf("sync %s %d\n", id, k)
				}
				if k%25 == 24 {
					doc, err := s.Load(ctx, id)
					if err != nil {
						fmt.Println("load:", err)
						os.Exit(1)
					}
					snapshot := bytes.Join(append([][]byte{doc.Snapshot}, doc.Chunks...), nil)
					if _, err := s.Compact(ctx, id, snapshot, len(doc.Chunks), doc.Meta.Heads); err != nil {
						fmt.Println("compact:", err)
						os.Exit(1)
					}
				}
			}
		})
	}
	wg.Wait()
}

// crashContent returns the chunk numbers a crashChild document holds, and
// panics unless they are 0, 1, 2, … in order.
func crashContent(doc store.Document) []int {
	content := bytes.Join(append([][]byte{doc.Snapshot}, doc.Chunks...), nil)
	var ks []int
	for line := range strings.Lines(string(content)) {
		k, err := strconv.Atoi(strings.TrimSuffix(line, "\n"))
		if err != nil || k != len(ks) || !strings.HasSuffix(line, "\n") {
			panic(fmt.Sprintf("line %d of the document is %q", len(ks), line))
		}
		ks = append(ks, k)
	}
	return ks
}

// TestCrash kills a writing child process at random moments and checks
// that every chunk and sync state it was told is durable survived, and that
// compactions happened whole or not at all.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	t.Parallel()
	dir := t.TempDir()
	acked := make(map[string]int)  // document → highest acknowledged chunk
	synced := make(map[string]int) // document → highest acknowledged sync state
	for _, id := range crashDocs {
		acked[id], synced[id] = -1, -1
	}

	deadline := time.Now().Add(10 * time.Second)
	for iter := 0; iter < 10 && time.Now().Before(deadline); iter++ {
		crashOnce(t, dir, acked, synced)

		s, err := store.Open(dir, &store.Options{LockTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("iteration %d: reopen: %v", iter, err)
		}
		for _, id := range crashDocs {
			doc, err := s.Load(t.Context(), id)
			if err != nil {
				if acked[id] < 0 && errors.Is(err, store.ErrNotFound) {
					continue
				}
				t.Fatalf("iteration %d: %s: %v", iter, id, err)
			}
			var ks []int
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("iteration %d: %s is damaged: %v", iter, id, r)
					}
				}()
				ks = crashContent(doc)
			}()
			if len(ks)-1 < acked[id] {
				t.Fatalf("iteration %d: %s holds chunks up to %d, but %d was acknowledged", iter, id, len(ks)-1, acked[id])
			}
			if synced[id] >= 0 {
				state, err := s.LoadSyncState(t.Context(), "peer", id)
				if err != nil {
					t.Fatalf("iteration %d: %s: sync state: %v", iter, id, err)
				}
				if k, _ := strconv.Atoi(string(state)); k < synced[id] {
					t.Fatalf("iteration %d: %s: sync state %q, but %d was acknowledged", iter, id, state, synced[id])
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("acknowledged chunks at the end: %v", acked)
}

// crashOnce starts crashChild, SIGKILLs it at a random moment after its
// first acknowledgement, and records what it acknowledged.
func crashOnce(t *testing.T, dir string, acked, synced map[string]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := helperCommand(ctx, "crash", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // a line cut off by the kill was never acknowledged
			}
			lines <- strings.TrimSuffix(line, "\n")
		}
	}()
	record := func(line string) {
		var kind, id string
		var k int
		if _, err := fmt.Sscanf(line, "%s %s %d", &kind, &id, &k); err != nil {
			t.Logf("child: %s", line)
			return
		}
		switch kind {
		case "ack":
			acked[id] = max(acked[id], k)
		case "sync":
			synced[id] = max(synced[id], k)
		default:
			t.Logf("child: %s", line)
		}
	}

	line, ok := <-lines
	if !ok {
		cmd.Wait()
		t.Fatal("child exited before acknowledging anything")
	}
	record(line)
	kill := time.After(rand.N(200 * time.Millisecond))
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("child exited before it was killed")
			}
			record(line)
		case <-kill:
			done = true
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for line := range lines {
		record(line)
	}
	cmd.Wait()
}

// TestGroupCommit checks that concurrent appends share commits.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	s, err := store.Open(t.TempDir(), &store.Options{MaxBatchDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	before := s.Stats()
	// All at once: a write that starts while none is under way commits
	// alone and at once, so appends that merely follow one another (a
	// slow scheduler starting the goroutines one by one) would not share.
	start := make(chan struct{})
	var ready, wg sync.WaitGroup
	for i := range 100 {
		ready.Add(1)
		wg.Go(func() {
			ready.Done()
			<-start
			if _, err := s.Append(t.Context(), fmt.Sprintf("doc%d", i), []byte("c"), nil); err != nil {
				t.Error(err)
			}
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()
	st := s.Stats()
	appends, commits := st.Appends-before.Appends, st.Commits-before.Commits
	if appends != 100 {
		t.Errorf("Stats counted %d appends, want 100", appends)
	}
	if commits < 1 || commits > 20 {
		t.Errorf("100 concurrent appends took %d commits, want 1 to 20", commits)
	}
}

// TestLoneWriteCommitsAtOnce: a write while no other is under way does
// not wait for a batch to fill (MaxBatchDelay is an hour here): writes one
// after another each commit at once.
func TestLoneWriteCommitsAtOnce(t *testing.T) {
	t.Parallel()
	s, err := store.Open(t.TempDir(), &store.Options{MaxBatchDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		for i := range 3 {
			if _, err := s.Append(t.Context(), "lone", []byte{byte(i)}, nil); err != nil {
				done <- err
				return
			}
			if err := s.SaveSyncState(t.Context(), "phone", "lone", []byte{byte(i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a write with no other under way waited for a batch (MaxBatchDelay)")
	}
	if st := s.Stats(); st.Commits < 6 {
		t.Errorf("6 writes one after another took %d commits, want one each", st.Commits)
	}
}

// TestCorruptMeta checks that undecodable metadata is reported as
// ErrCorrupt rather than misread.
func TestCorruptMeta(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(t.Context(), "doc", []byte("c"), nil); err != nil {
		t.Fatal(err)
	}
	s.Close()

	db, err := bolt.Open(filepath.Join(dir, store.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("docs")).Bucket([]byte("doc")).Put([]byte("meta"), []byte("{not json"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s, err = store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Load(t.Context(), "doc"); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Load: err = %v, want ErrCorrupt", err)
	}
	if _, err := s.Append(t.Context(), "doc", []byte("c"), nil); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Append: err = %v, want ErrCorrupt", err)
	}
	if err := s.Documents(t.Context(), func(string, store.Meta) error { return nil }); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Documents: err = %v, want ErrCorrupt", err)
	}
}

func TestStorageIDIsStable(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.StorageID(context.Background())
	if err != nil || len(first) != 32 {
		t.Fatalf("StorageID = %q, %v", first, err)
	}
	again, _ := s.StorageID(context.Background())
	s.Close()
	s, err = store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reopened, _ := s.StorageID(context.Background())
	if again != first || reopened != first {
		t.Fatalf("storage id changed: %q, %q, %q", first, again, reopened)
	}
	other, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if id, _ := other.StorageID(context.Background()); id == first {
		t.Fatal("two stores share a storage id")
	}
}

func TestSyncingReportsNoSync(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		st, err := store.Open(t.TempDir(), &store.Options{NoSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		if st.Syncing() == noSync {
			t.Errorf("NoSync %v: Syncing() = %v", noSync, st.Syncing())
		}
		st.Close()
	}
}
