package syncmsg_test

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/syncmsg"
)

func TestChangeDepsMatchesAutomerge(t *testing.T) {
	doc := automerge.New()
	doc.RootMap().Set("small", "x")
	doc.Commit("")
	// A large change: Automerge stores it as a compressed chunk.
	doc.RootMap().Set("large", strings.Repeat("council minutes ", 400))
	doc.Commit("")
	other, _ := doc.Fork()
	other.RootMap().Set("b", int64(1))
	other.Commit("")
	doc.RootMap().Set("a", int64(1))
	doc.Commit("")
	doc.Merge(other)
	doc.RootMap().Set("merged", true)
	doc.Commit("")
	changes, err := doc.Changes()
	if err != nil {
		t.Fatal(err)
	}
	compressed := 0
	for _, c := range changes {
		raw := c.Save()
		if raw[8] == 2 {
			compressed++
		}
		h, deps, err := syncmsg.ChangeDeps(raw)
		if err != nil {
			t.Fatal(err)
		}
		if h != syncmsg.Hash(c.Hash()) {
			t.Errorf("hash %x, automerge says %x", h, c.Hash())
		}
		want := c.Dependencies()
		got := make([]automerge.ChangeHash, len(deps))
		for i, d := range deps {
			got[i] = automerge.ChangeHash(d)
		}
		if !slices.Equal(got, want) {
			t.Errorf("deps %v, automerge says %v", got, want)
		}
	}
	if compressed == 0 {
		// Build the compressed form Automerge writes for large changes: the
		// same header checksum, chunk type 2, the body deflated.
		raw := changes[1].Save()
		body := raw[9+uvarintLen(raw[9:]):]
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.DefaultCompression)
		w.Write(body)
		w.Close()
		chunk := append(slices.Clone(raw[:8]), 2)
		chunk = binary.AppendUvarint(chunk, uint64(z.Len()))
		chunk = append(chunk, z.Bytes()...)
		h, deps, err := syncmsg.ChangeDeps(chunk)
		if err != nil || h != syncmsg.Hash(changes[1].Hash()) || len(deps) != 1 || deps[0] != syncmsg.Hash(changes[0].Hash()) {
			t.Errorf("compressed chunk: hash %x deps %x, %v; want %x after %x", h, deps, err, changes[1].Hash(), changes[0].Hash())
		}
	}
}

func uvarintLen(b []byte) int {
	_, n := binary.Uvarint(b)
	return n
}

func TestCausalOrder(t *testing.T) {
	doc := automerge.New()
	for i := range 20 {
		doc.RootMap().Set("k", int64(i))
		doc.Commit("")
	}
	changes, _ := doc.Changes()
	var raw [][]byte
	for _, c := range changes {
		raw = append(raw, c.Save())
	}
	reversed := slices.Clone(raw)
	slices.Reverse(reversed)
	ordered, err := syncmsg.CausalOrder(reversed)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		if !bytes.Equal(ordered[i], raw[i]) {
			t.Fatalf("change %d out of causal order", i)
		}
	}
	// Each prefix applies to an empty document on its own.
	fresh := automerge.New()
	for i, c := range ordered {
		if err := fresh.LoadIncremental(c); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		if len(fresh.Heads()) != 1 || fresh.Heads()[0] != changes[i].Hash() {
			t.Fatalf("change %d did not apply on arrival", i)
		}
	}
	if _, err := syncmsg.CausalOrder([][]byte{raw[0], {1, 2, 3}}); err == nil {
		t.Fatal("a chunk that is not a change was accepted")
	}
}

// TestChangeActorSeqMatchesAutomerge: the actor and sequence number read
// from a change's header are the core's.
func TestChangeActorSeqMatchesAutomerge(t *testing.T) {
	doc := automerge.New()
	other, _ := doc.Fork()
	for i := range 3 {
		doc.RootMap().Set("a", int64(i))
		doc.Commit("")
		other.RootMap().Set("b", int64(i))
		other.Commit("")
	}
	doc.Merge(other)
	cs, err := doc.Changes()
	if err != nil || len(cs) != 6 {
		t.Fatal(err, len(cs))
	}
	for _, c := range cs {
		actor, seq, err := syncmsg.ChangeActorSeq(c.Save())
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%x", actor) != c.ActorID() || seq != c.ActorSeq() {
			t.Fatalf("read actor %x seq %d, the core says %s seq %d", actor, seq, c.ActorID(), c.ActorSeq())
		}
	}
	if _, _, err := syncmsg.ChangeActorSeq([]byte("not a change")); err == nil {
		t.Fatal("read a header from bytes that are no change")
	}
}
