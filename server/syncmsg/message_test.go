package syncmsg_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/syncmsg"
)

// exchanged returns the messages two Automerge peers exchange while one
// of them sends the other three changes.
func exchanged(t *testing.T) [][]byte {
	t.Helper()
	doc := automerge.New()
	for i := range 3 {
		doc.RootMap().Set("k", int64(i))
		doc.Commit("")
	}
	a, b := automerge.NewSyncState(doc), automerge.NewSyncState(automerge.New())
	var out [][]byte
	for range 4 {
		if m, ok := a.GenerateMessage(); ok {
			out = append(out, m.Bytes())
			if _, err := b.ReceiveMessage(m.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		if m, ok := b.GenerateMessage(); ok {
			out = append(out, m.Bytes())
			if _, err := a.ReceiveMessage(m.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

func TestDecodeEncodeRoundTripsAutomergeMessages(t *testing.T) {
	changes := 0
	for _, raw := range exchanged(t) {
		m, err := syncmsg.Decode(raw)
		if err != nil {
			t.Fatalf("decode %x: %v", raw, err)
		}
		if m.Type != syncmsg.V1 || m.SupportsV2() {
			t.Fatalf("automerge-go message decoded as type %x, flags %v", m.Type, m.Flags)
		}
		if got := m.Encode(); !bytes.Equal(got, raw) {
			t.Fatalf("re-encoded\n%x\nwant\n%x", got, raw)
		}
		changes += len(m.Changes)
	}
	if changes != 3 {
		t.Fatalf("decoded %d changes, want 3", changes)
	}
}

func TestFlagsAnnounceV2(t *testing.T) {
	// What @automerge/automerge 3.x appends: two flag bytes, the legacy
	// MessageV2 byte and a bitfield.
	m := syncmsg.Message{Type: syncmsg.V1, Have: []syncmsg.Have{{}}, Flags: []byte{0x02, 0x84}}
	d, err := syncmsg.Decode(m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !d.SupportsV2() || !bytes.Equal(d.Flags, []byte{0x02, 0x84}) {
		t.Fatalf("flags %x: not read as a v2 announcement", d.Flags)
	}
	// An empty flags section still announces the capability.
	raw := append(syncmsg.Message{}.Encode(), 0x00)
	if d, err := syncmsg.Decode(raw); err != nil || !d.SupportsV2() {
		t.Fatalf("empty flags section: %v, %v", d.Flags, err)
	}
}

// A V2 message carrying a whole saved document is what the relay sends a
// peer that has nothing; Automerge's loadIncremental takes its one blob.
func TestV2WholeDocumentLoads(t *testing.T) {
	doc := automerge.New()
	for i := range 50 {
		doc.RootMap().Set("k", int64(i))
		doc.Commit("")
	}
	heads := doc.Heads()
	m := syncmsg.Message{Type: syncmsg.V2, Changes: [][]byte{doc.Save()}}
	for _, h := range heads {
		m.Heads = append(m.Heads, syncmsg.Hash(h))
	}
	d, err := syncmsg.Decode(m.Encode())
	if err != nil || d.Type != syncmsg.V2 || len(d.Changes) != 1 {
		t.Fatalf("decoded %+v, %v", d, err)
	}
	fresh := automerge.New()
	if err := fresh.LoadIncremental(d.Changes[0]); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fresh.Heads(), heads) {
		t.Fatalf("loaded heads %v, want %v", fresh.Heads(), heads)
	}
}

func TestDecodeRefusesMalformed(t *testing.T) {
	for _, bad := range [][]byte{
		nil,
		{0x44},
		{0x42},
		{0x42, 0x05},                   // five heads, no bytes
		{0x42, 0, 0, 0xff, 0xff, 0x0f}, // a forged count of haves
		{0x42, 0, 0, 0, 1, 9, 1},       // a change longer than the input
		{0x42, 0, 0, 0, 0, 5},          // flags longer than the input
	} {
		if _, err := syncmsg.Decode(bad); !errors.Is(err, syncmsg.ErrMalformed) {
			t.Errorf("Decode(%x) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestSortHashes(t *testing.T) {
	hs := []syncmsg.Hash{{3}, {1}, {2}}
	syncmsg.SortHashes(hs)
	if hs[0][0] != 1 || hs[1][0] != 2 || hs[2][0] != 3 {
		t.Fatalf("sorted %v", hs)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x42, 0, 0, 1, 0, 0, 0, 2, 2, 0x84})
	f.Add(syncmsg.Message{Type: syncmsg.V2, Heads: []syncmsg.Hash{{1}}, Changes: [][]byte{{1, 2, 3}}}.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := syncmsg.Decode(b)
		if err != nil {
			return
		}
		again, err := syncmsg.Decode(m.Encode())
		if err != nil {
			t.Fatalf("re-encoding of a decoded message does not decode: %v", err)
		}
		if !reflect.DeepEqual(normal(again), normal(m)) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, again)
		}
	})
}

// normal treats nil and empty slices alike.
func normal(m syncmsg.Message) syncmsg.Message {
	if len(m.Heads) == 0 {
		m.Heads = nil
	}
	if len(m.Need) == 0 {
		m.Need = nil
	}
	for i := range m.Have {
		if len(m.Have[i].LastSync) == 0 {
			m.Have[i].LastSync = nil
		}
		if len(m.Have[i].Bloom) == 0 {
			m.Have[i].Bloom = nil
		}
	}
	for i := range m.Changes {
		if len(m.Changes[i]) == 0 {
			m.Changes[i] = nil
		}
	}
	return m
}
