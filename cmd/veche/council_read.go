package main

import (
	"context"
)

// The verbs that read: show and history.

func (c *councilCmd) show(ctx context.Context, args []string) error {
	fs := c.flags("show", "show [--council ID]", "Shows the council with every derived status: members, proposals and their\noutcomes, mandates, offers, needs and pledges, federation links, minutes.\n")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	v, err := c.view(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(v)
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
	if err := c.needToken(); err != nil {
		return err
	}
	h, err := c.client.History(ctx, council)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(h)
	}
	printHistory(c.stdout, *h)
	return nil
}
