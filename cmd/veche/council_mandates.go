package main

import (
	"context"
	"fmt"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
	"github.com/veche-sync/veche/crdt"
)

// The verbs of delegates: mandate send|report|resign|complete, recall.

const mandateHelp = `Usage:
  veche council mandate send --delegate MEMBER --task TASK --to COUNCIL [--title T] [--body TEXT] [--closes WHEN]
  veche council mandate report MANDATE TEXT      (the delegate reports back)
  veche council mandate resign MANDATE           (the delegate resigns)
  veche council mandate complete MANDATE         (the delegate completed the task)

'send' proposes to send a delegate with a mandate: one specific task in one
council (usually a federation, named by its id). The mandate is pending
while the proposal is open and active once it passes. To recall a delegate,
'veche council recall MANDATE'.
`

func (c *councilCmd) mandate(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprint(c.stderr, mandateHelp)
			return usagef("which? send, report, resign or complete")
		}
		fmt.Fprint(c.stdout, mandateHelp)
		return nil
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "send":
		return c.sendDelegate(ctx, args)
	case "report":
		fs := c.flags("mandate report", "mandate report MANDATE TEXT", "The delegate (you) reports to the council on an active mandate.\n")
		pos, err := c.parse(fs, args, 2, 2)
		if err != nil {
			return err
		}
		return c.act(ctx, func(cl *client.Client, council string) (*api.WriteAnswer, error) {
			return cl.Report(ctx, council, pos[0], api.ReportRequest{Text: pos[1]})
		}, func(ans *api.WriteAnswer) {
			m, _ := ans.View.Mandate(pos[0])
			c.say("Report %d on mandate %s (%q) recorded.", len(m.Reports), m.ID, m.Task)
		})
	case "resign", "complete":
		fs := c.flags("mandate "+sub, "mandate "+sub+" MANDATE", "The delegate (you) "+map[string]string{"resign": "resigns from", "complete": "reports the task of"}[sub]+" the mandate.\n")
		pos, err := c.parse(fs, args, 1, 1)
		if err != nil {
			return err
		}
		act := (*client.Client).Resign
		if sub == "complete" {
			act = (*client.Client).Complete
		}
		return c.act(ctx, func(cl *client.Client, council string) (*api.WriteAnswer, error) {
			return act(cl, ctx, council, pos[0])
		}, func(ans *api.WriteAnswer) {
			m, _ := ans.View.Mandate(pos[0])
			c.say("Mandate %s (%s: %q) is %s.", m.ID, memberName(&ans.View, m.Delegate), m.Task, m.Status)
		})
	}
	return usagef("unknown 'mandate %s': want send, report, resign or complete", sub)
}

func (c *councilCmd) sendDelegate(ctx context.Context, args []string) error {
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
	return c.makeProposal(ctx, api.ProposalRequest{
		Kind: crdt.ProposalMandate, Title: *title, Body: *body,
		Mandate: &api.MandateRequest{Task: *task, Body: *to, Delegate: d},
	}, *closes)
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
			if v, err = c.view(ctx); err != nil {
				return err
			}
		}
		*title = "Recall mandate " + pos[0]
		if m, ok := v.Mandate(pos[0]); ok {
			*title = fmt.Sprintf("Recall %s: %s", memberName(v, m.Delegate), m.Task)
		}
	}
	return c.makeProposal(ctx, api.ProposalRequest{Kind: crdt.ProposalRecall, Title: *title, Body: *body, Subject: pos[0]}, *closes)
}
