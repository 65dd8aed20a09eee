package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/veche-sync/veche/metrics"
)

// Set at link time by `make build` and `make release`:
//
//	-ldflags "-X main.version=v0.3.0 -X main.commit=1a2b3c4"
var (
	version = "dev"
	commit  = ""
)

// automergeModule is the Go binding whose static library is the Automerge
// core linked into the binary; its version names the core exactly.
const automergeModule = "github.com/automerge/automerge-go"

// automergeCores maps a version of automergeModule to the automerge-rs
// release its static libraries were built from (its deps/automerge-rs
// submodule). TestVersionNamesTheAutomergeCore fails when go.mod moves to
// a binding this map does not know.
var automergeCores = map[string]string{
	// deps/automerge-rs at b79a92a, "rust/automerge@0.5.0".
	"v0.0.0-20230903201930-b80ce8aadbb9": "automerge-rs 0.5.0",
}

// build describes the running binary.
func build() metrics.Build {
	b := metrics.Build{Version: version, Commit: commit, Automerge: "unknown"}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == automergeModule {
				b.Automerge = dep.Version
				if dep.Replace != nil {
					b.Automerge = dep.Replace.Version
				}
			}
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && b.Commit == "" {
				b.Commit = s.Value
			}
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

// printVersion answers `veche --version`.
func printVersion(w io.Writer) {
	b := build()
	core := automergeCores[b.Automerge]
	if core == "" {
		core = "automerge-rs (unknown release)"
	}
	fmt.Fprintf(w, "veche %s\ncommit %s\nautomerge core %s, linked statically (%s %s)\n%s %s/%s\n",
		b.Version, b.Commit, core, automergeModule, b.Automerge, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
