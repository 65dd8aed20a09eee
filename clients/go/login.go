package client

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"time"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/crdt"
)

// RegisterKey makes the home's device key count for m's member in m's
// council: the relay adds it (signed with the member's custodial key) if
// the council's log does not hold it yet. The replica signs the member's
// offline operations with that key. Login does this; call it when a
// membership is saved some other way (accept --save, create --save).
func (h *Home) RegisterKey(ctx context.Context, m Membership, hc *http.Client) error {
	c, err := New(m.Relay, m.Token, hc)
	if err != nil {
		return err
	}
	return h.registerKey(ctx, c, m)
}

func (h *Home) registerKey(ctx context.Context, c *Client, m Membership) error {
	key, err := h.Key()
	if err != nil {
		return err
	}
	pub := crdt.EncodeKey(key.Public().(ed25519.PublicKey))
	v, err := c.Council(ctx, m.Council)
	if err != nil {
		return err
	}
	if mm, ok := v.Member(m.Member); ok && mm.HasKey(pub, time.Now()) {
		return nil
	}
	_, err = c.AddKey(ctx, m.Council, api.KeyRequest{Key: pub})
	return err
}

// homeSigners signs a replica's operations with the home's device key.
type homeSigners struct{ h *Home }

// Signer returns the device key as member's signer in council.
func (s homeSigners) Signer(_ context.Context, council, member string) (crdt.Signer, error) {
	key, err := s.h.Key()
	if err != nil {
		return crdt.Signer{}, err
	}
	return crdt.Signer{Council: council, Member: member, Key: key}, nil
}

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
	if err := h.registerKey(ctx, c, m); err != nil {
		return Membership{}, err
	}
	if old, ok, err := h.Membership(m.Council, m.Relay); err == nil && ok && old.Member == m.Member {
		m.LocalToken = old.LocalToken
	}
	return m, h.Save(m)
}
