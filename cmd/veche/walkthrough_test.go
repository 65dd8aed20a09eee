package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	client "github.com/veche-sync/veche/clients/go"
)

// The README's terminal walkthroughs run as they are written: every
// `veche …` line of the two blocks, with its placeholders filled from what
// the earlier lines printed, and every "# prints: …" comment checked
// against what the line printed ("…" stands for anything). Lines with
// --offline run while the relay is down; the others bring it back, on the
// same address and data.

// readmeBlock returns the lines of the first ```sh block after heading,
// continuation lines joined.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	i := strings.Index(text, heading)
	if i < 0 {
		t.Fatalf("README has no %q", heading)
	}
	text = text[i:]
	start := strings.Index(text, "```sh\n")
	end := strings.Index(text[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatalf("no sh block after %q", heading)
	}
	body := strings.ReplaceAll(text[start+6:start+6+end], "\\\n", " ")
	return strings.Split(body, "\n")
}

// relayProcess is a relay that can be stopped and started again on the
// same address and data directory.
type relayProcess struct {
	t            *testing.T
	data, addr   string
	operatorPath string
	m            *Main
}

func (r *relayProcess) up() {
	r.t.Helper()
	if r.m != nil {
		return
	}
	m := NewMain()
	if err := m.ParseFlags([]string{"--addr", r.addr, "--data", r.data, "--sync-interval", "50ms"}); err != nil {
		r.t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.m, r.addr, r.operatorPath = m, m.ListenAddr(), m.OperatorTokenPath
}

func (r *relayProcess) down() {
	if r.m != nil {
		r.m.Close()
		r.m = nil
	}
}

var (
	commentRE   = regexp.MustCompile(`\s+#\s?(.*)$`)
	exportRE    = regexp.MustCompile(`export VECHE_COUNCIL=(\S+) VECHE_TOKEN=(\S+)`)
	inviteRE    = regexp.MustCompile(`veche council accept (\S+) --name`)
	proposalRE  = regexp.MustCompile(`Proposal (\S+) made`)
	mandateRE   = regexp.MustCompile(`Mandate (\S+):`)
	placeholder = regexp.MustCompile(`<[^<>]+>`)
)

// words splits a shell command line: spaces separate words, double
// quotes group them.
func words(line string) []string {
	var out []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// walker runs README lines and remembers what they printed.
type walker struct {
	t      *testing.T
	relay  *relayProcess
	env    map[string]string
	values map[string]string // placeholder → value
	codes  []string          // invite codes printed and not used yet
}

func (w *walker) run(args []string) (string, int) {
	w.t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return w.env[k] }
	var code int
	switch args[0] {
	case "council":
		code = runCouncil(context.Background(), args[1:], &out, &errOut, getenv)
	case "bundle":
		code = runBundle(context.Background(), args[1:], &out, &errOut, getenv)
	case "sync":
		code = runTop(context.Background(), "sync", (*councilCmd).sync, args[1:], &out, &errOut, getenv)
	default:
		w.t.Fatalf("README runs veche %s, which this test does not know", args[0])
	}
	return out.String() + errOut.String(), code
}

// fill replaces a placeholder with its value, making an invite code when
// the line needs one that was not printed yet.
func (w *walker) fill(word string) string {
	w.t.Helper()
	return placeholder.ReplaceAllStringFunc(word, func(p string) string {
		if p == "<code>" || p == "<another code>" {
			if len(w.codes) == 0 {
				out, code := w.run([]string{"council", "invite"})
				if code != 0 {
					w.t.Fatalf("invite: %s", out)
				}
				w.codes = append(w.codes, inviteRE.FindStringSubmatch(out)[1])
			}
			c := w.codes[0]
			w.codes = w.codes[1:]
			return c
		}
		v, ok := w.values[p]
		if !ok {
			w.t.Fatalf("README line needs %s, which no earlier line printed", p)
		}
		return v
	})
}

func (w *walker) walk(lines []string) {
	w.t.Helper()
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var prints string
		if m := commentRE.FindStringSubmatchIndex(line); m != nil {
			comment := line[m[2]:m[3]]
			line = strings.TrimSpace(line[:m[0]])
			if p, ok := strings.CutPrefix(comment, "prints: "); ok {
				prints = p
			}
		}
		args := words(w.fill(strings.ReplaceAll(line, "./veche-data/operator.token", w.relay.operatorPath)))
		if args[0] == "export" {
			for _, kv := range args[1:] {
				k, v, _ := strings.Cut(kv, "=")
				w.env[k] = v
			}
			continue
		}
		if args[0] != "veche" {
			w.t.Fatalf("README line %q is not a veche command", line)
		}
		args = args[1:]
		offline := false
		for _, a := range args {
			offline = offline || a == "--offline"
		}
		if offline {
			w.relay.down() // proof that the line needs no network
		} else {
			w.relay.up()
		}
		out, code := w.run(args)
		w.t.Logf("$ veche %s\n%s", strings.Join(args, " "), out)
		if code != 0 {
			w.t.Fatalf("README line %q: exit %d\n%s", line, code, out)
		}
		if prints != "" {
			rest := out
			for _, part := range strings.Split(prints, "…") {
				part = strings.TrimSpace(part)
				i := strings.Index(rest, part)
				if i < 0 {
					w.t.Fatalf("README says %q prints %q; it printed:\n%s", line, prints, out)
				}
				rest = rest[i+len(part):]
			}
		}
		w.learn(args, out)
	}
}

// learn remembers the values a line printed.
func (w *walker) learn(args []string, out string) {
	flag := func(name string) string {
		for i, a := range args {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
		}
		return ""
	}
	switch {
	case len(args) > 1 && args[1] == "create":
		m := exportRE.FindStringSubmatch(out)
		if flag("--kind") == "federation" {
			w.values["<federation id>"] = m[1]
		} else {
			w.values["<council id>"] = m[1]
		}
		w.values["<"+flag("--founder")+"'s token>"] = m[2]
	case len(args) > 1 && args[1] == "invite":
		w.codes = append(w.codes, inviteRE.FindStringSubmatch(out)[1])
	case len(args) > 1 && args[1] == "accept":
		if m := exportRE.FindStringSubmatch(out); m != nil {
			w.values["<"+flag("--name")+"'s token>"] = m[2]
		}
	}
	if m := proposalRE.FindStringSubmatch(out); m != nil {
		w.values["<proposal id>"] = m[1]
	}
	if m := mandateRE.FindStringSubmatch(out); m != nil {
		w.values["<mandate id>"] = m[1]
	}
}

func TestREADMEWalkthroughOnlineThenOffline(t *testing.T) {
	t.Setenv("VECHE_LOG_LEVEL", "error")
	relay := &relayProcess{t: t, data: t.TempDir(), addr: "127.0.0.1:0"}
	relay.up()
	t.Cleanup(relay.down)
	home := t.TempDir() + "/laptop"
	w := &walker{t: t, relay: relay, values: map[string]string{},
		env: map[string]string{"VECHE_RELAY": "http://" + relay.addr, "VECHE_HOME": home}}

	w.walk(readmeBlock(t, "### From a terminal, in five minutes"))
	w.walk(readmeBlock(t, "### Offline, on a field laptop"))

	// The relay holds what the laptop did offline: Dan's proposal with his
	// vote, and his offer.
	relay.up()
	ana, err := client.New("http://"+relay.addr, w.env["VECHE_TOKEN"], nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ana.Council(context.Background(), w.env["VECHE_COUNCIL"])
	if err != nil {
		t.Fatal(err)
	}
	p, ok := v.Proposal(w.values["<proposal id>"])
	if !ok || p.Title != "Plant the east field" || p.Tally.Yes != 1 || len(v.Exchange.Offers) != 2-1 {
		t.Fatalf("the relay after sync: proposal %+v, offers %+v", p, v.Exchange.Offers)
	}
	// The key and token live in the config directory, private.
	for _, f := range []string{"", "/memberships.json"} {
		fi, err := os.Stat(home + f)
		if err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Fatalf("%s%s: %v %v", home, f, fi.Mode(), err)
		}
	}
}
