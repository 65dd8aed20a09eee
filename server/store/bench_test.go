package store_test

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/veche-sync/veche/server/store"
)

// benchChunk is the size of a typical incremental save of a few edits.
var benchChunk = bytes.Repeat([]byte("x"), 512)

func openBench(b *testing.B) *store.Bolt {
	b.Helper()
	s, err := store.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// reportCommits reports appends per commit (one fsync each) since before.
func reportCommits(b *testing.B, s *store.Bolt, before store.Stats) {
	st := s.Stats()
	if commits := st.Commits - before.Commits; commits > 0 {
		b.ReportMetric(float64(st.Appends-before.Appends)/float64(commits), "appends/commit")
	}
}

// BenchmarkAppend appends from one goroutine: every append waits
// MaxBatchDelay and an fsync on its own.
func BenchmarkAppend(b *testing.B) {
	s := openBench(b)
	heads := []string{"3f2a9c"}
	b.SetBytes(int64(len(benchChunk)))
	before := s.Stats()
	for b.Loop() {
		if _, err := s.Append(b.Context(), "doc", benchChunk, heads); err != nil {
			b.Fatal(err)
		}
	}
	reportCommits(b, s, before)
}

// BenchmarkAppendParallel appends from many goroutines, each to its own
// document, as a relay serving many peers does: group commit shares fsyncs.
func BenchmarkAppendParallel(b *testing.B) {
	s := openBench(b)
	heads := []string{"3f2a9c"}
	var next atomic.Int64
	b.SetBytes(int64(len(benchChunk)))
	b.SetParallelism(32)
	before := s.Stats()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprintf("doc%d", next.Add(1))
		for pb.Next() {
			if _, err := s.Append(b.Context(), id, benchChunk, heads); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportCommits(b, s, before)
}

// BenchmarkLoad loads a document of a 64 KiB snapshot and 100 chunks.
func BenchmarkLoad(b *testing.B) {
	s := openBench(b)
	ctx := b.Context()
	appendN := func(n int) {
		for range n {
			if _, err := s.Append(ctx, "doc", benchChunk, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	appendN(1)
	if _, err := s.Compact(ctx, "doc", bytes.Repeat([]byte("s"), 64<<10), 1, nil); err != nil {
		b.Fatal(err)
	}
	appendN(100)
	b.SetBytes(64<<10 + 100*int64(len(benchChunk)))
	for b.Loop() {
		doc, err := s.Load(ctx, "doc")
		if err != nil {
			b.Fatal(err)
		}
		if len(doc.Chunks) != 100 {
			b.Fatalf("%d chunks", len(doc.Chunks))
		}
	}
}
