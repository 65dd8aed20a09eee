package server

import (
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/server/wire"
)

// TestSenderIDHijackIsRefused: a join with the senderId of another
// principal's live connection — even a member of another council — gets an
// error and is closed; the holder keeps its connection and keeps syncing.
// The same principal reconnecting with its own senderId still replaces
// its old connection.
func TestSenderIDHijackIsRefused(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	ana := MemberPrincipal("north", "ana")
	holder := connectAs(t, r, "phone-1", ana)
	id := wire.NewDocumentID()
	holder.change(id, "k", "before")
	waitStored(t, r, holder, id)

	for _, p := range []Principal{MemberPrincipal("north", "ben"), MemberPrincipal("south", "cai"), AnonymousPrincipal} {
		mine, theirs := newPipe()
		thief := &testPeer{t: t, id: "phone-1", conn: mine, served: make(chan error, 1), docs: map[wire.DocumentID]*testDoc{}, inbox: make(chan wire.Message, 16)}
		go func() { thief.served <- r.Accept(t.Context(), theirs, p) }()
		thief.sendMsg(wire.Message{Type: wire.TypeJoin, SenderID: "phone-1", SupportedProtocolVersions: []string{"1"}})
		m := thief.recvRaw(5 * time.Second)
		if m.Type != wire.TypeError || !strings.Contains(m.ErrorMessage, "senderId in use") {
			t.Fatalf("%s joined as another principal's senderId: %+v", p.ID, m)
		}
		if err := thief.waitClosed(); err == nil {
			t.Fatalf("%s: handshake ended without an error", p.ID)
		}
	}
	// The holder was not cut: a lawful write still goes through.
	holder.change(id, "k", "after")
	waitStored(t, r, holder, id)
	if holder.conn.isClosed() {
		t.Fatal("the holder's connection was closed")
	}

	// Ana's second device with the same senderId replaces the first.
	again := connectAs(t, r, "phone-1", ana)
	holder.waitClosed()
	other := wire.NewDocumentID()
	again.change(other, "k", "replaced")
	waitStored(t, r, again, other)
}
