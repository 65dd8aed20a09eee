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
	fmt.Fprintf(w, "veche %s\ncommit %s\nautomerge core %s %s (automerge-rs, linked statically)\n%s %s/%s\n",
		b.Version, b.Commit, automergeModule, b.Automerge, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
