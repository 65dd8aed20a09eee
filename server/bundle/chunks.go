package bundle

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/syncmsg"
)

// Chunk framing of the Automerge binary format: magic, a 4-byte checksum
// (the first bytes of the change hash), a type byte, the uLEB128 length
// of the contents, the contents. syncmsg.ChangeDeps reads a change's hash
// and dependencies from its chunk.
var chunkMagic = []byte{0x85, 0x6f, 0x4a, 0x83}

// change is what a bundle needs to know of one change before the
// Automerge core sees it.
type change struct {
	hash automerge.ChangeHash
	deps []automerge.ChangeHash
}

// parseChanges splits payload into change chunks and reads each one's
// hash (checked against its checksum) and dependencies, in Go.
func parseChanges(payload []byte) ([]change, error) {
	var out []change
	for len(payload) > 0 {
		n := len(out) + 1
		if len(payload) < 9 || !bytes.Equal(payload[:4], chunkMagic) {
			return nil, fmt.Errorf("change %d: no chunk header", n)
		}
		size, used := binary.Uvarint(payload[9:])
		if used <= 0 || size > uint64(len(payload)-9-used) {
			return nil, fmt.Errorf("change %d: bad length", n)
		}
		chunk := payload[:9+used+int(size)]
		payload = payload[len(chunk):]
		hash, deps, err := syncmsg.ChangeDeps(chunk)
		if err != nil {
			return nil, fmt.Errorf("change %d: %v", n, err)
		}
		if !bytes.Equal(hash[:4], chunk[4:8]) {
			return nil, fmt.Errorf("change %d: checksum mismatch", n)
		}
		c := change{hash: automerge.ChangeHash(hash)}
		for _, d := range deps {
			c.deps = append(c.deps, automerge.ChangeHash(d))
		}
		out = append(out, c)
	}
	return out, nil
}
