package client

import (
	"context"
	"net/http"
)

// Login records in the home that it acts with token at relay: it asks
// the relay whom the token names (a member of which council), and saves
// the membership (mode 0600). council, if not "", must be the token's.
func (h *Home) Login(ctx context.Context, relay, token, council string, hc *http.Client) (Membership, error) {
	c, err := New(relay, token, hc)
	if err != nil {
		return Membership{}, err
	}
	self, err := c.TokenSelf(ctx)
	if err != nil {
		return Membership{}, err
	}
	if self.Kind != "member" {
		return Membership{}, errorf(CodeUsage, "this is a %s token; a home holds member tokens (the operator's stays on the relay)", self.Kind)
	}
	if council != "" && council != self.Council {
		return Membership{}, errorf(CodeUsage, "this token is a member's of council %s, not of %s", self.Council, council)
	}
	m := Membership{Council: self.Council, Member: self.Member, Relay: c.Relay(), Token: token}
	if v, err := c.Council(ctx, self.Council); err == nil {
		if mm, ok := v.Member(self.Member); ok {
			m.Name = mm.Name
		}
	}
	if old, ok, err := h.Membership(m.Council, m.Relay); err == nil && ok && old.Member == m.Member {
		m.LocalToken = old.LocalToken
	}
	return m, h.Save(m)
}
