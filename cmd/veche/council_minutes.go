package main

import (
	"context"

	"github.com/veche-sync/veche/api"
	client "github.com/veche-sync/veche/clients/go"
)

// The verb of meetings: minutes.

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
		return c.act(ctx, func(cl *client.Client, council string) (*api.WriteAnswer, error) {
			return cl.EditMinutes(ctx, council, *edit, api.EditMinutesRequest{Notes: *notes})
		}, func(*api.WriteAnswer) {
			c.say("Minutes %s edited.", *edit)
		})
	}
	if len(pos) != 1 {
		return usagef("want the meeting's TITLE")
	}
	return c.act(ctx, func(cl *client.Client, council string) (*api.WriteAnswer, error) {
		return cl.StartMinutes(ctx, council, api.MinutesRequest{ID: *id, Title: pos[0], Notes: *notes})
	}, func(ans *api.WriteAnswer) {
		c.say("Minutes %s started: %q.", ans.ID, pos[0])
	})
}
