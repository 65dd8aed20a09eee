package syncmsg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Message types, the first byte of every sync message.
const (
	// V1 is a message whose changes are individual change chunks.
	V1 byte = 0x42
	// V2 is a message whose single change entry is a blob for
	// loadIncremental, such as a whole saved document.
	V2 byte = 0x43
)

// Hash is an Automerge change hash.
type Hash [32]byte

// Have summarises what the sender of a message has: the heads of its last
// sync with the recipient and a bloom filter of the changes it added since.
type Have struct {
	LastSync []Hash
	Bloom    []byte // encoded bloom filter; empty for none
}

// Message is one sync message.
type Message struct {
	Type    byte // V1 or V2
	Heads   []Hash
	Need    []Hash
	Have    []Have
	Changes [][]byte
	// Flags is the raw flags section after the changes, nil when the
	// message has none. Its presence says the sender reads V2 messages.
	Flags []byte
}

// ErrMalformed is returned by Decode for bytes that are not a sync message.
var ErrMalformed = errors.New("malformed sync message")

// SupportsV2 reports whether the sender announced it reads V2 messages.
func (m *Message) SupportsV2() bool { return m.Flags != nil }

// Decode parses a sync message. The returned slices alias b.
func Decode(b []byte) (Message, error) {
	if len(b) == 0 || (b[0] != V1 && b[0] != V2) {
		return Message{}, fmt.Errorf("%w: unknown type", ErrMalformed)
	}
	r := reader{b: b[1:]}
	m := Message{Type: b[0]}
	m.Heads = r.hashes()
	m.Need = r.hashes()
	n := r.count(1 + 1) // a have is at least two empty counts
	for i := 0; i < n && r.err == nil; i++ {
		h := Have{LastSync: r.hashes()}
		h.Bloom = r.bytes()
		m.Have = append(m.Have, h)
	}
	n = r.count(1)
	for i := 0; i < n && r.err == nil; i++ {
		m.Changes = append(m.Changes, r.bytes())
	}
	if r.err == nil && len(r.b) > 0 {
		m.Flags = r.bytes()
		if m.Flags == nil {
			m.Flags = []byte{}
		}
	}
	if r.err != nil {
		return Message{}, r.err
	}
	return m, nil
}

// Encode writes the message. Heads, need and last-sync hashes are written
// in the order given; Automerge expects them sorted (see SortHashes).
func (m Message) Encode() []byte {
	size := 1 + 32*(len(m.Heads)+len(m.Need)) + 16
	for _, c := range m.Changes {
		size += len(c) + binary.MaxVarintLen32
	}
	b := make([]byte, 0, size)
	typ := m.Type
	if typ == 0 {
		typ = V1
	}
	b = append(b, typ)
	b = appendHashes(b, m.Heads)
	b = appendHashes(b, m.Need)
	b = binary.AppendUvarint(b, uint64(len(m.Have)))
	for _, h := range m.Have {
		b = appendHashes(b, h.LastSync)
		b = binary.AppendUvarint(b, uint64(len(h.Bloom)))
		b = append(b, h.Bloom...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Changes)))
	for _, c := range m.Changes {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	if m.Flags != nil {
		b = binary.AppendUvarint(b, uint64(len(m.Flags)))
		b = append(b, m.Flags...)
	}
	return b
}

// SortHashes sorts hashes bytewise, the order Automerge writes them in.
func SortHashes(hs []Hash) {
	slices.SortFunc(hs, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
}

func appendHashes(b []byte, hs []Hash) []byte {
	b = binary.AppendUvarint(b, uint64(len(hs)))
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad length", ErrMalformed)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items of at least min bytes each, refusing counts
// the remaining input cannot hold (no allocation from a forged count).
func (r *reader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.err = fmt.Errorf("%w: count %d past the end", ErrMalformed, n)
		return 0
	}
	return int(n)
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: %d bytes past the end", ErrMalformed, n)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) hashes() []Hash {
	n := r.count(32)
	if r.err != nil || n == 0 {
		return nil
	}
	out := make([]Hash, n)
	for i := range out {
		copy(out[i][:], r.b[:32])
		r.b = r.b[32:]
	}
	return out
}
