package client

import (
	"context"
	"net/url"

	"github.com/veche-sync/veche/api"
)

// Quarantine lists what crashed the relay's Automerge engine and who is
// suspended for it (operator token).
func (c *Client) Quarantine(ctx context.Context) (*api.QuarantineAnswer, error) {
	var out api.QuarantineAnswer
	return &out, c.do(ctx, "GET", "/api/quarantine", nil, &out)
}

// ReleaseIncident lifts a quarantine incident: its principal's tokens work
// again; the change stays refused (operator token).
func (c *Client) ReleaseIncident(ctx context.Context, incident string) (*api.Incident, error) {
	var out api.Incident
	return &out, c.do(ctx, "POST", "/api/quarantine/"+url.PathEscape(incident)+"/release", struct{}{}, &out)
}
