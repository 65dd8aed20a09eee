package server

import (
	"testing"

	"github.com/automerge/automerge-go"
)

func TestSyncMessageChanges(t *testing.T) {
	doc := automerge.New()
	st := automerge.NewSyncState(doc)
	first, _ := st.GenerateMessage()
	if n, err := syncMessageChanges(first.Bytes()); err != nil || n != 0 {
		t.Fatalf("first message of an empty doc: %d changes, %v", n, err)
	}
	// A peer that has changes sends them once the other side says what it has.
	for i := range 3 {
		doc.RootMap().Set("k", int64(i))
		doc.Commit("")
	}
	peer := automerge.NewSyncState(automerge.New())
	st = automerge.NewSyncState(doc)
	withChanges := 0
	for range 6 {
		if m, ok := st.GenerateMessage(); ok {
			sm, _ := peer.ReceiveMessage(m.Bytes())
			n, err := syncMessageChanges(m.Bytes())
			if err != nil || n != len(sm.Changes()) {
				t.Fatalf("counted %d changes (%v), automerge says %d", n, err, len(sm.Changes()))
			}
			withChanges += n
		}
		if m, ok := peer.GenerateMessage(); ok {
			st.ReceiveMessage(m.Bytes())
		}
	}
	if withChanges != 3 {
		t.Fatalf("saw %d changes in flight, want 3", withChanges)
	}
	for _, bad := range [][]byte{nil, {0x43}, {0x42}, {0x42, 0x05}, {0x42, 0, 0, 0xff}} {
		if _, err := syncMessageChanges(bad); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
}

func FuzzSyncMessageChanges(f *testing.F) {
	doc := automerge.New()
	doc.RootMap().Set("k", "v")
	doc.Commit("")
	st := automerge.NewSyncState(doc)
	m, _ := st.GenerateMessage()
	f.Add(m.Bytes())
	f.Add([]byte{0x42, 0, 0, 0, 1, 3, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		syncMessageChanges(b) // must not panic
	})
}
