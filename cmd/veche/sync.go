package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	client "github.com/veche-sync/veche/clients/go"
)

// The verbs of this computer's replica: login and sync (top-level), and
// --save on accept and create.

// runTop runs a top-level command that is one verb (veche login, veche
// sync) and returns its exit code.
func runTop(ctx context.Context, name string, fn verb, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	return runTopIn(ctx, name, fn, args, stdout, stderr, getenv, nil)
}

// runTopIn is runTop reading stdin from in (nil: os.Stdin).
func runTopIn(ctx context.Context, name string, fn verb, args []string, stdout, stderr io.Writer, getenv func(string) string, in io.Reader) int {
	c := &councilCmd{stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now, ctx: ctx, in: in}
	err := fn(c, ctx, args)
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return c.fail(c.name(name), err)
}

func (c *councilCmd) login(ctx context.Context, args []string) error {
	c.onlineOK = true
	fs := c.flags("login", "login [--relay URL] [--council ID] [--token-file FILE]",
		"Keeps your member token in the config directory (--home, mode 0600), so that\nno command needs it on its command line again, and syncs the council into this\ncomputer's replica: from then on 'veche council ... --offline' works with no\nnetwork, and 'veche sync' carries what you did to the relay.\n\nThe token is read from --token-file, else VECHE_TOKEN, else the first line of\nstdin: never from the command line, so it stays out of shell history.\n")
	tokenFile := fs.String("token-file", "", "read the token from this file")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	token := strings.TrimSpace(c.getenv("VECHE_TOKEN"))
	switch {
	case *tokenFile != "":
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return usagef("--token-file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	case token == "":
		fmt.Fprintln(c.stderr, "Paste your member token and press Enter:")
		line, _ := bufio.NewReader(c.stdin()).ReadString('\n')
		token = strings.TrimSpace(line)
	}
	if token == "" {
		return usagef("no token: pass --token-file FILE, export VECHE_TOKEN, or type it on stdin")
	}
	h, err := c.openHome(true)
	if err != nil {
		return err
	}
	m, err := h.Login(ctx, c.relay, token, c.council, c.httpClient)
	if err != nil {
		return err
	}
	c.say("Logged in as %s (member %s) of council %s at %s; the token is kept in %s (mode 0600).", orID(m.Name, m.Member), m.Member, m.Council, m.Relay, h.Dir())
	return c.syncOne(ctx, m)
}

func (c *councilCmd) sync(ctx context.Context, args []string) error {
	c.onlineOK = true
	fs := c.flags("sync", "sync [--council ID] [--watch]",
		"Syncs this computer's replica with the relays of your memberships (see 'veche\nlogin'): what you did offline goes to the relay, what others did comes back.\nWith --watch it stays connected, redialing with backoff when a relay is away,\nuntil interrupted.\n")
	watch := fs.Bool("watch", false, "stay connected and keep syncing until interrupted")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	h, err := c.openHome(true)
	if err != nil {
		return err
	}
	ms, err := h.Memberships()
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return usagef("this computer is no member of any council yet: 'veche login' first (config directory %s)", h.Dir())
	}
	r, err := c.openReplica()
	if err != nil {
		return err
	}
	if *watch {
		c.say("Syncing %d membership(s) until interrupted.", len(ms))
		return r.Run(ctx, func(rep *client.SyncReport, err error) {
			if err != nil {
				fmt.Fprintf(c.stderr, "veche sync: %v (retrying)\n", err)
				return
			}
			c.report(rep)
		})
	}
	var failed error
	for _, m := range ms {
		if c.council != "" && m.Council != strings.TrimPrefix(c.council, "automerge:") {
			continue
		}
		if err := c.syncOne(ctx, m); err != nil {
			fmt.Fprintf(c.stderr, "veche sync: council %s at %s: %s\n", m.Council, m.Relay, client.ErrorMessage(err))
			failed = err
		}
	}
	return failed
}

// syncOne syncs one membership into the replica and prints the report.
func (c *councilCmd) syncOne(ctx context.Context, m client.Membership) error {
	r, err := c.openReplica()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	rep, err := r.Sync(ctx, m)
	if err != nil {
		return err
	}
	c.report(rep)
	return nil
}

func (c *councilCmd) report(rep *client.SyncReport) {
	if c.json {
		c.printJSON(rep)
		return
	}
	c.say("Council %s synced with %s: sent %d change(s), received %d.", rep.Council, rep.Relay, rep.Sent, rep.Received)
}

// saveMembership keeps a new member's token in the home (accept --save,
// create --save) and syncs the council into the replica.
func (c *councilCmd) saveMembership(ctx context.Context, m client.Membership) error {
	h, err := c.openHome(true)
	if err != nil {
		return err
	}
	if err := h.RegisterKey(ctx, m, c.httpClient); err != nil {
		return err
	}
	if err := h.Save(m); err != nil {
		return err
	}
	c.say("%s's token is kept in %s (mode 0600): no command needs it again on this computer.", orID(m.Name, m.Member), h.Dir())
	return c.syncOne(ctx, m)
}

// parseFlagsOnly parses a verb's flags when it takes no arguments and no
// client (sync): like parse, without connecting.
func parseFlagsOnly(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	return nil
}

func orID(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// stdin is where login reads a token from.
func (c *councilCmd) stdin() io.Reader {
	if c.in != nil {
		return c.in
	}
	return os.Stdin
}
