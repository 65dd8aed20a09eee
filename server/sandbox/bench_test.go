package sandbox

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/automerge/automerge-go"
)

// benchDocument is a document of 100 changes, saved, and n sync
// messages each carrying one new change to it, in order.
func benchDocument(b *testing.B, n int) (state []byte, msgs [][]byte) {
	b.Helper()
	doc := automerge.New()
	for i := 0; i < 100; i++ {
		if err := doc.Path(fmt.Sprint("k", i%10)).Set(int64(i)); err != nil {
			b.Fatal(err)
		}
		if _, err := doc.Commit("c"); err != nil {
			b.Fatal(err)
		}
	}
	state = doc.Save()
	msgs = make([][]byte, n)
	for i := range msgs {
		if err := doc.Path("n").Set(int64(i)); err != nil {
			b.Fatal(err)
		}
		h, err := doc.Commit("n")
		if err != nil {
			b.Fatal(err)
		}
		c, err := doc.Change(h)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = syncMessage(c.Save())
	}
	return state, msgs
}

// largeDocument is the benchmark document of load.mjs at --preload 5000
// (interop/testdata/bench): a list of 5,000 ints, one pushed per change,
// and beside it a text of 3,000 characters typed ten at a time (a
// proposal's body), saved; then n sync messages each carrying one new
// change to a key of a map, as the load's clients send: each names the
// heads before it as last synced (syncedMessage), as a peer in step
// does, so the answer costs what it costs in the load. Every one moves
// the heads, so every check probes the whole document.
func largeDocument(b *testing.B, n int) (state []byte, msgs [][]byte) {
	b.Helper()
	doc := automerge.New()
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	pre, body := automerge.NewList(), automerge.NewText("")
	must(doc.RootMap().Set("k", automerge.NewMap()))
	must(doc.RootMap().Set("pre", pre))
	must(doc.RootMap().Set("body", body))
	_, err := doc.Commit("setup")
	must(err)
	for i := 0; i < 5000; i++ {
		must(pre.Append(int64(i)))
		_, err := doc.Commit("pre")
		must(err)
	}
	for i := 0; i < 300; i++ {
		must(body.Insert(body.Len()/2, fmt.Sprintf("w%08d ", i)))
		_, err := doc.Commit("type")
		must(err)
	}
	state = doc.Save()
	msgs = make([][]byte, n)
	for i := range msgs {
		before := doc.Heads()
		must(doc.Path("k", fmt.Sprint("c", i%10)).Set(int64(i)))
		h, err := doc.Commit("k")
		must(err)
		c, err := doc.Change(h)
		must(err)
		msgs[i] = syncedMessage(doc.Heads(), before, c.Save())
	}
	return state, msgs
}

// syncedMessage is a version 1 sync message from a peer whose heads are
// heads, that last synced at lastSync (an empty bloom filter), carrying
// changes.
func syncedMessage(heads, lastSync []automerge.ChangeHash, changes ...[]byte) []byte {
	hashes := func(m []byte, hs []automerge.ChangeHash) []byte {
		m = binary.AppendUvarint(m, uint64(len(hs)))
		for _, h := range hs {
			m = append(m, h[:]...)
		}
		return m
	}
	m := hashes([]byte{0x42}, heads)
	m = append(m, 0, 1) // no needs, one have
	m = hashes(m, lastSync)
	m = append(m, 0) // its bloom filter: no bytes
	m = binary.AppendUvarint(m, uint64(len(changes)))
	for _, c := range changes {
		m = binary.AppendUvarint(m, uint64(len(c)))
		m = append(m, c...)
	}
	return m
}

// BenchmarkCheck is the sandbox's cost per sync message carrying one new
// change, on a document of 100 changes: the round trip to a worker and its
// apply there.
func BenchmarkCheck(b *testing.B) { benchCheck(b, benchDocument) }

// BenchmarkCheckLarge is the same on load.mjs's document at --preload
// 5000 (largeDocument), where probing the document after each message
// (worker.c, probe_keys) walks a list of 5,000 and a text of 3,000.
func BenchmarkCheckLarge(b *testing.B) { benchCheck(b, largeDocument) }

func benchCheck(b *testing.B, document func(*testing.B, int) ([]byte, [][]byte)) {
	pool, err := Start(Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	state, msgs := document(b, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := pool.Check("d", "peer", msgs[i], func() [][]byte { return [][]byte{state} }); err != nil {
			b.Fatal(err)
		}
	}
}
