package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
	"github.com/veche-sync/veche/crdt"
)

// The verbs of membership: found a council, invite, accept, join, leave.

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
	save := fs.Bool("save", false, "keep the founder's token in the config directory (--home) instead of printing it, and sync the council into this computer's replica")
	c.onlineOK = true
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *name == "" || *kind == "" || *founder == "" {
		return usagef("--name, --kind and --founder are required")
	}
	cl := c.client
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return usagef("--operator-token-file: %v", err)
		}
		cl = cl.WithToken(strings.TrimSpace(string(b)))
	}
	if *role == "" {
		*role = api.DefaultRole(crdt.CouncilKind(*kind))
	}
	req := api.CreateCouncilRequest{
		Name: *name, Kind: crdt.CouncilKind(*kind), Region: *region,
		Rule:    &crdt.Rule{Quorum: *quorum, Majority: *majority},
		Founder: &api.MemberRequest{Name: *founder, Role: *role},
	}
	if *sentBy != "" || *mandate != "" {
		return usagef("--sent-by/--mandate: a delegate takes their seat in a federation themself, signed with their key from the council that sent them (schema veche/council/2)")
	}
	ans, err := cl.CreateCouncil(ctx, req)
	if err != nil {
		return err
	}
	if *save {
		if err := c.saveMembership(ctx, client.Membership{Council: ans.ID, Member: ans.Founder, Name: *founder, Relay: cl.Relay(), Token: ans.Token}); err != nil {
			return err
		}
		ans.Token = ""
	}
	if c.json {
		return c.printJSON(ans)
	}
	v := ans.View.Council
	c.say("Council founded: %s (%s%s)", v.Name, v.Kind, prefixed(", ", v.Region))
	tw := newTable(c.stdout)
	tw.row("  id", ans.ID)
	tw.row("  url", ans.URL)
	tw.row("  founder", fmt.Sprintf("%s, member id %s", *founder, ans.Founder))
	tw.row("  rule", ruleText(v.Rule))
	if *save {
		tw.flush()
		return nil
	}
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
	c.onlineOK = true
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	council, err := c.needCouncil()
	if err != nil {
		return err
	}
	if err := c.needToken(); err != nil {
		return err
	}
	ans, err := c.client.Invite(ctx, council, api.InviteRequest{Role: *role, TTL: *ttl})
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(ans)
	}
	c.say("Invite code (good once, until %s):\n  %s\nTo join: veche council accept %s --name <your name>", ans.Expires.Local().Format(time.DateTime), ans.Code, ans.Code)
	return nil
}

func (c *councilCmd) accept(ctx context.Context, args []string) error {
	fs := c.flags("accept", "accept CODE --name NAME [--role ROLE]",
		"Accepts an invite: joins its council under your name and prints your member\ntoken (shown this once). Needs no token: the code is the credential.\n")
	name := fs.String("name", "", "your name, as the council will see it (required)")
	role := fs.String("role", "", "your role, if the invite names none")
	save := fs.Bool("save", false, "keep your token in the config directory (--home) instead of printing it, and sync the council into this computer's replica")
	c.onlineOK = true
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *name == "" {
		return usagef("--name is required")
	}
	ans, err := c.client.WithToken("").AcceptInvite(ctx, api.AcceptInviteRequest{Code: pos[0], Name: *name, Role: *role})
	if err != nil {
		return err
	}
	if *save {
		if err := c.saveMembership(ctx, client.Membership{Council: ans.Council, Member: ans.Member, Name: *name, Relay: c.client.Relay(), Token: ans.Token}); err != nil {
			return err
		}
		c.say("%s joined council %s: member id %s", *name, ans.Council, ans.Member)
		return nil
	}
	if c.json {
		return c.printJSON(ans)
	}
	c.say("%s joined council %s: member id %s\n  token %s (shown this once: keep it secret)\n\nAct in this council as %s from now on:\n  export VECHE_COUNCIL=%s VECHE_TOKEN=%s",
		*name, ans.Council, ans.Member, ans.Token, *name, ans.Council, ans.Token)
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
	if _, err := c.needCouncil(); err != nil {
		return err
	}
	if *role == "" {
		v, err := c.view(ctx)
		if err != nil {
			return err
		}
		*role = api.DefaultRole(v.Council.Kind)
	}
	req := api.MemberRequest{Name: *name, Role: *role, ID: *id}
	if *sentBy != "" || *mandate != "" {
		return usagef("--sent-by/--mandate: a delegate takes their seat in a federation themself, signed with their key from the council that sent them (schema veche/council/2)")
	}
	return c.act(ctx, func(cl *client.Client, council string) (*api.WriteAnswer, error) {
		return cl.Join(ctx, council, req)
	}, func(ans *api.WriteAnswer) {
		c.say("%s joined %s as %s: member id %s", *name, ans.View.Council.Name, *role, ans.ID)
	})
}

func (c *councilCmd) leave(ctx context.Context, args []string) error {
	fs := c.flags("leave", "leave MEMBER", "You leave the council: MEMBER is you (your id or name; only you may leave in\nyour name). Every token of yours stops working.\n")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := c.needCouncil(); err != nil {
		return err
	}
	member, err := c.member(ctx, "leave", pos[0])
	if err != nil {
		return err
	}
	return c.act(ctx, func(cl *client.Client, council string) (*api.WriteAnswer, error) {
		return cl.Leave(ctx, council, member)
	}, func(ans *api.WriteAnswer) {
		c.say("%s left %s.", memberName(&ans.View, member), ans.View.Council.Name)
	})
}
