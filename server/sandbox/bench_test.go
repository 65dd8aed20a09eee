package sandbox

import (
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

// BenchmarkCheck is the sandbox's cost per sync message carrying one new
// change, on a document of 100 changes: the round trip to a worker and its
// apply there.
func BenchmarkCheck(b *testing.B) {
	pool, err := Start(Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	state, msgs := benchDocument(b, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := pool.Check("d", "peer", msgs[i], func() [][]byte { return [][]byte{state} }); err != nil {
			b.Fatal(err)
		}
	}
}
