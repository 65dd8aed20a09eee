package syncmsg

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// Change chunk types (automerge-rs storage/chunk.rs).
const (
	chunkChange     = 1
	chunkCompressed = 2
)

var magic = []byte{0x85, 0x6f, 0x4a, 0x83}

// maxInflated bounds a compressed change's inflated size when reading its
// dependencies: a forged chunk cannot make the relay allocate without end.
const maxInflated = 64 << 20

// ChangeDeps reads the hash of a change chunk and the hashes it depends
// on, without the Automerge core: the hash is SHA-256 over the chunk type,
// length and body (of the inflated body for a compressed chunk), and the
// body begins with the dependencies.
func ChangeDeps(chunk []byte) (Hash, []Hash, error) {
	bad := func(why string) (Hash, []Hash, error) {
		return Hash{}, nil, fmt.Errorf("%w: change chunk: %s", ErrMalformed, why)
	}
	if len(chunk) < 10 || !bytes.Equal(chunk[:4], magic) {
		return bad("no magic bytes")
	}
	typ := chunk[8]
	r := reader{b: chunk[9:]}
	body := r.bytes()
	if r.err != nil {
		return bad("length past the end")
	}
	switch typ {
	case chunkChange:
	case chunkCompressed:
		inflated, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(body)), maxInflated+1))
		if err != nil || len(inflated) > maxInflated {
			return bad("cannot inflate")
		}
		body = inflated
	default:
		return bad(fmt.Sprintf("type %d is not a change", typ))
	}
	h := sha256.New()
	h.Write([]byte{chunkChange})
	h.Write(binary.AppendUvarint(nil, uint64(len(body))))
	h.Write(body)
	var hash Hash
	h.Sum(hash[:0])
	br := reader{b: body}
	deps := br.hashes()
	if br.err != nil {
		return bad("dependencies past the end")
	}
	return hash, deps, nil
}

// CausalOrder orders change chunks so that each comes after every change
// of the list it depends on, keeping the given order otherwise.
func CausalOrder(chunks [][]byte) ([][]byte, error) {
	if len(chunks) < 2 {
		return chunks, nil
	}
	deps := make([][]Hash, len(chunks))
	index := make(map[Hash]int, len(chunks))
	for i, c := range chunks {
		h, d, err := ChangeDeps(c)
		if err != nil {
			return nil, err
		}
		index[h] = i
		deps[i] = d
	}
	out := make([][]byte, 0, len(chunks))
	placed := make([]bool, len(chunks))
	// Depth-first, with an explicit stack: histories are long chains.
	type frame struct{ i, next int }
	for start := range chunks {
		if placed[start] {
			continue
		}
		placed[start] = true
		stack := []frame{{start, 0}}
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.next < len(deps[top.i]) {
				d := deps[top.i][top.next]
				top.next++
				if j, ok := index[d]; ok && !placed[j] {
					placed[j] = true
					stack = append(stack, frame{j, 0})
				}
				continue
			}
			out = append(out, chunks[top.i])
			stack = stack[:len(stack)-1]
		}
	}
	return out, nil
}

// ChangeActorSeq reads the actor and the sequence number of a change
// chunk, without the Automerge core (they follow the dependencies in the
// body of an uncompressed chunk).
func ChangeActorSeq(chunk []byte) (actor []byte, seq uint64, err error) {
	if len(chunk) < 10 || !bytes.Equal(chunk[:4], magic) || chunk[8] != chunkChange {
		return nil, 0, fmt.Errorf("%w: not an uncompressed change chunk", ErrMalformed)
	}
	r := reader{b: chunk[9:]}
	body := reader{b: r.bytes()}
	body.hashes()
	actor = body.bytes()
	seq = body.uvarint()
	if r.err != nil || body.err != nil {
		return nil, 0, fmt.Errorf("%w: change header past the end", ErrMalformed)
	}
	return actor, seq, nil
}
