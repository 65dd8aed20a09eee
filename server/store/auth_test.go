package store_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/veche-sync/veche/server/store"
)

func openAuthStore(t *testing.T) *store.Bolt {
	t.Helper()
	s, err := store.Open(t.TempDir(), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func hashOf(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func TestTokens(t *testing.T) {
	s := openAuthStore(t)
	ctx := t.Context()

	if _, err := s.Token(ctx, hashOf("none")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Token on empty store: err = %v, want ErrNotFound", err)
	}
	if err := s.RevokeToken(ctx, hashOf("none")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RevokeToken on empty store: err = %v, want ErrNotFound", err)
	}
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	want := store.TokenRecord{Kind: "member", Council: "c1", Member: "m1", Label: "phone", Created: created}
	if err := s.PutToken(ctx, hashOf("a"), want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Token(ctx, hashOf("a"))
	if err != nil || !got.Created.Equal(created) || got.Kind != want.Kind || got.Council != want.Council ||
		got.Member != want.Member || got.Label != want.Label {
		t.Fatalf("Token = %+v, %v; want %+v", got, err, want)
	}
	// A key that sorts right after an existing one is not found.
	near := hashOf("a")
	near[31]++
	if _, err := s.Token(ctx, near); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Token of neighbour key: err = %v", err)
	}
	if err := s.PutToken(ctx, hashOf("op"), store.TokenRecord{Kind: "operator"}); err != nil {
		t.Fatal(err)
	}
	if op, err := s.Token(ctx, hashOf("op")); err != nil || op.Created.IsZero() {
		t.Fatalf("operator token = %+v, %v; want Created set", op, err)
	}
	if err := s.RevokeToken(ctx, hashOf("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, hashOf("a")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Token after revoke: err = %v", err)
	}
	if err := s.RevokeToken(ctx, hashOf("a")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second revoke: err = %v", err)
	}
	if _, err := s.Token(ctx, hashOf("op")); err != nil {
		t.Fatalf("revoke removed another token: %v", err)
	}

	for _, bad := range []store.TokenRecord{
		{}, {Kind: "root"}, {Kind: "member"}, {Kind: "member", Council: "c"}, {Kind: "member", Member: "m"},
	} {
		if err := s.PutToken(ctx, hashOf("bad"), bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutToken(%+v): err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestRevokeMemberTokens(t *testing.T) {
	s := openAuthStore(t)
	ctx := t.Context()
	put := func(key string, rec store.TokenRecord) {
		t.Helper()
		if err := s.PutToken(ctx, hashOf(key), rec); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		put(fmt.Sprint("m1-", i), store.TokenRecord{Kind: "member", Council: "c1", Member: "m1"})
	}
	put("m2", store.TokenRecord{Kind: "member", Council: "c1", Member: "m2"})
	put("other-council", store.TokenRecord{Kind: "member", Council: "c2", Member: "m1"})
	put("peer", store.TokenRecord{Kind: "peer", Council: "c1", Member: "m1", Label: "m1"})
	put("op", store.TokenRecord{Kind: "operator"})

	n, err := s.RevokeMemberTokens(ctx, "c1", "m1")
	if err != nil || n != 5 {
		t.Fatalf("RevokeMemberTokens = %d, %v; want 5", n, err)
	}
	for i := range 5 {
		if _, err := s.Token(ctx, hashOf(fmt.Sprint("m1-", i))); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token m1-%d survived: %v", i, err)
		}
	}
	for _, k := range []string{"m2", "other-council", "peer", "op"} {
		if _, err := s.Token(ctx, hashOf(k)); err != nil {
			t.Errorf("token %s was revoked: %v", k, err)
		}
	}
	if n, err := s.RevokeMemberTokens(ctx, "c1", "m1"); err != nil || n != 0 {
		t.Fatalf("second RevokeMemberTokens = %d, %v; want 0", n, err)
	}
	if _, err := s.RevokeMemberTokens(ctx, "", "m1"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty council: err = %v", err)
	}
	// On a store that never held a token.
	if n, err := openAuthStore(t).RevokeMemberTokens(ctx, "c", "m"); err != nil || n != 0 {
		t.Fatalf("RevokeMemberTokens on empty store = %d, %v", n, err)
	}
}

func TestInvites(t *testing.T) {
	s := openAuthStore(t)
	ctx := t.Context()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	if _, err := s.TakeInvite(ctx, hashOf("x"), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeInvite on empty store: err = %v", err)
	}
	want := store.InviteRecord{Council: "c1", CreatedBy: "m1", Role: "member", Expires: now.Add(time.Hour)}
	if err := s.PutInvite(ctx, hashOf("i1"), want); err != nil {
		t.Fatal(err)
	}
	got, err := s.TakeInvite(ctx, hashOf("i1"), now)
	if err != nil || got.Council != want.Council || got.CreatedBy != want.CreatedBy || got.Role != want.Role ||
		!got.Expires.Equal(want.Expires) {
		t.Fatalf("TakeInvite = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.TakeInvite(ctx, hashOf("i1"), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second TakeInvite: err = %v, want ErrNotFound", err)
	}

	// Expired: ErrExpired once, then gone.
	if err := s.PutInvite(ctx, hashOf("i2"), want); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeInvite(ctx, hashOf("i2"), want.Expires); !errors.Is(err, store.ErrExpired) {
		t.Fatalf("TakeInvite at expiry: err = %v, want ErrExpired", err)
	}
	if _, err := s.TakeInvite(ctx, hashOf("i2"), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeInvite after expiry: err = %v, want ErrNotFound", err)
	}

	for _, bad := range []store.InviteRecord{{Expires: now}, {Council: "c1"}} {
		if err := s.PutInvite(ctx, hashOf("bad"), bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutInvite(%+v): err = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestTakeInviteOnce races many takers of one invite: exactly one wins.
func TestTakeInviteOnce(t *testing.T) {
	s := openAuthStore(t)
	ctx := t.Context()
	now := time.Now()
	if err := s.PutInvite(ctx, hashOf("i"), store.InviteRecord{Council: "c", Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	const n = 16
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := s.TakeInvite(ctx, hashOf("i"), now)
			errs <- err
		}()
	}
	wins := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("TakeInvite: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d takers got the invite, want 1", wins)
	}
}

func TestOwners(t *testing.T) {
	s := openAuthStore(t)
	ctx := t.Context()
	if _, err := s.Owner(ctx, "d1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Owner on empty store: err = %v", err)
	}
	if err := s.SetOwner(ctx, "d1", "c1"); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Owner(ctx, "d1"); err != nil || c != "c1" {
		t.Fatalf("Owner = %q, %v", c, err)
	}
	if _, err := s.Owner(ctx, "d2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Owner(d2): err = %v", err)
	}
	if err := s.SetOwner(ctx, "d1", ""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("SetOwner empty council: err = %v", err)
	}
	if err := s.SetOwner(ctx, "", "c1"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("SetOwner empty doc: err = %v", err)
	}
	// Counted per council; a document set again counts once.
	for _, d := range []string{"d2", "d3", "d2"} {
		if err := s.SetOwner(ctx, d, "c2"); err != nil {
			t.Fatal(err)
		}
	}
	for council, want := range map[string]int{"c1": 1, "c2": 2, "c3": 0} {
		if n, err := s.OwnedCount(ctx, council); err != nil || n != want {
			t.Fatalf("OwnedCount(%s) = %d, %v; want %d", council, n, err, want)
		}
	}
}

func TestAuthPersistsAndClosed(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := s.PutToken(ctx, hashOf("t"), store.TokenRecord{Kind: "peer", Label: "north"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOwner(ctx, "d", "c"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Token(ctx, hashOf("t")); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Token after Close: err = %v", err)
	}
	if _, err := s.TakeInvite(ctx, hashOf("t"), time.Now()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("TakeInvite after Close: err = %v", err)
	}
	s, err = store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rec, err := s.Token(ctx, hashOf("t")); err != nil || rec.Label != "north" {
		t.Fatalf("Token after reopen = %+v, %v", rec, err)
	}
	if c, err := s.Owner(ctx, "d"); err != nil || c != "c" {
		t.Fatalf("Owner after reopen = %q, %v", c, err)
	}
}
