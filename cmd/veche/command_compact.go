package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/veche-sync/veche/server/store"
)

const compactUsage = `veche compact — give back the disk space a relay's data no longer uses

Usage:
  veche compact --data DIR

Stop the relay first. veche.db never shrinks by itself: space freed by
folding a document's changes into a snapshot stays in the file for reuse.
compact rewrites the file with only what is live (it needs that much free
space beside it), checks the new file, swaps it in and says how much space
came back.

Flags:
`

// CompactCommand is `veche compact`.
type CompactCommand struct {
	// DataDir is the data directory. Flag --data, env VECHE_DATA; default
	// ./veche-data.
	DataDir string

	stdout io.Writer
	stderr io.Writer
}

// NewCompactCommand returns a CompactCommand printing to the process's
// standard output and error.
func NewCompactCommand() *CompactCommand {
	return &CompactCommand{DataDir: "./veche-data", stdout: os.Stdout, stderr: os.Stderr}
}

// ParseFlags reads the environment, then flags, which win.
func (c *CompactCommand) ParseFlags(args []string) error {
	if v := os.Getenv("VECHE_DATA"); v != "" {
		c.DataDir = v
	}
	fs := flag.NewFlagSet("veche compact", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, compactUsage); fs.PrintDefaults() }
	fs.StringVar(&c.DataDir, "data", c.DataDir, "the relay's data directory (env VECHE_DATA)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}

// Run compacts the store and reports the space returned.
func (c *CompactCommand) Run(ctx context.Context) error {
	var bar *progress
	before, after, err := store.CompactFile(ctx, c.DataDir, func(done, total int64) {
		if bar == nil {
			bar = newProgress(c.stderr, "compact", total, true)
		}
		bar.Set(done)
	})
	bar.Finish()
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("a relay is running on %s: stop it first (sudo systemctl stop veche), then compact", c.DataDir)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Compacted %s: %s → %s (%s returned).\n",
		filepath.Join(c.DataDir, store.FileName), humanBytes(before), humanBytes(after), humanBytes(max(before-after, 0)))
	return nil
}

// setOutput redirects what the command prints (tests).
func (c *CompactCommand) setOutput(stdout, stderr io.Writer) { c.stdout, c.stderr = stdout, stderr }
