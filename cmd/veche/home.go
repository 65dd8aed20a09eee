package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	client "github.com/veche-sync/veche/clients/go"
	"github.com/veche-sync/veche/server/wire"
)

// The config directory (home) and the offline replica: where a member's
// key and tokens live, and how a verb picks its client.

// defaultHome is VECHE_HOME, else $XDG_CONFIG_HOME/veche, else
// ~/.config/veche; "" when none is set.
func (c *councilCmd) defaultHome() string {
	if h := c.getenv("VECHE_HOME"); h != "" {
		return h
	}
	if x := c.getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "veche")
	}
	if h := c.getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "veche")
	}
	return ""
}

// openHome opens the config directory; unless create, a directory that
// does not exist yet is no home (nil, nil).
func (c *councilCmd) openHome(create bool) (*client.Home, error) {
	if c.home != nil {
		return c.home, nil
	}
	if c.homeDir == "" {
		if create {
			return nil, usagef("no config directory: pass --home DIR or export VECHE_HOME=DIR")
		}
		return nil, nil
	}
	if !create {
		if _, err := os.Stat(c.homeDir); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	h, err := client.OpenHome(c.homeDir)
	if err != nil {
		return nil, err
	}
	if c.keyFile != "" {
		h.UseKeyFile(c.keyFile)
	}
	c.home = h
	return h, nil
}

// openReplica opens the home's replica for the rest of the command.
func (c *councilCmd) openReplica() (*client.Replica, error) {
	if c.replica != nil {
		return c.replica, nil
	}
	h, err := c.openHome(true)
	if err != nil {
		return nil, err
	}
	r, err := h.OpenReplica(client.ReplicaOptions{})
	if err != nil {
		return nil, err
	}
	c.replica = r
	c.closers = append(c.closers, func() { r.Close() })
	return r, nil
}

// connect picks the verb's client once its flags are parsed: with
// --offline, the home's replica acting as the home's member of the
// council. Without it, for a council the home's replica holds, the replica
// too — synced with the relay before the verb (so what was done offline
// reaches the relay first) and after it (so what the verb did does), its
// writes signed with this computer's key; if the relay does not answer,
// the verb works offline and says so. Otherwise the relay, with the token
// of the flags, the environment or the home.
func (c *councilCmd) connect(fs *flag.FlagSet) error {
	c.council = strings.TrimPrefix(c.council, wire.URLPrefix)
	h, err := c.openHome(c.offline)
	if err != nil {
		return err
	}
	var m client.Membership
	var member bool
	if h != nil {
		if m, member, err = c.membership(h, fs); err != nil {
			return err
		}
	}
	if c.offline {
		if c.onlineOK {
			return usagef("this needs a relay: run it without --offline")
		}
		if c.dataOnly {
			_, err := c.openReplica()
			return err
		}
		council, err := c.needCouncil()
		if err != nil {
			return err
		}
		r, err := c.openReplica()
		if err != nil {
			return err
		}
		c.client, err = r.Client(c.ctx, council)
		return err
	}
	if member && !c.onlineOK && !c.dataOnly {
		if held, reached := c.syncFirst(m); held {
			// A computer with a home acts on its replica, signed with
			// its own key, and syncs again after the verb, so the relay
			// holds what it did at once when it answers.
			if cl, err := c.replica.Client(c.ctx, m.Council); err == nil {
				c.client = cl
				if reached {
					c.closers = append(c.closers, func() { c.syncReplica(m, false) })
				}
				return nil
			}
			// The key does not count yet: act through the relay.
			c.closers = append(c.closers, func() { c.syncReplica(m, false) })
		}
	}
	c.client, err = client.New(c.relay, c.token, c.httpClient)
	return err
}

// membership fills the council, token and relay the command line left
// unset from the home, and returns the home's membership of the council.
func (c *councilCmd) membership(h *client.Home, fs *flag.FlagSet) (client.Membership, bool, error) {
	ms, err := h.Memberships()
	if err != nil {
		return client.Membership{}, false, err
	}
	if c.council == "" && len(ms) > 0 {
		c.council = ms[0].Council
		for _, m := range ms[1:] {
			if m.Council != c.council {
				c.council = "" // several: the command line must say which
				break
			}
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	relaySet := set["relay"] || c.getenv("VECHE_RELAY") != ""
	for _, m := range ms {
		if m.Council != c.council || (relaySet && strings.TrimRight(m.Relay, "/") != strings.TrimRight(c.relay, "/")) {
			continue
		}
		if c.token == "" || c.token == m.Token {
			c.token, c.relay = m.Token, m.Relay
			return m, true, nil
		}
	}
	return client.Membership{}, false, nil
}

// syncFirst syncs the council into the home's replica before a verb, if
// the replica holds it. It reports whether the replica holds the council
// and whether the relay answered; when it did not, it says so: the verb
// works on the replica, which keeps the work until a sync reaches the
// relay.
func (c *councilCmd) syncFirst(m client.Membership) (held, reached bool) {
	r, err := c.openReplica()
	if err != nil {
		return false, false // another process holds it (veche sync --watch): it syncs
	}
	if _, held := r.Holds(c.ctx, m.Council); !held {
		return false, false
	}
	if err := c.syncReplica(m, true); err != nil {
		fmt.Fprintf(c.stderr, "(the relay at %s did not answer: working on this computer's copy; 'veche sync' carries your work when it does)\n", m.Relay)
		return true, false
	}
	return true, true
}

// syncReplica syncs the open replica with the membership's relay, saying
// so when it carried work done offline.
func (c *councilCmd) syncReplica(m client.Membership, tell bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), 30*time.Second)
	defer cancel()
	rep, err := c.replica.Sync(ctx, m)
	if err == nil && rep.Sent > 0 && tell {
		fmt.Fprintf(c.stderr, "(synced %d change(s) made offline to %s)\n", rep.Sent, m.Relay)
	}
	return err
}
