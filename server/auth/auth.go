package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/store"
)

// Prefixes of the two kinds of secret.
const (
	TokenPrefix  = "vt_"
	InvitePrefix = "vi_"
)

// secretBytes is the number of random bytes in a secret.
const secretBytes = 32

// SecretLen is the length of a token or invite code, prefix included:
// 3 + 43 unpadded base64url characters for 32 bytes.
const SecretLen = len(TokenPrefix) + (secretBytes*8+5)/6

// DefaultInviteTTL is how long an invite lasts when CreateInvite is given no
// positive ttl.
const DefaultInviteTTL = 7 * 24 * time.Hour

var (
	// ErrUnauthenticated is returned by Authenticate for a token that is
	// empty, malformed, unknown or revoked; it does not say which.
	ErrUnauthenticated = errors.New("auth: invalid or revoked token")

	// ErrInviteInvalid is returned by TakeInvite for an invite code that is
	// malformed, unknown, already used or expired. An expired invite's error
	// also wraps store.ErrExpired.
	ErrInviteInvalid = errors.New("auth: invalid, used or expired invite")
)

// NewToken returns a new random token and its hash.
func NewToken() (secret string, hash [32]byte) { return newSecret(TokenPrefix) }

// NewInviteCode returns a new random invite code and its hash.
func NewInviteCode() (secret string, hash [32]byte) { return newSecret(InvitePrefix) }

func newSecret(prefix string) (string, [32]byte) {
	var raw [secretBytes]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails; it crashes the program instead.
	secret := prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	return secret, Hash(secret)
}

// Hash returns the SHA-256 of secret, the key it is stored under.
func Hash(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// wellFormed reports whether s looks like a secret with the given prefix.
// It only rejects garbage early; the lookup by hash decides.
func wellFormed(s, prefix string) bool {
	if len(s) != SecretLen || !strings.HasPrefix(s, prefix) {
		return false
	}
	n, err := base64.RawURLEncoding.Strict().DecodeString(s[len(prefix):])
	return err == nil && len(n) == secretBytes
}

// TokenStore keeps credentials by the hash of their secret: the tokens
// and invites a Service issues. store.Bolt implements it.
type TokenStore interface {
	PutToken(ctx context.Context, hash [32]byte, rec store.TokenRecord) error
	// Token returns the record under hash, comparing keys in constant
	// time; store.ErrNotFound when there is none.
	Token(ctx context.Context, hash [32]byte) (store.TokenRecord, error)
	RevokeToken(ctx context.Context, hash [32]byte) error
	// RevokeMemberTokens revokes every token of a member and says how many.
	RevokeMemberTokens(ctx context.Context, council, member string) (int, error)
	PutInvite(ctx context.Context, hash [32]byte, rec store.InviteRecord) error
	// TakeInvite uses up an invite valid at now, once.
	TakeInvite(ctx context.Context, hash [32]byte, now time.Time) (store.InviteRecord, error)
}

var _ TokenStore = (*store.Bolt)(nil)

// Service issues and checks credentials kept in a TokenStore.
type Service struct {
	st  TokenStore
	now func() time.Time
}

// New returns a Service on st.
func New(st TokenStore) *Service {
	return &Service{st: st, now: time.Now}
}

// Authenticate maps a presented token to its principal. Lookup is by hash,
// so no secret is compared byte by byte, and the store compares the key it
// finds with the hash in constant time. An empty, malformed, unknown or
// revoked token gives ErrUnauthenticated; a failing store gives another
// error (the token is not in it).
func (a *Service) Authenticate(ctx context.Context, token string) (server.Principal, error) {
	if !wellFormed(token, TokenPrefix) {
		return server.Principal{}, ErrUnauthenticated
	}
	rec, err := a.st.Token(ctx, Hash(token))
	if errors.Is(err, store.ErrNotFound) {
		return server.Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return server.Principal{}, fmt.Errorf("auth: authenticate: %w", err)
	}
	p, ok := principalOf(rec)
	if !ok {
		return server.Principal{}, ErrUnauthenticated
	}
	return p, nil
}

// principalOf returns the principal a token record proves; false for a
// record that proves nothing (unknown kind, member without ids).
func principalOf(rec store.TokenRecord) (server.Principal, bool) {
	switch rec.Kind {
	case store.TokenOperator:
		return server.OperatorPrincipal, true
	case store.TokenMember:
		if rec.Council == "" || rec.Member == "" {
			return server.Principal{}, false
		}
		return server.MemberPrincipal(rec.Council, rec.Member), true
	case store.TokenPeer:
		return server.Principal{ID: "peer:" + rec.Label, Kind: server.KindPeer}, true
	}
	return server.Principal{}, false
}

// IssueMemberToken issues a token for member of council.
func (a *Service) IssueMemberToken(ctx context.Context, council, member string) (secret string, err error) {
	return a.issue(ctx, store.TokenRecord{Kind: store.TokenMember, Council: council, Member: member})
}

// IssueOperatorToken issues an operator token; label is free text (never
// secret) to tell the operator's tokens apart.
func (a *Service) IssueOperatorToken(ctx context.Context, label string) (secret string, err error) {
	return a.issue(ctx, store.TokenRecord{Kind: store.TokenOperator, Label: label})
}

// IssuePeerToken issues a token for a peer relay; it authenticates as the
// principal "peer:"+label.
func (a *Service) IssuePeerToken(ctx context.Context, label string) (secret string, err error) {
	return a.issue(ctx, store.TokenRecord{Kind: store.TokenPeer, Label: label})
}

func (a *Service) issue(ctx context.Context, rec store.TokenRecord) (string, error) {
	secret, hash := NewToken()
	rec.Created = a.now().UTC()
	if err := a.st.PutToken(ctx, hash, rec); err != nil {
		return "", fmt.Errorf("auth: issue %s token: %w", rec.Kind, err)
	}
	return secret, nil
}

// Revoke revokes token. An unknown or malformed token gives an error
// wrapping store.ErrNotFound.
func (a *Service) Revoke(ctx context.Context, token string) error {
	if !wellFormed(token, TokenPrefix) {
		return fmt.Errorf("auth: revoke: %w: malformed token", store.ErrNotFound)
	}
	if err := a.st.RevokeToken(ctx, Hash(token)); err != nil {
		return fmt.Errorf("auth: revoke: %w", err)
	}
	return nil
}

// RevokeMember revokes every token of member of council, as when the member
// leaves, and returns how many there were.
func (a *Service) RevokeMember(ctx context.Context, council, member string) (int, error) {
	n, err := a.st.RevokeMemberTokens(ctx, council, member)
	if err != nil {
		return 0, fmt.Errorf("auth: revoke member: %w", err)
	}
	return n, nil
}

// CreateInvite creates a single-use invite to council by member createdBy,
// valid for ttl (DefaultInviteTTL if ttl <= 0). It returns the code to hand
// to the invitee and when it expires.
func (a *Service) CreateInvite(ctx context.Context, council, createdBy, role string, ttl time.Duration) (code string, expires time.Time, err error) {
	if ttl <= 0 {
		ttl = DefaultInviteTTL
	}
	code, hash := NewInviteCode()
	expires = a.now().Add(ttl).UTC()
	rec := store.InviteRecord{Council: council, CreatedBy: createdBy, Role: role, Expires: expires}
	if err := a.st.PutInvite(ctx, hash, rec); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: create invite: %w", err)
	}
	return code, expires, nil
}

// TakeInvite uses up the invite code and returns its record. A malformed,
// unknown, already used or expired code gives ErrInviteInvalid (an expired
// one also wraps store.ErrExpired); either way the code is no good after
// the call.
func (a *Service) TakeInvite(ctx context.Context, code string, now time.Time) (store.InviteRecord, error) {
	if !wellFormed(code, InvitePrefix) {
		return store.InviteRecord{}, ErrInviteInvalid
	}
	rec, err := a.st.TakeInvite(ctx, Hash(code), now)
	switch {
	case err == nil:
		return rec, nil
	case errors.Is(err, store.ErrNotFound):
		return store.InviteRecord{}, ErrInviteInvalid
	case errors.Is(err, store.ErrExpired):
		return store.InviteRecord{}, fmt.Errorf("%w: %w", ErrInviteInvalid, store.ErrExpired)
	}
	return store.InviteRecord{}, fmt.Errorf("auth: take invite: %w", err)
}
