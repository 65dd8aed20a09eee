package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Checking a store after a power cut (veche check) takes three looks:
// CheckFile asks bbolt whether the file's pages are consistent; a walk of
// DocumentIDs and Load finds documents whose records do not add up (the
// relay then rebuilds each with Automerge and compares its heads); and
// Leftovers finds records that point at documents the store does not hold.

// CheckFile runs bbolt's consistency check (Tx.Check) on the whole file
// and returns every problem it reports; none means the pages, free list
// and bucket structure are sound.
func (s *Bolt) CheckFile(ctx context.Context) (problems []error, err error) {
	defer wrap(&err, "check file")
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			problems = append(problems, e)
		}
		return nil
	})
	return problems, err
}

// DocumentIDs returns the id of every stored document, in byte order,
// reading nothing but the keys: unlike Documents it does not stop at a
// document whose records are damaged.
func (s *Bolt) DocumentIDs(ctx context.Context) (ids []string, err error) {
	defer wrap(&err, "document ids")
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDocs).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil {
				ids = append(ids, string(k))
			}
		}
		return nil
	})
	return ids, err
}

// Leftover is a record that points at a document the store does not hold:
// what an interrupted first sync, or a document that never got a change,
// leaves behind. Leftovers do no harm; they only take space.
type Leftover struct {
	// Bucket is where the record lives: "sync", "auth/owners",
	// "auth/tokens" or "auth/invites".
	Bucket string
	// Key names the record: the storage id and document id of a sync
	// state, a document id, or for credentials the kind of record (their
	// keys are hashes of secrets and are not shown).
	Key string
	// Missing is the document id the record points at.
	Missing string
}

// String says what the record is and which document it misses.
func (l Leftover) String() string {
	return fmt.Sprintf("%s %s: document %s is not stored", l.Bucket, l.Key, l.Missing)
}

// Leftovers lists the sync states of documents that are not stored, the
// owner records of documents (or councils) that are not stored, and the
// member tokens and invites of councils that are not stored.
func (s *Bolt) Leftovers(ctx context.Context) (out []Leftover, err error) {
	defer wrap(&err, "leftovers")
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		found, err := findLeftovers(tx)
		for _, f := range found {
			out = append(out, f.Leftover)
		}
		return err
	})
	return out, err
}

// RemoveLeftovers deletes every record Leftovers lists, in one
// transaction, and returns how many it deleted. Run it only while no
// relay serves the store: a relay may hold a document in memory that it
// has not stored yet, with its owner and sync states already recorded.
func (s *Bolt) RemoveLeftovers(ctx context.Context) (n int, err error) {
	defer wrap(&err, "remove leftovers")
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	err = s.db.Update(func(tx *bolt.Tx) error {
		s.countCommit(tx)
		found, err := findLeftovers(tx)
		if err != nil {
			return err
		}
		for _, f := range found {
			if err := f.bucket.Delete(f.key); err != nil {
				return err
			}
		}
		n = len(found)
		return nil
	})
	return n, err
}

// leftover is a Leftover with where it is stored.
type leftover struct {
	Leftover
	bucket *bolt.Bucket
	key    []byte
}

// findLeftovers collects the leftovers of tx; it reads everything before
// anything is deleted, so deleting them afterwards moves no cursor.
func findLeftovers(tx *bolt.Tx) (out []leftover, err error) {
	docs := tx.Bucket(bucketDocs)
	stored := func(id []byte) bool { return docs.Bucket(id) != nil }
	peers := tx.Bucket(bucketSync)
	err = peers.ForEachBucket(func(sid []byte) error {
		b := peers.Bucket(sid)
		return b.ForEach(func(doc, _ []byte) error {
			if !stored(doc) {
				out = append(out, leftover{Leftover{Bucket: "sync", Key: string(sid) + "/" + string(doc), Missing: string(doc)}, b, bytes.Clone(doc)})
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if b := authBucket(tx, bucketOwners); b != nil {
		err := b.ForEach(func(doc, council []byte) error {
			switch {
			case !stored(doc):
				out = append(out, leftover{Leftover{Bucket: "auth/owners", Key: string(doc), Missing: string(doc)}, b, bytes.Clone(doc)})
			case !stored(council):
				out = append(out, leftover{Leftover{Bucket: "auth/owners", Key: string(doc), Missing: string(council)}, b, bytes.Clone(doc)})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if b := authBucket(tx, bucketTokens); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			var rec TokenRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("%w: a token record: %w", ErrCorrupt, err)
			}
			if rec.Kind == TokenMember && !stored([]byte(rec.Council)) {
				out = append(out, leftover{Leftover{Bucket: "auth/tokens", Key: "member token of " + rec.Member, Missing: rec.Council}, b, bytes.Clone(k)})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if b := authBucket(tx, bucketInvites); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			var rec InviteRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("%w: an invite record: %w", ErrCorrupt, err)
			}
			if !stored([]byte(rec.Council)) {
				out = append(out, leftover{Leftover{Bucket: "auth/invites", Key: "invite", Missing: rec.Council}, b, bytes.Clone(k)})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SyncStates counts the persisted sync states.
func (s *Bolt) SyncStates(ctx context.Context) (n int, err error) {
	defer wrap(&err, "sync states")
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		peers := tx.Bucket(bucketSync)
		return peers.ForEachBucket(func(sid []byte) error {
			n += peers.Bucket(sid).Stats().KeyN
			return nil
		})
	})
	return n, err
}
