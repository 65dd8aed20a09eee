package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server/wire"
)

// cli runs `veche council` in-process against one relay.
type cli struct {
	t        *testing.T
	env      map[string]string
	operator string // the file holding the relay's operator token
	relay    *Main
}

// newCLI starts a relay (the Main type, on 127.0.0.1:0) and returns a cli
// pointed at it.
func newCLI(t *testing.T) *cli {
	t.Helper()
	t.Setenv("VECHE_LOG_LEVEL", "error")
	m := NewMain()
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--sync-interval", "50ms"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &cli{t: t, env: map[string]string{"VECHE_RELAY": "http://" + m.ListenAddr()}, operator: m.OperatorTokenPath, relay: m}
}

// run runs one command line and returns what it printed and its exit code.
func (c *cli) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	code = runCouncil(context.Background(), args, &out, &errOut, func(k string) string { return c.env[k] })
	return out.String(), errOut.String(), code
}

// ok runs a command line that must succeed and returns its output.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != exitOK {
		c.t.Fatalf("veche council %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// fails runs a command line that must exit with code and print want on stderr.
func (c *cli) fails(code int, want string, args ...string) {
	c.t.Helper()
	out, errOut, got := c.run(args...)
	if got != code || !strings.Contains(errOut, want) {
		c.t.Fatalf("veche council %s: exit %d, stderr %q (stdout %q); want exit %d and %q", strings.Join(args, " "), got, errOut, out, code, want)
	}
}

// okJSON runs a command line with --json and decodes its output.
func (c *cli) okJSON(out any, args ...string) {
	c.t.Helper()
	raw := c.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(raw), out); err != nil {
		c.t.Fatalf("veche council %s --json printed %q: %v", strings.Join(args, " "), raw, err)
	}
}

func contains(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
}

var (
	memberIDLine = regexp.MustCompile(`member id ([0-9a-f]{16})`)
	tokenLine    = regexp.MustCompile(`VECHE_TOKEN=(\S+)`)
	inviteLine   = regexp.MustCompile(`veche council accept (\S+) --name`)
)

// create founds a council as the operator; args are create's flags.
func (c *cli) create(args ...string) string {
	c.t.Helper()
	return c.ok(append([]string{"create", "--operator-token-file", c.operator}, args...)...)
}

// join invites name (as VECHE_TOKEN) and accepts as them; it returns
// their member id and token.
func (c *cli) join(name string, args ...string) (member, token string) {
	c.t.Helper()
	out := c.ok("invite")
	contains(c.t, out, "Invite code (good once")
	code := inviteLine.FindStringSubmatch(out)[1]
	out = c.ok(append([]string{"accept", code, "--name", name}, args...)...)
	contains(c.t, out, name+" joined council "+c.env["VECHE_COUNCIL"], "export VECHE_COUNCIL=")
	return memberIDLine.FindStringSubmatch(out)[1], tokenLine.FindStringSubmatch(out)[1]
}

// TestCouncilFlow is the README's walk: found a council, add members, pass
// a proposal, send a delegate, recall them; tables, --json and exit codes.
func TestCouncilFlow(t *testing.T) {
	c := newCLI(t)

	// A federation to send a delegate to, founded in table mode.
	out := c.create("--name", "District federation", "--kind", "federation", "--founder", "Dora")
	contains(t, out, "Council founded: District federation (federation)", "token", "vt_", "export VECHE_COUNCIL=", "VECHE_TOKEN=")
	fed := regexp.MustCompile(`export VECHE_COUNCIL=(\S+)`).FindStringSubmatch(out)[1]
	doraToken := regexp.MustCompile(`VECHE_TOKEN=(\S+)`).FindStringSubmatch(out)[1]

	// The council, founded with --json, the operator token in VECHE_TOKEN.
	operator, err := os.ReadFile(c.operator)
	if err != nil {
		t.Fatal(err)
	}
	c.env["VECHE_TOKEN"] = strings.TrimSpace(string(operator))
	var created api.CreateCouncilAnswer
	c.okJSON(&created, "create", "--name", "Riverside growers", "--kind", "farmers", "--region", "Upper valley", "--founder", "Ana")
	if created.ID == "" || created.Founder == "" || created.URL != "automerge:"+created.ID || created.Token == "" {
		t.Fatalf("create --json: %+v", created)
	}
	// The operator reads no council.
	c.fails(exitNotFound, "not_found", "show", "--council", created.ID)
	c.env["VECHE_COUNCIL"] = created.ID
	c.env["VECHE_TOKEN"] = created.Token
	// A member creates no council.
	c.fails(exitDenied, "forbidden", "create", "--name", "x", "--kind", "farmers", "--founder", "X")

	// Members join by invite, each with a token.
	ben, benToken := c.join("Ben")
	_, caiToken := c.join("Cai", "--role", "farm-labourer")

	// A proposal passes: two yes, one no, one abstains. The token decides who acts.
	var proposal api.WriteAnswer
	c.okJSON(&proposal, "propose", "--title", "Share the seed store", "--body", "One barn for all seed.")
	if proposal.By != created.Founder {
		t.Fatalf("proposed by %q", proposal.By)
	}
	contains(t, c.ok("vote", proposal.ID, "yes"), "Ana votes yes", "open (1 yes, 0 no, 0 abstain of 3)")
	c.ok("vote", proposal.ID, "yes", "--token", benToken)
	contains(t, c.ok("vote", proposal.ID, "no", "--token", caiToken), `Cai votes no on "Share the seed store": passed (2 yes, 1 no, 0 abstain of 3)`)
	c.fails(exitRefused, "proposal_closed", "vote", proposal.ID, "yes", "--token", caiToken)

	// The council joins the federation, which admits it: a delegate is
	// sent only to a federation the council joined.
	c.fails(exitRefused, "join it first", "mandate", "send", "--delegate", "Ben", "--task", "Too early", "--to", fed)
	contains(t, c.ok("federation", "join", fed), "member of 1 federation(s)")
	c.ok("federation", "admit", created.ID, "--council", fed, "--token", doraToken)

	// A delegate is sent: the mandate is active once its proposal passes.
	var send api.WriteAnswer
	c.okJSON(&send, "mandate", "send", "--delegate", "Ben", "--task", "Negotiate the grain price", "--to", fed)
	if send.ID == "" || send.Mandate == "" {
		t.Fatalf("mandate send --json: %+v", send.Created)
	}
	if m, _ := send.View.Mandate(send.Mandate); m.Delegate != ben || m.Status != crdt.MandatePending || m.Body != fed {
		t.Fatalf("new mandate %+v", m)
	}
	c.ok("vote", send.ID, "yes")
	c.ok("vote", send.ID, "yes", "--token", benToken)
	contains(t, c.ok("vote", send.ID, "yes", "--token", caiToken), "passed", "Mandate "+send.Mandate+` (Ben: "Negotiate the grain price") is active.`)

	out = c.ok("show")
	contains(t, out, "Riverside growers — farmers council, Upper valley", "MEMBERS", "Ana", "Ben", "Cai", "farm-labourer",
		"PROPOSALS", "Share the seed store", "passed", "2/1/0 of 3", "MANDATES", "Negotiate the grain price", fed, "active")
	var view api.CouncilView
	c.okJSON(&view, "show")
	if m, _ := view.Mandate(send.Mandate); m.Status != crdt.MandateActive || len(view.Members) != 3 {
		t.Fatalf("show --json: mandate %+v, %d members", m, len(view.Members))
	}

	// The delegate reports; the council recalls them.
	contains(t, c.ok("mandate", "report", send.Mandate, "Price agreed at 210 per tonne.", "--token", benToken), "Report 1 on mandate")
	c.fails(exitDenied, "not_delegate", "mandate", "report", send.Mandate, "Not mine")
	out = c.ok("recall", send.Mandate, "--token", caiToken)
	contains(t, out, `"Recall Ben: Negotiate the grain price" (recall)`)
	recall := regexp.MustCompile(`Proposal (\S+) made`).FindStringSubmatch(out)[1]
	c.ok("vote", recall, "yes")
	c.ok("vote", recall, "yes", "--token", caiToken)
	contains(t, c.ok("vote", recall, "abstain", "--token", benToken), "is recalled.")

	// Exchange, minutes, federation, history.
	var offer, need api.WriteAnswer
	c.okJSON(&offer, "offer", "potatoes", "40", "kg", "--note", "washed", "--token", benToken)
	c.okJSON(&need, "need", "salt", "10", "kg", "--until", "48h")
	contains(t, c.ok("pledge", need.ID, "4", "--token", caiToken), "4 of 10 kg pledged, 6 remaining")
	c.fails(exitRefused, "invalid_argument", "offer", "rye", "-3", "kg")
	c.fails(exitDenied, "not_proposer", "offer", "--withdraw", offer.ID)
	contains(t, c.ok("offer", "--withdraw", offer.ID, "--token", benToken), "withdrawn")
	contains(t, c.ok("minutes", "Spring meeting", "--notes", "Present: all"), "Minutes")
	out = c.ok("show")
	contains(t, out, "OFFERS", "withdrawn", "NEEDS", "salt", "PLEDGES", "MINUTES", "Spring meeting", "FEDERATION", "member of")
	out = c.ok("history")
	contains(t, out, "create-council", "propose-mandate", "vote", "Ben", "report", "join-federation")
	var history api.HistoryAnswer
	c.okJSON(&history, "history")
	if len(history.Changes) < 20 {
		t.Fatalf("history: %d changes", len(history.Changes))
	}
	contains(t, c.ok("join", "--name", "Dan"), "Dan joined Riverside growers as small-farmer")
	c.fails(exitDenied, "forbidden", "leave", "Cai")
	contains(t, c.ok("leave", "Cai", "--token", caiToken), "Cai left Riverside growers.")
	c.fails(exitDenied, "unauthenticated", "show", "--token", caiToken)
}

func TestCouncilExitCodes(t *testing.T) {
	c := newCLI(t)
	var created api.CreateCouncilAnswer
	c.okJSON(&created, "create", "--name", "Mill workers", "--kind", "workers", "--founder", "Ana", "--operator-token-file", c.operator)
	c.env["VECHE_TOKEN"] = created.Token

	// Usage: exit 2.
	c.fails(exitUsage, "which council?", "show")
	c.fails(exitUsage, "missing arguments: want vote PROPOSAL", "vote", "--council", created.ID)
	c.fails(exitUsage, "--name, --kind and --founder are required", "create", "--name", "x")
	c.fails(exitUsage, "unknown verb", "elect")
	c.fails(exitUsage, "flag provided but not defined", "show", "--colour")
	c.fails(exitUsage, "quantity \"lots\" is not a number", "offer", "rye", "lots", "kg", "--council", created.ID)
	c.fails(exitUsage, "--closes", "propose", "--title", "x", "--closes", "soon", "--council", created.ID)
	c.fails(exitUsage, "takes their seat", "join", "--name", "X", "--sent-by", created.ID, "--mandate", "m1", "--council", created.ID)
	if _, _, code := c.run(); code != exitUsage {
		t.Fatalf("no verb: exit %d", code)
	}

	// Not found: exit 3.
	c.fails(exitNotFound, "not_found", "show", "--council", "2222222222222222222222")
	c.fails(exitNotFound, "no proposal", "vote", "nope", "yes", "--council", created.ID)

	// Refused: exit 4.
	fed := string(wire.NewDocumentID())
	c.ok("federation", "join", fed, "--council", created.ID)
	c.fails(exitRefused, "unknown_member", "mandate", "send", "--delegate", "Nobody", "--task", "t", "--to", fed, "--council", created.ID)
	c.fails(exitRefused, "invalid_argument", "vote", "x", "maybe", "--council", created.ID)

	// Not allowed: exit 5.
	c.fails(exitDenied, "unauthenticated", "show", "--council", created.ID, "--token", "vt_stolen")
	c.fails(exitDenied, "unauthenticated", "create", "--name", "x", "--kind", "workers", "--founder", "X", "--token", "")
	c.fails(exitDenied, "invite_invalid", "accept", "vi_nope", "--name", "Eve")
	c.fails(exitUsage, "who are you?", "show", "--council", created.ID, "--token", "")

	// The relay is not there: exit 1.
	c.env["VECHE_RELAY"] = "http://127.0.0.1:1"
	c.fails(exitFailure, "cannot reach the relay", "show", "--council", created.ID)

	// Help: exit 0, on stdout.
	for _, args := range [][]string{{"--help"}, {"help"}, {"vote", "--help"}, {"mandate", "--help"}} {
		out, _, code := c.run(args...)
		if code != exitOK || !strings.Contains(out, "Usage:") {
			t.Fatalf("%v: exit %d, %q", args, code, out)
		}
	}
	out, _, _ := c.run("--help")
	contains(t, out, "veche council create", "join        add a member", "veche council propose", "veche council vote",
		"veche council mandate send", "veche council show", "veche council invite", "veche council accept",
		"Exit codes:", "VECHE_RELAY", "VECHE_TOKEN", "operator.token", "5  not allowed")
}

// TestRuleAndExpelFromTheCLI: the CLI makes the two proposal kinds that
// change who decides and how; each takes effect only once it passes.
func TestRuleAndExpelFromTheCLI(t *testing.T) {
	c := newCLI(t)
	var created api.CreateCouncilAnswer
	c.okJSON(&created, "create", "--name", "Riverside growers", "--kind", "farmers", "--founder", "Ana", "--operator-token-file", c.operator)
	c.env["VECHE_COUNCIL"], c.env["VECHE_TOKEN"] = created.ID, created.Token
	ben, benToken := c.join("Ben")
	_, caiToken := c.join("Cai")

	c.fails(exitUsage, "--quorum and --majority", "propose", "--title", "Stricter", "--kind", "rule")
	c.fails(exitUsage, "go with --kind rule", "propose", "--title", "Odd", "--quorum", "1")
	var rule api.WriteAnswer
	c.okJSON(&rule, "propose", "--title", "Stricter", "--kind", "rule", "--quorum", "1", "--majority", "0.7")
	if p, _ := rule.View.Proposal(rule.ID); p.NewRule == nil || *p.NewRule != (crdt.Rule{Quorum: 1, Majority: 0.7}) || rule.View.Council.Rule != crdt.DefaultRule {
		t.Fatalf("an open rule proposal: %+v, rule %+v", p, rule.View.Council.Rule)
	}
	c.ok("vote", rule.ID, "yes")
	c.ok("vote", rule.ID, "yes", "--token", benToken)
	c.ok("vote", rule.ID, "yes", "--token", caiToken)
	var v api.CouncilView
	c.okJSON(&v, "show")
	if v.Council.Rule != (crdt.Rule{Quorum: 1, Majority: 0.7}) {
		t.Fatalf("after the rule proposal passed the rule is %+v", v.Council.Rule)
	}

	c.fails(exitUsage, "--subject", "propose", "--title", "Expel", "--kind", "expel")
	var expel api.WriteAnswer
	c.okJSON(&expel, "propose", "--title", "Expel Ben", "--kind", "expel", "--subject", "ben")
	if p, _ := expel.View.Proposal(expel.ID); p.Kind != crdt.ProposalExpel || p.Subject != ben {
		t.Fatalf("expel proposal %+v", p)
	}
	c.ok("vote", expel.ID, "yes")
	c.ok("vote", expel.ID, "abstain", "--token", benToken) // under the new rule everyone must vote; 2 yes > 0.7 × 2
	c.ok("vote", expel.ID, "yes", "--token", caiToken)
	c.okJSON(&v, "show")
	if m, _ := v.Member(ben); m.Active || m.ExpelledBy != expel.ID {
		t.Fatalf("after the expel proposal passed Ben is %+v", m)
	}
}
