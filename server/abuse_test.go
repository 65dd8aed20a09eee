package server

import (
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

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

// secretAccess lets everyone create and read everything but one document.
type secretAccess struct{ secret string }

func (a secretAccess) CanRead(_ Principal, id string) bool  { return id != a.secret }
func (a secretAccess) CanWrite(_ Principal, id string) bool { return id != a.secret }
func (a secretAccess) CanCreate(Principal) bool             { return true }

// TestNoExistenceOracle: a first sync message for a document that exists
// but may not be read is answered exactly as one for an id nobody uses —
// as a new document — and the existing document is untouched, and nobody
// else sees what was sent.
func TestNoExistenceOracle(t *testing.T) {
	st := openStore(t)
	secret := wire.NewDocumentID()
	r := newTestRelay(t, st, Options{Access: secretAccess{secret: string(secret)}})
	// The owner's document exists.
	if _, err := st.Append(t.Context(), string(secret), seedChunk(t), nil); err != nil {
		t.Fatal(err)
	}
	before := storeDigest(t, st)

	answers := func(id wire.DocumentID) []wire.Type {
		p := connectAs(t, r, "prober-"+string(id)[:4], MemberPrincipal("south", "mallory"))
		p.change(id, "probe", "x")
		var types []wire.Type
		deadline := time.After(2 * time.Second)
		for {
			select {
			case m := <-p.inbox:
				types = append(types, m.Type)
				if m.Type == wire.TypeSync && p.get(id, "probe") == "x" && len(types) >= 1 {
					// The relay answered with a sync message: done.
					p.conn.Close("")
					return types
				}
			case <-deadline:
				return types
			}
		}
	}
	fresh := answers(wire.NewDocumentID())
	existing := answers(secret)
	if len(fresh) == 0 || fresh[0] != wire.TypeSync {
		t.Fatalf("a new document was answered %v", fresh)
	}
	if len(existing) == 0 || existing[0] != fresh[0] {
		t.Fatalf("an existing unreadable document was answered %v, a new one %v", existing, fresh)
	}
	after := storeDigest(t, st)
	if !equalDigest(map[string][]string{string(secret): before[string(secret)]}, map[string][]string{string(secret): after[string(secret)]}) {
		t.Fatal("the shadow wrote to the real document")
	}
	// A reader of the real document does not see the probe.
	reader := connect(t, newTestRelay(t, st, Options{}), "reader", nil)
	reader.find(secret)
	reader.waitFor("the document", func() bool { return reader.get(secret, "seed") == "yes" })
	if reader.get(secret, "probe") != nil {
		t.Fatal("the probe reached the real document")
	}
}

// seedChunk is one change setting seed=yes.
func seedChunk(t *testing.T) []byte {
	t.Helper()
	doc := automerge.New()
	if err := doc.RootMap().Set("seed", "yes"); err != nil {
		t.Fatal(err)
	}
	if _, err := doc.Commit("seed"); err != nil {
		t.Fatal(err)
	}
	return doc.SaveIncremental()
}

// TestSilentConnectionIsCutAtJoinDeadline: a connection that never says
// join holds nothing for long: it is closed at the handshake deadline,
// which by default is short (a stock client joins at once).
func TestSilentConnectionIsCutAtJoinDeadline(t *testing.T) {
	if DefaultHandshakeTimeout > 15*time.Second {
		t.Fatalf("the default join deadline is %s", DefaultHandshakeTimeout)
	}
	r := newTestRelay(t, openStore(t), Options{HandshakeTimeout: 200 * time.Millisecond})
	start := time.Now()
	silent := rawPeer(t, r, "silent")
	err := silent.waitClosed()
	if err == nil || !strings.Contains(err.Error(), "handshake") {
		t.Fatalf("silent connection ended with %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("cut after %s", took)
	}
	if r.Peers() != 0 {
		t.Fatalf("%d peers left", r.Peers())
	}
}

// TestSenderIDsStayWithinAPrincipal: an ephemeral message reaches a peer of
// another principal under a stable alias, never the sender's senderId
// (which the same principal's other devices still see).
func TestSenderIDsStayWithinAPrincipal(t *testing.T) {
	r := newTestRelay(t, openStore(t), Options{})
	ana := MemberPrincipal("north", "ana")
	phone := connectAs(t, r, "ana-phone", ana)
	laptop := connectAs(t, r, "ana-laptop", ana)
	ben := connectAs(t, r, "ben-phone", MemberPrincipal("north", "ben"))
	id := wire.NewDocumentID()
	phone.change(id, "k", "v")
	for _, p := range []*testPeer{laptop, ben} {
		p.find(id)
		p.waitValue(id, "k", "v")
	}
	var aliases []string
	for count := uint64(1); count <= 2; count++ {
		phone.sendMsg(wire.Message{Type: wire.TypeEphemeral, SenderID: "ana-phone", TargetID: r.PeerID(), DocumentID: id, SessionID: "s", Count: count, Data: []byte{0xa0}})
		if m := laptop.expect(wire.TypeEphemeral); m.SenderID != "ana-phone" {
			t.Fatalf("ana's laptop sees her phone as %q", m.SenderID)
		}
		m := ben.expect(wire.TypeEphemeral)
		if strings.Contains(m.SenderID, "ana-phone") || m.SenderID == "" {
			t.Fatalf("ben sees ana's phone as %q", m.SenderID)
		}
		aliases = append(aliases, m.SenderID)
	}
	if aliases[0] != aliases[1] {
		t.Fatalf("the alias changed between messages: %v", aliases)
	}
}
