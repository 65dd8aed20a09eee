package bundle

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/automerge/automerge-go"
)

// Chunk framing of the Automerge binary format: magic, a 4-byte checksum
// (the first bytes of the change hash), a type byte, the uLEB128 length
// of the contents, the contents. A change's hash is the SHA-256 of its
// type byte, length and contents in uncompressed form; its contents start
// with its dependencies: a uLEB128 count, then that many 32-byte hashes.
var chunkMagic = []byte{0x85, 0x6f, 0x4a, 0x83}

const (
	chunkChange           = 1
	chunkCompressedChange = 2
)

// change is what a bundle needs to know of one change before the
// Automerge core sees it.
type change struct {
	hash automerge.ChangeHash
	deps []automerge.ChangeHash
}

// parseChanges reads the framing of payload's change chunks, in Go:
// each chunk's hash (checked against its checksum) and dependencies.
// Decompressed contents are bounded by limit bytes in all.
func parseChanges(payload []byte, limit int64) ([]change, error) {
	var out []change
	for len(payload) > 0 {
		n := len(out) + 1
		if len(payload) < 9 || !bytes.Equal(payload[:4], chunkMagic) {
			return nil, fmt.Errorf("change %d: no chunk header", n)
		}
		typ := payload[8]
		if typ != chunkChange && typ != chunkCompressedChange {
			return nil, fmt.Errorf("change %d: chunk type %d is not a change", n, typ)
		}
		size, used := binary.Uvarint(payload[9:])
		if used <= 0 || size > uint64(len(payload)-9-used) {
			return nil, fmt.Errorf("change %d: bad length", n)
		}
		checksum := payload[4:8]
		contents := payload[9+used : 9+used+int(size)]
		payload = payload[9+used+int(size):]
		if typ == chunkCompressedChange {
			r := io.LimitReader(flate.NewReader(bytes.NewReader(contents)), limit+1)
			raw, err := io.ReadAll(r)
			if err != nil {
				return nil, fmt.Errorf("change %d: compressed contents: %v", n, err)
			}
			if limit -= int64(len(raw)); limit < 0 {
				return nil, fmt.Errorf("change %d: decompresses to more than the limit", n)
			}
			contents = raw
		}
		h := sha256.New()
		h.Write([]byte{chunkChange})
		h.Write(binary.AppendUvarint(nil, uint64(len(contents))))
		h.Write(contents)
		var c change
		copy(c.hash[:], h.Sum(nil))
		if !bytes.Equal(c.hash[:4], checksum) {
			return nil, fmt.Errorf("change %d: checksum mismatch", n)
		}
		count, used := binary.Uvarint(contents)
		if used <= 0 || count > uint64(len(contents)-used)/32 {
			return nil, fmt.Errorf("change %d: bad dependencies", n)
		}
		for i := range int(count) {
			var d automerge.ChangeHash
			copy(d[:], contents[used+32*i:])
			c.deps = append(c.deps, d)
		}
		out = append(out, c)
	}
	return out, nil
}
