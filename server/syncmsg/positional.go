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
	colObjActor   = 0<<4 | 1
	colObjCounter = 0<<4 | 2
	colKeyActor   = 1<<4 | 1
	colKeyCounter = 1<<4 | 3
	colAction     = 4<<4 | 2
	colDeflate    = 8
)

// Op actions (automerge-rs types.rs, OpType): a value set and a counter
// incremented. The others make an object, delete, or mark.
const (
	actionSet       = 1
	actionIncrement = 5
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
	_, cols, ok := opColumns(chunk)
	if !ok {
		return true
	}
	for _, c := range cols {
		switch c.spec &^ colDeflate {
		case colKeyActor, colKeyCounter:
			if c.spec&colDeflate != 0 || !allNull(c.data) {
				return true
			}
		}
	}
	return false
}

// SetsValuesOnly reports whether every op of a change chunk sets a value
// or increments a counter: it makes no object, deletes nothing and marks
// nothing. With KeysByPosition false, such a change can only put values
// into objects the document already holds, under map keys; the one such
// op that can land in a list or a text (an op keyed like a map entry, the
// op_set.rs:447 class the other way round, see server/doc.go) lands only
// in one that holds no op yet. False for anything it cannot read plainly.
func SetsValuesOnly(chunk []byte) bool {
	_, cols, ok := opColumns(chunk)
	if !ok {
		return false
	}
	for _, c := range cols {
		if c.spec&^colDeflate == colAction && (c.spec&colDeflate != 0 || !onlyValues(c.data, actionSet, actionIncrement)) {
			return false
		}
	}
	return true
}

// column is one op column of a change chunk: its specification (id,
// type, deflate bit) and its bytes.
type column struct {
	spec uint64
	data []byte
}

// ObjectID names an object of a document by the op that made it: its
// actor's bytes and its counter.
type ObjectID struct {
	Actor   string
	Counter uint64
}

// maxOps bounds how many ops Targets reads out of one change: a run of
// nulls can claim any count in a few bytes.
const maxOps = 1 << 16

// Targets returns the objects other than the root that a change chunk's
// ops write into, each once; ok is false when it cannot read them
// plainly (a compressed or malformed column, more than maxOps ops).
func Targets(chunk []byte) (objs []ObjectID, ok bool) {
	actors, cols, ok := opColumns(chunk)
	if !ok {
		return nil, false
	}
	var actorCol, counterCol []byte
	for _, c := range cols {
		switch c.spec {
		case colObjActor:
			actorCol = c.data
		case colObjCounter:
			counterCol = c.data
		case colObjActor | colDeflate, colObjCounter | colDeflate:
			return nil, false
		}
	}
	actorIdx, ok1 := uints(actorCol)
	counters, ok2 := uints(counterCol)
	if !ok1 || !ok2 {
		return nil, false
	}
	n := max(len(actorIdx), len(counters))
	seen := map[ObjectID]bool{}
	for i := 0; i < n; i++ {
		a, c := at(actorIdx, i), at(counters, i)
		if a == nil && c == nil {
			continue // the root
		}
		if a == nil || c == nil || *a >= uint64(len(actors)) {
			return nil, false
		}
		id := ObjectID{string(actors[*a]), *c}
		if !seen[id] {
			seen[id] = true
			objs = append(objs, id)
		}
	}
	return objs, true
}

func at(vals []*uint64, i int) *uint64 {
	if i < len(vals) {
		return vals[i]
	}
	return nil
}

// uints reads a run-length encoded column of unsigned integers (see
// onlyValues), nulls as nil; ok is false for bytes it cannot read or more
// than maxOps values.
func uints(col []byte) (vals []*uint64, ok bool) {
	for len(col) > 0 {
		count, n := signedLEB(col)
		if n <= 0 {
			return nil, false
		}
		col = col[n:]
		switch {
		case count == 0:
			nulls, n := binary.Uvarint(col)
			if n <= 0 || nulls > maxOps || len(vals)+int(nulls) > maxOps {
				return nil, false
			}
			col = col[n:]
			for ; nulls > 0; nulls-- {
				vals = append(vals, nil)
			}
		case count > 0:
			v, n := binary.Uvarint(col)
			if n <= 0 || count > maxOps || len(vals)+int(count) > maxOps {
				return nil, false
			}
			col = col[n:]
			for ; count > 0; count-- {
				vals = append(vals, &v)
			}
		default:
			if -count > maxOps || len(vals)+int(-count) > maxOps {
				return nil, false
			}
			for ; count < 0; count++ {
				v, n := binary.Uvarint(col)
				if n <= 0 {
					return nil, false
				}
				col = col[n:]
				vals = append(vals, &v)
			}
		}
	}
	return vals, true
}

// opColumns reads a change chunk's header — its actors, its own first —
// and splits its op columns; ok is false when it cannot.
func opColumns(chunk []byte) (actors [][]byte, cols []column, ok bool) {
	if len(chunk) < 10 || !bytes.Equal(chunk[:4], magic) || chunk[8] != chunkChange {
		return nil, nil, false
	}
	r := reader{b: chunk[9:]}
	body := reader{b: r.bytes()}
	body.hashes() // dependencies
	actors = append(actors, body.bytes())
	body.uvarint() // sequence number
	body.uvarint() // first op's counter
	body.uvarint() // time (a signed LEB128 is skipped the same way)
	body.bytes()   // message
	for n := body.count(1); n > 0 && body.err == nil; n-- {
		actors = append(actors, body.bytes())
	}
	ncols := body.count(2)
	if r.err != nil || body.err != nil {
		return nil, nil, false
	}
	lengths := make([]uint64, ncols)
	cols = make([]column, ncols)
	for i := range cols {
		cols[i].spec, lengths[i] = body.uvarint(), body.uvarint()
	}
	if body.err != nil {
		return nil, nil, false
	}
	data := body.b
	for i := range cols {
		if lengths[i] > uint64(len(data)) {
			return nil, nil, false
		}
		cols[i].data = data[:lengths[i]]
		data = data[lengths[i]:]
	}
	return actors, cols, true
}

// onlyValues reports whether a run-length encoded column of unsigned
// integers (rle.rs: a signed count, then one value repeated that many
// times, or minus that many values one by one, or 0 and a count of
// nulls) holds only values among allowed, no null, and reads whole.
func onlyValues(col []byte, allowed ...uint64) bool {
	ok := func(v uint64) bool {
		for _, a := range allowed {
			if v == a {
				return true
			}
		}
		return false
	}
	for len(col) > 0 {
		count, n := signedLEB(col)
		if n <= 0 || count == 0 {
			return false // a null run, or unreadable
		}
		col = col[n:]
		if count > 0 {
			count = 1 // a run of one value
		} else {
			count = -count
		}
		for ; count > 0; count-- {
			v, n := binary.Uvarint(col)
			if n <= 0 || !ok(v) {
				return false
			}
			col = col[n:]
		}
	}
	return true
}

// signedLEB reads a signed LEB128 (not zigzag): its value and length, or
// a length of 0 when it cannot.
func signedLEB(b []byte) (int64, int) {
	var v int64
	var shift uint
	for i, c := range b {
		if shift >= 63 {
			return 0, 0
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if c&0x40 != 0 && shift < 64 {
				v |= -1 << shift
			}
			return v, i + 1
		}
	}
	return 0, 0
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
