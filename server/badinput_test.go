package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/wire"
)

// storeDigest summarizes everything a store holds, to prove bad input
// changed nothing.
func storeDigest(t *testing.T, st store.Store) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := st.Documents(context.Background(), func(id string, m store.Meta) error {
		out[id] = append(append([]string{}, m.Heads...), time.Duration(m.ChunkBytes+m.SnapshotBytes).String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBadInput(t *testing.T) {
	join := func(id string) wire.Message {
		return wire.Message{Type: wire.TypeJoin, SenderID: id, SupportedProtocolVersions: []string{"1"}}
	}
	encode := func(m wire.Message) []byte {
		b, err := wire.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name      string
		handshake bool     // complete the handshake first
		frames    [][]byte // sent in order
		wantError string   // substring of the error message; "" means none expected
		wantClose bool
	}{
		{name: "not CBOR", frames: [][]byte{[]byte("hello, relay")}, wantError: "malformed", wantClose: true},
		{name: "not CBOR after join", handshake: true, frames: [][]byte{{0xff, 0x00, 0x13}}, wantError: "malformed", wantClose: true},
		{name: "CBOR but not a map", handshake: true, frames: [][]byte{{0x83, 0x01, 0x02, 0x03}}, wantError: "malformed", wantClose: true},
		{name: "message before join", frames: [][]byte{encode(wire.Message{Type: wire.TypeSync, SenderID: "x", TargetID: "r", DocumentID: wire.NewDocumentID(), Data: []byte{1}})}, wantError: "expected join", wantClose: true},
		{name: "unsupported protocol version", frames: [][]byte{encode(wire.Message{Type: wire.TypeJoin, SenderID: "x", SupportedProtocolVersions: []string{"2"}})}, wantError: "unsupported protocol version", wantClose: true},
		{name: "second join", handshake: true, frames: [][]byte{encode(join("x"))}, wantError: "duplicate join", wantClose: true},
		{name: "unknown message type is ignored", handshake: true, frames: [][]byte{encode(wire.Message{Type: "future-feature", SenderID: "x", TargetID: "r"})}},
		{name: "malformed document id", handshake: true, frames: [][]byte{encode(wire.Message{Type: wire.TypeSync, SenderID: "x", TargetID: "r", DocumentID: "not-a-document-id", Data: []byte{0x42}})}, wantError: "document"},
		{name: "sync data automerge rejects", handshake: true, frames: [][]byte{encode(wire.Message{Type: wire.TypeSync, SenderID: "x", TargetID: "r", DocumentID: wire.NewDocumentID(), Data: []byte{0x42, 0xff, 0xff, 0xff, 0x01}})}, wantError: "sync message rejected", wantClose: true},
		{name: "sync data rejected for existing document", handshake: true, frames: nil /* filled below */, wantError: "sync message rejected", wantClose: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			r := newTestRelay(t, st, Options{})
			// A bystander with a document, to prove others keep being served.
			good := connect(t, r, "good", nil)
			id := wire.NewDocumentID()
			good.change(id, "k", "v")
			waitStored(t, r, good, id)
			frames := tc.frames
			if frames == nil {
				frames = [][]byte{encode(wire.Message{Type: wire.TypeSync, SenderID: "x", TargetID: "r", DocumentID: id, Data: []byte{0x42, 0x01, 0xff}})}
			}
			before := storeDigest(t, st)

			bad := rawPeer(t, r, "x")
			if tc.handshake {
				bad.sendMsg(join("x"))
				if m := bad.recvRaw(5 * time.Second); m.Type != wire.TypePeer {
					t.Fatalf("handshake: %+v", m)
				}
			}
			for _, f := range frames {
				bad.sendFrame(f)
			}
			if tc.wantError != "" {
				m := bad.recvRaw(5 * time.Second)
				if m.Type != wire.TypeError || !strings.Contains(m.ErrorMessage, tc.wantError) {
					t.Fatalf("got %+v, want an error containing %q", m, tc.wantError)
				}
			}
			if tc.wantClose {
				bad.waitClosed()
			} else {
				// Still connected: a well-formed request is answered.
				bad.sendMsg(wire.Message{Type: wire.TypeRequest, SenderID: "x", TargetID: "r", DocumentID: wire.NewDocumentID(), Data: emptySyncMessage()})
				if m := bad.recvRaw(5 * time.Second); m.Type != wire.TypeDocUnavailable {
					t.Fatalf("after bad input the connection no longer answers: %+v", m)
				}
			}

			if after := storeDigest(t, st); !equalDigest(before, after) {
				t.Fatalf("bad input changed the store:\nbefore %v\nafter  %v", before, after)
			}
			// Others keep being served.
			good.change(id, "after", "still served")
			other := connect(t, r, "other", nil)
			other.find(id)
			other.waitValue(id, "after", "still served")
		})
	}
}

func equalDigest(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb := b[k]
		if strings.Join(va, ",") != strings.Join(vb, ",") {
			return false
		}
	}
	return true
}

func TestMessageRateLimitCutsAFlood(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{MaxMessagesPerSecond: 10, MessageBurst: 20})
	good := connect(t, r, "good", nil)
	id := wire.NewDocumentID()
	good.change(id, "k", "v")
	flood := connect(t, r, "flood", nil)
	for i := range 100 {
		flood.sendMsg(wire.Message{Type: "future-feature", SenderID: "flood", TargetID: "r", Count: uint64(i)})
	}
	m := flood.expect(wire.TypeError)
	if !strings.Contains(m.ErrorMessage, "too many messages") {
		t.Fatalf("flood answered %q", m.ErrorMessage)
	}
	flood.waitClosed()
	waitStored(t, r, good, id)
	good.change(id, "after", "still served")
	waitStored(t, r, good, id)
}

func TestDocumentSizeLimit(t *testing.T) {
	st := openStore(t)
	r := newTestRelay(t, st, Options{MaxDocumentSize: 4 << 10})
	a := connect(t, r, "a", nil)
	id := wire.NewDocumentID()
	a.change(id, "small", "ok")
	waitStored(t, r, a, id)
	before := storeDigest(t, st)
	a.change(id, "big", strings.Repeat("x", 8<<10))
	m := a.expect(wire.TypeError)
	if !strings.Contains(m.ErrorMessage, "too large") {
		t.Fatalf("oversized change answered %q", m.ErrorMessage)
	}
	// A lawful write by another peer after the refusal, stored: had the
	// refused change been applied, that commit would carry it.
	_ = before
	b := connect(t, r, "b", nil)
	b.find(id)
	b.waitValue(id, "small", "ok")
	b.change(id, "after", "ok")
	waitStored(t, r, b, id)
	if storedValue(t, r, id, "big") != nil {
		t.Fatal("an oversized change was stored")
	}
}

// TestDocumentSizeLimitCountsTheStoredTotal: many small changes, each
// in its own message far under the limit, reach it: the limit bounds the
// document, not the message, and what is stored stays within it plus one
// message.
func TestDocumentSizeLimitCountsTheStoredTotal(t *testing.T) {
	st := openStore(t)
	const limit = 8 << 10
	r := newTestRelay(t, st, Options{MaxDocumentSize: limit})
	a := connect(t, r, "a", nil)
	id := wire.NewDocumentID()
	refused := -1
	for i := 0; i < 200 && refused < 0; i++ {
		a.change(id, fmt.Sprintf("k%d", i), strings.Repeat("x", 200))
		want := hexHeads(a.doc(id).Heads())
		waitUntil(t, "the change to be stored or refused", func() bool {
			select {
			case m := <-a.inbox:
				if m.Type == wire.TypeError && strings.Contains(m.ErrorMessage, "too large") {
					refused = i
					return true
				}
			default:
			}
			m, err := st.Meta(t.Context(), string(id))
			return err == nil && slices.Equal(m.Heads, want)
		})
	}
	if refused < 0 {
		t.Fatal("200 changes of 200 bytes each never reached a limit of 8 KiB")
	}
	meta, err := st.Meta(t.Context(), string(id))
	if err != nil {
		t.Fatal(err)
	}
	if stored := meta.SnapshotBytes + meta.ChunkBytes; stored > limit+1024 {
		t.Fatalf("stored %d bytes with a limit of %d", stored, limit)
	}
	t.Logf("refused at change %d with %d bytes stored", refused, meta.SnapshotBytes+meta.ChunkBytes)
}
