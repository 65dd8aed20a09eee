package store

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Credentials live in the top-level bucket auth, in sub-buckets created by
// the first write that needs them:
//
//	auth/tokens/<sha256>       TokenRecord as JSON, keyed by the 32-byte SHA-256 of the token
//	auth/invites/<sha256>      InviteRecord as JSON, keyed by the SHA-256 of the invite code
//	auth/owners/<documentId>   the documentId of the council that owns the document
//
// Secrets never reach this package: callers (package server/auth) hash them
// first, so the file holds only hashes.
var (
	bucketAuth    = []byte("auth")
	bucketTokens  = []byte("tokens")
	bucketInvites = []byte("invites")
	bucketOwners  = []byte("owners")
	bucketKeys    = []byte("keys")
)

// ErrExpired is returned by TakeInvite for an invite past its expiry. The
// invite is deleted all the same.
var ErrExpired = errors.New("expired")

// Token kinds, the values of TokenRecord.Kind.
const (
	TokenOperator = "operator"
	TokenMember   = "member"
	TokenPeer     = "peer"
)

// TokenRecord is what a token proves. Stored under the SHA-256 of the token.
type TokenRecord struct {
	Kind    string    `json:"kind"`              // "operator", "member", "peer"
	Council string    `json:"council,omitempty"` // member: home council documentId
	Member  string    `json:"member,omitempty"`  // member id
	Label   string    `json:"label,omitempty"`   // free text for operators, never secret
	Created time.Time `json:"created"`
}

// InviteRecord is a pending invitation to a council.
type InviteRecord struct {
	Council   string    `json:"council"`
	CreatedBy string    `json:"createdBy"` // member id
	Role      string    `json:"role,omitempty"`
	Expires   time.Time `json:"expires"`
}

// PutToken stores rec under hash, replacing any record there. A zero
// rec.Created is set to now. Kind must be one of the Token* constants, and a
// member token needs Council and Member.
func (s *Bolt) PutToken(ctx context.Context, hash [32]byte, rec TokenRecord) (err error) {
	defer wrap(&err, "put token")
	switch rec.Kind {
	case TokenOperator, TokenPeer:
	case TokenMember:
		if err := checkID("council id", rec.Council); err != nil {
			return err
		}
		if err := checkID("member id", rec.Member); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: token kind %q", ErrInvalid, rec.Kind)
	}
	if rec.Created.IsZero() {
		rec.Created = time.Now().UTC()
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.authPut(ctx, bucketTokens, hash[:], v)
}

// Token returns the record stored under hash, or ErrNotFound. The key found
// is compared with hash in constant time.
func (s *Bolt) Token(ctx context.Context, hash [32]byte) (rec TokenRecord, err error) {
	defer wrap(&err, "token")
	if err := s.acquire(ctx); err != nil {
		return TokenRecord{}, err
	}
	defer s.mu.RUnlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		v := lookupHash(authBucket(tx, bucketTokens), hash)
		if v == nil {
			return ErrNotFound
		}
		return decodeJSON(v, &rec)
	})
	if err != nil {
		return TokenRecord{}, err
	}
	return rec, nil
}

// RevokeToken deletes the token stored under hash; ErrNotFound if there is
// none.
func (s *Bolt) RevokeToken(ctx context.Context, hash [32]byte) (err error) {
	defer wrap(&err, "revoke token")
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		s.countCommit(tx)
		b := authBucket(tx, bucketTokens)
		if lookupHash(b, hash) == nil {
			return ErrNotFound
		}
		return b.Delete(hash[:])
	})
}

// RevokeMemberTokens deletes every member token of member in council and
// returns how many it deleted (0 is not an error).
func (s *Bolt) RevokeMemberTokens(ctx context.Context, council, member string) (n int, err error) {
	defer wrap(&err, "revoke tokens of member %q of %q", member, council)
	if err := checkID("council id", council); err != nil {
		return 0, err
	}
	if err := checkID("member id", member); err != nil {
		return 0, err
	}
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	err = s.db.Update(func(tx *bolt.Tx) error {
		s.countCommit(tx)
		n = 0
		b := authBucket(tx, bucketTokens)
		if b == nil {
			return nil
		}
		// Collect first, then delete: deleting under a moving cursor skips keys.
		var doomed [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var rec TokenRecord
			if err := decodeJSON(v, &rec); err != nil {
				return err
			}
			if rec.Kind == TokenMember && rec.Council == council && rec.Member == member {
				doomed = append(doomed, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// PutInvite stores rec under hash, replacing any invite there. Council and a
// non-zero Expires are required.
func (s *Bolt) PutInvite(ctx context.Context, hash [32]byte, rec InviteRecord) (err error) {
	defer wrap(&err, "put invite")
	if err := checkID("council id", rec.Council); err != nil {
		return err
	}
	if rec.Expires.IsZero() {
		return fmt.Errorf("%w: invite without expiry", ErrInvalid)
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.authPut(ctx, bucketInvites, hash[:], v)
}

// TakeInvite atomically deletes and returns the invite stored under hash.
// It returns ErrNotFound if there is none (never stored, or already taken),
// and ErrExpired, with the invite's record, if now is at or after
// rec.Expires; the expired invite is deleted too.
func (s *Bolt) TakeInvite(ctx context.Context, hash [32]byte, now time.Time) (rec InviteRecord, err error) {
	defer wrap(&err, "take invite")
	if err := s.acquire(ctx); err != nil {
		return InviteRecord{}, err
	}
	defer s.mu.RUnlock()
	err = s.db.Update(func(tx *bolt.Tx) error {
		s.countCommit(tx)
		b := authBucket(tx, bucketInvites)
		v := lookupHash(b, hash)
		if v == nil {
			return ErrNotFound
		}
		if err := decodeJSON(v, &rec); err != nil {
			return err
		}
		return b.Delete(hash[:])
	})
	if err != nil {
		return InviteRecord{}, err
	}
	if !now.Before(rec.Expires) {
		return rec, ErrExpired
	}
	return rec, nil
}

// SetOwner records that document docID belongs to council.
func (s *Bolt) SetOwner(ctx context.Context, docID, council string) (err error) {
	defer wrap(&err, "set owner of %q", docID)
	if err := checkID("document id", docID); err != nil {
		return err
	}
	if err := checkID("council id", council); err != nil {
		return err
	}
	return s.authPut(ctx, bucketOwners, []byte(docID), []byte(council))
}

// Owner returns the council that owns document docID, or ErrNotFound.
func (s *Bolt) Owner(ctx context.Context, docID string) (council string, err error) {
	defer wrap(&err, "owner of %q", docID)
	if err := checkID("document id", docID); err != nil {
		return "", err
	}
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.mu.RUnlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		b := authBucket(tx, bucketOwners)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get([]byte(docID))
		if v == nil {
			return ErrNotFound
		}
		council = string(v)
		return nil
	})
	return council, err
}

// OwnedCount returns how many documents council owns (SetOwner). It reads
// every owner record: the relay asks once per council and counts on from
// there.
func (s *Bolt) OwnedCount(ctx context.Context, council string) (n int, err error) {
	defer wrap(&err, "documents owned by %q", council)
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		b := authBucket(tx, bucketOwners)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			if string(v) == council {
				n++
			}
			return nil
		})
	})
	return n, err
}

// PutSealedKey stores the sealed custodial key of a member under
// auth/keys/<council>/<member>. The store never sees the key itself: the
// caller seals it (server/auth.Custody).
func (s *Bolt) PutSealedKey(ctx context.Context, council, member string, sealed []byte) (err error) {
	defer wrap(&err, "put key of %q/%q", council, member)
	if err := checkID("council id", council); err != nil {
		return err
	}
	if err := checkID("member id", member); err != nil {
		return err
	}
	return s.authPut(ctx, bucketKeys, []byte(council+"/"+member), sealed)
}

// SealedKey returns the sealed custodial key of a member, or ErrNotFound.
func (s *Bolt) SealedKey(ctx context.Context, council, member string) (sealed []byte, err error) {
	defer wrap(&err, "key of %q/%q", council, member)
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		b := authBucket(tx, bucketKeys)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get([]byte(council + "/" + member))
		if v == nil {
			return ErrNotFound
		}
		sealed = append([]byte(nil), v...)
		return nil
	})
	return sealed, err
}

// authPut puts k=v into auth/<sub>, creating the buckets if needed.
func (s *Bolt) authPut(ctx context.Context, sub, k, v []byte) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		s.countCommit(tx)
		a, err := tx.CreateBucketIfNotExists(bucketAuth)
		if err != nil {
			return err
		}
		b, err := a.CreateBucketIfNotExists(sub)
		if err != nil {
			return err
		}
		return b.Put(k, v)
	})
}

// authBucket returns auth/<sub>, or nil if it does not exist yet.
func authBucket(tx *bolt.Tx, sub []byte) *bolt.Bucket {
	a := tx.Bucket(bucketAuth)
	if a == nil {
		return nil
	}
	return a.Bucket(sub)
}

// lookupHash returns the value stored under hash in b (which may be nil), or
// nil. The key the B+tree search lands on is compared with hash in constant
// time, so the decision never rests on an early-exit byte comparison.
func lookupHash(b *bolt.Bucket, hash [32]byte) []byte {
	if b == nil {
		return nil
	}
	k, v := b.Cursor().Seek(hash[:])
	if k == nil || v == nil || subtle.ConstantTimeCompare(k, hash[:]) != 1 {
		return nil
	}
	return v
}

// decodeJSON decodes a stored record, reporting failure as ErrCorrupt.
func decodeJSON(v []byte, into any) error {
	if err := json.Unmarshal(v, into); err != nil {
		return fmt.Errorf("%w: undecodable record: %v", ErrCorrupt, err)
	}
	return nil
}
