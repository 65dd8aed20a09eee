package sandbox

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// The parent and a worker speak over the worker's stdin and stdout in
// frames: a one-byte op, a four-byte big-endian length, then the payload.
// A request's payload is a list of fields, each a uvarint length and its
// bytes; a reply's payload is the error text (empty when the op
// succeeded). Exactly one request is in flight per worker, so a worker
// that dies mid-request names the request that killed it. The worker's
// side is worker.c: keep the two in step.
const (
	opOpen    byte = 'o' // fields: document id, then the saved bytes to load, in order
	opCheck   byte = 'c' // fields: document id, peer, sync message[, a fourth when MapKeysOnly]: receive it, generate the answer
	opReceive byte = 'r' // fields: document id, peer, sync message: receive it only (fuzzing)
	opLeave   byte = 'l' // fields: document id, peer: drop the peer's sync state
	opApply   byte = 'a' // fields: document id, changes (automerge.SaveChanges or a SaveIncremental chunk)
	opForget  byte = 'f' // fields: document id
	opPing    byte = 'p' // no fields

	replyOK       byte = 'k'
	replyRejected byte = 'r' // the core refused the input with an error: no crash
)

// maxFrame bounds one frame; the parent never sends more than a document
// and a message.
const maxFrame = 1 << 31

func writeFrame(w *bufio.Writer, op byte, fields ...[]byte) error {
	n := 0
	for _, f := range fields {
		n += binary.MaxVarintLen64 + len(f)
	}
	payload := make([]byte, 0, n)
	for _, f := range fields {
		payload = binary.AppendUvarint(payload, uint64(len(f)))
		payload = append(payload, f...)
	}
	var head [5]byte
	head[0] = op
	binary.BigEndian.PutUint32(head[1:], uint32(len(payload)))
	if _, err := w.Write(head[:]); err != nil {
		return err
	}
	if _, err := w.Write(payload); err != nil {
		return err
	}
	return w.Flush()
}

func readFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n >= maxFrame {
		return 0, nil, fmt.Errorf("sandbox frame of %d bytes", n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return head[0], payload, nil
}
