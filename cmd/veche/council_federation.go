package main

import (
	"context"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
)

// The verb of federation links: federation join|leave|admit|remove.

func (c *councilCmd) federation(ctx context.Context, args []string) error {
	fs := c.flags("federation", "federation join|leave FEDERATION\n  veche council federation admit|remove COUNCIL",
		"In a council: records that it joined (or left) a federation. In a federation:\nadmits (or removes) a member council. Joining takes both: 'join' in the\ncouncil and 'admit' in the federation.\n")
	pos, err := c.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	op, other := pos[0], pos[1]
	var call func(cl *client.Client, council string) (*api.WriteAnswer, error)
	switch op {
	case "join":
		call = func(cl *client.Client, council string) (*api.WriteAnswer, error) {
			return cl.JoinFederation(ctx, council, api.FederationRequest{Federation: other})
		}
	case "leave":
		call = func(cl *client.Client, council string) (*api.WriteAnswer, error) {
			return cl.LeaveFederation(ctx, council, api.FederationRequest{Federation: other})
		}
	case "admit":
		call = func(cl *client.Client, council string) (*api.WriteAnswer, error) {
			return cl.AdmitCouncil(ctx, council, api.MemberCouncilRequest{Council: other})
		}
	case "remove":
		call = func(cl *client.Client, council string) (*api.WriteAnswer, error) {
			return cl.RemoveCouncil(ctx, council, api.MemberCouncilRequest{Council: other})
		}
	default:
		return usagef("unknown 'federation %s': want join, leave, admit or remove", op)
	}
	return c.act(ctx, call, func(ans *api.WriteAnswer) {
		f := ans.View.Federation
		c.say("Done. %s is a member of %d federation(s) and has %d member council(s).", ans.View.Council.Name, len(f.MemberOf), len(f.Members))
	})
}
