package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
)

func TestVerifyDocument(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	doc := automerge.New()
	var heads []string
	for i := range 3 {
		doc.RootMap().Set("n", int64(i))
		doc.Commit("change")
		if _, err := st.Append(ctx, "doc", doc.SaveIncremental(), hexHeads(doc.Heads())); err != nil {
			t.Fatal(err)
		}
		heads = hexHeads(doc.Heads())
	}
	stored, err := st.Load(ctx, "doc")
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyDocument(stored); err != nil {
		t.Fatalf("a sound document: %v", err)
	}

	// Heads recorded that the changes do not give: the last chunk is lost.
	lost := stored
	lost.Chunks = lost.Chunks[:2]
	if err := VerifyDocument(lost); err == nil || !strings.Contains(err.Error(), heads[0]) {
		t.Fatalf("a document missing its last change: %v", err)
	}
	// A chunk that is not Automerge (which LoadIncremental skips; the
	// change it held is then missing).
	broken := stored
	broken.Chunks = [][]byte{stored.Chunks[0], []byte("not automerge"), stored.Chunks[2]}
	if err := VerifyDocument(broken); err == nil {
		t.Fatalf("a document with a broken chunk: %v", err)
	}
	// A snapshot that is not Automerge.
	garbage := stored
	garbage.Snapshot = []byte("not a snapshot")
	if err := VerifyDocument(garbage); err == nil || !strings.Contains(err.Error(), "does not load") {
		t.Fatalf("a document with a broken snapshot: %v", err)
	}
}

// BenchmarkVerifyDocument is what veche check spends on one stored
// document of 1,000 changes (a snapshot of 900, and 100 chunks).
func BenchmarkVerifyDocument(b *testing.B) {
	ctx := context.Background()
	st := openStore(b)
	doc := automerge.New()
	for i := range 1000 {
		doc.RootMap().Set(fmt.Sprintf("k%d", i%50), int64(i))
		doc.Commit("change")
		if i == 899 {
			if _, err := st.Append(ctx, "doc", doc.SaveIncremental(), hexHeads(doc.Heads())); err != nil {
				b.Fatal(err)
			}
			if _, err := st.Compact(ctx, "doc", doc.Save(), 1, hexHeads(doc.Heads())); err != nil {
				b.Fatal(err)
			}
		} else if i > 899 {
			if _, err := st.Append(ctx, "doc", doc.SaveIncremental(), hexHeads(doc.Heads())); err != nil {
				b.Fatal(err)
			}
		}
	}
	stored, err := st.Load(ctx, "doc")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := VerifyDocument(stored); err != nil {
			b.Fatal(err)
		}
	}
}
