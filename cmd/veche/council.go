package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/crdt"
)

// Exit codes of `veche council`.
const (
	exitOK       = 0 // done
	exitFailure  = 1 // the relay failed or could not be reached
	exitUsage    = 2 // the command line is wrong
	exitNotFound = 3 // no such council, proposal, mandate, offer, need, minutes
	exitRefused  = 4 // the relay refused the input: invalid, not a member, proposal closed, …
	exitDenied   = 5 // not allowed: no token or a bad one (401), or not yours to do (403)
)

const councilUsage = `veche council — run a council from a terminal, against a veche relay

Usage:
  veche council <verb> [arguments] [flags]
  veche council <verb> --help

Everything a council decides lives in one Automerge document on the relay;
phones and laptops running automerge-repo clients sync the same document.
These verbs ask the relay to make each change on a member's behalf: the
member whose token you pass (--token, or VECHE_TOKEN).

Start here (with a relay running: veche serve; it keeps its operator token
in <data>/operator.token, ./veche-data/operator.token by default):

  # 1. Found a council, with the operator token. You are its first member;
  #    the command prints the council's id and your member token: export
  #    them so the next commands use them.
  veche council create --name "Riverside growers" --kind farmers --founder Ana \
      --operator-token-file ./veche-data/operator.token
  export VECHE_COUNCIL=<council id> VECHE_TOKEN=<Ana's token>

  # 2. Invite members. Each invite code is good once; whoever accepts it
  #    joins with their own token (keep each token with its member).
  veche council invite                                 # prints a code
  veche council accept <code> --name Ben               # prints Ben's token
  veche council accept <another code> --name Cai --role farm-labourer

  # 3. Propose, and vote. Without --closes, a proposal is decided as soon
  #    as every member has voted; the council's rule decides the outcome.
  veche council propose --title "Share the seed store" --body "One barn for all seed."
  veche council vote <proposal id> yes                 # as Ana (VECHE_TOKEN)
  veche council vote <proposal id> yes --token <Ben's token>
  veche council vote <proposal id> no  --token <Cai's token>
  veche council show                                   # the proposal has passed

  # 4. Send a delegate: a mandate proposal names the delegate, the task and
  #    the council they act in, by id: a federation, e.g. one founded with
  #    veche council create --name "District federation" --kind federation --founder Dora ...
  #    Once it passes, the mandate is active; a recall proposal that passes
  #    recalls the delegate. --delegate takes a member's id or name.
  veche council mandate send --delegate Ben --task "Negotiate the grain price" --to <federation id>
  veche council vote <proposal id> yes                 # ... and Ben, and Cai
  veche council show                                   # the mandate is active
  veche council recall <mandate id>

Verbs:
  create      found a council, with its first member (needs the operator token)
  invite      make an invite code, good once, for someone to join
  accept      accept an invite: join, and get your token (needs no token)
  show        the council: members, proposals, mandates, exchange, minutes
  history     every change: when, what, by whom
  join        add a member who has no token of their own
  leave       leave the council (your tokens stop working)
  propose     make a proposal (general or exchange)
  vote        vote yes, no or abstain on a proposal
  withdraw    withdraw your open proposal
  mandate     send a delegate (send); the delegate's report, resign, complete
  recall      propose to recall a delegate's mandate
  offer       offer produce (or --withdraw an offer)
  need        post a need (or --withdraw a need)
  pledge      pledge produce against a need
  minutes     start the minutes of a meeting (or --edit them)
  federation  join or leave a federation; admit or remove a member council

Flags of every verb:
  --relay URL      the relay (env VECHE_RELAY; default http://localhost:8080)
  --council ID     the council (env VECHE_COUNCIL)
  --token TOKEN    your member token: it decides who acts (env VECHE_TOKEN)
  --json           print the relay's JSON answer instead of tables

Tokens are secrets: anyone holding one acts as its member. The relay shows
each token once, when it is made; it keeps only a hash.

Times (--closes, --from, --until) are a duration from now (90m, 2h, 72h) or
an RFC 3339 time (2025-06-01T18:00:00Z).

Exit codes:
  0  done
  1  the relay failed, or could not be reached
  2  usage: the command line is wrong
  3  not found: no such council (or not one your token may read), proposal,
     mandate, offer, need or minutes
  4  refused: bad input, not a member, proposal closed, …
  5  not allowed: no token or a bad or revoked one, an invalid invite, or not
     yours to do (not the proposer, not the delegate, not the operator)
`

// usageError is a wrong command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// councilCmd runs one `veche council` command line.
type councilCmd struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	httpClient     *http.Client // nil: a default client
	now            func() time.Time

	// Common flags.
	relay   string
	council string
	token   string
	json    bool

	client   *councilClient
	cached   *api.CouncilView // the council as read once per command, to resolve names
	synopsis string           // of the verb being run
}

// runCouncil runs `veche council args...` and returns its exit code.
func runCouncil(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &councilCmd{stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now}
	return c.run(ctx, args)
}

// verbs maps each verb to its function.
var verbs = map[string]func(c *councilCmd, ctx context.Context, args []string) error{
	"create":     (*councilCmd).create,
	"invite":     (*councilCmd).invite,
	"accept":     (*councilCmd).accept,
	"show":       (*councilCmd).show,
	"history":    (*councilCmd).history,
	"join":       (*councilCmd).join,
	"leave":      (*councilCmd).leave,
	"propose":    (*councilCmd).propose,
	"vote":       (*councilCmd).vote,
	"withdraw":   (*councilCmd).withdraw,
	"mandate":    (*councilCmd).mandate,
	"recall":     (*councilCmd).recall,
	"offer":      (*councilCmd).offer,
	"need":       (*councilCmd).need,
	"pledge":     (*councilCmd).pledge,
	"minutes":    (*councilCmd).minutes,
	"federation": (*councilCmd).federation,
}

func (c *councilCmd) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, councilUsage)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, councilUsage)
		return exitOK
	}
	fn, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(c.stderr, "veche council: unknown verb %q; run 'veche council --help'\n", args[0])
		return exitUsage
	}
	err := fn(c, ctx, args[1:])
	var usage *usageError
	var refused *apiError
	var unreachable *relayError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK // the flag set printed the verb's help
	case errors.As(err, &usage):
		fmt.Fprintf(c.stderr, "veche council %s: %s\nRun 'veche council %s --help' for its usage.\n", args[0], usage.msg, args[0])
		return exitUsage
	case errors.As(err, &refused):
		fmt.Fprintf(c.stderr, "veche council %s: %s: %s\n", args[0], refused.Code, refused.Message)
		switch {
		case refused.Status == http.StatusNotFound:
			return exitNotFound
		case refused.Status == http.StatusUnauthorized || refused.Status == http.StatusForbidden:
			return exitDenied
		case refused.Status >= 400 && refused.Status < 500:
			return exitRefused
		}
		return exitFailure
	case errors.As(err, &unreachable):
		fmt.Fprintf(c.stderr, "veche council %s: %v\n", args[0], err)
		return exitFailure
	default:
		fmt.Fprintf(c.stderr, "veche council %s: %v\n", args[0], err)
		return exitFailure
	}
}

// flags returns the flag set of a verb, with the common flags.
func (c *councilCmd) flags(verb, synopsis, help string) *flag.FlagSet {
	c.synopsis = synopsis
	fs := flag.NewFlagSet("veche council "+verb, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stdout, "Usage:\n  veche council %s\n\n%s\nFlags:\n", synopsis, help)
		fs.SetOutput(c.stdout)
		fs.PrintDefaults()
		fs.SetOutput(c.stderr)
	}
	relay := c.getenv("VECHE_RELAY")
	if relay == "" {
		relay = "http://localhost:8080"
	}
	fs.StringVar(&c.relay, "relay", relay, "the relay's URL (env VECHE_RELAY)")
	fs.StringVar(&c.council, "council", c.getenv("VECHE_COUNCIL"), "the council's id or automerge: URL (env VECHE_COUNCIL)")
	fs.StringVar(&c.token, "token", c.getenv("VECHE_TOKEN"), "your token: the member it names acts (env VECHE_TOKEN)")
	fs.BoolVar(&c.json, "json", false, "print the relay's JSON answer instead of tables")
	return fs
}

var negativeNumber = regexp.MustCompile(`^-[0-9.]`)

// parse parses flags and positional arguments in any order, and checks
// that there are between min and max positional ones (max < 0: any).
func (c *councilCmd) parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if len(args) > 0 && negativeNumber.MatchString(args[0]) {
			pos, args = append(pos, args[0]), args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	synopsis, _, _ := strings.Cut(c.synopsis, "\n")
	switch {
	case len(pos) < min:
		return nil, usagef("missing arguments: want %s", synopsis)
	case max >= 0 && len(pos) > max:
		return nil, usagef("unexpected arguments %q: want %s", pos[max:], synopsis)
	}
	var err error
	c.client, err = newCouncilClient(c.relay, c.token, c.httpClient)
	return pos, err
}

// needCouncil returns the council flag, or a usage error saying how to set it.
func (c *councilCmd) needCouncil() (string, error) {
	if c.council == "" {
		return "", usagef("which council? Pass --council ID or export VECHE_COUNCIL=<id> ('veche council create' prints it)")
	}
	return c.council, nil
}

// view reads the council once per command.
func (c *councilCmd) view(ctx context.Context) (*api.CouncilView, []byte, error) {
	council, err := c.needCouncil()
	if err != nil {
		return nil, nil, err
	}
	raw, err := c.client.call(ctx, "GET", councilPath(council), nil)
	if err != nil {
		return nil, nil, err
	}
	var v api.CouncilView
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, nil, fmt.Errorf("the relay's answer is not a council: %w", err)
	}
	c.cached = &v
	return &v, raw, nil
}

// member resolves a member named by id or by (case-insensitive) name; a
// value that names no member is returned as is, for the relay to refuse.
func (c *councilCmd) member(ctx context.Context, what, value string) (string, error) {
	if value == "" {
		return "", usagef("%s: who? Name a member by id or name", what)
	}
	v := c.cached
	if v == nil {
		var err error
		if v, _, err = c.view(ctx); err != nil {
			return "", err
		}
	}
	if _, ok := v.Member(value); ok {
		return value, nil
	}
	var found []string
	for _, m := range v.Members {
		if strings.EqualFold(m.Name, value) && m.Active {
			found = append(found, m.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return value, nil
	}
	return "", usagef("%s: %d active members are named %q (%s); use a member id", what, len(found), value, strings.Join(found, ", "))
}

// write sends a write, prints its JSON answer with --json, and returns it.
func (c *councilCmd) write(ctx context.Context, method, path string, body any) (*api.WriteAnswer, error) {
	raw, err := c.client.call(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	var ans api.WriteAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, fmt.Errorf("the relay's answer is not a write answer: %w", err)
	}
	if c.json {
		c.printJSON(raw)
	}
	return &ans, nil
}

func (c *councilCmd) printJSON(raw []byte) {
	var v any
	if json.Unmarshal(raw, &v) == nil {
		if b, err := json.MarshalIndent(v, "", "  "); err == nil {
			raw = b
		}
	}
	fmt.Fprintf(c.stdout, "%s\n", raw)
}

// say prints a line in table mode.
func (c *councilCmd) say(format string, args ...any) {
	if !c.json {
		fmt.Fprintf(c.stdout, format+"\n", args...)
	}
}

// when parses a time flag: a duration from now, or RFC 3339.
func (c *councilCmd) when(flagName, value string) (*time.Time, error) {
	if value == "" {
		return nil, nil
	}
	if d, err := time.ParseDuration(value); err == nil {
		t := c.now().Add(d).UTC()
		return &t, nil
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return nil, usagef("--%s %q: want a duration from now (90m, 2h) or an RFC 3339 time (2025-06-01T18:00:00Z)", flagName, value)
	}
	return &t, nil
}

func quantity(s string) (float64, error) {
	q, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, usagef("quantity %q is not a number", s)
	}
	return q, nil
}

// --- verbs -----------------------------------------------------------------

func (c *councilCmd) create(ctx context.Context, args []string) error {
	fs := c.flags("create", "create --name NAME --kind KIND --founder NAME [--role ROLE] [--region REGION] [--quorum Q] [--majority M]\n  [--operator-token-file PATH | --token OPERATOR-TOKEN]",
		"Founds a council on the relay, with its founding member, and prints the council's\nid and URL, the founder's member id and the founder's token (shown this once).\nNeeds the relay's operator token (in <data>/operator.token), unless the relay\nruns with --open-registration.\n")
	tokenFile := fs.String("operator-token-file", "", "read the operator token from this file, e.g. ./veche-data/operator.token (instead of --token)")
	name := fs.String("name", "", "the council's name (required)")
	kind := fs.String("kind", "", "farmers, workers, consumers or federation (required)")
	region := fs.String("region", "", "where the council is")
	quorum := fs.Float64("quorum", crdt.DefaultRule.Quorum, "fraction of the members that must vote for a decision to count")
	majority := fs.Float64("majority", crdt.DefaultRule.Majority, "fraction of yes+no votes that yes must exceed (0.5: a simple majority; a tie fails)")
	founder := fs.String("founder", "", "the founding member's name (required)")
	role := fs.String("role", "", "the founder's role (default by kind: small-farmer, worker, consumer, delegate)")
	sentBy := fs.String("sent-by", "", "for a federation's founder: the id of the council that sent them")
	mandate := fs.String("mandate", "", "with --sent-by: the mandate id in that council")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *name == "" || *kind == "" || *founder == "" {
		return usagef("--name, --kind and --founder are required")
	}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return usagef("--operator-token-file: %v", err)
		}
		c.client.token = strings.TrimSpace(string(b))
	}
	if *role == "" {
		*role = api.DefaultRole(crdt.CouncilKind(*kind))
	}
	f := map[string]any{"name": *founder, "role": *role}
	if *sentBy != "" {
		f["sentBy"] = map[string]any{"council": *sentBy, "mandate": *mandate}
	}
	body := map[string]any{
		"name": *name, "kind": *kind, "region": *region,
		"rule":    map[string]any{"quorum": *quorum, "majority": *majority},
		"founder": f,
	}
	raw, err := c.client.call(ctx, "POST", "/api/councils", body)
	if err != nil {
		return err
	}
	if c.json {
		c.printJSON(raw)
		return nil
	}
	var ans api.CreateCouncilAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return fmt.Errorf("the relay's answer is not a new council: %w", err)
	}
	v := ans.View.Council
	c.say("Council founded: %s (%s%s)", v.Name, v.Kind, prefixed(", ", v.Region))
	tw := newTable(c.stdout)
	tw.row("  id", ans.ID)
	tw.row("  url", ans.URL)
	tw.row("  founder", fmt.Sprintf("%s, member id %s", *founder, ans.Founder))
	tw.row("  rule", ruleText(v.Rule))
	tw.row("  token", ans.Token+" (the founder's; shown this once: keep it secret)")
	tw.flush()
	c.say("\nAct in this council as %s from now on:\n  export VECHE_COUNCIL=%s VECHE_TOKEN=%s", *founder, ans.ID, ans.Token)
	return nil
}

func (c *councilCmd) invite(ctx context.Context, args []string) error {
	fs := c.flags("invite", "invite [--role ROLE] [--ttl DURATION]",
		"Makes an invite code to the council. It is good once, until it expires;\nwhoever accepts it ('veche council accept CODE --name NAME') joins with their\nown token. Hand it over as you would a key.\n")
	role := fs.String("role", "", "the role the new member joins with (default: theirs to say, else the usual one of the council's kind)")
	ttl := fs.String("ttl", "", "how long the code is good for, e.g. 72h (default a week, at most 720h)")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	council, err := c.needCouncil()
	if err != nil {
		return err
	}
	raw, err := c.client.call(ctx, "POST", councilPath(council, "invites"), map[string]any{"role": *role, "ttl": *ttl})
	if err != nil {
		return err
	}
	if c.json {
		c.printJSON(raw)
		return nil
	}
	var ans api.InviteAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return fmt.Errorf("the relay's answer is not an invite: %w", err)
	}
	c.say("Invite code (good once, until %s):\n  %s\nTo join: veche council accept %s --name <your name>", ans.Expires.Local().Format(time.DateTime), ans.Code, ans.Code)
	return nil
}

func (c *councilCmd) accept(ctx context.Context, args []string) error {
	fs := c.flags("accept", "accept CODE --name NAME [--role ROLE]",
		"Accepts an invite: joins its council under your name and prints your member\ntoken (shown this once). Needs no token: the code is the credential.\n")
	name := fs.String("name", "", "your name, as the council will see it (required)")
	role := fs.String("role", "", "your role, if the invite names none")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *name == "" {
		return usagef("--name is required")
	}
	raw, err := c.client.call(ctx, "POST", "/api/invites/accept", map[string]any{"code": pos[0], "name": *name, "role": *role})
	if err != nil {
		return err
	}
	if c.json {
		c.printJSON(raw)
		return nil
	}
	var ans api.AcceptInviteAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return fmt.Errorf("the relay's answer is not an accepted invite: %w", err)
	}
	c.say("%s joined council %s: member id %s\n  token %s (shown this once: keep it secret)\n\nAct in this council as %s from now on:\n  export VECHE_COUNCIL=%s VECHE_TOKEN=%s",
		*name, ans.Council, ans.Member, ans.Token, *name, ans.Council, ans.Token)
	return nil
}

func (c *councilCmd) show(ctx context.Context, args []string) error {
	fs := c.flags("show", "show [--council ID]", "Shows the council with every derived status: members, proposals and their\noutcomes, mandates, offers, needs and pledges, federation links, minutes.\n")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	v, raw, err := c.view(ctx)
	if err != nil {
		return err
	}
	if c.json {
		c.printJSON(raw)
		return nil
	}
	printCouncil(c.stdout, v)
	return nil
}

func (c *councilCmd) history(ctx context.Context, args []string) error {
	fs := c.flags("history", "history [--council ID]", "Lists every change of the council's document: when, what, and by which member.\n")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	council, err := c.needCouncil()
	if err != nil {
		return err
	}
	raw, err := c.client.call(ctx, "GET", councilPath(council, "history"), nil)
	if err != nil {
		return err
	}
	if c.json {
		c.printJSON(raw)
		return nil
	}
	var h api.HistoryAnswer
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("the relay's answer is not a history: %w", err)
	}
	printHistory(c.stdout, h)
	return nil
}

func (c *councilCmd) join(ctx context.Context, args []string) error {
	fs := c.flags("join", "join --name NAME [--role ROLE] [--id ID]", "Adds a member who has no token of their own (someone who takes part through\nothers) and prints their member id. To bring in someone with their own token,\nuse 'veche council invite'.\n")
	name := fs.String("name", "", "the member's name (required)")
	role := fs.String("role", "", "the member's role (default by the council's kind: small-farmer, worker, consumer, delegate)")
	id := fs.String("id", "", "an explicit member id (default: random)")
	sentBy := fs.String("sent-by", "", "in a federation: the id of the council that sent the delegate")
	mandate := fs.String("mandate", "", "with --sent-by: the mandate id in that council")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *name == "" {
		return usagef("--name is required")
	}
	council, err := c.needCouncil()
	if err != nil {
		return err
	}
	if *role == "" {
		v, _, err := c.view(ctx)
		if err != nil {
			return err
		}
		*role = api.DefaultRole(v.Council.Kind)
	}
	body := map[string]any{"name": *name, "role": *role, "id": *id}
	if *sentBy != "" {
		body["sentBy"] = map[string]any{"council": *sentBy, "mandate": *mandate}
	}
	ans, err := c.write(ctx, "POST", councilPath(council, "members"), body)
	if err != nil {
		return err
	}
	c.say("%s joined %s as %s: member id %s", *name, ans.View.Council.Name, *role, ans.ID)
	return nil
}

func (c *councilCmd) leave(ctx context.Context, args []string) error {
	fs := c.flags("leave", "leave MEMBER", "You leave the council: MEMBER is you (your id or name; only you may leave in\nyour name). Every token of yours stops working.\n")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	council, err := c.needCouncil()
	if err != nil {
		return err
	}
	member, err := c.member(ctx, "leave", pos[0])
	if err != nil {
		return err
	}
	ans, err := c.write(ctx, "POST", councilPath(council, "members", member, "leave"), nil)
	if err != nil {
		return err
	}
	c.say("%s left %s.", memberName(&ans.View, member), ans.View.Council.Name)
	return nil
}

func (c *councilCmd) propose(ctx context.Context, args []string) error {
	fs := c.flags("propose", "propose --title TITLE [--body TEXT] [--kind general|exchange] [--closes WHEN] [--subject ID]",
		"Makes a proposal. Without --closes it is decided as soon as every member has\nvoted; with it, at that time. To send a delegate use 'mandate send'; to\nrecall one, 'recall'.\n")
	title := fs.String("title", "", "the proposal's title (required)")
	body := fs.String("body", "", "the proposal's text")
	kind := fs.String("kind", "general", "general or exchange")
	closes := fs.String("closes", "", "when voting closes: a duration from now (48h) or an RFC 3339 time")
	subject := fs.String("subject", "", "for an exchange proposal: the offer or need it is about")
	id := fs.String("id", "", "an explicit proposal id (default: random)")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	switch *kind {
	case "mandate":
		return usagef("to send a delegate use 'veche council mandate send'")
	case "recall":
		return usagef("to recall a delegate use 'veche council recall MANDATE'")
	}
	return c.makeProposal(ctx, map[string]any{"kind": *kind, "title": *title, "body": *body, "subject": *subject, "id": *id}, *closes)
}

// makeProposal sends a proposal of any kind and prints what it made.
func (c *councilCmd) makeProposal(ctx context.Context, body map[string]any, closes string) error {
	if body["title"] == "" {
		return usagef("--title is required")
	}
	if _, err := c.needCouncil(); err != nil {
		return err
	}
	closesAt, err := c.when("closes", closes)
	if err != nil {
		return err
	}
	if closesAt != nil {
		body["closesAt"] = closesAt
	}
	return c.act(ctx, "POST", councilPath(c.council, "proposals"), body, func(ans *api.WriteAnswer) {
		p, _ := ans.View.Proposal(ans.ID)
		c.say("Proposal %s made: %q (%s), %s.", p.ID, p.Title, p.Kind, closingText(p))
		if ans.Mandate != "" {
			m, _ := ans.View.Mandate(ans.Mandate)
			c.say("Mandate %s: %s to act in %s for %q, %s until the proposal passes.", m.ID, memberName(&ans.View, m.Delegate), m.Body, m.Task, m.Status)
		}
		c.say("Vote: veche council vote %s yes|no|abstain", p.ID)
	})
}

func (c *councilCmd) vote(ctx context.Context, args []string) error {
	fs := c.flags("vote", "vote PROPOSAL yes|no|abstain", "Casts (or changes) your vote on an open proposal.\n")
	pos, err := c.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	return c.act(ctx, "POST", councilPath(c.council, "proposals", pos[0], "votes"), map[string]any{"choice": pos[1]}, func(ans *api.WriteAnswer) {
		p, _ := ans.View.Proposal(pos[0])
		c.say("%s votes %s on %q: %s.", memberName(&ans.View, ans.By), pos[1], p.Title, outcomeText(p))
		c.mandateNews(&ans.View, p)
	})
}

// mandateNews prints what a decided mandate or recall proposal did.
func (c *councilCmd) mandateNews(v *api.CouncilView, p crdt.Proposal) {
	if p.Outcome == crdt.OutcomeOpen || p.Subject == "" || (p.Kind != crdt.ProposalMandate && p.Kind != crdt.ProposalRecall) {
		return
	}
	if m, ok := v.Mandate(p.Subject); ok {
		c.say("Mandate %s (%s: %q) is %s.", m.ID, memberName(v, m.Delegate), m.Task, m.Status)
	}
}

func (c *councilCmd) withdraw(ctx context.Context, args []string) error {
	fs := c.flags("withdraw", "withdraw PROPOSAL", "Withdraws an open proposal; only its proposer may.\n")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return c.act(ctx, "POST", councilPath(c.council, "proposals", pos[0], "withdraw"), nil, func(ans *api.WriteAnswer) {
		p, _ := ans.View.Proposal(pos[0])
		c.say("Proposal %q is %s.", p.Title, p.Outcome)
	})
}

// act makes the one write of a verb in the council, as the member the
// token names, and prints what it did with done: it checks that a council
// is set, sends body (nil: {}) with method to path (a councilPath of
// c.council), and calls done with the answer. The verb states only what
// differs.
func (c *councilCmd) act(ctx context.Context, method, path string, body map[string]any, done func(ans *api.WriteAnswer)) error {
	if _, err := c.needCouncil(); err != nil {
		return err
	}
	if body == nil {
		body = map[string]any{}
	}
	ans, err := c.write(ctx, method, path, body)
	if err != nil {
		return err
	}
	done(ans)
	return nil
}

func (c *councilCmd) mandate(ctx context.Context, args []string) error {
	const help = `Usage:
  veche council mandate send --delegate MEMBER --task TASK --to COUNCIL [--title T] [--body TEXT] [--closes WHEN]
  veche council mandate report MANDATE TEXT      (the delegate reports back)
  veche council mandate resign MANDATE           (the delegate resigns)
  veche council mandate complete MANDATE         (the delegate completed the task)

'send' proposes to send a delegate with a mandate: one specific task in one
council (usually a federation, named by its id). The mandate is pending
while the proposal is open and active once it passes. To recall a delegate,
'veche council recall MANDATE'.
`
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprint(c.stderr, help)
			return usagef("which? send, report, resign or complete")
		}
		fmt.Fprint(c.stdout, help)
		return nil
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "send":
		fs := c.flags("mandate send", "mandate send --delegate MEMBER --task TASK --to COUNCIL [--title T] [--body TEXT] [--closes WHEN]",
			"Proposes to send a delegate with a mandate. Vote on the proposal it prints;\nonce it passes the mandate is active.\n")
		delegate := fs.String("delegate", "", "the delegate, a member (id or name) (required)")
		task := fs.String("task", "", "the one specific task (required)")
		to := fs.String("to", "", "the id of the council the delegate acts in, e.g. a federation (required)")
		title := fs.String("title", "", "the proposal's title (default: Send <delegate>: <task>)")
		body := fs.String("body", "", "the proposal's text")
		closes := fs.String("closes", "", "when voting closes: a duration from now or an RFC 3339 time")
		if _, err := c.parse(fs, args, 0, 0); err != nil {
			return err
		}
		if *delegate == "" || *task == "" || *to == "" {
			return usagef("--delegate, --task and --to are required")
		}
		if _, err := c.needCouncil(); err != nil {
			return err
		}
		d, err := c.member(ctx, "--delegate", *delegate)
		if err != nil {
			return err
		}
		if *title == "" {
			*title = fmt.Sprintf("Send %s: %s", memberName(c.cached, d), *task)
		}
		return c.makeProposal(ctx, map[string]any{
			"kind": "mandate", "title": *title, "body": *body,
			"mandate": map[string]any{"task": *task, "body": *to, "delegate": d},
		}, *closes)
	case "report":
		fs := c.flags("mandate report", "mandate report MANDATE TEXT", "The delegate (you) reports to the council on an active mandate.\n")
		pos, err := c.parse(fs, args, 2, 2)
		if err != nil {
			return err
		}
		return c.act(ctx, "POST", councilPath(c.council, "mandates", pos[0], "reports"), map[string]any{"text": pos[1]}, func(ans *api.WriteAnswer) {
			m, _ := ans.View.Mandate(pos[0])
			c.say("Report %d on mandate %s (%q) recorded.", len(m.Reports), m.ID, m.Task)
		})
	case "resign", "complete":
		fs := c.flags("mandate "+sub, "mandate "+sub+" MANDATE", "The delegate (you) "+map[string]string{"resign": "resigns from", "complete": "reports the task of"}[sub]+" the mandate.\n")
		pos, err := c.parse(fs, args, 1, 1)
		if err != nil {
			return err
		}
		return c.act(ctx, "POST", councilPath(c.council, "mandates", pos[0], sub), nil, func(ans *api.WriteAnswer) {
			m, _ := ans.View.Mandate(pos[0])
			c.say("Mandate %s (%s: %q) is %s.", m.ID, memberName(&ans.View, m.Delegate), m.Task, m.Status)
		})
	}
	return usagef("unknown 'mandate %s': want send, report, resign or complete", sub)
}

func (c *councilCmd) recall(ctx context.Context, args []string) error {
	fs := c.flags("recall", "recall MANDATE [--title T] [--body TEXT] [--closes WHEN]",
		"Proposes to recall a delegate: once the recall proposal passes, the mandate is\nrecalled (the delegate's write access to the other council ends with it).\n")
	title := fs.String("title", "", "the proposal's title (default: Recall <delegate>: <task>)")
	body := fs.String("body", "", "the proposal's text: why")
	closes := fs.String("closes", "", "when voting closes: a duration from now or an RFC 3339 time")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := c.needCouncil(); err != nil {
		return err
	}
	if *title == "" {
		v := c.cached
		if v == nil {
			if v, _, err = c.view(ctx); err != nil {
				return err
			}
		}
		*title = "Recall mandate " + pos[0]
		if m, ok := v.Mandate(pos[0]); ok {
			*title = fmt.Sprintf("Recall %s: %s", memberName(v, m.Delegate), m.Task)
		}
	}
	return c.makeProposal(ctx, map[string]any{"kind": "recall", "title": *title, "body": *body, "subject": pos[0]}, *closes)
}

func (c *councilCmd) offer(ctx context.Context, args []string) error {
	return c.produce(ctx, args, "offer", "offers")
}

func (c *councilCmd) need(ctx context.Context, args []string) error {
	return c.produce(ctx, args, "need", "needs")
}

// produce runs the offer and need verbs.
func (c *councilCmd) produce(ctx context.Context, args []string, verb, collection string) error {
	fs := c.flags(verb, verb+" ITEM QUANTITY UNIT [--note TEXT] [--from WHEN] [--until WHEN]\n  veche council "+verb+" --withdraw ID",
		map[string]string{"offer": "Offers produce the council can give", "need": "Posts produce the council needs"}[verb]+", or withdraws it.\n")
	withdraw := fs.String("withdraw", "", "withdraw the "+verb+" with this id instead")
	note := fs.String("note", "", "a note")
	from := fs.String("from", "", "from when: a duration from now or an RFC 3339 time")
	until := fs.String("until", "", "until when: a duration from now or an RFC 3339 time")
	id := fs.String("id", "", "an explicit id (default: random)")
	pos, err := c.parse(fs, args, 0, 3)
	if err != nil {
		return err
	}
	if *withdraw != "" {
		if len(pos) > 0 {
			return usagef("--withdraw takes no other arguments")
		}
		return c.act(ctx, "POST", councilPath(c.council, collection, *withdraw, "withdraw"), nil, func(*api.WriteAnswer) {
			c.say("%s %s withdrawn.", strings.ToUpper(verb[:1])+verb[1:], *withdraw)
		})
	}
	if len(pos) != 3 {
		return usagef("want ITEM QUANTITY UNIT, e.g. '%s potatoes 100 kg'", verb)
	}
	q, err := quantity(pos[1])
	if err != nil {
		return err
	}
	if _, err := c.needCouncil(); err != nil {
		return err
	}
	body := map[string]any{"item": pos[0], "quantity": q, "unit": pos[2], "note": *note, "id": *id}
	for name, v := range map[string]string{"from": *from, "until": *until} {
		t, err := c.when(name, v)
		if err != nil {
			return err
		}
		if t != nil {
			body[name] = t
		}
	}
	return c.act(ctx, "POST", councilPath(c.council, collection), body, func(ans *api.WriteAnswer) {
		c.say("%s %s posted: %s %s of %s.", strings.ToUpper(verb[:1])+verb[1:], ans.ID, pos[1], pos[2], pos[0])
	})
}

func (c *councilCmd) pledge(ctx context.Context, args []string) error {
	fs := c.flags("pledge", "pledge NEED QUANTITY [--offer OFFER] [--unit UNIT]",
		"Pledges a quantity against a need of the council, in the need's unit.\n")
	offer := fs.String("offer", "", "the offer the produce comes from")
	unit := fs.String("unit", "", "the unit (must be the need's)")
	id := fs.String("id", "", "an explicit id (default: random)")
	pos, err := c.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	q, err := quantity(pos[1])
	if err != nil {
		return err
	}
	if _, err := c.needCouncil(); err != nil {
		return err
	}
	body := map[string]any{"need": pos[0], "quantity": q, "offer": *offer, "unit": *unit, "id": *id}
	return c.act(ctx, "POST", councilPath(c.council, "pledges"), body, func(ans *api.WriteAnswer) {
		n, _ := ans.View.Need(pos[0])
		c.say("Pledge %s made: %s %s of %s; %s of %s %s pledged, %s remaining%s.", ans.ID, pos[1], n.Unit, n.Item,
			num(n.Pledged), num(n.Quantity), n.Unit, num(n.Remaining), map[bool]string{true: " (met)"}[n.Met])
	})
}

func (c *councilCmd) minutes(ctx context.Context, args []string) error {
	fs := c.flags("minutes", "minutes TITLE [--notes TEXT]\n  veche council minutes --edit MINUTES --notes TEXT",
		"Starts the minutes of a meeting held now, or with --edit replaces their notes\n(the relay writes only the difference, so others' edits merge).\n")
	notes := fs.String("notes", "", "the notes")
	edit := fs.String("edit", "", "edit the minutes with this id instead")
	id := fs.String("id", "", "an explicit id (default: random)")
	pos, err := c.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if *edit != "" {
		if len(pos) > 0 {
			return usagef("--edit takes no title")
		}
		return c.act(ctx, "PATCH", councilPath(c.council, "minutes", *edit), map[string]any{"notes": *notes}, func(*api.WriteAnswer) {
			c.say("Minutes %s edited.", *edit)
		})
	}
	if len(pos) != 1 {
		return usagef("want the meeting's TITLE")
	}
	return c.act(ctx, "POST", councilPath(c.council, "minutes"), map[string]any{"title": pos[0], "notes": *notes, "id": *id}, func(ans *api.WriteAnswer) {
		c.say("Minutes %s started: %q.", ans.ID, pos[0])
	})
}

func (c *councilCmd) federation(ctx context.Context, args []string) error {
	fs := c.flags("federation", "federation join|leave FEDERATION\n  veche council federation admit|remove COUNCIL",
		"In a council: records that it joined (or left) a federation. In a federation:\nadmits (or removes) a member council. Joining takes both: 'join' in the\ncouncil and 'admit' in the federation.\n")
	pos, err := c.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	op, other := pos[0], pos[1]
	field := map[string]string{"join": "federation", "leave": "federation", "admit": "council", "remove": "council"}[op]
	if field == "" {
		return usagef("unknown 'federation %s': want join, leave, admit or remove", op)
	}
	return c.act(ctx, "POST", councilPath(c.council, "federation", op), map[string]any{field: other}, func(ans *api.WriteAnswer) {
		f := ans.View.Federation
		c.say("Done. %s is a member of %d federation(s) and has %d member council(s).", ans.View.Council.Name, len(f.MemberOf), len(f.Members))
	})
}

// memberName is a member's name, or the id if there is no such member.
func memberName(v *api.CouncilView, id string) string {
	if v != nil {
		if m, ok := v.Member(id); ok && m.Name != "" {
			return m.Name
		}
	}
	return id
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
