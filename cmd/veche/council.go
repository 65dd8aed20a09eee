package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
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
  --offline        act on this computer's replica, with no network
  --home DIR       the config directory holding your key, tokens and replica
                   (env VECHE_HOME; default ~/.config/veche)
  --key FILE       this computer's signing key, if not <home>/key (env VECHE_KEY)

Offline: 'veche council accept CODE --name NAME --save' (or 'veche login'
with a token you have) keeps your token in the config directory and fetches
the council onto this computer. Then every verb but create, invite and
accept works with --offline, and 'veche sync' carries what you did to the
relay and brings back what others did. With a kept token, --token and
--council may be left out.

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
	group          string // the command the verbs belong to: council, bundle
	stdout, stderr io.Writer
	in             io.Reader // stdin; nil: os.Stdin
	getenv         func(string) string
	httpClient     *http.Client // nil: a default client
	now            func() time.Time

	ctx context.Context // of the command line being run

	// Common flags.
	relay   string
	council string
	token   string
	json    bool
	offline bool   // act on the home's replica, with no network
	homeDir string // the config directory (VECHE_HOME)
	keyFile string // the device key's file (VECHE_KEY); "": <home>/key

	home     *client.Home
	replica  *client.Replica // open while offline (or syncing)
	closers  []func()        // run when the command ends
	onlineOK bool            // the verb needs a relay: refused with --offline
	dataOnly bool            // offline, the verb uses the replica itself, not a member's client (bundles)

	client   *client.Client
	cached   *api.CouncilView // the council as read once per command, to resolve names
	synopsis string           // of the verb being run
}

// runCouncil runs `veche council args...` and returns its exit code.
func runCouncil(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &councilCmd{group: "council", stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now}
	return c.run(ctx, args, councilVerbs, councilUsage)
}

// A verb runs one verb of a command group with its arguments.
type verb = func(c *councilCmd, ctx context.Context, args []string) error

// councilVerbs maps each verb of veche council to its function.
var councilVerbs = map[string]verb{
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

// run runs the verb args[0] of verbs, and returns the exit code.
func (c *councilCmd) run(ctx context.Context, args []string, verbs map[string]verb, usage string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.stdout, usage)
		return exitOK
	}
	fn, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(c.stderr, "veche %s: unknown verb %q; run 'veche %s --help'\n", c.group, args[0], c.group)
		return exitUsage
	}
	c.ctx = ctx
	err := fn(c, ctx, args[1:])
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK // with ErrHelp, the flag set printed the verb's help
	}
	return c.fail(c.name(args[0]), err)
}

// fail prints err for the command named cmd and returns its exit code.
func (c *councilCmd) fail(cmd string, err error) int {
	var usage *usageError
	var e *client.Error
	switch {
	case errors.As(err, &usage):
		fmt.Fprintf(c.stderr, "%s: %s\nRun '%s --help' for its usage.\n", cmd, usage.msg, cmd)
		return exitUsage
	case errors.As(err, &e) && e.Code == client.CodeUnreachable:
		fmt.Fprintf(c.stderr, "%s: %s (is `veche serve` running? set --relay or VECHE_RELAY)\n", cmd, e.Message)
		return exitFailure
	case errors.As(err, &e):
		fmt.Fprintf(c.stderr, "%s: %s: %s\n", cmd, e.Code, e.Message)
		return exitCodeOf(e)
	default:
		fmt.Fprintf(c.stderr, "%s: %v\n", cmd, err)
		return exitFailure
	}
}

// exitCodeOf maps a client error to the exit code the help documents.
func exitCodeOf(e *client.Error) int {
	switch {
	case e.Status == http.StatusNotFound, e.Code == client.CodeOffline:
		return exitNotFound
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return exitDenied
	case e.Status >= 400 && e.Status < 500:
		return exitRefused
	case e.Code == client.CodeUsage:
		return exitUsage
	}
	return exitFailure
}

// flags returns the flag set of a verb, with the common flags.
func (c *councilCmd) flags(verb, synopsis, help string) *flag.FlagSet {
	c.synopsis = synopsis
	fs := flag.NewFlagSet(c.name(verb), flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stdout, "Usage:\n  %s\n\n%s\nFlags:\n", c.name(synopsis), help)
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
	fs.BoolVar(&c.offline, "offline", false, "act on this computer's replica, with no network; 'veche sync' carries it to the relay later")
	fs.StringVar(&c.homeDir, "home", c.defaultHome(), "the config directory holding your key, tokens and replica (env VECHE_HOME)")
	fs.StringVar(&c.keyFile, "key", c.getenv("VECHE_KEY"), "the file of this computer's signing key (env VECHE_KEY; default <home>/key, made on first use, mode 0600)")
	return fs
}

// name is the command line of a verb: "veche council vote", "veche sync".
func (c *councilCmd) name(verb string) string {
	if c.group == "" {
		return "veche " + verb
	}
	return "veche " + c.group + " " + verb
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
	return pos, c.connect(fs)
}

// needCouncil returns the council flag, or a usage error saying how to set it.
func (c *councilCmd) needCouncil() (string, error) {
	if c.council == "" {
		return "", usagef("which council? Pass --council ID or export VECHE_COUNCIL=<id> ('veche council create' prints it)")
	}
	return c.council, nil
}

// view reads the council once per command.
func (c *councilCmd) view(ctx context.Context) (*api.CouncilView, error) {
	council, err := c.needCouncil()
	if err != nil {
		return nil, err
	}
	if err := c.needToken(); err != nil {
		return nil, err
	}
	v, err := c.client.Council(ctx, council)
	if err != nil {
		return nil, err
	}
	c.cached = v
	return v, nil
}

// needToken refuses a council call without a token, saying how to give one.
func (c *councilCmd) needToken() error {
	if c.client.Token() == "" {
		return usagef("who are you? Pass --token TOKEN or export VECHE_TOKEN=<token> (printed by 'veche council create' and 'veche council accept')")
	}
	return nil
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
		if v, err = c.view(ctx); err != nil {
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

// act makes the one write of a verb in the council, as the member the
// token names, prints its answer with --json, and prints what it did with
// done otherwise. The verb states only what differs: which call.
func (c *councilCmd) act(ctx context.Context, call func(cl *client.Client, council string) (*api.WriteAnswer, error), done func(ans *api.WriteAnswer)) error {
	council, err := c.needCouncil()
	if err != nil {
		return err
	}
	if err := c.needToken(); err != nil {
		return err
	}
	ans, err := call(c.client, council)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(ans)
	}
	done(ans)
	return nil
}

// printJSON prints an answer as indented JSON.
func (c *councilCmd) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s\n", b)
	return nil
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
