package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/store"
)

// Exit codes of `veche check`, beyond 0 (all good), 1 (could not check)
// and 2 (the command line is wrong).
const (
	exitLeftovers = 3 // harmless leftovers, nothing damaged
	exitDamaged   = 4 // damage: restore a backup
)

const checkUsage = `veche check — is a relay's data sound? (after a power cut, before a backup)

Usage:
  veche check --data DIR [--repair]

Stop the relay first. The check reads and changes nothing:
  - bbolt's own consistency check of veche.db (pages, free list, buckets);
  - every document loads with Automerge, and its snapshot and changes give
    exactly the heads recorded with its last write;
  - no sync state, owner, member token or invite points at a document the
    store does not hold. --repair deletes these leftovers (it changes
    nothing else, and nothing at all if there is damage).

Exit codes: 0 all good; 1 could not check (no data, or a relay is running
on it); 2 the command line is wrong; 3 harmless leftovers only; 4 damage
found: restore the last good backup (veche restore --help).

Flags:
`

// CheckCommand is `veche check`.
type CheckCommand struct {
	// DataDir is the data directory to check. Flag --data, env VECHE_DATA;
	// default ./veche-data.
	DataDir string
	// Repair deletes leftovers when nothing is damaged. Flag --repair.
	Repair bool

	stdout io.Writer
	stderr io.Writer
}

// NewCheckCommand returns a CheckCommand printing to the process's
// standard output and error.
func NewCheckCommand() *CheckCommand {
	return &CheckCommand{DataDir: "./veche-data", stdout: os.Stdout, stderr: os.Stderr}
}

// ParseFlags reads the environment, then flags, which win.
func (c *CheckCommand) ParseFlags(args []string) error {
	if v := os.Getenv("VECHE_DATA"); v != "" {
		c.DataDir = v
	}
	fs := flag.NewFlagSet("veche check", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, checkUsage); fs.PrintDefaults() }
	fs.StringVar(&c.DataDir, "data", c.DataDir, "the relay's data directory (env VECHE_DATA)")
	fs.BoolVar(&c.Repair, "repair", c.Repair, "delete leftovers (records pointing at documents not stored) when nothing is damaged")
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

// Run checks the data directory, prints a summary, and returns an
// exitCode error when something was found.
func (c *CheckCommand) Run(ctx context.Context) error {
	st, err := store.Open(c.DataDir, &store.Options{ReadOnly: !c.Repair, LockTimeout: 200 * time.Millisecond})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("a relay is running on %s: stop it first (sudo systemctl stop veche), then check", c.DataDir)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	w := c.stdout
	fmt.Fprintf(w, "Checking %s (%s).\n", filepath.Join(c.DataDir, store.FileName), humanBytes(st.Stats().FileBytes))
	damaged := 0

	problems, err := st.CheckFile(ctx)
	if err != nil {
		return err
	}
	if len(problems) == 0 {
		fmt.Fprintf(w, "  %-16s sound\n", "File structure:")
	} else {
		damaged += len(problems)
		fmt.Fprintf(w, "  %-16s %d problems:\n", "File structure:", len(problems))
		for i, p := range problems {
			if i == 20 {
				fmt.Fprintf(w, "      … and %d more\n", len(problems)-i)
				break
			}
			fmt.Fprintf(w, "      %v\n", p)
		}
	}

	ids, err := st.DocumentIDs(ctx)
	if err != nil {
		return err
	}
	bar := newProgress(c.stderr, "documents", int64(len(ids)), false)
	var bad []string
	for i, id := range ids {
		doc, err := st.Load(ctx, id)
		if err == nil {
			err = server.VerifyDocument(doc)
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", id, err))
		}
		bar.Set(int64(i + 1))
	}
	bar.Finish()
	if len(bad) == 0 {
		fmt.Fprintf(w, "  %-16s %d, each loads exactly as last written\n", "Documents:", len(ids))
	} else {
		damaged += len(bad)
		fmt.Fprintf(w, "  %-16s %d of %d damaged:\n", "Documents:", len(bad), len(ids))
		for _, b := range bad {
			fmt.Fprintf(w, "      %s\n", b)
		}
	}

	states, err := st.SyncStates(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  %-16s %d\n", "Sync states:", states)
	leftovers, err := st.Leftovers(ctx)
	if err != nil {
		damaged++
		fmt.Fprintf(w, "  %-16s cannot be read: %v\n", "Credentials:", err)
	} else if len(leftovers) == 0 {
		fmt.Fprintf(w, "  %-16s none\n", "Leftovers:")
	} else {
		fmt.Fprintf(w, "  %-16s %d records point at documents that are not stored:\n", "Leftovers:", len(leftovers))
		for _, l := range leftovers {
			fmt.Fprintf(w, "      %s\n", l)
		}
	}

	switch {
	case damaged > 0:
		fmt.Fprintf(w, "DAMAGE FOUND. Keep this directory as it is, and restore the last good backup into a new one:\n"+
			"  veche restore BACKUP.tar --data NEW-DIR   (then run the relay on NEW-DIR)\n")
		return exitCode(exitDamaged)
	case len(leftovers) > 0 && c.Repair:
		n, err := st.RemoveLeftovers(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Nothing is damaged. Removed %d leftovers. All good: the relay can start.\n", n)
		return nil
	case len(leftovers) > 0:
		fmt.Fprintf(w, "Nothing is damaged: the relay can start. The leftovers are what interrupted syncs leave; they only\n"+
			"take a little space (veche check --repair deletes them).\n")
		return exitCode(exitLeftovers)
	default:
		fmt.Fprintf(w, "All good: the relay can start.\n")
		return nil
	}
}

// setOutput redirects what the command prints (tests).
func (c *CheckCommand) setOutput(stdout, stderr io.Writer) { c.stdout, c.stderr = stdout, stderr }
