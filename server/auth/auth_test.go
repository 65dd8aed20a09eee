package auth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/auth"
	"github.com/veche-sync/veche/server/store"
)

func newService(t *testing.T) (*auth.Service, *store.Bolt, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir, &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return auth.New(st), st, dir
}

func TestSecrets(t *testing.T) {
	seen := map[string]bool{}
	for i := range 2000 {
		for _, gen := range []struct {
			prefix string
			f      func() (string, [32]byte)
		}{{"vt_", auth.NewToken}, {"vi_", auth.NewInviteCode}} {
			s, hash := gen.f()
			if len(s) != auth.SecretLen || !strings.HasPrefix(s, gen.prefix) {
				t.Fatalf("secret %d: bad shape (len %d)", i, len(s))
			}
			raw, err := base64.RawURLEncoding.DecodeString(s[3:])
			if err != nil || len(raw) < 16 { // ≥128 bits
				t.Fatalf("secret %d: %d random bytes, %v", i, len(raw), err)
			}
			if hash != auth.Hash(s) {
				t.Fatal("returned hash is not Hash(secret)")
			}
			if seen[s] {
				t.Fatal("secret repeated")
			}
			seen[s] = true
		}
	}
	if auth.SecretLen != 46 {
		t.Fatalf("SecretLen = %d, want 46", auth.SecretLen)
	}
}

func TestAuthenticate(t *testing.T) {
	a, _, _ := newService(t)
	ctx := t.Context()

	member, err := a.IssueMemberToken(ctx, "council-1", "alice")
	if err != nil {
		t.Fatal(err)
	}
	op, err := a.IssueOperatorToken(ctx, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := a.IssuePeerToken(ctx, "north")
	if err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]server.Principal{
		member: server.MemberPrincipal("council-1", "alice"),
		op:     server.OperatorPrincipal,
		peer:   {ID: "peer:north", Kind: server.KindPeer},
	} {
		if got, err := a.Authenticate(ctx, token); err != nil || got != want {
			t.Errorf("Authenticate = %+v, %v; want %+v", got, err, want)
		}
	}

	if _, err := a.IssueMemberToken(ctx, "", "bob"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("IssueMemberToken without council: err = %v", err)
	}

	unknown, _ := auth.NewToken()
	invite, _ := auth.NewInviteCode()
	for name, token := range map[string]string{
		"empty":          "",
		"garbage":        "hello",
		"prefix only":    "vt_",
		"unknown":        unknown,
		"invite code":    invite,
		"trailing space": member + " ",
		"truncated":      member[:len(member)-1],
		"wrong prefix":   "vx_" + member[3:],
		"bad base64":     member[:len(member)-1] + "!",
		"non-canonical":  member[:len(member)-1] + flipLowBits(member[len(member)-1]),
		"bearer":         "Bearer " + member,
	} {
		if _, err := a.Authenticate(ctx, token); err != auth.ErrUnauthenticated {
			t.Errorf("%s: err = %v, want exactly ErrUnauthenticated", name, err)
		}
	}

	if err := a.Revoke(ctx, member); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, member); err != auth.ErrUnauthenticated {
		t.Errorf("revoked: err = %v", err)
	}
	if err := a.Revoke(ctx, member); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second revoke: err = %v", err)
	}
	if err := a.Revoke(ctx, "junk"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke junk: err = %v", err)
	}
	if _, err := a.Authenticate(ctx, op); err != nil {
		t.Errorf("revoke hit the operator token: %v", err)
	}
}

// flipLowBits returns the base64url character that differs from c only in
// its lowest bits, which the last character of 32 bytes does not use: the
// string decodes to the same bytes only without strict decoding.
func flipLowBits(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return string(alphabet[i^1])
}

func TestAuthenticateStoreFailure(t *testing.T) {
	a, st, _ := newService(t)
	token, err := a.IssueOperatorToken(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, err = a.Authenticate(t.Context(), token)
	if !errors.Is(err, store.ErrClosed) || errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("Authenticate on closed store: err = %v, want ErrClosed", err)
	}
}

func TestRevokeMember(t *testing.T) {
	a, _, _ := newService(t)
	ctx := t.Context()
	var alice []string
	for range 3 {
		tok, err := a.IssueMemberToken(ctx, "c", "alice")
		if err != nil {
			t.Fatal(err)
		}
		alice = append(alice, tok)
	}
	bob, _ := a.IssueMemberToken(ctx, "c", "bob")
	if n, err := a.RevokeMember(ctx, "c", "alice"); err != nil || n != 3 {
		t.Fatalf("RevokeMember = %d, %v; want 3", n, err)
	}
	for _, tok := range alice {
		if _, err := a.Authenticate(ctx, tok); err != auth.ErrUnauthenticated {
			t.Errorf("alice's token still works: %v", err)
		}
	}
	if p, err := a.Authenticate(ctx, bob); err != nil || p.Member != "bob" {
		t.Errorf("bob = %+v, %v", p, err)
	}
}

func TestInvites(t *testing.T) {
	a, _, _ := newService(t)
	ctx := t.Context()
	start := time.Now()

	code, expires, err := a.CreateInvite(ctx, "c", "alice", "member", 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := expires.Sub(start); d < auth.DefaultInviteTTL || d > auth.DefaultInviteTTL+time.Minute {
		t.Errorf("default expiry in %v, want %v", d, auth.DefaultInviteTTL)
	}
	if _, err := a.Authenticate(ctx, code); err != auth.ErrUnauthenticated {
		t.Errorf("invite code authenticates as a token: %v", err)
	}
	rec, err := a.TakeInvite(ctx, code, time.Now())
	if err != nil || rec.Council != "c" || rec.CreatedBy != "alice" || rec.Role != "member" || !rec.Expires.Equal(expires) {
		t.Fatalf("TakeInvite = %+v, %v", rec, err)
	}
	if _, err := a.TakeInvite(ctx, code, time.Now()); err != auth.ErrInviteInvalid {
		t.Fatalf("second TakeInvite: err = %v, want ErrInviteInvalid", err)
	}

	code, expires, err = a.CreateInvite(ctx, "c", "alice", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if d := expires.Sub(start); d < time.Hour || d > time.Hour+time.Minute {
		t.Errorf("expiry in %v, want 1h", d)
	}
	_, err = a.TakeInvite(ctx, code, expires.Add(time.Second))
	if !errors.Is(err, auth.ErrInviteInvalid) || !errors.Is(err, store.ErrExpired) {
		t.Fatalf("expired TakeInvite: err = %v", err)
	}
	if _, err := a.TakeInvite(ctx, code, start); err != auth.ErrInviteInvalid {
		t.Fatalf("expired invite usable after failed take: err = %v", err)
	}

	token, _ := a.IssueOperatorToken(ctx, "")
	for name, c := range map[string]string{"empty": "", "garbage": "x", "token": token, "unknown": first(auth.NewInviteCode())} {
		if _, err := a.TakeInvite(ctx, c, time.Now()); err != auth.ErrInviteInvalid {
			t.Errorf("%s: err = %v, want ErrInviteInvalid", name, err)
		}
	}
	if _, _, err := a.CreateInvite(ctx, "", "alice", "", 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateInvite without council: err = %v", err)
	}
}

func first(s string, _ [32]byte) string { return s }

func TestEnsureOperatorToken(t *testing.T) {
	a, st, dir := newService(t)
	ctx := t.Context()

	path, created, err := auth.EnsureOperatorToken(ctx, a, dir)
	if err != nil || !created || path != filepath.Join(dir, "operator.token") {
		t.Fatalf("EnsureOperatorToken = %q, %v, %v", path, created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode())
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(content))
	if p, err := a.Authenticate(ctx, token); err != nil || p != server.OperatorPrincipal {
		t.Fatalf("file token = %+v, %v", p, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 { // veche.db, operator.token
		t.Errorf("data directory holds %d files, want 2 (temporary file left?)", len(entries))
	}

	path2, created, err := auth.EnsureOperatorToken(ctx, a, dir)
	if err != nil || created || path2 != path {
		t.Fatalf("second EnsureOperatorToken = %q, %v, %v", path2, created, err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, content) {
		t.Fatal("second call changed the file")
	}

	// The token revoked (or the store replaced): refuse, and say what to do.
	if err := a.Revoke(ctx, token); err != nil {
		t.Fatal(err)
	}
	_, created, err = auth.EnsureOperatorToken(ctx, a, dir)
	if err == nil || created || !strings.Contains(err.Error(), "delete") || strings.Contains(err.Error(), token) {
		t.Fatalf("stale file: created %v, err = %v", created, err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, content) {
		t.Fatal("refusing call changed the file")
	}
	// A member token in the file is not an operator token.
	member, _ := a.IssueMemberToken(ctx, "c", "m")
	if err := os.WriteFile(path, []byte(member+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := auth.EnsureOperatorToken(ctx, a, dir); err == nil || strings.Contains(err.Error(), member) {
		t.Fatalf("member token in file: err = %v", err)
	}
	// Deleting the file gets a new token.
	os.Remove(path)
	if _, created, err := auth.EnsureOperatorToken(ctx, a, dir); err != nil || !created {
		t.Fatalf("after delete: %v, %v", created, err)
	}
	if fresh, _ := os.ReadFile(path); bytes.Equal(fresh, content) {
		t.Fatal("new token equals the old one")
	}

	// A failing store leaves no file behind.
	other := t.TempDir()
	st.Close()
	if _, created, err := auth.EnsureOperatorToken(ctx, a, other); err == nil || created {
		t.Fatalf("closed store: %v, %v", created, err)
	}
	if entries, _ := os.ReadDir(other); len(entries) != 0 {
		t.Fatalf("closed store left %d files", len(entries))
	}
}

// TestNoSecretAtRest issues and uses many tokens and invites, failures
// included, and checks that no secret, nor its random bytes, appears in the
// bbolt file, in log output or in any error message.
func TestNoSecretAtRest(t *testing.T) {
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	dir := t.TempDir()
	st, err := store.Open(dir, &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	a := auth.New(st)
	ctx := context.Background()

	var secrets []string
	var errs []error
	keep := func(s string, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s)
		return s
	}
	fail := func(err error) {
		if err == nil {
			t.Fatal("expected an error")
		}
		errs = append(errs, err)
	}

	_, _, err = auth.EnsureOperatorToken(ctx, a, dir)
	if err != nil {
		t.Fatal(err)
	}
	opFile, _ := os.ReadFile(filepath.Join(dir, "operator.token"))
	op := keep(strings.TrimSpace(string(opFile)), nil)
	for i := range 50 {
		m := keep(a.IssueMemberToken(ctx, "council", "member"+string(rune('a'+i%26))))
		keep(a.IssueOperatorToken(ctx, "label"))
		keep(a.IssuePeerToken(ctx, "peer"))
		if _, err := a.Authenticate(ctx, m); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if err := a.Revoke(ctx, m); err != nil {
				t.Fatal(err)
			}
			_, err := a.Authenticate(ctx, m)
			fail(err)
			fail(a.Revoke(ctx, m))
		}
		code, _, err := a.CreateInvite(ctx, "council", "membera", "member", time.Hour)
		keep(code, err)
		if i%2 == 0 {
			if _, err := a.TakeInvite(ctx, code, time.Now()); err != nil {
				t.Fatal(err)
			}
			_, err := a.TakeInvite(ctx, code, time.Now())
			fail(err)
		} else if i%5 == 1 {
			_, err := a.TakeInvite(ctx, code, time.Now().Add(2*time.Hour))
			fail(err)
		}
		// Near misses of a real secret.
		_, err = a.Authenticate(ctx, m+"x")
		fail(err)
		_, err = a.TakeInvite(ctx, code[:len(code)-1], time.Now())
		fail(err)
	}
	if _, err := a.RevokeMember(ctx, "council", "memberb"); err != nil {
		t.Fatal(err)
	}
	// A stale operator.token file.
	if err := a.Revoke(ctx, op); err != nil {
		t.Fatal(err)
	}
	_, _, err = auth.EnsureOperatorToken(ctx, a, dir)
	fail(err)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Errors from a closed store.
	_, err = a.Authenticate(ctx, secrets[1])
	fail(err)
	_, err = a.TakeInvite(ctx, secrets[len(secrets)-1], time.Now())
	fail(err)
	_, err = a.IssueMemberToken(ctx, "c", "m")
	fail(err)

	db, err := os.ReadFile(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	var texts bytes.Buffer
	for _, err := range errs {
		texts.WriteString(err.Error())
		texts.WriteByte('\n')
	}
	hashes := 0
	for _, s := range secrets {
		raw, err := base64.RawURLEncoding.DecodeString(s[3:])
		if err != nil {
			t.Fatal(err)
		}
		for where, b := range map[string][]byte{"bbolt file": db, "logs": logs.Bytes(), "errors": texts.Bytes()} {
			if bytes.Contains(b, []byte(s)) || bytes.Contains(b, []byte(s[3:])) || bytes.Contains(b, raw) {
				t.Errorf("secret %.5s… found in %s", s, where)
			}
		}
		if h := auth.Hash(s); bytes.Contains(db, h[:]) {
			hashes++
		}
	}
	// The scan can see what is there: the hashes of live secrets are.
	if hashes == 0 {
		t.Fatal("no hash found in the bbolt file; the scan looks in the wrong place")
	}
	t.Logf("%d secrets, %d hashes still in the file, %d errors checked", len(secrets), hashes, len(errs))
}
