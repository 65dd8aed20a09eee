package store_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/veche-sync/veche/server/store"
)

func Example() {
	dir, err := os.MkdirTemp("", "veche-store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	// Each incremental save is durable when Append returns.
	if _, err := s.Append(ctx, "council-1", []byte("save 1"), []string{"a1"}); err != nil {
		log.Fatal(err)
	}
	m, err := s.Append(ctx, "council-1", []byte("save 2"), []string{"b2"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("chunks:", m.Chunks, "heads:", m.Heads)

	// Rebuild: the snapshot (none yet), then the chunks in order.
	doc, err := s.Load(ctx, "council-1")
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range doc.Chunks {
		fmt.Printf("%s\n", c)
	}
	// Output:
	// chunks: 2 heads: [b2]
	// save 1
	// save 2
}

func ExampleBolt_Compact() {
	dir, err := os.MkdirTemp("", "veche-store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := store.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	for _, c := range []string{"a", "b", "c"} {
		if _, err := s.Append(ctx, "council-1", []byte(c), nil); err != nil {
			log.Fatal(err)
		}
	}
	// The relay loads the document and saves it whole...
	doc, err := s.Load(ctx, "council-1")
	if err != nil {
		log.Fatal(err)
	}
	// ...while a peer appends one more change.
	if _, err := s.Append(ctx, "council-1", []byte("d"), nil); err != nil {
		log.Fatal(err)
	}
	// The snapshot covers the chunks the relay read; "d" survives.
	m, err := s.Compact(ctx, "council-1", []byte("abc"), len(doc.Chunks), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("snapshot bytes:", m.SnapshotBytes, "chunks left:", m.Chunks)
	// Output:
	// snapshot bytes: 3 chunks left: 1
}
