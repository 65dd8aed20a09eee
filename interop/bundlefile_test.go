package interop

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBundlesReadAndWrittenByStockAutomerge: a .bundle written by veche
// opens with stock @automerge/automerge as server/bundle/doc.go describes
// (header, size, checksum, concatenated changes), and a bundle written
// that way in JavaScript is taken in by a relay — the web app can carry
// changes by hand with nothing of ours but the format.
func TestBundlesReadAndWrittenByStockAutomerge(t *testing.T) {
	setup(t)
	r := startRelay(t, vecheRelay(t), t.TempDir())
	created := council(t, r, "Riverside growers", "Ana")
	townhall := newCLI(t, map[string]string{"VECHE_RELAY": "http://" + r.addr, "VECHE_TOKEN": created.Token, "VECHE_COUNCIL": created.ID})
	townhall.ok("council", "propose", "--title", "Dig a new well")
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole.bundle")
	townhall.ok("bundle", "export", "--out", whole)

	node := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(nodeBin, append([]string{filepath.Join(rootDir, jsDir, "bundle.mjs")}, args...)...)
		cmd.Dir = filepath.Join(rootDir, jsDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node bundle.mjs %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("node bundle.mjs %s printed %q", strings.Join(args, " "), out)
		}
		return v
	}
	heads := func(v map[string]any) []string {
		var out []string
		for _, h := range v["heads"].([]any) {
			out = append(out, h.(string))
		}
		return out
	}

	// Go → JavaScript: the whole council loads, with the relay's heads.
	read := node("read", whole)
	if read["council"] != created.ID || !sameHeads(heads(read), view(t, r, created.Token, created.ID).Heads) {
		t.Fatalf("JavaScript read %v", read)
	}
	// JavaScript → Go: a change made in JavaScript, carried as a bundle,
	// is taken in by the relay (unsigned: it merges and counts nothing).
	next := filepath.Join(dir, "from-js.bundle")
	written := node("extend", whole, next, "note", "carried from a browser")
	if out := townhall.ok("bundle", "import", next); !strings.Contains(out, "Imported 1 new change(s)") {
		t.Fatalf("import of the JavaScript bundle: %s", out)
	}
	if got := view(t, r, created.Token, created.ID).Heads; !sameHeads(got, heads(written)) {
		t.Fatalf("the relay holds %v, JavaScript made %v", got, heads(written))
	}
}
