package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/veche-sync/veche/server/wire"
)

func TestDialHandshakeBetweenRelays(t *testing.T) {
	village := newTestRelay(t, openStore(t), Options{PeerID: "village", StorageID: "village-store"})
	district := newTestRelay(t, openStore(t), Options{PeerID: "district", StorageID: "district-store"})
	dialSide, acceptSide := newPipe()
	dialed := make(chan error, 1)
	go func() { dialed <- village.Dial(context.Background(), dialSide, Principal{ID: "link:district"}) }()
	go district.Accept(context.Background(), acceptSide, Principal{ID: "link:village"})
	// A peer is bound to its senderId once its handshake is done.
	handshaken := func(r *Relay) bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.byID) == 1
	}
	waitUntil(t, "both relays to see each other", func() bool { return handshaken(village) && handshaken(district) })

	// Each side recorded the other's identity from the handshake.
	for _, c := range []struct {
		r             *Relay
		id, storageID string
	}{{village, "district", "district-store"}, {district, "village", "village-store"}} {
		c.r.mu.Lock()
		for pe := range c.r.peers {
			if pe.id != c.id || pe.meta.StorageID != c.storageID || pe.storageID() != syncStateKey(pe.principal, c.storageID) {
				t.Errorf("%s recorded peer %q storage %q", c.r.PeerID(), pe.id, pe.meta.StorageID)
			}
		}
		c.r.mu.Unlock()
	}
	dialSide.Close("")
	select {
	case <-dialed:
	case <-time.After(5 * time.Second):
		t.Fatal("Dial did not return after the link closed")
	}
}

func TestDialRefusedVersion(t *testing.T) {
	village := newTestRelay(t, openStore(t), Options{})
	mine, theirs := newPipe()
	dialed := make(chan error, 1)
	go func() { dialed <- village.Dial(context.Background(), theirs, Principal{ID: "link"}) }()
	other := &testPeer{t: t, conn: mine}
	join := other.recvRaw(5 * time.Second)
	if join.Type != wire.TypeJoin || len(join.SupportedProtocolVersions) != 1 || join.SupportedProtocolVersions[0] != "1" {
		t.Fatalf("dialing relay sent %+v", join)
	}
	other.sendMsg(wire.Message{Type: wire.TypeError, SenderID: "other", ErrorMessage: "unsupported protocol version"})
	select {
	case err := <-dialed:
		if !errors.Is(err, ErrHandshake) {
			t.Fatalf("Dial returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Dial did not give up")
	}
}
