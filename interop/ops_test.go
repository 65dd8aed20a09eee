package interop

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vecheCommand runs a one-shot verb of the relay binary (backup, restore,
// check, compact) and returns its output and exit status.
func vecheCommand(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(buildVeche(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("veche %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// checkDataDir runs veche check on a stopped relay's data directory and
// fails the test unless it is all good.
func checkDataDir(t testing.TB, label, dir string) {
	t.Helper()
	out, errOut, code := vecheCommand(t, "check", "--data", dir)
	if code != 0 || !strings.Contains(out, "All good") {
		t.Errorf("%s: veche check exited %d:\n%s%s", label, code, out, errOut)
	}
}

// advertised returns every head of url the relay sent the writers so far.
func advertised(writers []*client, url string) map[string]bool {
	heads := map[string]bool{}
	for _, w := range writers {
		for _, e := range w.unsolicited("relay-heads") {
			if e.URL != url {
				continue
			}
			for _, h := range e.Heads {
				heads[h] = true
			}
		}
	}
	return heads
}

// TestBackupMidLoad takes a hot backup through a running relay while two
// stock clients write to one document as fast as they can, restores it
// into a new data directory, checks it, starts a relay on it, and fetches
// the document with a fresh client: every change the relay had advertised
// before the backup began must be in it.
func TestBackupMidLoad(t *testing.T) {
	dataDir := t.TempDir()
	r := startRelay(t, vecheRelay(t, "--anonymous"), dataDir)
	writers := []*client{newClient(t, "W1", r.URL()), newClient(t, "W2", r.URL())}
	url := createShared(t, writers[0], map[string]any{"round": "backup"})
	if e := writers[1].do(obj{"cmd": "find", "url": url}); e.Event != "doc" {
		t.Fatalf("W2: find: %s", e)
	}
	for i, w := range writers {
		w.do(obj{"cmd": "write-loop", "url": url, "key": w.name, "intervalMs": 2 + 3*i})
	}
	time.Sleep(1500 * time.Millisecond)

	// Everything advertised up to now was committed before the backup's
	// read transaction begins.
	before := advertised(writers, url)
	file := filepath.Join(t.TempDir(), "veche-backup.tar")
	_, errOut, code := vecheCommand(t, "backup", "--data", dataDir, "--relay", "http://"+r.addr, "--output", file)
	if code != 0 || !strings.Contains(errOut, "through the relay") {
		t.Fatalf("veche backup exited %d: %s", code, errOut)
	}
	// The load goes on after the backup: wait until the relay has
	// advertised more (a busy relay paces its answers up to
	// --sync-interval apart, and a loaded test machine slows it further).
	for deadline := time.Now().Add(15 * time.Second); len(advertised(writers, url)) <= len(before) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	written := 0
	for _, w := range writers {
		written += w.do(obj{"cmd": "stop-writes"}).Written[w.name]
		w.exit()
	}
	after := advertised(writers, url)
	r.stop()
	if len(before) == 0 || len(after) <= len(before) {
		t.Fatalf("the load was too light to prove anything: %d heads advertised before the backup, %d in all", len(before), len(after))
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if _, errOut, code := vecheCommand(t, "restore", file, "--data", restored); code != 0 {
		t.Fatalf("veche restore exited %d: %s", code, errOut)
	}
	checkDataDir(t, "the restored backup", restored)
	r2 := startRelay(t, vecheRelay(t, "--anonymous"), restored)
	checker := newClient(t, "C", r2.URL())
	if got := checker.do(obj{"cmd": "find", "url": url, "timeoutMs": 10000}); got.Event != "doc" {
		t.Fatalf("the restored relay does not have the document: %s", got)
	}
	heads := make([]string, 0, len(before))
	for h := range before {
		heads = append(heads, h)
	}
	checker.try(obj{"cmd": "wait-for", "url": url, "heads": heads, "timeoutMs": 8000})
	got := checker.do(obj{"cmd": "get", "url": url, "hashes": true})
	have := map[string]bool{}
	for _, h := range got.Hashes {
		have[h] = true
	}
	missing := 0
	for _, h := range heads {
		if !have[h] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of the %d heads advertised before the backup are missing from it", missing, len(heads))
	}
	checkWriterLists(t, "restored backup", got.Value)
	t.Logf("%d writes; %d heads advertised before the backup, all restored; the backup holds %d changes",
		written, len(heads), len(got.Hashes))
	checker.exit()
}
