package interop

import (
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/api"
)

// TestArm64ReleaseUnderQemu builds the linux/arm64 release binary with
// `make` (the cross compiler and qemu-user-static come from `make deps`),
// runs its --version under qemu, then a short smoke test of the binary a
// Raspberry Pi would run: serve (its sandbox workers under qemu too),
// found a council over REST, and sync one stock automerge-repo client with
// the founder's token, both ways.
func TestArm64ReleaseUnderQemu(t *testing.T) {
	setup(t)
	dist := t.TempDir()
	bin := filepath.Join(dist, "veche-linux-arm64")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "make", "-s", "DIST="+dist, bin)
	build.Dir = rootDir
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", bin, err, out)
	}
	t.Logf("built the linux/arm64 release binary in %v", time.Since(start).Round(time.Second))
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	if f.Machine != elf.EM_AARCH64 {
		t.Fatalf("%s is built for %v", bin, f.Machine)
	}
	if f.Section(".interp") != nil {
		t.Fatalf("%s is dynamically linked: a release binary must be static", bin)
	}
	f.Close()

	runner := filepath.Join(rootDir, jsDir, "run-arm64.sh")
	out, err := exec.Command(runner, bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("veche --version under qemu: %v\n%s", err, out)
	}
	for _, want := range []string{"veche ", "commit ", "automerge core automerge-rs 0.5.0, linked statically (github.com/automerge/automerge-go v", "linux/arm64"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("veche --version under qemu lacks %q:\n%s", want, out)
		}
	}

	prog := relayProgram{name: "veche-arm64", argv: func(addr, dataDir string) []string {
		return []string{runner, bin, "serve", "--addr", addr, "--data", dataDir, "--sandbox", "always", "--sandbox-workers", "1"}
	}}
	r := startRelay(t, prog, t.TempDir())
	raw, err := os.ReadFile(filepath.Join(r.dataDir, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	var created api.CreateCouncilAnswer
	rest(t, r, strings.TrimSpace(string(raw)), "POST", "/api/councils", obj{
		"name": "Hill orchard growers", "kind": "farmers", "founder": obj{"name": "Ana", "role": "grower"},
	}, &created)

	c := newClient(t, "Pi", r.URL()+"?token="+created.Token)
	found := c.do(obj{"cmd": "find", "url": created.URL, "timeoutMs": 20000})
	if found.Event != "doc" {
		t.Fatalf("find the council on the arm64 relay: %s", found)
	}
	var doc councilJSON
	if err := json.Unmarshal(found.Value, &doc); err != nil || doc.Council.Name != "Hill orchard growers" {
		t.Fatalf("the client sees %s (%v)", found.Value, err)
	}
	// A document the client makes reaches the relay's store (wait-ack:
	// the relay advertised it, so it is committed).
	made := c.do(obj{"cmd": "create", "value": obj{"harvest": "apples"}})
	c.do(obj{"cmd": "wait-ack", "url": made.URL, "timeoutMs": 20000})
	c.exit()
	r.stop()
	t.Logf("arm64 relay under qemu: served, founded a council, synced a stock client")
}
