package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veche-sync/veche/api"
)

// top runs a top-level verb (login, sync) in-process with the cli's
// environment and stdin.
func (c *cli) top(name string, fn verb, stdin string, args ...string) (string, int) {
	c.t.Helper()
	var out bytes.Buffer
	code := runTopIn(context.Background(), name, fn, args, &out, &out, func(k string) string { return c.env[k] }, strings.NewReader(stdin))
	return out.String(), code
}

func TestLoginKeepsTheTokenOffTheCommandLine(t *testing.T) {
	c := newCLI(t)
	var created api.CreateCouncilAnswer
	c.okJSON(&created, "create", "--name", "Mill workers", "--kind", "workers", "--founder", "Ana", "--operator-token-file", c.operator)
	home := filepath.Join(t.TempDir(), "home")
	c.env["VECHE_HOME"] = home

	// The token from stdin, as typed: kept in the home, never echoed.
	out, code := c.top("login", (*councilCmd).login, created.Token+"\n")
	if code != exitOK || !strings.Contains(out, "Logged in as Ana") || strings.Contains(out, created.Token) {
		t.Fatalf("login: %d %q", code, out)
	}
	raw, err := os.ReadFile(filepath.Join(home, "memberships.json"))
	if err != nil || !strings.Contains(string(raw), created.Token) {
		t.Fatalf("memberships.json: %s %v", raw, err)
	}
	// From now on no --token and no --council: the home says both, and
	// the verbs act on this computer's replica, signed with its key, and
	// reach the relay at once.
	contains(t, c.ok("propose", "--title", "Buy a mill"), "Proposal", "made")
	var history api.HistoryAnswer
	c.okJSON(&history, "history", "--token", created.Token, "--home", "", "--council", created.ID)
	last := history.Changes[len(history.Changes)-1]
	if last.Op != "propose" || !last.Verified || last.Custodial {
		t.Fatalf("the relay's last change: %+v", last)
	}
	contains(t, c.ok("show", "--offline"), "Buy a mill")
	contains(t, c.ok("offer", "flour", "5", "sacks", "--offline"), "Offer")
	// An online command first carries what was done offline.
	_, errOut, code := c.run("show")
	if code != exitOK || !strings.Contains(errOut, "synced 1 change(s) made offline") {
		t.Fatalf("show after offline work: %d %q", code, errOut)
	}
	if out, code := c.top("sync", (*councilCmd).sync, ""); code != exitOK || !strings.Contains(out, "sent 0 change(s), received 0") {
		t.Fatalf("sync: %d %q", code, out)
	}

	// Refusals: invites need a relay; a bad token does not log in; an
	// operator token is no member's.
	c.fails(exitUsage, "needs a relay", "invite", "--offline")
	if out, code := c.top("login", (*councilCmd).login, "vt_stolen\n"); code != exitDenied || !strings.Contains(out, "unauthenticated") {
		t.Fatalf("login with a bad token: %d %q", code, out)
	}
	operator, _ := os.ReadFile(c.operator)
	if out, code := c.top("login", (*councilCmd).login, string(operator)); code != exitUsage || !strings.Contains(out, "operator token") {
		t.Fatalf("login with the operator token: %d %q", code, out)
	}
	// A home others may read is refused.
	os.Chmod(home, 0o755)
	c.fails(exitUsage, "chmod 700", "show", "--offline")
}

// TestKeyFileApart: --key keeps the signing key outside the config
// directory; the replica signs with it, and it is held to the same rules.
func TestKeyFileApart(t *testing.T) {
	c := newCLI(t)
	var created api.CreateCouncilAnswer
	c.okJSON(&created, "create", "--name", "Mill workers", "--kind", "workers", "--founder", "Ana", "--operator-token-file", c.operator)
	c.env["VECHE_HOME"] = filepath.Join(t.TempDir(), "home")
	stick := filepath.Join(t.TempDir(), "usb-stick")
	os.MkdirAll(stick, 0o700)
	c.env["VECHE_KEY"] = filepath.Join(stick, "ana.key")
	if out, code := c.top("login", (*councilCmd).login, created.Token+"\n"); code != exitOK {
		t.Fatalf("login: %d %q", code, out)
	}
	if fi, err := os.Stat(c.env["VECHE_KEY"]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the key file: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(c.env["VECHE_HOME"], "key")); err == nil {
		t.Fatal("a key was made in the home as well")
	}
	contains(t, c.ok("propose", "--title", "Signed with the stick's key", "--offline"), "made")
	// Another key file: it does not count for Ana, so the replica says so.
	c.env["VECHE_KEY"] = filepath.Join(stick, "other.key")
	c.fails(exitNotFound, "veche login", "propose", "--title", "x", "--offline")
	os.Chmod(filepath.Join(stick, "ana.key"), 0o644)
	c.env["VECHE_KEY"] = filepath.Join(stick, "ana.key")
	c.fails(exitUsage, "chmod 600", "propose", "--title", "x", "--offline")
}

// TestRelayAwayTheVerbWorksOffline: with a kept token, a verb whose relay
// does not answer works on the replica and says so.
func TestRelayAwayTheVerbWorksOffline(t *testing.T) {
	c := newCLI(t)
	var created api.CreateCouncilAnswer
	c.okJSON(&created, "create", "--name", "Mill workers", "--kind", "workers", "--founder", "Ana", "--operator-token-file", c.operator)
	c.env["VECHE_HOME"] = filepath.Join(t.TempDir(), "home")
	if out, code := c.top("login", (*councilCmd).login, created.Token+"\n"); code != exitOK {
		t.Fatalf("login: %d %q", code, out)
	}
	c.relay.Close()
	out, errOut, code := c.run("propose", "--title", "Made while the relay was away")
	if code != exitOK || !strings.Contains(out, "made") || !strings.Contains(errOut, "did not answer") {
		t.Fatalf("propose with the relay away: %d %q %q", code, out, errOut)
	}
	contains(t, c.ok("show", "--offline"), "Made while the relay was away")
}

// watchBuffer is a bytes.Buffer safe for concurrent writes and reads.
type watchBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *watchBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *watchBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSyncWatchStaysConnected: veche sync --watch syncs, stays, and
// returns when interrupted.
func TestSyncWatchStaysConnected(t *testing.T) {
	c := newCLI(t)
	var created api.CreateCouncilAnswer
	c.okJSON(&created, "create", "--name", "Mill workers", "--kind", "workers", "--founder", "Ana", "--operator-token-file", c.operator)
	c.env["VECHE_HOME"] = filepath.Join(t.TempDir(), "home")
	if out, code := c.top("login", (*councilCmd).login, created.Token+"\n"); code != exitOK {
		t.Fatalf("login: %d %q", code, out)
	}
	ctx, interrupt := context.WithCancel(context.Background())
	var out watchBuffer
	done := make(chan int, 1)
	go func() {
		done <- runTopIn(ctx, "sync", (*councilCmd).sync, []string{"--watch"}, &out, &out, func(k string) string { return c.env[k] }, nil)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "synced with") {
		if time.Now().After(deadline) {
			t.Fatalf("sync --watch printed %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case code := <-done:
		t.Fatalf("sync --watch ended by itself: %d %q", code, out.String())
	case <-time.After(300 * time.Millisecond):
	}
	interrupt()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("sync --watch interrupted: exit %d %q", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sync --watch did not end when interrupted")
	}
}
