package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestVersionNamesTheAutomergeCore: veche --version names the automerge-go
// binding go.mod requires and the automerge-rs release inside it.
func TestVersionNamesTheAutomergeCore(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/automerge/automerge-go (\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require automerge-go")
	}
	required := string(m[1])
	if build().Automerge != required {
		t.Fatalf("the binary reports automerge-go %q; go.mod requires %s", build().Automerge, required)
	}
	core, ok := automergeCores[required]
	if !ok {
		t.Fatalf("automerge-go %s: which automerge-rs release is in its deps/automerge-rs? Add it to automergeCores", required)
	}
	var out bytes.Buffer
	printVersion(&out)
	for _, want := range []string{"veche " + version, "commit ", "automerge core " + core, required} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("veche --version lacks %q:\n%s", want, out.String())
		}
	}
}
