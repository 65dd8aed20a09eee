package sandbox

/*
#include <stdlib.h>
#include "worker.h"
*/
import "C"

import (
	"encoding/binary"
	"reflect"
	"runtime"
	"sync"
	"unsafe"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/syncmsg"
)

// Probe runs, in this process's own core, on doc, what a worker runs
// after a peer's message moved a mirror's heads: the clock of the new
// heads; if searchMaps, a search (and a put, rolled back) of every key of
// every map; and, if searchMaps or checkLists, a check of every list and
// text for an element keyed like a map entry (worker.c,
// veche_sandbox_probe; see SetsValuesOnly for when it can be skipped). It reports whether
// doc holds changes the core keeps back until their dependencies arrive:
// a later message may release them (see MapKeysOnly). A relay without a sandbox calls it
// right after applying a peer's changes, while the message's crash mark
// is set: a change of the classes that apply without harm but crash the
// core at the next answer or the next read of the document crashes it
// there instead, so the next relay process blames the sender (and
// quarantines the change) rather than the document.
//
// The caller must be the only user of doc for the call's duration; Probe
// also holds doc's own lock. It changes nothing in doc: the puts are
// rolled back, and they are skipped if doc has ops not yet committed.
//
// If maps is not nil, every map the walk meets is added to it (the walk
// runs when searchMaps or checkLists): an object's kind never changes, so
// a caller keeps one set per document for its lifetime and skips the
// lists' check after a message that only sets values in maps it knows
// (MapsKnown).
func Probe(doc *automerge.Doc, searchMaps, checkLists bool, maps map[syncmsg.ObjectID]bool) (waiting bool) {
	if doc == nil {
		return false
	}
	p, mu := docInternals(doc)
	var out *C.uint8_t
	var n C.size_t
	outp, np := &out, &n
	if maps == nil {
		outp, np = nil, nil
	}
	mu.Lock()
	waiting = bool(C.veche_sandbox_probe((*C.struct_AMdoc)(p), C.bool(searchMaps), C.bool(searchMaps || checkLists), outp, np))
	mu.Unlock()
	runtime.KeepAlive(doc)
	if out != nil {
		b := C.GoBytes(unsafe.Pointer(out), C.int(n))
		C.free(unsafe.Pointer(out))
		for len(b) > 0 {
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				break
			}
			actor := string(b[k : k+int(l)])
			b = b[k+int(l):]
			c, k := binary.Uvarint(b)
			if k <= 0 {
				break
			}
			b = b[k:]
			maps[syncmsg.ObjectID{Actor: actor, Counter: c}] = true
		}
	}
	return waiting
}

// MapsKnown returns whether a sync message's changes only set values
// under map keys (SetsValuesOnly) and write only into the root and maps
// of maps (a set Probe filled): then no op keyed like a map entry can
// have landed in a list or a text, and the lists' check can be skipped.
func MapsKnown(msg []byte, maps map[syncmsg.ObjectID]bool) bool {
	objs, ok := valueTargets(msg)
	if !ok {
		return false
	}
	for _, o := range objs {
		if !maps[o] {
			return false
		}
	}
	return true
}

// Waiting reports whether doc holds changes the core keeps back until
// their dependencies arrive (true when it cannot tell): the next input
// that brings those releases them into the core, and they are applied in
// that input's call. The relay asks after applying a principal's changes
// (see server/doc.go, Containment: held-back changes). Same caveats as
// Probe; it changes nothing.
func Waiting(doc *automerge.Doc) bool {
	if doc == nil {
		return false
	}
	p, mu := docInternals(doc)
	mu.Lock()
	w := bool(C.veche_sandbox_waiting((*C.struct_AMdoc)(p)))
	mu.Unlock()
	runtime.KeepAlive(doc)
	return w
}

// MissingDeps returns the hashes of the changes that doc's waiting
// changes (Waiting) depend on and doc lacks: only an input that brings one
// of them releases any. ok is false when the core cannot tell. Same
// caveats as Probe; it changes nothing.
func MissingDeps(doc *automerge.Doc) (deps []automerge.ChangeHash, ok bool) {
	if doc == nil {
		return nil, true
	}
	p, mu := docInternals(doc)
	for room := 16; ; {
		buf := make([]byte, 32*room)
		mu.Lock()
		n := int(C.veche_sandbox_missing((*C.struct_AMdoc)(p), (*C.uint8_t)(unsafe.Pointer(&buf[0])), C.long(room)))
		mu.Unlock()
		runtime.KeepAlive(doc)
		if n < 0 {
			return nil, false
		}
		if n > room {
			room = n
			continue
		}
		deps = make([]automerge.ChangeHash, n)
		for i := range deps {
			copy(deps[i][:], buf[32*i:])
		}
		return deps, true
	}
}

// ProbeClocks computes, in this process's own core, the clock of each
// actor's latest change among a sync message's changes, alone: the heads
// a phone partway through its first sync may report, where a change whose
// sequence number skips ahead crashes the core (worker.c, new_clocks and
// veche_sandbox_clocks; the clock of the document's own heads does not
// always meet it). Any clock that includes a skipped change includes its
// actor's latest one too, so one per actor is enough. A relay without a
// sandbox calls it right after applying a peer's changes, under the
// message's crash mark, so such a change blames its sender instead of the
// document. The caller must be the only user of doc for the call's
// duration.
func ProbeClocks(doc *automerge.Doc, changes [][]byte) {
	hashes := latestByActor(changes)
	if doc == nil || len(hashes) == 0 {
		return
	}
	p, mu := docInternals(doc)
	mu.Lock()
	C.veche_sandbox_clocks((*C.struct_AMdoc)(p), (*C.uint8_t)(unsafe.Pointer(&hashes[0])), C.size_t(len(hashes)/32))
	mu.Unlock()
	runtime.KeepAlive(doc)
	runtime.KeepAlive(hashes)
}

// latestByActor is the hashes, 32 bytes each, of each actor's change
// with the highest sequence number among changes (a compressed or
// unreadable chunk counts as its own actor's latest). Only those are
// hashed.
func latestByActor(changes [][]byte) []byte {
	type latest struct {
		seq   uint64
		chunk []byte
	}
	top := map[string]latest{}
	var chunks [][]byte
	for _, c := range changes {
		actor, seq, err := syncmsg.ChangeActorSeq(c)
		if err != nil {
			chunks = append(chunks, c)
			continue
		}
		if t, ok := top[string(actor)]; !ok || seq > t.seq {
			top[string(actor)] = latest{seq, c}
		}
	}
	for _, t := range top {
		chunks = append(chunks, t.chunk)
	}
	out := make([]byte, 0, 32*len(chunks))
	for _, c := range chunks {
		if h, _, err := syncmsg.ChangeDeps(c); err == nil {
			out = append(out, h[:]...)
		}
	}
	return out
}

// MapKeysOnly reports whether every change of a sync message keys its ops
// by map keys only (syncmsg.KeysByPosition): such a message cannot put an
// op into a map that the map's searches cannot compare (op_set.rs:447),
// so the search of every map after it can be skipped — unless changes of
// an earlier message that could are still held back by the core (Probe's
// answer), since this one may release them. False for what it cannot
// read.
func MapKeysOnly(msg []byte) bool {
	m, err := syncmsg.Decode(msg)
	if err != nil {
		return false
	}
	for _, c := range m.Changes {
		if syncmsg.KeysByPosition(c) {
			return false
		}
	}
	return true
}

// SetsValuesOnly reports whether every change of a sync message keys its
// ops by map keys only and only sets values or increments counters
// (syncmsg.SetsValuesOnly): it makes no object and deletes nothing, so
// the check of every list and text after it can be skipped — an op keyed
// like a map entry lands in a list or a text only from a change that
// does more, or that targets one still empty (not checked: see
// testdata/uncontained). False for what it cannot read.
func SetsValuesOnly(msg []byte) bool {
	m, err := syncmsg.Decode(msg)
	if err != nil {
		return false
	}
	for _, c := range m.Changes {
		if syncmsg.KeysByPosition(c) || !syncmsg.SetsValuesOnly(c) {
			return false
		}
	}
	return true
}

// valueTargets returns the objects other than the root that a sync
// message's changes write into, when every change only sets values under
// map keys (SetsValuesOnly) and they can be read; ok is false otherwise.
func valueTargets(msg []byte) (objs []syncmsg.ObjectID, ok bool) {
	m, err := syncmsg.Decode(msg)
	if err != nil {
		return nil, false
	}
	for _, c := range m.Changes {
		if syncmsg.KeysByPosition(c) || !syncmsg.SetsValuesOnly(c) {
			return nil, false
		}
		more, ok := syncmsg.Targets(c)
		if !ok {
			return nil, false
		}
		objs = append(objs, more...)
	}
	return objs, true
}

// encodeTargets is the worker's field of a message's targets: for each,
// its actor's length (uvarint), its actor, its counter (uvarint).
func encodeTargets(objs []syncmsg.ObjectID) []byte {
	var b []byte
	for _, o := range objs {
		b = binary.AppendUvarint(b, uint64(len(o.Actor)))
		b = append(b, o.Actor...)
		b = binary.AppendUvarint(b, o.Counter)
	}
	return b
}

// docInternals finds, in an automerge-go Doc, its AMdoc pointer and the
// mutex its methods hold around every call into the core. automerge-go
// keeps both unexported; the module's version is pinned (go.sum), and
// TestProbeFindsTheDocument fails if a new version moves them.
func docInternals(doc *automerge.Doc) (unsafe.Pointer, *sync.Mutex) {
	v := reflect.ValueOf(doc).Elem()
	c, m := v.FieldByName("cDoc"), v.FieldByName("m")
	if c.Kind() != reflect.Pointer || m.Type() != reflect.TypeOf(sync.Mutex{}) {
		panic("sandbox: automerge-go's Doc no longer holds cDoc and m as this code expects")
	}
	return *(*unsafe.Pointer)(unsafe.Pointer(c.UnsafeAddr())), (*sync.Mutex)(unsafe.Pointer(m.UnsafeAddr()))
}
