package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher/ignorefile"
)

// TestDockerfile parses deploy/Dockerfile with buildkit's parser and
// linter (what `docker build --check` runs first) and checks what the
// image promises: built in a stage of its own, a pinned Go matching
// go.mod, a final stage that runs as a user without privileges with the
// data in a volume, the relay as its entrypoint.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile does not parse: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("parser warning: %s", w.Short)
	}
	var lint []string
	l := linter.New(&linter.Config{ExperimentalAll: true, Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		lint = append(lint, rule+": "+msg)
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, l)
	if err != nil {
		t.Fatalf("Dockerfile instructions: %v", err)
	}
	for _, w := range lint {
		t.Errorf("lint: %s", w)
	}
	if len(metaArgs) != 0 {
		t.Errorf("ARG before FROM: %v", metaArgs)
	}
	if len(stages) != 2 || stages[0].Name != "build" {
		t.Fatalf("want two stages, build then the image; got %d", len(stages))
	}
	build, final := stages[0], stages[1]

	// The builder's Go is the one go.mod asks for.
	gomod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil || !strings.HasPrefix(build.BaseName, "golang:"+string(goVersion[1])+"-") {
		t.Errorf("build stage FROM %s; go.mod wants go %s", build.BaseName, goVersion[1])
	}
	if strings.HasSuffix(final.BaseName, ":latest") || !strings.Contains(final.BaseName, ":") {
		t.Errorf("final stage FROM %s: pin a tag", final.BaseName)
	}

	var user, entrypoint, cmd string
	env := map[string]string{}
	var volumes, exposed []string
	copiedFromBuild := false
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env[kv.Key] = kv.Value
			}
		case *instructions.VolumeCommand:
			volumes = append(volumes, c.Volumes...)
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.CopyCommand:
			if c.From == build.Name {
				copiedFromBuild = true
			}
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				t.Error("ENTRYPOINT in shell form: signals would reach the shell, not the relay")
			}
			entrypoint = strings.Join(c.CmdLine, " ")
		case *instructions.CmdCommand:
			cmd = strings.Join(c.CmdLine, " ")
		case *instructions.RunCommand:
			t.Errorf("RUN in the final stage (%s): the image has no shell", c.String())
		}
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0:") || user == "0" {
		t.Errorf("final stage runs as %q: want a user without privileges", user)
	}
	if !copiedFromBuild {
		t.Error("the final stage copies nothing from the build stage")
	}
	if entrypoint != "/usr/local/bin/veche" || cmd != "serve" {
		t.Errorf("ENTRYPOINT %q CMD %q: want the relay serving", entrypoint, cmd)
	}
	if data := env["VECHE_DATA"]; data == "" || !slices.Contains(volumes, data) {
		t.Errorf("VECHE_DATA=%q but the volumes are %v", data, volumes)
	}
	if addr := env["VECHE_ADDR"]; addr == "" || !slices.Contains(exposed, strings.TrimPrefix(addr, ":")) {
		t.Errorf("VECHE_ADDR=%q but EXPOSE %v", addr, exposed)
	}

	// The build context leaves out what the image must not carry.
	ig, err := os.Open(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer ig.Close()
	patterns, err := ignorefile.ReadAll(ig)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"**/node_modules", "veche-data", ".git"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}
