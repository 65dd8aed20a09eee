package sandbox

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/syncmsg"
)

// probeChildEnv makes the test binary apply one corpus input (the file it
// names) and exit; probeChildProbe adds a Probe after it ("1"; "lists":
// without the maps' search, as after a message keyed by map keys only).
const (
	probeChildEnv   = "VECHE_PROBE_CHILD"
	probeChildProbe = "VECHE_PROBE_CHILD_PROBE"
)

// TestProbeCatchesLaterCrashes: the corpus inputs that the core applies
// without harm (and answer only later, or read only later, crash it) crash
// it in Probe, right after they are applied, at their own site; without
// Probe, applying them leaves the process alive. Each runs in a child
// process, since the crash ends it.
func TestProbeCatchesLaterCrashes(t *testing.T) {
	if f := os.Getenv(probeChildEnv); f != "" {
		probeChild(f, os.Getenv(probeChildProbe))
		return
	}
	files, _ := filepath.Glob(filepath.Join(crashersDir(), "*.json"))
	later := 0
	for _, f := range files {
		var c Crasher
		raw, _ := os.ReadFile(f)
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.Contains(c.Site, "sync/bloom.rs") {
			continue // crashes generating an answer; the relay refuses it in Go before its core sees it (server/syncmessage.go)
		}
		if _, ok := runProbeChild(t, f, false); !ok {
			continue // crashes the core as it is applied: no probe needed
		}
		later++
		out, ok := runProbeChild(t, f, true)
		if ok || !strings.Contains(out, c.Site) {
			t.Errorf("%s: applied, then probed: the process lived on (%v) or died elsewhere than %s:\n%s", filepath.Base(f), ok, c.Site, lastLines(out))
		}
	}
	// The holder crash (automerge.rs:916) and the map-key crashes
	// (op_set.rs:447) of the corpus are of this kind.
	if later < 4 {
		t.Fatalf("only %d corpus inputs apply without crashing; the corpus should have at least 4", later)
	}
}

func lastLines(s string) string {
	if len(s) > 600 {
		return s[len(s)-600:]
	}
	return s
}

func runProbeChild(t *testing.T, file string, probe bool) (string, bool) {
	t.Helper()
	how := ""
	if probe {
		how = "1"
	}
	return runProbeChildAs(t, file, how)
}

func runProbeChildAs(t *testing.T, file, probe string) (string, bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestProbeCatchesLaterCrashes$")
	cmd.Env = append(os.Environ(), probeChildEnv+"="+file)
	if probe != "" {
		cmd.Env = append(cmd.Env, probeChildProbe+"="+probe)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err == nil
}

// probeChild applies a corpus input as the relay does (a sync message
// received, not yet answered) and probes if asked.
func probeChild(file string, probe string) {
	var c Crasher
	raw, _ := os.ReadFile(file)
	if json.Unmarshal(raw, &c) != nil {
		os.Exit(3)
	}
	doc := automerge.New()
	if len(c.State) > 0 && doc.LoadIncremental(c.State) != nil {
		os.Exit(0) // nothing to probe
	}
	// "known": as the relay does, the maps a walk of the document met
	// before the message decide whether the lists are checked after it.
	maps := map[syncmsg.ObjectID]bool{}
	if probe == "known" {
		Probe(doc, true, true, maps)
	}
	if _, err := automerge.NewSyncState(doc).ReceiveMessage(c.Message); err != nil {
		os.Exit(0)
	}
	if probe != "" {
		changes, _ := changesOf(c.Message)
		ProbeClocks(doc, changes)
	}
	switch probe {
	case "":
	case "known":
		Probe(doc, false, !MapsKnown(c.Message, maps), maps)
	default:
		Probe(doc, probe == "1", true, nil)
	}
}

// TestProbeChecksListsAfterMapKeys: an op keyed like a map entry lands in
// a list or a text from a change keyed by map keys only (the corpus's
// listmapkey-mapkeysonly inputs: one byte of an honest change that makes
// a map and sets a key in it), after which the maps' search is skipped;
// the probe checks every list and text all the same, since the change
// does more than set values, and crashes where a later write's merge
// would (op_set.rs:447), in a worker and in the relay's own core.
func TestProbeChecksListsAfterMapKeys(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(crashersDir(), "*-listmapkey-mapkeysonly-*.json"))
	if len(files) < 2 {
		t.Fatalf("want the corpus's map-keys-only list-map-key inputs, found %d", len(files))
	}
	setsOnly, _ := filepath.Glob(filepath.Join(crashersDir(), "*-listmapkey-setsonly-*.json"))
	if len(setsOnly) == 0 {
		t.Fatal("want the corpus's sets-only list-map-key input")
	}
	pool, err := Start(Options{Workers: 1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, f := range files {
		var c Crasher
		raw, _ := os.ReadFile(f)
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !MapKeysOnly(c.Message) || SetsValuesOnly(c.Message) {
			t.Fatalf("%s: keys ops by a list position, or only sets values; the test needs map keys only, and more than values set", filepath.Base(f))
		}
		if crash, ok := probe(pool, filepath.Base(f), c.State, c.Message).(*Crash); !ok || crash.Site != c.Site {
			t.Errorf("%s: the worker's check did not crash at %s", filepath.Base(f), c.Site)
		}
		if _, ok := runProbeChildAs(t, f, ""); !ok {
			t.Fatalf("%s: crashes as it is applied; the test needs one that applies", filepath.Base(f))
		}
		if out, ok := runProbeChildAs(t, f, "lists"); ok || !strings.Contains(out, c.Site) {
			t.Errorf("%s: applied, then probed without the maps' search: the process lived on (%v) or died elsewhere than %s:\n%s", filepath.Base(f), ok, c.Site, lastLines(out))
		}
	}
	// A change that only sets a value, in an existing empty list or
	// text: the lists are checked because it writes into an object no
	// walk met as a map.
	for _, f := range setsOnly {
		var c Crasher
		raw, _ := os.ReadFile(f)
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !SetsValuesOnly(c.Message) {
			t.Fatalf("%s: does more than set values; the test needs one that does not", filepath.Base(f))
		}
		if crash, ok := probe(pool, filepath.Base(f), c.State, c.Message).(*Crash); !ok || crash.Site != c.Site {
			t.Errorf("%s: the worker's check did not crash at %s", filepath.Base(f), c.Site)
		}
		if out, ok := runProbeChildAs(t, f, "known"); ok || !strings.Contains(out, c.Site) {
			t.Errorf("%s: applied, then probed as the relay does: the process lived on (%v) or died elsewhere than %s:\n%s", filepath.Base(f), ok, c.Site, lastLines(out))
		}
	}
}

// TestMapsKnown: after a walk, a message that only sets values in the
// root and in maps the walk met needs no check of the lists; one that
// writes into a map made since, or makes one, does.
func TestMapsKnown(t *testing.T) {
	doc := automerge.New()
	k := automerge.NewMap()
	if err := doc.RootMap().Set("k", k); err != nil {
		t.Fatal(err)
	}
	if err := doc.RootMap().Set("l", automerge.NewList()); err != nil {
		t.Fatal(err)
	}
	if _, err := doc.Commit("setup"); err != nil {
		t.Fatal(err)
	}
	maps := map[syncmsg.ObjectID]bool{}
	Probe(doc, false, true, maps)
	if len(maps) != 1 {
		t.Fatalf("the walk met %d maps, want 1 (k): %v", len(maps), maps)
	}
	message := func(edit func() error) []byte {
		t.Helper()
		if err := edit(); err != nil {
			t.Fatal(err)
		}
		h, err := doc.Commit("x")
		if err != nil {
			t.Fatal(err)
		}
		c, err := doc.Change(h)
		if err != nil {
			t.Fatal(err)
		}
		return syncMessage(c.Save())
	}
	m := automerge.NewMap()
	for _, step := range []struct {
		name  string
		edit  func() error
		known bool
	}{
		{"a value in k", func() error { return k.Set("a", int64(1)) }, true},
		{"a value in the root", func() error { return doc.RootMap().Set("b", int64(2)) }, true},
		{"a new map", func() error { return doc.RootMap().Set("m", m) }, false},
		{"a value in the new map", func() error { return m.Set("c", int64(3)) }, false},
		{"a value in the list", func() error { return doc.Path("l").List().Append(int64(4)) }, false},
	} {
		if got := MapsKnown(message(step.edit), maps); got != step.known {
			t.Errorf("%s: MapsKnown = %v, want %v", step.name, got, step.known)
		}
	}
}

// TestProbeChangesNothing: probing a document of maps, lists, text and
// nested objects leaves it as it was — the same saved bytes, the same
// heads, no pending ops — and it takes changes after as before.
func TestProbeChangesNothing(t *testing.T) {
	doc := automerge.New()
	root := doc.Root().Map()
	if err := root.Set("schema", "council/1"); err != nil {
		t.Fatal(err)
	}
	items := automerge.NewList()
	if err := root.Set("items", items); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		m := automerge.NewMap()
		if err := items.Append(m); err != nil {
			t.Fatal(err)
		}
		if err := m.Set("n", int64(i)); err != nil {
			t.Fatal(err)
		}
		txt := automerge.NewText("")
		if err := m.Set("note", txt); err != nil {
			t.Fatal(err)
		}
		if err := txt.Set("note " + strings.Repeat("x", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := doc.Commit("setup"); err != nil {
		t.Fatal(err)
	}
	before, heads := doc.Save(), doc.Heads()
	Probe(doc, true, true, nil)
	if after := doc.Save(); !bytes.Equal(before, after) {
		t.Fatalf("the saved document changed: %d bytes before, %d after", len(before), len(after))
	}
	if now := doc.Heads(); len(now) != len(heads) || now[0] != heads[0] {
		t.Fatalf("heads moved: %v, were %v", now, heads)
	}
	if err := root.Set("after", true); err != nil {
		t.Fatal(err)
	}
	if _, err := doc.Commit("after"); err != nil {
		t.Fatal(err)
	}
	v, err := doc.Path("after").Get()
	if err != nil || !v.Bool() {
		t.Fatalf("a change after the probe: %v, %v", v, err)
	}
	// Ops not yet committed are kept: the probe's puts are not rolled
	// back over them.
	if err := root.Set("pending", "yes"); err != nil {
		t.Fatal(err)
	}
	Probe(doc, true, true, nil)
	if v, err := doc.Path("pending").Get(); err != nil || v.Str() != "yes" {
		t.Fatalf("an uncommitted op was lost to the probe: %v, %v", v, err)
	}
}

// heldBackInput splits a map-key crasher of the corpus into the document
// without the change its crashing change depends on, that change alone
// (it keys ops by map keys only), and the crashing message: the crashing
// change sent first waits in the core for its dependency, and the honest
// looking message that brings the dependency releases it.
func heldBackInput(t testing.TB) (state []byte, release, crash []byte) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(crashersDir(), "*-mapkey-root-*.json"))
	if len(files) == 0 {
		t.Fatal("no mapkey-root crasher in the corpus")
	}
	var c Crasher
	raw, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	doc := automerge.New()
	if err := doc.LoadIncremental(c.State); err != nil {
		t.Fatal(err)
	}
	changes, err := doc.Changes()
	if err != nil || len(changes) < 2 {
		t.Fatal(err, len(changes))
	}
	var chunks [][]byte
	for _, ch := range changes[:len(changes)-1] {
		chunks = append(chunks, ch.Save())
	}
	release = syncMessage(changes[len(changes)-1].Save())
	if !MapKeysOnly(release) || MapKeysOnly(c.Message) {
		t.Fatal("the corpus input no longer splits as this test needs: its last change must key by map keys only")
	}
	return concat(chunks), release, c.Message
}

// TestHeldBackChangeIsSearchedWhenReleased: a change that puts a list
// element's key into a map, sent before the change it depends on, is
// held back by the core and applies only with the next message, which
// keys its own ops by map keys only. The worker searches the maps after
// that message all the same, and crashes there.
func TestHeldBackChangeIsSearchedWhenReleased(t *testing.T) {
	state, release, crash := heldBackInput(t)
	pool, err := Start(Options{Workers: 1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := probe(pool, "held", state, crash); err != nil {
		t.Fatalf("the crashing change, held back: %v", err)
	}
	err = probe(pool, "held", state, release)
	if c, ok := err.(*Crash); !ok || !strings.Contains(c.Site, "op_set.rs:447") {
		t.Fatalf("the message that released it: %v, want a crash at op_set.rs:447", err)
	}
	// The release alone, on a document that holds nothing back, is
	// harmless (so the crash above is the held-back change's).
	if err := probe(pool, "alone", state, release); err != nil {
		t.Fatalf("the releasing message alone: %v", err)
	}
}

// TestProbeSearchesWhileChangesAreHeldBack: the same, with Probe as the
// relay runs it without a sandbox (synchronizer.probe): the crashing
// change's probe reports it waiting, and the probe after the releasing
// message then searches the maps and crashes, in a child process. A
// probe that searched only after messages keying by position would let
// the process live on: the control run shows it does.
func TestProbeSearchesWhileChangesAreHeldBack(t *testing.T) {
	if os.Getenv(probeChildEnv) == "held-back" {
		heldBackChild(t, os.Getenv(probeChildProbe) == "1")
		return
	}
	run := func(rule bool) (string, bool) {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestProbeSearchesWhileChangesAreHeldBack$")
		cmd.Env = append(os.Environ(), probeChildEnv+"=held-back")
		if rule {
			cmd.Env = append(cmd.Env, probeChildProbe+"=1")
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err == nil
	}
	if out, ok := run(true); ok || !strings.Contains(out, "op_set.rs:447") {
		t.Fatalf("with the held-back rule the process lived on (%v) or died elsewhere:\n%s", ok, lastLines(out))
	}
	if out, ok := run(false); !ok {
		t.Fatalf("control: searching only after messages keyed by position, the process died:\n%s", lastLines(out))
	}
}

func heldBackChild(t *testing.T, rule bool) {
	state, release, crash := heldBackInput(t)
	doc := automerge.New()
	if err := doc.LoadIncremental(state); err != nil {
		t.Fatal(err)
	}
	ss := automerge.NewSyncState(doc)
	heldBack := false
	for i, msg := range [][]byte{crash, release} {
		if _, err := ss.ReceiveMessage(msg); err != nil {
			t.Fatal(err)
		}
		search := !MapKeysOnly(msg) || (rule && heldBack)
		waiting := Probe(doc, search, search, nil)
		if search {
			heldBack = waiting
		}
		if i == 0 && !waiting {
			t.Fatal("the crashing change was not held back")
		}
	}
}

// TestMissingDeps: a document holding a change whose dependency it lacks
// waits (Waiting), and MissingDeps names that dependency; once it arrives,
// nothing waits and nothing is missing.
func TestMissingDeps(t *testing.T) {
	src := automerge.New()
	for i, v := range []string{"a", "b"} {
		if err := src.Path("k").Set(v); err != nil {
			t.Fatal(err)
		}
		if _, err := src.Commit(v); err != nil {
			t.Fatal(i, err)
		}
	}
	changes, err := src.Changes()
	if err != nil || len(changes) != 2 {
		t.Fatalf("changes: %v (%d)", err, len(changes))
	}
	doc := automerge.New()
	ss := automerge.NewSyncState(doc)
	if _, err := ss.ReceiveMessage(syncMessage(changes[1].Save())); err != nil {
		t.Fatal(err)
	}
	missing, ok := MissingDeps(doc)
	if !ok || !Waiting(doc) || len(missing) != 1 || missing[0] != changes[0].Hash() {
		t.Fatalf("waiting %v, missing %v (ok %v), want %v", Waiting(doc), missing, ok, changes[0].Hash())
	}
	if _, err := ss.ReceiveMessage(syncMessage(changes[0].Save())); err != nil {
		t.Fatal(err)
	}
	if missing, ok := MissingDeps(doc); !ok || len(missing) != 0 || Waiting(doc) {
		t.Fatalf("after the dependency: waiting %v, missing %v (ok %v)", Waiting(doc), missing, ok)
	}
}
