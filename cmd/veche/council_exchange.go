package main

import (
	"context"
	"strings"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
)

// The verbs of exchange: offer, need, pledge.

func (c *councilCmd) offer(ctx context.Context, args []string) error {
	return c.produce(ctx, args, "offer", (*client.Client).PostOffer, (*client.Client).WithdrawOffer)
}

func (c *councilCmd) need(ctx context.Context, args []string) error {
	return c.produce(ctx, args, "need", (*client.Client).PostNeed, (*client.Client).WithdrawNeed)
}

// produce runs the offer and need verbs.
func (c *councilCmd) produce(ctx context.Context, args []string, verb string,
	post func(*client.Client, context.Context, string, api.ProduceRequest) (*api.WriteAnswer, error),
	withdrawIt func(*client.Client, context.Context, string, string) (*api.WriteAnswer, error)) error {
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
	title := strings.ToUpper(verb[:1]) + verb[1:]
	if *withdraw != "" {
		if len(pos) > 0 {
			return usagef("--withdraw takes no other arguments")
		}
		return c.act(ctx, func(cl *client.Client, council string) (*api.WriteAnswer, error) {
			return withdrawIt(cl, ctx, council, *withdraw)
		}, func(*api.WriteAnswer) {
			c.say("%s %s withdrawn.", title, *withdraw)
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
	req := api.ProduceRequest{ID: *id, Item: pos[0], Quantity: q, Unit: pos[2], Note: *note}
	if req.From, err = c.when("from", *from); err != nil {
		return err
	}
	if req.Until, err = c.when("until", *until); err != nil {
		return err
	}
	return c.act(ctx, func(cl *client.Client, council string) (*api.WriteAnswer, error) {
		return post(cl, ctx, council, req)
	}, func(ans *api.WriteAnswer) {
		c.say("%s %s posted: %s %s of %s.", title, ans.ID, pos[1], pos[2], pos[0])
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
	req := api.PledgeRequest{ID: *id, Need: pos[0], Offer: *offer, Quantity: q, Unit: *unit}
	return c.act(ctx, func(cl *client.Client, council string) (*api.WriteAnswer, error) {
		return cl.Pledge(ctx, council, req)
	}, func(ans *api.WriteAnswer) {
		n, _ := ans.View.Need(pos[0])
		c.say("Pledge %s made: %s %s of %s; %s of %s %s pledged, %s remaining%s.", ans.ID, pos[1], n.Unit, n.Item,
			num(n.Pledged), num(n.Quantity), n.Unit, num(n.Remaining), map[bool]string{true: " (met)"}[n.Met])
	})
}
