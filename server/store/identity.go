package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketRelay  = []byte("relay")
	keyStorageID = []byte("storage-id")
)

// StorageID returns the store's identity, created at random the first time
// and stable for the life of the data directory. A relay announces it as
// its storageId, and peers key the sync state they keep for the relay by
// it, so a reconnect after days offline resumes instead of starting over.
func (s *Bolt) StorageID(ctx context.Context) (id string, err error) {
	defer wrap(&err, "storage id")
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.mu.RUnlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketRelay); b != nil {
			id = string(b.Get(keyStorageID))
		}
		return nil
	})
	if err != nil || id != "" {
		return id, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		s.countCommit(tx)
		b, err := tx.CreateBucketIfNotExists(bucketRelay)
		if err != nil {
			return err
		}
		if v := b.Get(keyStorageID); v != nil {
			id = string(v)
			return nil
		}
		var raw [16]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return err
		}
		id = hex.EncodeToString(raw[:])
		return b.Put(keyStorageID, []byte(id))
	})
	return id, err
}
