package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// metaVersion is the version of the metaRecord encoding written by this code.
const metaVersion = 1

// metaRecord is Meta as stored under docs/<id>/meta: a JSON object such as
//
//	{"v":1,"created":"2025-01-02T03:04:05.123456789Z","updated":"…",
//	 "heads":["ab12…"],"snapshotBytes":0,"chunkBytes":812,"chunks":3}
//
// JSON costs a few dozen bytes per document over a binary encoding and keeps
// the store readable with `bbolt get`. v lets a later version migrate it.
type metaRecord struct {
	V             int       `json:"v"`
	Created       time.Time `json:"created"`
	Updated       time.Time `json:"updated"`
	Heads         []string  `json:"heads,omitempty"`
	SnapshotBytes int64     `json:"snapshotBytes"`
	ChunkBytes    int64     `json:"chunkBytes"`
	Chunks        int       `json:"chunks"`
}

// readMeta decodes the meta key of the document bucket b.
func readMeta(b *bolt.Bucket) (Meta, error) {
	v := b.Get(keyMeta)
	if v == nil {
		return Meta{}, fmt.Errorf("%w: document has no meta", ErrCorrupt)
	}
	var r metaRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return Meta{}, fmt.Errorf("%w: decode meta: %v", ErrCorrupt, err)
	}
	if r.V != metaVersion {
		return Meta{}, fmt.Errorf("%w: meta version %d, want %d", ErrCorrupt, r.V, metaVersion)
	}
	if r.Chunks < 0 || r.ChunkBytes < 0 || r.SnapshotBytes < 0 {
		return Meta{}, fmt.Errorf("%w: negative size in meta", ErrCorrupt)
	}
	return Meta{
		Created:       r.Created,
		Updated:       r.Updated,
		Heads:         r.Heads,
		SnapshotBytes: r.SnapshotBytes,
		ChunkBytes:    r.ChunkBytes,
		Chunks:        r.Chunks,
	}, nil
}

// writeMeta encodes m into the meta key of the document bucket b.
func writeMeta(b *bolt.Bucket, m Meta) error {
	v, err := json.Marshal(metaRecord{
		V:             metaVersion,
		Created:       m.Created,
		Updated:       m.Updated,
		Heads:         m.Heads,
		SnapshotBytes: m.SnapshotBytes,
		ChunkBytes:    m.ChunkBytes,
		Chunks:        m.Chunks,
	})
	if err != nil {
		return fmt.Errorf("encode meta: %w", err)
	}
	return b.Put(keyMeta, v)
}

// cloneHeads copies heads so the store never shares a caller's slice;
// an empty list becomes nil, which is how it reads back.
func cloneHeads(heads []string) []string {
	if len(heads) == 0 {
		return nil
	}
	return append([]string(nil), heads...)
}
