package server

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/veche-sync/veche/server/syncmsg"
)

// errSyncMessage is returned by syncMessageChunks for bytes that are not
// an Automerge sync message it understands.
var errSyncMessage = errors.New("not an Automerge sync message")

// carriesChanges reports whether a sync message, as syncmsg.Decode read it
// (parsed, err), may carry changes: so the relay can refuse a write
// before applying anything. The layout (automerge sync.rs, message type
// 0x42): heads, need (each a count and 32-byte hashes), have (a count of
// {lastSync hashes, bloom bytes}), then a count of changes. Anything else
// — another message type, a truncated message — counts as a write.
func carriesChanges(b []byte, parsed syncmsg.Message, err error) bool {
	return err != nil || len(b) == 0 || b[0] != 0x42 || len(parsed.Changes) > 0
}

type syncReader struct {
	b   []byte
	err error
}

func (r *syncReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errSyncMessage
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *syncReader) skip(n uint64) {
	if r.err != nil {
		return
	}
	if n > uint64(len(r.b)) {
		r.err = errSyncMessage
		return
	}
	r.b = r.b[n:]
}

func (r *syncReader) hashes() {
	n := r.uvarint()
	if n > uint64(len(r.b))/32 {
		r.err = errSyncMessage
		return
	}
	r.skip(n * 32)
}

// syncMessageChunks returns the change chunks a sync message carries (a
// v2 message, type 0x43, may carry a whole document as one chunk), without
// handing it to Automerge.
func syncMessageChunks(b []byte) ([][]byte, error) {
	m, err := syncmsg.Decode(b)
	if err != nil {
		return nil, errSyncMessage
	}
	return m.Changes, nil
}

// chunkHash is the quarantine's key of a chunk: for a change (chunk type
// 1) its Automerge change hash, the SHA-256 of everything after the magic
// bytes and checksum; for other chunks the same digest of their bytes,
// which names those exact bytes.
func chunkHash(chunk []byte) string {
	if len(chunk) < 8 {
		sum := sha256.Sum256(chunk)
		return hex.EncodeToString(sum[:])
	}
	sum := sha256.Sum256(chunk[8:])
	return hex.EncodeToString(sum[:])
}

// messageKeys are the quarantine keys of a sync message: its chunks'
// hashes and the whole message's.
func messageKeys(msg []byte) (changes []string, whole string) {
	chunks, _ := syncMessageChunks(msg)
	for _, c := range chunks {
		changes = append(changes, chunkHash(c))
	}
	return changes, messageHash(msg)
}

// Limits of validateSyncMessage, far above what automerge-rs sends (10
// bits per entry, 7 probes, one bloom filter per have).
const (
	maxBloomBitsPerEntry = 64
	maxBloomProbes       = 64
	maxBloomEntries      = 1 << 24
)

// validateSyncMessage checks in Go, before the Automerge core sees it,
// everything of a sync message that is not a change: the heads, needs and
// haves, and each have's bloom filter in full. A bloom filter that claims
// entries but has no bits crashes the core when it generates the answer
// (automerge/src/sync/bloom.rs:74, a division by zero: see
// testdata/crashers), long after the message was applied, where the
// sandbox cannot attribute it; this check refuses that class, and any
// filter whose parts disagree, as the core's own parser would refuse a
// truncated one.
func validateSyncMessage(b []byte) error {
	if len(b) == 0 || (b[0] != 0x42 && b[0] != 0x43) {
		return errSyncMessage
	}
	r := syncReader{b: b[1:]}
	r.hashes() // heads
	r.hashes() // need
	haves := r.uvarint()
	for i := uint64(0); i < haves && r.err == nil; i++ {
		r.hashes() // lastSync
		n := r.uvarint()
		if r.err == nil && n > uint64(len(r.b)) {
			return fmt.Errorf("%w: truncated bloom filter", errSyncMessage)
		}
		if r.err == nil {
			if err := validateBloom(r.b[:n]); err != nil {
				return err
			}
		}
		r.skip(n)
	}
	changes := r.uvarint()
	for i := uint64(0); i < changes && r.err == nil; i++ {
		r.skip(r.uvarint())
	}
	if r.err != nil {
		return r.err
	}
	return nil // what follows the changes (stock clients send their capabilities there) the core skips
}

// validateBloom checks one bloom filter: empty, or entries, bits per
// entry and probes (LEB128 u32) followed by exactly the bits they need.
func validateBloom(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	r := syncReader{b: b}
	entries, bits, probes := r.uvarint(), r.uvarint(), r.uvarint()
	if r.err != nil {
		return fmt.Errorf("%w: bloom filter header", errSyncMessage)
	}
	if entries > maxBloomEntries || bits > maxBloomBitsPerEntry || probes > maxBloomProbes {
		return fmt.Errorf("%w: bloom filter of %d entries, %d bits per entry, %d probes", errSyncMessage, entries, bits, probes)
	}
	if entries > 0 && (bits == 0 || probes == 0) {
		return fmt.Errorf("%w: bloom filter of %d entries with %d bits per entry and %d probes", errSyncMessage, entries, bits, probes)
	}
	if want := (entries*bits + 7) / 8; uint64(len(r.b)) != want {
		return fmt.Errorf("%w: bloom filter of %d bytes of bits, want %d", errSyncMessage, len(r.b), want)
	}
	return nil
}

// valuesInKnownMaps reports whether every change of a message keys its
// ops by map keys only, only sets values (syncmsg.SetsValuesOnly), and
// writes only into the root and maps in known: the lists and texts need
// no check after it (synchronizer.probe).
func valuesInKnownMaps(changes [][]byte, known map[syncmsg.ObjectID]bool) bool {
	for _, c := range changes {
		if syncmsg.KeysByPosition(c) || !syncmsg.SetsValuesOnly(c) {
			return false
		}
		objs, ok := syncmsg.Targets(c)
		if !ok {
			return false
		}
		for _, o := range objs {
			if !known[o] {
				return false
			}
		}
	}
	return true
}

// keysByPosition reports whether any of a message's changes keys an op by
// a list position (syncmsg.KeysByPosition), or cannot be read to tell.
func keysByPosition(changes [][]byte) bool {
	for _, c := range changes {
		if syncmsg.KeysByPosition(c) {
			return true
		}
	}
	return false
}
