package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veche-sync/veche/api"
)

// bundleRun runs `veche bundle` in-process with the cli's environment.
func (c *cli) bundleRun(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	code = runBundle(context.Background(), args, &out, &errOut, func(k string) string { return c.env[k] })
	return out.String(), errOut.String(), code
}

func TestBundleAgainstARelay(t *testing.T) {
	c := newCLI(t)
	var created api.CreateCouncilAnswer
	c.okJSON(&created, "create", "--name", "Mill workers", "--kind", "workers", "--founder", "Ana", "--operator-token-file", c.operator)
	c.env["VECHE_COUNCIL"], c.env["VECHE_TOKEN"] = created.ID, created.Token
	c.ok("propose", "--title", "Buy a mill")
	dir := t.TempDir()
	file := filepath.Join(dir, "council.bundle")

	if out, errOut, code := c.bundleRun("export", "--out", file); code != exitOK || out != "" || !strings.Contains(errOut, "Bundle of council "+created.ID+": 2 change(s)") { // founding (with the founder) and the proposal
		t.Fatalf("export: %d %q %q", code, out, errOut)
	}
	out, _, code := c.bundleRun("show", file)
	if code != exitOK || !strings.Contains(out, created.ID) || !strings.Contains(out, "changes  2") {
		t.Fatalf("show: %d %q", code, out)
	}
	// The relay holds it all: a no-op.
	if out, errOut, code := c.bundleRun("import", file); code != exitOK || !strings.Contains(out, "Nothing new") {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	// Since the relay's own heads: nothing to carry.
	heads, _, _ := c.bundleRun("heads")
	headsFile := filepath.Join(dir, "village.heads")
	os.WriteFile(headsFile, []byte(heads), 0o600)
	if _, errOut, code := c.bundleRun("export", "--since", headsFile, "--out", filepath.Join(dir, "empty.bundle")); code != exitOK || !strings.Contains(errOut, ": 0 change(s)") {
		t.Fatalf("export --since: %d %q", code, errOut)
	}
	// Damaged: refused, exit 4.
	raw, _ := os.ReadFile(file)
	os.WriteFile(file, raw[:len(raw)-3], 0o600)
	if _, errOut, code := c.bundleRun("import", file); code != exitRefused || !strings.Contains(errOut, "bad_bundle") || !strings.Contains(errOut, "truncated") {
		t.Fatalf("truncated: %d %q", code, errOut)
	}
	if _, errOut, code := c.bundleRun("import", filepath.Join(dir, "nope")); code != exitUsage {
		t.Fatalf("missing file: %d %q", code, errOut)
	}
}
