package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
	"github.com/veche-sync/veche/server/bundle"
)

const bundleUsage = `veche bundle — carry a council's changes by hand (USB stick, shared file)

Usage:
  veche bundle export [--council ID] [--since FILE] [--out FILE]
  veche bundle import FILE
  veche bundle show FILE
  veche bundle heads [--council ID]

When there is no link at all, changes travel as files. 'export' writes the
changes the receiver lacks — those made since the heads in --since, a
bundle the receiver imported before or the output of 'veche bundle heads'
run there — or the whole council; 'import' takes one in. Importing a bundle
twice changes nothing; one that continues from changes the receiver lacks,
or that is damaged or belongs to another council, is refused whole.

Against a relay (--relay, --token as for 'veche council'), import takes the
bundle in with the same grants as sync: your token must be allowed to write
the council. With --offline, export and import use this computer's replica
(see 'veche login'), with no network. The format is documented in package
server/bundle.

Exit codes as for 'veche council': 4 for a refused bundle.
`

// runBundle runs `veche bundle args...` and returns its exit code.
func runBundle(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &councilCmd{group: "bundle", stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now}
	return c.run(ctx, args, bundleVerbs, bundleUsage)
}

var bundleVerbs = map[string]verb{
	"export": (*councilCmd).bundleExport,
	"import": (*councilCmd).bundleImport,
	"show":   (*councilCmd).bundleShow,
	"heads":  (*councilCmd).bundleHeads,
}

func (c *councilCmd) bundleExport(ctx context.Context, args []string) error {
	fs := c.flags("export", "export [--council ID] [--since FILE] [--out FILE]",
		"Writes the council's changes the receiver lacks as a bundle, to stdout or --out.\nWithout --since, the whole council.\n")
	since := fs.String("since", "", "a bundle the receiver imported, or a file of heads ('veche bundle heads' there): export only what came after")
	out := fs.String("out", "", "write the bundle to this file (default: stdout)")
	c.dataOnly = true
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	council, err := c.needCouncil()
	if err != nil {
		return err
	}
	var heads []string
	if *since != "" {
		if heads, err = readSince(*since); err != nil {
			return err
		}
	}
	var raw []byte
	if c.offline {
		raw, err = c.replica.ExportBundle(ctx, council, heads)
	} else if err = c.needToken(); err == nil {
		raw, err = c.client.ExportBundle(ctx, council, heads)
	}
	if err != nil {
		return err
	}
	b, err := client.ReadBundle(raw)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, raw, 0o600); err != nil {
			return err
		}
	} else if _, err := c.stdout.Write(raw); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "Bundle of council %s: %d change(s), %d bytes.\n", b.Council, b.Count, len(raw))
	return nil
}

func (c *councilCmd) bundleImport(ctx context.Context, args []string) error {
	fs := c.flags("import", "import FILE", "Takes in a bundle ('-': stdin): into the relay, or with --offline into this\ncomputer's replica (which then carries it to the relay at the next sync).\n")
	c.dataOnly = true
	raw, b, err := c.bundleArg(fs, args)
	if err != nil {
		return err
	}
	var ans *api.BundleAnswer
	if c.offline {
		ans, err = c.replica.ImportBundle(ctx, raw)
	} else if err = c.needToken(); err == nil {
		ans, err = c.client.ImportBundle(ctx, raw)
	}
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(ans)
	}
	if ans.Applied == 0 {
		c.say("Nothing new: council %s holds all %d change(s) of the bundle already.", b.Council, b.Count)
		return nil
	}
	c.say("Imported %d new change(s) of %d into council %s.", ans.Applied, ans.Count, ans.Council)
	return nil
}

func (c *councilCmd) bundleShow(ctx context.Context, args []string) error {
	fs := c.flags("show", "show FILE", "Prints a bundle's header, after checking its length and checksum.\n")
	_, b, err := c.bundleArg(fs, args)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(b.Header)
	}
	tw := newTable(c.stdout)
	tw.row("council", string(b.Council))
	tw.row("changes", fmt.Sprint(b.Count))
	tw.row("bytes", fmt.Sprint(b.Size))
	tw.row("created", stamp(b.Created))
	tw.row("before", strings.Join(b.Before, " "))
	tw.row("after", strings.Join(b.After, " "))
	tw.row("sha256", b.SHA256)
	tw.flush()
	return nil
}

func (c *councilCmd) bundleHeads(ctx context.Context, args []string) error {
	fs := c.flags("heads", "heads [--council ID]", "Prints the council's heads, one per line: give them to whoever exports\nbundles for you (their --since).\n")
	c.dataOnly = true
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	var heads []string
	if c.offline {
		council, err := c.needCouncil()
		if err != nil {
			return err
		}
		var held bool
		if heads, held = c.replica.Holds(ctx, council); !held {
			return &client.Error{Code: client.CodeOffline, Message: "the replica does not hold council " + council}
		}
	} else {
		v, err := c.view(ctx)
		if err != nil {
			return err
		}
		heads = v.Heads
	}
	for _, h := range heads {
		fmt.Fprintln(c.stdout, h)
	}
	return nil
}

// bundleArg parses a verb that takes one bundle FILE, and reads and
// checks the bundle.
func (c *councilCmd) bundleArg(fs *flag.FlagSet, args []string) ([]byte, *bundle.Bundle, error) {
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return nil, nil, err
	}
	raw, err := readInput(pos[0])
	if err != nil {
		return nil, nil, err
	}
	b, err := client.ReadBundle(raw)
	return raw, b, err
}

// readInput reads a file, or stdin for "-".
func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return raw, nil
}

// readSince reads the heads of --since: a bundle (its heads after) or
// hex heads separated by spaces, commas or newlines.
func readSince(name string) ([]string, error) {
	raw, err := readInput(name)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(raw, []byte(`{"format":"veche-bundle/`)) {
		b, err := client.ReadBundle(raw)
		if err != nil {
			return nil, err
		}
		return b.After, nil
	}
	heads := strings.FieldsFunc(string(raw), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if _, err := bundle.ParseHeads(heads); err != nil {
		return nil, usagef("--since %s: %v (want a bundle, or heads from 'veche bundle heads')", name, err)
	}
	return heads, nil
}
