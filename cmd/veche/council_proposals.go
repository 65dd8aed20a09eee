package main

import (
	"context"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
	"github.com/veche-sync/veche/crdt"
)

// The verbs of deciding: propose, vote, withdraw.

func (c *councilCmd) propose(ctx context.Context, args []string) error {
	fs := c.flags("propose", "propose --title TITLE [--body TEXT] [--kind general|exchange|rule|expel] [--closes WHEN] [--subject ID] [--quorum Q --majority M]",
		"Makes a proposal. Without --closes it is decided as soon as every member has\nvoted; with it, at that time. A proposal of kind rule puts --quorum and\n--majority in force once it passes; one of kind expel ends the membership of\nthe member named by --subject (id or name) once it passes. To send a delegate\nuse 'mandate send'; to recall one, 'recall'.\n")
	title := fs.String("title", "", "the proposal's title (required)")
	body := fs.String("body", "", "the proposal's text")
	kind := fs.String("kind", "general", "general, exchange, rule or expel")
	quorum := fs.Float64("quorum", -1, "for a rule proposal: the new fraction of the members that must vote")
	majority := fs.Float64("majority", -1, "for a rule proposal: the new fraction of yes+no votes that yes must exceed")
	closes := fs.String("closes", "", "when voting closes: a duration from now (48h) or an RFC 3339 time")
	subject := fs.String("subject", "", "for an exchange proposal: the offer or need it is about; for expel: the member")
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
	req := api.ProposalRequest{ID: *id, Kind: crdt.ProposalKind(*kind), Title: *title, Body: *body, Subject: *subject}
	switch {
	case *kind == "rule" && (*quorum < 0 || *majority < 0):
		return usagef("a rule proposal needs --quorum and --majority")
	case *kind == "rule":
		req.Rule = &crdt.Rule{Quorum: *quorum, Majority: *majority}
	case *quorum >= 0 || *majority >= 0:
		return usagef("--quorum and --majority go with --kind rule")
	case *kind == "expel":
		if *subject == "" {
			return usagef("an expel proposal names the member with --subject")
		}
		member, err := c.member(ctx, "--subject", *subject)
		if err != nil {
			return err
		}
		req.Subject = member
	}
	return c.makeProposal(ctx, req, *closes)
}

// makeProposal sends a proposal of any kind and prints what it made.
func (c *councilCmd) makeProposal(ctx context.Context, req api.ProposalRequest, closes string) error {
	if req.Title == "" {
		return usagef("--title is required")
	}
	if _, err := c.needCouncil(); err != nil {
		return err
	}
	closesAt, err := c.when("closes", closes)
	if err != nil {
		return err
	}
	req.ClosesAt = closesAt
	return c.act(ctx, func(cl *client.Client, council string) (*api.WriteAnswer, error) {
		return cl.Propose(ctx, council, req)
	}, func(ans *api.WriteAnswer) {
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
	return c.act(ctx, func(cl *client.Client, council string) (*api.WriteAnswer, error) {
		return cl.Vote(ctx, council, pos[0], api.VoteRequest{Choice: crdt.Choice(pos[1])})
	}, func(ans *api.WriteAnswer) {
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
	return c.act(ctx, func(cl *client.Client, council string) (*api.WriteAnswer, error) {
		return cl.WithdrawProposal(ctx, council, pos[0])
	}, func(ans *api.WriteAnswer) {
		p, _ := ans.View.Proposal(pos[0])
		c.say("Proposal %q is %s.", p.Title, p.Outcome)
	})
}
