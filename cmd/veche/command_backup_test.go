package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/store"
)

// runVerb runs a one-shot verb in-process and returns what it printed and
// its exit status as main would give it.
func runVerb(t *testing.T, c interface {
	command
	setOutput(stdout, stderr io.Writer)
}, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	c.setOutput(&out, &errOut)
	err := c.ParseFlags(args)
	if err == nil {
		err = c.Run(context.Background())
	}
	var ec exitCode
	switch {
	case err == nil:
	case errors.As(err, &ec):
		code = int(ec)
	case errors.Is(err, errUsage):
		code = 2
		errOut.WriteString(err.Error())
	default:
		code = 1
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), code
}

// createCouncil founds a council on m through the REST API as the operator.
func createCouncil(t *testing.T, m *Main, name string) (id, token string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+m.ListenAddr()+"/api/councils",
		strings.NewReader(`{"name":"`+name+`","kind":"farmers","founder":{"name":"Ana","role":"grower"}}`))
	req.Header.Set("Authorization", "Bearer "+operatorToken(t, m))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var created struct{ ID, Token string }
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || created.ID == "" {
		t.Fatalf("create council: %d %v", resp.StatusCode, err)
	}
	return created.ID, created.Token
}

// TestBackupWhileServingThenRestore: a backup of a running relay's data
// directory goes through the relay (hot); restored into a new directory it
// passes veche check and a relay started on it serves the same councils.
func TestBackupWhileServingThenRestore(t *testing.T) {
	m, _ := startMain(t)
	t.Setenv("VECHE_RELAY", "http://"+m.ListenAddr())
	var ids []string
	for _, name := range []string{"Riverside growers", "Hill shepherds"} {
		id, _ := createCouncil(t, m, name)
		ids = append(ids, id)
	}
	file := filepath.Join(t.TempDir(), "veche-backup.tar")
	_, errOut, code := runVerb(t, NewBackupCommand(), "--data", m.DataDir, "--output", file)
	if code != 0 || !strings.Contains(errOut, "A relay is running on") || !strings.Contains(errOut, "through the relay") {
		t.Fatalf("backup: exit %d\n%s", code, errOut)
	}

	// Without --force, a non-empty directory is refused.
	if _, errOut, code := runVerb(t, NewRestoreCommand(), file, "--data", m.DataDir); code != 1 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore over the running relay's data: exit %d %s", code, errOut)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if _, errOut, code := runVerb(t, NewRestoreCommand(), file, "--data", dir); code != 0 || !strings.Contains(errOut, "verified") {
		t.Fatalf("restore: exit %d %s", code, errOut)
	}
	out, _, code := runVerb(t, NewCheckCommand(), "--data", dir)
	if code != 0 || !strings.Contains(out, "Documents:       2, each loads exactly as last written") || !strings.Contains(out, "All good") {
		t.Fatalf("check of the restored data: exit %d\n%s", code, out)
	}

	// A relay on the restored data serves both councils: the founder
	// tokens are in the backup (as hashes), so Ana's token still works.
	m.Close()
	again := NewMain()
	again.logOutput = &lockedBuffer{}
	if err := again.ParseFlags([]string{"--addr", "127.0.0.1:0", "--data", dir}); err != nil {
		t.Fatal(err)
	}
	if err := again.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for _, id := range ids {
		if ok, err := again.store.Exists(context.Background(), id); err != nil || !ok {
			t.Fatalf("council %s not restored: %v", id, err)
		}
	}
}

func TestBackupOfAStoppedRelayAndItsProgressBar(t *testing.T) {
	m, _ := startMain(t)
	createCouncil(t, m, "Mill workers")
	dir := m.DataDir
	m.Close()

	// On a terminal, work that lasts past progressDelay gets a bar.
	defer func(d time.Duration, f func(io.Writer) bool) { progressDelay, isTerminal = d, f }(progressDelay, isTerminal)
	progressDelay = 0
	isTerminal = func(w io.Writer) bool { _, ok := w.(*bytes.Buffer); return ok }
	file := filepath.Join(t.TempDir(), "b.tar")
	_, errOut, code := runVerb(t, NewBackupCommand(), "--data", dir, "-o", file)
	if code != 0 || !strings.Contains(errOut, "from "+dir) {
		t.Fatalf("backup of a stopped relay: exit %d %s", code, errOut)
	}
	if !strings.Contains(errOut, "backup") || !strings.Contains(errOut, "100%") {
		t.Fatalf("no progress bar on a terminal:\n%q", errOut)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := store.ReadBackup(context.Background(), f, io.Discard); err != nil {
		t.Fatalf("the backup file: %v", err)
	}

	// Quick work on a terminal shows no bar; neither does a pipe.
	progressDelay = time.Hour
	if _, errOut, _ := runVerb(t, NewBackupCommand(), "--data", dir, "-o", file); strings.Contains(errOut, "%") {
		t.Fatalf("a bar for quick work: %q", errOut)
	}
	// Standard output on a terminal is refused: the backup is binary.
	if _, errOut, code := runVerb(t, NewBackupCommand(), "--data", dir); code != 2 || !strings.Contains(errOut, "redirect it to a file") {
		t.Fatalf("backup to a terminal: exit %d %s", code, errOut)
	}
}

// TestCheckFindsDamageAndLeftovers runs veche check on a sound data
// directory, one with leftovers, and one whose document lost a change.
func TestCheckFindsDamageAndLeftovers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := automerge.New()
	var heads []string
	for i := range 3 {
		doc.RootMap().Set("n", int64(i))
		doc.Commit("change")
		heads = nil
		for _, h := range doc.Heads() {
			heads = append(heads, h.String())
		}
		if _, err := st.Append(ctx, "council", doc.SaveIncremental(), heads); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	out, _, code := runVerb(t, NewCheckCommand(), "--data", dir)
	if code != 0 || !strings.Contains(out, "All good") {
		t.Fatalf("sound: exit %d\n%s", code, out)
	}

	st, _ = store.Open(dir, nil)
	st.SaveSyncState(ctx, "phone", "vanished", []byte("x"))
	st.Close()
	out, _, code = runVerb(t, NewCheckCommand(), "--data", dir)
	if code != exitLeftovers || !strings.Contains(out, "sync phone/vanished: document vanished is not stored") || !strings.Contains(out, "Nothing is damaged") {
		t.Fatalf("leftovers: exit %d\n%s", code, out)
	}
	out, _, code = runVerb(t, NewCheckCommand(), "--data", dir, "--repair")
	if code != 0 || !strings.Contains(out, "Removed 1 leftovers") {
		t.Fatalf("check --repair: exit %d\n%s", code, out)
	}
	if out, _, code = runVerb(t, NewCheckCommand(), "--data", dir); code != 0 {
		t.Fatalf("check after --repair: exit %d\n%s", code, out)
	}
	st, _ = store.Open(dir, nil)
	st.SaveSyncState(ctx, "phone", "vanished", []byte("x"))
	st.Close()

	// The store says the document's heads are ones its changes do not reach.
	st, _ = store.Open(dir, nil)
	st.Append(ctx, "council", []byte{0x85, 0x6f, 0x4a, 0x83}, []string{strings.Repeat("ab", 32)})
	st.Close()
	out, _, code = runVerb(t, NewCheckCommand(), "--data", dir)
	if code != exitDamaged || !strings.Contains(out, "1 of 1 damaged") || !strings.Contains(out, "DAMAGE FOUND") {
		t.Fatalf("damaged: exit %d\n%s", code, out)
	}
	// --repair touches nothing when there is damage: the leftover stays.
	if out, _, code = runVerb(t, NewCheckCommand(), "--data", dir, "--repair"); code != exitDamaged || !strings.Contains(out, "phone/vanished") {
		t.Fatalf("--repair on damage: exit %d\n%s", code, out)
	}
	if out, _, _ = runVerb(t, NewCheckCommand(), "--data", dir); !strings.Contains(out, "phone/vanished") {
		t.Fatalf("--repair removed a leftover beside damage:\n%s", out)
	}

	// A relay running on the directory: check refuses to look.
	m := NewMain()
	m.logOutput = &lockedBuffer{}
	m.ParseFlags([]string{"--addr", "127.0.0.1:0", "--data", dir})
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, errOut, code := runVerb(t, NewCheckCommand(), "--data", dir); code != 1 || !strings.Contains(errOut, "stop it first") {
		t.Fatalf("check under a running relay: exit %d %s", code, errOut)
	}
	if _, errOut, code := runVerb(t, NewCompactCommand(), "--data", dir); code != 1 || !strings.Contains(errOut, "stop it first") {
		t.Fatalf("compact under a running relay: exit %d %s", code, errOut)
	}
}

func TestCompactReportsSpaceReturned(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(dir, &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		st.Append(ctx, "doc", bytes.Repeat([]byte{byte(i)}, 8192), []string{"h"})
	}
	st.Compact(ctx, "doc", []byte("snapshot"), 300, []string{"h"})
	st.Close()
	out, _, code := runVerb(t, NewCompactCommand(), "--data", dir)
	if code != 0 || !strings.Contains(out, "MiB returned") {
		t.Fatalf("compact: exit %d\n%s", code, out)
	}
}

// TestSlowBackupDoesNotStallWriters: a backup client that reads nothing
// for a while (a satellite link) must not hold up the relay's commits,
// even those that grow the store's file.
func TestSlowBackupDoesNotStallWriters(t *testing.T) {
	m, _ := startMain(t)
	ctx := context.Background()
	chunk := bytes.Repeat([]byte{0xab}, 512<<10)
	for i := range 40 { // a store of about 20 MiB: more than socket buffers hold
		if _, err := m.store.Append(ctx, fmt.Sprintf("doc-%d", i), chunk, []string{"h"}); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+m.ListenAddr()+"/api/backup", nil)
	req.Header.Set("Authorization", "Bearer "+operatorToken(t, m))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength < 20<<20 {
		t.Fatalf("GET /api/backup: %d, %d bytes", resp.StatusCode, resp.ContentLength)
	}
	// The copy being sent is staged in the data directory.
	if staged, _ := filepath.Glob(filepath.Join(m.DataDir, ".backup-*.tar")); len(staged) != 1 {
		t.Fatalf("staged copies in the data directory: %v", staged)
	}
	// The client has read nothing of the body. Writes that grow the file
	// well past its memory map go through meanwhile.
	done := make(chan error, 1)
	go func() {
		for i := range 80 {
			if _, err := m.store.Append(ctx, fmt.Sprintf("more-%d", i), chunk, []string{"h"}); err != nil {
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
		t.Fatal("commits stalled behind a backup nobody was reading")
	}
	info, err := store.ReadBackup(ctx, resp.Body, io.Discard)
	if err != nil {
		t.Fatalf("the backup read at last: %v", err)
	}
	if info.DBBytes < 20<<20 {
		t.Fatalf("the backup holds %d bytes", info.DBBytes)
	}
}

// TestBackupFindsATLSRelayByItself: a relay serving TLS with a
// certificate for another name than localhost; veche backup --data, with
// no --relay, finds it through DIR/relay.json and trusts exactly its
// certificate. A relay answering with another certificate is refused.
func TestBackupFindsATLSRelayByItself(t *testing.T) {
	t.Setenv("VECHE_RELAY", "")
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	m, _ := startMain(t, "--tls-cert", certFile, "--tls-key", keyFile)
	file := filepath.Join(t.TempDir(), "b.tar")
	_, errOut, code := runVerb(t, NewBackupCommand(), "--data", m.DataDir, "-o", file)
	if code != 0 || !strings.Contains(errOut, "through the relay at https://127.0.0.1:") {
		t.Fatalf("backup of a TLS relay: exit %d\n%s", code, errOut)
	}

	// The file names a certificate the relay does not serve: refused.
	other, _, _ := selfSigned(t, t.TempDir())
	e, err := readEndpoint(m.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	e.TLSCert = other
	client, err := e.client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get(e.URL + "/healthz"); err == nil || !strings.Contains(err.Error(), "another certificate") {
		t.Fatalf("a relay with another certificate was trusted: %v", err)
	}

	// Once the relay stops, the file is gone and the copy is direct.
	m.Close()
	if _, err := readEndpoint(m.DataDir); err == nil {
		t.Fatal("relay.json outlived the relay")
	}
	if _, errOut, code := runVerb(t, NewBackupCommand(), "--data", m.DataDir, "-o", file); code != 0 || !strings.Contains(errOut, "from "+m.DataDir) {
		t.Fatalf("backup of the stopped relay: exit %d %s", code, errOut)
	}
}

// TestBackupStagesInTheDataDirectory: GET /api/backup writes its copy in
// the data directory (not a /tmp that may be memory), leaves nothing behind,
// and a copy left by a relay that died mid-backup is removed at start.
func TestBackupStagesInTheDataDirectory(t *testing.T) {
	m, _ := startMain(t)
	dir := m.DataDir
	file := filepath.Join(t.TempDir(), "b.tar")
	t.Setenv("VECHE_RELAY", "")
	if _, errOut, code := runVerb(t, NewBackupCommand(), "--data", dir, "-o", file); code != 0 {
		t.Fatalf("backup: exit %d %s", code, errOut)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".backup-*")); len(left) != 0 {
		t.Fatalf("the backup left %v", left)
	}
	m.Close()
	stale := filepath.Join(dir, ".backup-123.tar")
	os.WriteFile(stale, []byte("half a copy"), 0o600)
	again := NewMain()
	again.logOutput = &lockedBuffer{}
	again.ParseFlags([]string{"--addr", "127.0.0.1:0", "--data", dir})
	if err := again.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("a stale staged backup survived the start: %v", err)
	}
}
