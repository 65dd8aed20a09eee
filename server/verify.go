package server

import (
	"fmt"
	"slices"

	"github.com/veche-sync/veche/server/store"
)

// VerifyDocument rebuilds a stored document with Automerge, as the relay
// does when it loads it, and checks that its heads are the ones the store
// recorded with its last write: that the snapshot and chunks on disk are
// the document the relay last advertised. veche check runs it on every
// document after a power cut.
func VerifyDocument(stored store.Document) error {
	doc, err := rebuild(stored)
	if err != nil {
		return fmt.Errorf("does not load: %w", err)
	}
	got := hexHeads(doc.Heads())
	want := slices.Clone(stored.Meta.Heads)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("loads with heads %v, but its last write recorded %v", got, want)
	}
	return nil
}
