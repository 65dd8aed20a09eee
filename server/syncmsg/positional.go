package syncmsg

import (
	"bytes"
	"encoding/binary"
)

// Op columns of a change chunk that hold an op's key when it is a list
// position: the element's actor and counter (automerge-rs
// storage/change/change_op_columns.rs: column id 1, types actor and
// delta). A map key is in the string column of the same id, and an op
// keyed by a list position has a counter there (0 for the list's head).
const (
	colKeyActor   = 1<<4 | 1
	colKeyCounter = 1<<4 | 3
	colDeflate    = 8
)

// KeysByPosition reports whether a change chunk holds an op keyed by a
// list position (an element, or the head of a list or text) rather than
// by a map key. Only such an op can sit in a map with a key the map's
// searches cannot compare (the op_set.rs:447 class, see server/doc.go),
// so a change that holds none needs no search of the document's maps
// after it is applied. It reads the chunk's header and the two key
// columns without the Automerge core, and answers true for anything it
// cannot read plainly (a compressed chunk or column, a malformed one):
// the caller then checks as if it could.
func KeysByPosition(chunk []byte) bool {
	if len(chunk) < 10 || !bytes.Equal(chunk[:4], magic) || chunk[8] != chunkChange {
		return true
	}
	r := reader{b: chunk[9:]}
	body := reader{b: r.bytes()}
	body.hashes()  // dependencies
	body.bytes()   // actor
	body.uvarint() // sequence number
	body.uvarint() // first op's counter
	body.uvarint() // time (a signed LEB128 is skipped the same way)
	body.bytes()   // message
	for n := body.count(1); n > 0 && body.err == nil; n-- {
		body.bytes() // other actors
	}
	ncols := body.count(2)
	if r.err != nil || body.err != nil {
		return true
	}
	type column struct{ spec, length uint64 }
	cols := make([]column, ncols)
	for i := range cols {
		cols[i] = column{body.uvarint(), body.uvarint()}
	}
	if body.err != nil {
		return true
	}
	data := body.b
	for _, c := range cols {
		if c.length > uint64(len(data)) {
			return true
		}
		col := data[:c.length]
		data = data[c.length:]
		switch c.spec &^ colDeflate {
		case colKeyActor, colKeyCounter:
			if c.spec&colDeflate != 0 || !allNull(col) {
				return true
			}
		}
	}
	return false
}

// allNull reports whether a run-length encoded column (automerge-rs
// columnar/encoding/rle.rs) holds only null runs: a run's signed count is
// 0 for nulls, followed by how many. Anything else, or bytes it cannot
// read, is not all null. The count is a signed LEB128; binary.Varint
// reads zigzag instead, but both read zero exactly when every bit is zero,
// over the same bytes, which is all this needs.
func allNull(col []byte) bool {
	for len(col) > 0 {
		count, n := binary.Varint(col)
		if n <= 0 || count != 0 {
			return false
		}
		col = col[n:]
		if _, n = binary.Uvarint(col); n <= 0 {
			return false
		}
		col = col[n:]
	}
	return true
}
