package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/syncmsg"
	"github.com/veche-sync/veche/server/wire"
)

// syncMessageChanges counts the changes of a sync message as the relay
// reads it, or says it would count as a write.
func syncMessageChanges(b []byte) (int, error) {
	m, err := syncmsg.Decode(b)
	if carriesChanges(b, m, err) && (err != nil || b[0] != 0x42) {
		return 0, errSyncMessage
	}
	return len(m.Changes), nil
}

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

// TestValidateSyncMessage: every message real peers send passes (the
// rounds of a sync between two automerge-go peers, and what stock
// automerge-repo clients sent in the captured frames); bloom filters whose
// parts disagree — one of them crashes the core when it generates an
// answer — are refused.
func TestValidateSyncMessage(t *testing.T) {
	a, b := automerge.New(), automerge.New()
	for i := range 20 {
		a.RootMap().Set(fmt.Sprint("a", i), int64(i))
		a.Commit("")
		b.RootMap().Set(fmt.Sprint("b", i), int64(i))
		b.Commit("")
	}
	sa, sb := automerge.NewSyncState(a), automerge.NewSyncState(b)
	seen := 0
	for range 10 {
		for _, pair := range [][2]*automerge.SyncState{{sa, sb}, {sb, sa}} {
			if m, ok := pair[0].GenerateMessage(); ok {
				if err := validateSyncMessage(m.Bytes()); err != nil {
					t.Fatalf("a real message refused: %v (% x)", err, m.Bytes())
				}
				pair[1].ReceiveMessage(m.Bytes())
				seen++
			}
		}
	}
	files, _ := filepath.Glob("wire/testdata/frames/*-sync.cbor")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		msg, err := wire.Decode(raw, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateSyncMessage(msg.Data); err != nil {
			t.Errorf("%s: a stock client's message refused: %v", f, err)
		}
		seen++
	}
	if seen < 10 {
		t.Fatalf("only %d messages checked", seen)
	}
	have := func(bloom ...byte) []byte {
		return append([]byte{0x42, 0, 0, 1, 0, byte(len(bloom))}, append(bloom, 0)...)
	}
	for name, m := range map[string][]byte{
		"entries without bits (crashes the core)": have(1, 0, 1),
		"entries without probes":                  have(1, 10, 0, 0, 0),
		"too few bits":                            have(2, 10, 7, 0, 0),
		"too many bits":                           have(1, 10, 7, 0, 0, 0),
		"absurd probes":                           have(1, 10, 200, 1, 0, 0),
		"truncated header":                        have(1),
	} {
		if err := validateSyncMessage(m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := validateSyncMessage(have()); err != nil {
		t.Errorf("an empty bloom filter refused: %v", err)
	}
	if err := validateSyncMessage(have(1, 10, 7, 0, 0)); err != nil {
		t.Errorf("a well-formed bloom filter refused: %v", err)
	}
}
