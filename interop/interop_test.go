package interop

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// obj builds a command or a JSON value.
type obj = map[string]any

// createShared makes a document on a, waits until the relay has
// acknowledged it, and returns its URL.
func createShared(t *testing.T, a *client, value any) string {
	t.Helper()
	created := a.do(obj{"cmd": "create", "value": value})
	a.do(obj{"cmd": "wait-ack", "url": created.URL})
	return created.URL
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameHeads(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestInterop runs the everyday scenarios against one relay.
func TestInterop(t *testing.T) {
	r := startRelay(t, target(t), t.TempDir())

	t.Run("create-then-find", func(t *testing.T) {
		a := newClient(t, "A", r.URL())
		b := newClient(t, "B", r.URL())
		value := obj{
			"title":   "Spring sowing plan",
			"members": obj{"m1": obj{"name": "Ana", "role": "small-farmer"}},
			"plots":   []any{1, 2, 3},
			"open":    true,
		}
		url := createShared(t, a, value)
		found := b.do(obj{"cmd": "find", "url": url, "timeoutMs": 10000})
		if found.Event != "doc" {
			t.Fatalf("B: find %s: got %s, want the document", url, found)
		}
		if !jsonEqual(t, found.Value, mustJSON(t, value)) {
			t.Fatalf("B sees %s, want A's %s", found.Value, mustJSON(t, value))
		}
		t.Logf("B found A's document in %.0f ms", found.MS)
	})

	t.Run("concurrent-edits-converge", func(t *testing.T) {
		a := newClient(t, "A", r.URL())
		b := newClient(t, "B", r.URL())
		// The list exists before the race: two concurrent creations of
		// "log" would be a conflict in which one list wins, by design.
		url := createShared(t, a, obj{"title": "draft", "log": []any{}})
		if e := b.do(obj{"cmd": "find", "url": url}); e.Event != "doc" {
			t.Fatalf("B: find: %s", e)
		}
		// Both edit before either can have seen the other's change: a
		// conflicting field, a field each, and a stream of list appends.
		for _, c := range []*client{a, b} {
			c.send(obj{"cmd": "change", "url": url, "ops": []any{
				obj{"op": "set", "path": []any{"title"}, "value": "title by " + c.name},
				obj{"op": "set", "path": []any{"by" + c.name}, "value": c.name + " was here"},
			}})
			c.send(obj{"cmd": "write-loop", "url": url, "key": "log", "intervalMs": 5})
		}
		time.Sleep(500 * time.Millisecond)
		a.do(obj{"cmd": "stop-writes"})
		b.do(obj{"cmd": "stop-writes"})
		ha := a.do(obj{"cmd": "get", "url": url}).Heads
		hb := b.do(obj{"cmd": "get", "url": url}).Heads
		a.do(obj{"cmd": "wait-for", "url": url, "heads": hb, "timeoutMs": 10000})
		b.do(obj{"cmd": "wait-for", "url": url, "heads": ha, "timeoutMs": 10000})
		// Now each has both histories; give in-flight messages a moment, then
		// both must hold the very same document.
		var da, db event
		deadline := time.Now().Add(10 * time.Second)
		for {
			da = a.do(obj{"cmd": "get", "url": url})
			db = b.do(obj{"cmd": "get", "url": url})
			if sameHeads(da.Heads, db.Heads) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !sameHeads(da.Heads, db.Heads) || !jsonEqual(t, da.Value, db.Value) {
			t.Fatalf("A and B did not converge:\nA %v %s\nB %v %s", da.Heads, da.Value, db.Heads, db.Value)
		}
		var doc struct {
			Title string   `json:"title"`
			ByA   string   `json:"byA"`
			ByB   string   `json:"byB"`
			Log   []string `json:"log"`
		}
		if err := json.Unmarshal(da.Value, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.ByA != "A was here" || doc.ByB != "B was here" {
			t.Errorf("converged document lacks an edit: %s", da.Value)
		}
		if doc.Title != "title by A" && doc.Title != "title by B" {
			t.Errorf("conflicting title resolved to %q", doc.Title)
		}
		fromA, fromB := 0, 0
		for _, v := range doc.Log {
			switch v[0] {
			case 'A':
				fromA++
			case 'B':
				fromB++
			}
		}
		if fromA == 0 || fromB == 0 {
			t.Errorf("log has %d appends from A and %d from B; want both", fromA, fromB)
		}
		t.Logf("converged on %d heads, log of %d (%d from A, %d from B)", len(da.Heads), len(doc.Log), fromA, fromB)
	})

	t.Run("offline-edit-then-reconnect", func(t *testing.T) {
		a := newClient(t, "A", r.URL())
		b := newClient(t, "B", r.URL())
		url := createShared(t, a, obj{"title": "minutes"})
		if e := b.do(obj{"cmd": "find", "url": url}); e.Event != "doc" {
			t.Fatalf("B: find: %s", e)
		}
		a.do(obj{"cmd": "disconnect"})
		a.do(obj{"cmd": "change", "url": url, "ops": []any{
			obj{"op": "set", "path": []any{"offline"}, "value": "written on the hill"},
			obj{"op": "push", "path": []any{"notes"}, "value": "A1"},
		}})
		b.do(obj{"cmd": "change", "url": url, "ops": []any{
			obj{"op": "push", "path": []any{"seen"}, "value": "B while A was away"},
		}})
		time.Sleep(300 * time.Millisecond)
		if d := b.do(obj{"cmd": "get", "url": url}); jsonHas(t, d.Value, "offline") {
			t.Fatalf("B sees A's offline edit while A is disconnected: %s", d.Value)
		}
		start := time.Now()
		a.do(obj{"cmd": "reconnect", "timeoutMs": 10000})
		b.do(obj{"cmd": "wait-for", "url": url, "path": []any{"offline"}, "equals": "written on the hill", "timeoutMs": 10000})
		a.do(obj{"cmd": "wait-for", "url": url, "path": []any{"seen"}, "equals": []any{"B while A was away"}, "timeoutMs": 10000})
		t.Logf("both sides had each other's edits %v after A reconnected", time.Since(start).Round(time.Millisecond))
	})

	t.Run("unavailable-document", func(t *testing.T) {
		c := newClient(t, "C", r.URL())
		c.do(obj{"cmd": "wait-connected"})
		url := randomDocURL(t)
		e := c.do(obj{"cmd": "find", "url": url, "timeoutMs": 10000})
		t.Logf("find of never-created %s: %s after %.0f ms", url, e.Event, e.MS)
		if e.Event != "unavailable" {
			t.Fatalf("find of a never-created document: got %s, want unavailable", e)
		}
		if e.MS >= 5000 {
			t.Fatalf("find of a never-created document took %.0f ms to resolve unavailable; want < 5000", e.MS)
		}
	})

	t.Run("ephemeral", func(t *testing.T) {
		a := newClient(t, "A", r.URL())
		b := newClient(t, "B", r.URL())
		url := createShared(t, a, obj{"title": "meeting"})
		if e := b.do(obj{"cmd": "find", "url": url}); e.Event != "doc" {
			t.Fatalf("B: find: %s", e)
		}
		start := time.Now()
		a.do(obj{"cmd": "ephemeral-send", "url": url, "message": obj{"kind": "cursor", "from": "A", "pos": 7}})
		got := b.do(obj{"cmd": "ephemeral-wait", "url": url, "match": obj{"kind": "cursor", "from": "A"}, "timeoutMs": 5000})
		if !jsonEqual(t, got.Message, mustJSON(t, obj{"kind": "cursor", "from": "A", "pos": 7})) {
			t.Errorf("B got ephemeral %s", got.Message)
		}
		b.do(obj{"cmd": "ephemeral-send", "url": url, "message": obj{"kind": "cursor", "from": "B", "pos": 3}})
		a.do(obj{"cmd": "ephemeral-wait", "url": url, "match": obj{"kind": "cursor", "from": "B"}, "timeoutMs": 5000})
		t.Logf("ephemeral round trip A→B→A in %v", time.Since(start).Round(time.Millisecond))
		if d := b.do(obj{"cmd": "get", "url": url}); jsonHas(t, d.Value, "kind") {
			t.Errorf("an ephemeral message ended up in the document: %s", d.Value)
		}
	})
}

// jsonHas reports whether the JSON object has key at its top level.
func jsonHas(t testing.TB, doc json.RawMessage, key string) bool {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("not a JSON object: %s", doc)
	}
	_, ok := m[key]
	return ok
}

// TestRestart checks that what the relay acknowledged survives a restart,
// graceful or not, when the writer is gone and cannot resend it.
func TestRestart(t *testing.T) {
	prog := target(t)
	for _, mode := range []string{"sigterm", "sigkill-after-ack"} {
		t.Run(mode, func(t *testing.T) {
			r := startRelay(t, prog, t.TempDir())
			a := newClient(t, "A", r.URL())
			url := createShared(t, a, obj{"title": "harvest ledger"})
			for i := 1; i <= 20; i++ {
				a.do(obj{"cmd": "change", "url": url, "ops": []any{
					obj{"op": "push", "path": []any{"entries"}, "value": i},
					obj{"op": "inc", "path": []any{"total"}, "by": i},
				}})
			}
			ack := a.do(obj{"cmd": "wait-ack", "url": url})
			want := a.do(obj{"cmd": "get", "url": url})
			a.exit() // A cannot help: only the relay's store has the document now
			switch mode {
			case "sigterm":
				r.stop()
			case "sigkill-after-ack":
				r.kill()
			}
			r.start()
			b := newClient(t, "B", r.URL())
			got := b.do(obj{"cmd": "find", "url": url, "timeoutMs": 10000})
			if got.Event != "doc" {
				t.Fatalf("after %s restart B's find: %s; want the document (acked %v)", mode, got, ack.RelayHeads)
			}
			if !sameHeads(got.Heads, want.Heads) || !jsonEqual(t, got.Value, want.Value) {
				t.Fatalf("after %s restart B sees heads %v %s; want A's %v %s", mode, got.Heads, got.Value, want.Heads, want.Value)
			}
		})
	}

	// The relay goes away under a connected client, which edits meanwhile
	// and redials on its own when the relay is back.
	t.Run("relay-down-during-edit", func(t *testing.T) {
		r := startRelay(t, prog, t.TempDir())
		a := newClient(t, "A", r.URL())
		url := createShared(t, a, obj{"title": "water rota"})
		r.stop()
		a.do(obj{"cmd": "change", "url": url, "ops": []any{obj{"op": "set", "path": []any{"rota"}, "value": "Mon: Ana"}}})
		r.start()
		start := time.Now()
		ack := a.do(obj{"cmd": "wait-ack", "url": url, "timeoutMs": 15000})
		t.Logf("A redialed and the relay acknowledged the offline edit %v after restart", time.Since(start).Round(time.Millisecond))
		b := newClient(t, "B", r.URL())
		got := b.do(obj{"cmd": "find", "url": url})
		if got.Event != "doc" || !sameHeads(got.Heads, ack.Heads) {
			t.Fatalf("B: find: %s; want heads %v", got, ack.Heads)
		}
	})

	// An offline-first client: its edit is made with the relay down, kept
	// in its own storage across a restart of the client, and delivered when
	// the client comes back (with a storageId, so the relay may persist its
	// sync state).
	t.Run("offline-client-with-storage", func(t *testing.T) {
		r := startRelay(t, prog, t.TempDir())
		store := t.TempDir()
		a := newClient(t, "A", r.URL(), "--storage", store)
		url := createShared(t, a, obj{"title": "seed exchange"})
		r.stop()
		a.do(obj{"cmd": "change", "url": url, "ops": []any{obj{"op": "push", "path": []any{"offers"}, "value": "maize, 20 kg"}}})
		want := a.do(obj{"cmd": "get", "url": url})
		a.exit()
		r.start()
		a2 := newClient(t, "A2", r.URL(), "--storage", store)
		if e := a2.do(obj{"cmd": "find", "url": url}); !sameHeads(e.Heads, want.Heads) {
			t.Fatalf("A2 loaded %s from storage; want heads %v", e, want.Heads)
		}
		a2.do(obj{"cmd": "wait-connected"})
		a2.do(obj{"cmd": "wait-ack", "url": url, "timeoutMs": 15000})
		b := newClient(t, "B", r.URL())
		got := b.do(obj{"cmd": "find", "url": url})
		if got.Event != "doc" || !jsonEqual(t, got.Value, want.Value) {
			t.Fatalf("B: find: %s; want %s", got, want.Value)
		}
	})
}
