package syncmsg_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/syncmsg"
)

// TestKeysByPosition: changes made by the core that key ops only by map
// keys read false, and changes that insert into, set in or delete from a
// list or a text read true, whatever else they hold.
func TestKeysByPosition(t *testing.T) {
	doc := automerge.New()
	last := func() []byte {
		t.Helper()
		if _, err := doc.Commit("x"); err != nil {
			t.Fatal(err)
		}
		cs, err := doc.Changes(doc.Heads()[0])
		if err != nil {
			t.Fatal(err)
		}
		all, err := doc.Changes()
		if err != nil || len(cs) != 0 {
			t.Fatal(err, len(cs))
		}
		return all[len(all)-1].Save()
	}
	root := doc.RootMap()
	k, items, note := automerge.NewMap(), automerge.NewList(), automerge.NewText("")
	steps := []struct {
		name       string
		edit       func() error
		byPosition bool
		valuesOnly bool // SetsValuesOnly
	}{
		{"set map keys", func() error { root.Set("schema", "council/1"); return root.Set("n", int64(1)) }, false, true},
		{"make a map and fill it", func() error {
			if err := root.Set("k", k); err != nil {
				return err
			}
			return k.Set("ana", int64(3))
		}, false, false},
		{"nested map key", func() error { return k.Set("bo", int64(4)) }, false, true},
		{"delete a map key", func() error { return root.Delete("n") }, false, false},
		{"make a counter in a map", func() error { return root.Set("c", automerge.NewCounter(1)) }, false, true},
		{"increment it", func() error { return doc.Path("c").Counter().Inc(2) }, false, true},
		{"many map keys", func() error {
			for i := range 40 {
				if err := k.Set(fmt.Sprint("m", i), int64(i)); err != nil {
					return err
				}
			}
			return doc.Path("c").Counter().Inc(1)
		}, false, true},
		{"make a list", func() error { return root.Set("items", items) }, false, false},
		{"push to a list", func() error { return items.Append(int64(1)) }, true, true},
		{"set in a list", func() error { return items.Set(0, int64(2)) }, true, true},
		{"insert at a list's head", func() error { return items.Insert(0, "first") }, true, true},
		{"delete from a list", func() error { return items.Delete(0) }, true, false},
		{"make a text", func() error { return root.Set("note", note) }, false, false},
		{"type into a text", func() error { return note.Set("hello") }, true, true},
		{"a map key again", func() error { return root.Set("after", true) }, false, true},
	}
	for _, s := range steps {
		if err := s.edit(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		change := last()
		if got := syncmsg.KeysByPosition(change); got != s.byPosition {
			t.Errorf("%s: KeysByPosition = %v, want %v", s.name, got, s.byPosition)
		}
		if got := syncmsg.SetsValuesOnly(change); got != s.valuesOnly {
			t.Errorf("%s: SetsValuesOnly = %v, want %v", s.name, got, s.valuesOnly)
		}
	}
	// What it cannot read plainly counts as keyed by position, and not
	// as setting values only.
	for _, bad := range [][]byte{nil, []byte("not a change"), {0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 200}} {
		if !syncmsg.KeysByPosition(bad) || syncmsg.SetsValuesOnly(bad) {
			t.Errorf("%q read as keyed by map keys only, or as setting values only", bad)
		}
	}
}

// TestCorpusMapKeyCrashersKeyByPosition: every input of the corpus that
// puts a list element's key into a map (op_set.rs:447) holds a change
// KeysByPosition flags, so skipping the maps' search for unflagged
// changes never skips one of them; and every input that puts a map key
// into a list or a text (listmapkey) holds a change that either flags or
// does more than set values (SetsValuesOnly), so skipping the check of
// lists and texts after changes that only set values under map keys
// never skips one of them — but one that only sets a value in a list or
// a text still empty (listmapkey-setsonly), which the worker finds by
// the objects the change writes into (Targets).
func TestCorpusMapKeyCrashersKeyByPosition(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "crashers", "*op-set-rs-447*.json"))
	if len(files) < 2 {
		t.Fatalf("%d op_set.rs:447 inputs in the corpus", len(files))
	}
	for _, f := range files {
		var c struct {
			Message []byte `json:"message"`
		}
		raw, _ := os.ReadFile(f)
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		m, err := syncmsg.Decode(c.Message)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		flagged := false
		for _, ch := range m.Changes {
			flagged = flagged || syncmsg.KeysByPosition(ch)
			if strings.Contains(f, "-listmapkey-") {
				flagged = flagged || !syncmsg.SetsValuesOnly(ch)
			}
			if strings.Contains(f, "-listmapkey-setsonly-") {
				// Only sets a value, in an empty list or text: the
				// worker tells by the objects it writes into (Targets
				// names one that is not a map it met).
				objs, ok := syncmsg.Targets(ch)
				flagged = flagged || !ok || len(objs) > 0
			}
		}
		if !flagged {
			t.Errorf("%s: no change flagged", filepath.Base(f))
		}
	}
}

// TestTargets: the objects a change writes into, the root left out, each
// once, named by the actor and counter of the op that made them.
func TestTargets(t *testing.T) {
	doc := automerge.New()
	commit := func() []byte {
		t.Helper()
		h, err := doc.Commit("x")
		if err != nil {
			t.Fatal(err)
		}
		c, err := doc.Change(h)
		if err != nil {
			t.Fatal(err)
		}
		return c.Save()
	}
	root := doc.RootMap()
	k := automerge.NewMap()
	if err := root.Set("a", int64(1)); err != nil {
		t.Fatal(err)
	}
	if objs, ok := syncmsg.Targets(commit()); !ok || len(objs) != 0 {
		t.Fatalf("root writes: %v, %v", objs, ok)
	}
	if err := root.Set("k", k); err != nil { // op 2: makes k
		t.Fatal(err)
	}
	if objs, ok := syncmsg.Targets(commit()); !ok || len(objs) != 0 {
		t.Fatalf("making a map in the root: %v, %v", objs, ok)
	}
	for i := range 30 {
		if err := k.Set(fmt.Sprint("m", i), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.Set("b", int64(2)); err != nil {
		t.Fatal(err)
	}
	actor, err := hex.DecodeString(doc.ActorID())
	if err != nil {
		t.Fatal(err)
	}
	objs, ok := syncmsg.Targets(commit())
	if want := (syncmsg.ObjectID{Actor: string(actor), Counter: 2}); !ok || len(objs) != 1 || objs[0] != want {
		t.Fatalf("thirty keys of k and one of the root: %v, %v; want [%v]", objs, ok, want)
	}
	for _, bad := range [][]byte{nil, []byte("not a change")} {
		if _, ok := syncmsg.Targets(bad); ok {
			t.Errorf("%q read", bad)
		}
	}
}
