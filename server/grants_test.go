package server

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/wire"
)

// memOwners is an OwnerStore in memory.
type memOwners struct{ m map[string]string }

func (o *memOwners) SetOwner(_ context.Context, doc, council string) error {
	o.m[doc] = council
	return nil
}

func (o *memOwners) OwnedCount(_ context.Context, council string) (int, error) {
	n := 0
	for _, c := range o.m {
		if c == council {
			n++
		}
	}
	return n, nil
}

func (o *memOwners) Owner(_ context.Context, doc string) (string, error) {
	if c, ok := o.m[doc]; ok {
		return c, nil
	}
	return "", ErrDocumentNotFound
}

// storedValue reads key of the document as the relay's store holds it.
func storedValue(t testing.TB, r *Relay, id wire.DocumentID, key string) any {
	t.Helper()
	stored, err := r.store.Load(context.Background(), string(id))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := rebuild(stored)
	if err != nil {
		t.Fatal(err)
	}
	v, err := doc.Path(key).Get()
	if err != nil || v.Kind() == automerge.KindVoid {
		return nil
	}
	return v.Interface()
}

// connectAs connects a peer bound to principal p.
func connectAs(t testing.TB, r *Relay, id string, p Principal) *testPeer {
	t.Helper()
	mine, theirs := newPipe()
	tp := &testPeer{t: t, id: id, conn: mine, served: make(chan error, 1), docs: map[wire.DocumentID]*testDoc{}, inbox: make(chan wire.Message, 4096)}
	go func() { tp.served <- r.Accept(context.Background(), theirs, p) }()
	t.Cleanup(func() { tp.conn.Close("") })
	tp.sendMsg(wire.Message{Type: wire.TypeJoin, SenderID: id, SupportedProtocolVersions: []string{"1"}})
	if m := tp.recvRaw(5 * time.Second); m.Type != wire.TypePeer {
		t.Fatalf("handshake: %+v", m)
	}
	tp.relayID = r.PeerID()
	go tp.pump()
	return tp
}

// testKey is member id's deterministic Ed25519 key: every world, on
// every relay, gives a member the same key.
func testKey(id string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("veche-test-key/" + id))
	return ed25519.NewKeyFromSeed(seed[:])
}

// world is a federation and two member councils, each with members, on a
// relay with grants. The federation admitted north and north joined it;
// north sent Ben to it by a passed mandate, and Ben took his seat there
// (TakeSeat, signed with his north key). South is in no federation.
type world struct {
	r                   *Relay
	g                   *Grants
	fed, north, south   wire.DocumentID
	ana, ben, cai, dora string    // ana, ben in north; cai founds south; dora founds the federation
	mandate, proposal   string    // ben's mandate to the federation
	seat                string    // ben's member id in the federation
	at                  time.Time // when the last fact of the fixture was made (an hour ago)
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldOn(t, openStore(t), &memOwners{m: map[string]string{}}, Options{})
}

// newWorldOn is newWorld on store st, with owners and opts (Access is
// set to the grants).
func newWorldOn(t testing.TB, st store.Store, owners OwnerStore, opts Options) *world {
	t.Helper()
	opts.Access = AllowAll{}
	r := newTestRelay(t, st, opts)
	g := NewGrants(r, owners)
	r.SetAccess(g)
	w := &world{r: r, g: g, ana: "ana", ben: "ben", cai: "cai", dora: "dora", seat: "ben-north", at: time.Now().Add(-time.Hour)}
	// Each fact a second after the one before: records of one council are
	// replayed in the order of their times.
	next := func() time.Time { w.at = w.at.Add(time.Second); return w.at }
	w.fed = foundCouncil(t, r, "federation", crdt.KindFederation, w.dora, next())
	w.north = foundCouncil(t, r, "north", crdt.KindFarmers, w.ana, next())
	w.south = foundCouncil(t, r, "south", crdt.KindFarmers, w.cai, next())
	w.change(t, w.north, func(d *automerge.Doc) error {
		_, err := crdt.Join(d, w.as(w.north, w.ana), w.spec(w.ben), next())
		return err
	})
	// Both sides of north's membership of the federation.
	w.change(t, w.north, func(d *automerge.Doc) error {
		return crdt.JoinFederation(d, w.as(w.north, w.ana), string(w.fed), next())
	})
	w.change(t, w.fed, func(d *automerge.Doc) error {
		return crdt.AdmitCouncil(d, w.as(w.fed, w.dora), string(w.north), next())
	})
	w.change(t, w.north, func(d *automerge.Doc) error {
		var err error
		w.proposal, w.mandate, err = crdt.ProposeMandate(d, w.as(w.north, w.ana), crdt.ProposalSpec{Title: "send ben"},
			crdt.MandateSpec{Task: "grain price", Body: string(w.fed), Delegate: w.ben}, next())
		if err != nil {
			return err
		}
		if err := crdt.CastVote(d, w.as(w.north, w.ana), w.proposal, crdt.Yes, next()); err != nil {
			return err
		}
		return crdt.CastVote(d, w.as(w.north, w.ben), w.proposal, crdt.Yes, next())
	})
	w.change(t, w.fed, func(d *automerge.Doc) error {
		_, err := crdt.TakeSeat(d, w.as(w.fed, w.ben), crdt.SeatSpec{ID: w.seat, Name: "Ben (north)",
			Council: string(w.north), Mandate: w.mandate}, next())
		return err
	})
	return w
}

// foundCouncil founds a council on r, founded by founder (their test key,
// custodial false), and stores it under the id its founding record names.
func foundCouncil(t testing.TB, r *Relay, name string, kind crdt.CouncilKind, founder string, at time.Time) wire.DocumentID {
	t.Helper()
	spec := crdt.CouncilSpec{Name: name, Kind: kind, Region: "valley", Rule: crdt.DefaultRule,
		Founder: crdt.MemberSpec{ID: founder, Name: founder, Role: "worker"}}
	founding, council, err := crdt.NewCouncil(spec, crdt.Signer{Member: founder, Key: testKey(founder)}, at)
	if err != nil {
		t.Fatal(err)
	}
	id := wire.DocumentID(council)
	if !id.Valid() {
		t.Fatalf("council id %q is not a document id", id)
	}
	changes, err := founding.Changes()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CreateAt(context.Background(), id, func(d *automerge.Doc) error { return d.Apply(changes...) }); err != nil {
		t.Fatal(err)
	}
	return id
}

// as is member acting in council's document with their test key.
func (w *world) as(council wire.DocumentID, member string) crdt.Signer {
	return crdt.Signer{Council: string(council), Member: member, Key: testKey(member)}
}

// spec describes member id for admission, with their test key.
func (w *world) spec(id string) crdt.MemberSpec {
	return crdt.MemberSpec{ID: id, Name: id, Role: "worker", Key: crdt.EncodeKey(testKey(id).Public().(ed25519.PublicKey))}
}

func (w *world) change(t testing.TB, id wire.DocumentID, fn func(*automerge.Doc) error) {
	t.Helper()
	if err := w.r.Change(context.Background(), id, fn); err != nil {
		t.Fatal(err)
	}
}

// recallBen passes a recall of Ben's mandate in north: Ana for, Ben abstaining.
func (w *world) recallBen(t testing.TB, now time.Time) {
	t.Helper()
	w.recall(t, w.r, now)
}

// recall passes a recall of Ben's mandate in north on relay r, decided
// at now (proposed two seconds before, Ana's vote one second before), and
// returns the recall proposal's id.
func (w *world) recall(t testing.TB, r *Relay, now time.Time) string {
	t.Helper()
	var pid string
	err := r.Change(context.Background(), w.north, func(d *automerge.Doc) error {
		var err error
		pid, err = crdt.Propose(d, w.as(w.north, w.ana), crdt.ProposalSpec{Kind: crdt.ProposalRecall, Title: "recall ben", Subject: w.mandate}, now.Add(-2*time.Second))
		if err != nil {
			return err
		}
		if err := crdt.CastVote(d, w.as(w.north, w.ana), pid, crdt.Yes, now.Add(-time.Second)); err != nil {
			return err
		}
		return crdt.CastVote(d, w.as(w.north, w.ben), pid, crdt.Abstain, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func (w *world) heads(t testing.TB, id wire.DocumentID) []string {
	t.Helper()
	return storedHeads(t, w.r, id)
}

// canFetch reports whether p gets the document (true) or doc-unavailable.
func canFetch(t *testing.T, p *testPeer, id wire.DocumentID) bool {
	t.Helper()
	p.find(id)
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-p.inbox:
			if m.DocumentID != id {
				continue
			}
			switch m.Type {
			case wire.TypeDocUnavailable:
				return false
			case wire.TypeSync:
				return true
			}
		case <-deadline:
			t.Fatalf("%s: no answer for %s", p.id, id)
		}
	}
}

func TestGrantsReadAccess(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		who  Principal
		doc  wire.DocumentID
		want bool
	}{
		{MemberPrincipal(string(w.north), w.ana), w.north, true},
		{MemberPrincipal(string(w.north), w.ana), w.fed, true}, // north belongs to the federation
		{MemberPrincipal(string(w.north), w.ana), w.south, false},
		{MemberPrincipal(string(w.south), w.cai), w.north, false},
		{MemberPrincipal(string(w.south), w.cai), w.fed, false}, // south is not a member
		{MemberPrincipal(string(w.fed), w.dora), w.fed, true},
		{MemberPrincipal(string(w.fed), w.seat), w.fed, true},    // Ben's seat, while his mandate is active
		{MemberPrincipal(string(w.fed), w.seat), w.north, false}, // a seat is no membership of north
		{MemberPrincipal(string(w.north), "nobody"), w.north, false},
		{OperatorPrincipal, w.north, false},
		{Principal{ID: "peer:x", Kind: KindPeer}, w.north, false},
	}
	for i, c := range cases {
		p := connectAs(t, w.r, c.who.ID, c.who)
		if got := canFetch(t, p, c.doc); got != c.want {
			t.Errorf("case %d: %s reading %s: got %v, want %v", i, c.who.ID, c.doc, got, c.want)
		}
		p.conn.Close("")
	}
}

func TestReadOnlyWriteIsRefusedAndNotStored(t *testing.T) {
	w := newWorld(t)
	ana := connectAs(t, w.r, "ana", MemberPrincipal(string(w.north), w.ana)) // reads the federation, no mandate
	ana.find(w.fed)
	ana.waitFor("federation", func() bool { return len(ana.doc(w.fed).Heads()) > 0 })
	ana.change(w.fed, "graffiti", "x")
	m := ana.expect(wire.TypeError)
	if !strings.Contains(m.ErrorMessage, "no write access") {
		t.Fatalf("error %q", m.ErrorMessage)
	}
	// A lawful write after the refusal, committed: had the refused change
	// been applied, this commit would carry it.
	w.change(t, w.fed, func(d *automerge.Doc) error { return d.RootMap().Set("lawful", "yes") })
	if storedValue(t, w.r, w.fed, "lawful") != "yes" || storedValue(t, w.r, w.fed, "graffiti") != nil {
		t.Fatal("a read-only member's change was stored")
	}
}

func TestRecallCutsTheDelegateOthersUnaffected(t *testing.T) {
	w := newWorld(t)
	ben := connectAs(t, w.r, "ben", MemberPrincipal(string(w.north), w.ben))
	ben.find(w.fed)
	ben.waitFor("federation", func() bool { return len(ben.doc(w.fed).Heads()) > 0 })
	ben.change(w.fed, "ben-was-here", "1")
	ben.waitFor("ben's write stored", func() bool {
		v, _ := w.r.store.Meta(context.Background(), string(w.fed))
		return strings.Join(v.Heads, ",") == strings.Join(hexHeads(ben.doc(w.fed).Heads()), ",")
	})
	dora := connectAs(t, w.r, "dora", MemberPrincipal(string(w.fed), w.dora))
	dora.find(w.fed)
	dora.waitValue(w.fed, "ben-was-here", "1")

	// North recalls Ben: a recall proposal naming the mandate passes.
	now := time.Now()
	w.recallBen(t, now)
	ben.waitClosed() // his open session is cut at once
	// His next connection may no longer write the federation.
	ben2 := connectAs(t, w.r, "ben2", MemberPrincipal(string(w.north), w.ben))
	ben2.find(w.fed) // north members still read their federation
	ben2.waitFor("federation", func() bool { return len(ben2.doc(w.fed).Heads()) > 0 })
	ben2.change(w.fed, "after-recall", "x")
	if m := ben2.expect(wire.TypeError); !strings.Contains(m.ErrorMessage, "no write access") {
		t.Fatalf("recalled delegate's write answered %q", m.ErrorMessage)
	}
	w.change(t, w.fed, func(d *automerge.Doc) error { return d.RootMap().Set("lawful", "yes") })
	if storedValue(t, w.r, w.fed, "lawful") != "yes" || storedValue(t, w.r, w.fed, "after-recall") != nil {
		t.Fatal("the recalled delegate's change was stored")
	}
	// Others are unaffected: Dora still writes, Ana still reads.
	dora.change(w.fed, "dora", "still here")
	ana := connectAs(t, w.r, "ana", MemberPrincipal(string(w.north), w.ana))
	ana.find(w.fed)
	ana.waitValue(w.fed, "dora", "still here")
}

func TestMembersCreateDocumentsOwnedByTheirCouncil(t *testing.T) {
	w := newWorld(t)
	ana := connectAs(t, w.r, "ana", MemberPrincipal(string(w.north), w.ana))
	draft := wire.NewDocumentID()
	ana.change(draft, "draft", "minutes of the spring meeting")
	waitStored(t, w.r, ana, draft)
	ben := connectAs(t, w.r, "ben", MemberPrincipal(string(w.north), w.ben))
	ben.find(draft)
	ben.waitValue(draft, "draft", "minutes of the spring meeting")
	cai := connectAs(t, w.r, "cai", MemberPrincipal(string(w.south), w.cai))
	if canFetch(t, cai, draft) {
		t.Fatal("another council's member reads a north draft")
	}
	op := connectAs(t, w.r, "op", OperatorPrincipal)
	other := wire.NewDocumentID()
	op.change(other, "k", "v")
	if m := op.expect(wire.TypeDocUnavailable); m.DocumentID != other {
		t.Fatalf("operator creation answered %+v", m)
	}
	if ok, _ := w.r.store.Exists(context.Background(), string(other)); ok {
		t.Fatal("the operator created a document over the websocket")
	}
}

// TestRecallClosingByTheClockCutsTheDelegate: a recall with a closing time
// passes when the clock reaches it, with no change to the document at that
// moment; the delegate is cut then.
func TestRecallClosingByTheClockCutsTheDelegate(t *testing.T) {
	w := newWorld(t)
	ben := connectAs(t, w.r, "ben", MemberPrincipal(string(w.north), w.ben))
	ben.find(w.fed)
	ben.waitFor("federation", func() bool { return len(ben.doc(w.fed).Heads()) > 0 })
	now := time.Now()
	closes := now.Add(300 * time.Millisecond)
	w.change(t, w.north, func(d *automerge.Doc) error {
		pid, err := crdt.Propose(d, w.as(w.north, w.ana), crdt.ProposalSpec{Kind: crdt.ProposalRecall, Title: "recall ben", Subject: w.mandate, ClosesAt: closes}, now.Add(-time.Second))
		if err != nil {
			return err
		}
		return crdt.CastVote(d, w.as(w.north, w.ana), pid, crdt.Yes, now)
	})
	select {
	case <-ben.served:
		if time.Now().Before(closes) {
			t.Fatal("cut before the recall closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("delegate not cut when the recall closed")
	}
}

// FuzzAuthenticatedMessage feeds arbitrary frames from a connected member
// through decoding and grant checks: the relay must not panic, and the
// documents the member may not write never change.
func FuzzAuthenticatedMessage(f *testing.F) {
	w := newWorld(f)
	seedDoc := automerge.New()
	seedDoc.RootMap().Set("k", "v")
	seedDoc.Commit("")
	first, _ := automerge.NewSyncState(seedDoc).GenerateMessage()
	for _, typ := range []wire.Type{wire.TypeSync, wire.TypeRequest, wire.TypeEphemeral} {
		for target := range uint8(4) {
			b, _ := wire.Encode(wire.Message{Type: typ, SenderID: "cai", TargetID: "r", DocumentID: w.north, Data: first.Bytes(), SessionID: "s", Count: 1})
			f.Add(b, target)
		}
	}
	f.Add([]byte{0xa1, 0x64, 't', 'y', 'p', 'e'}, uint8(0))
	forbidden := []wire.DocumentID{w.north, w.fed}
	before := map[wire.DocumentID]string{}
	for _, id := range forbidden {
		before[id] = strings.Join(w.heads(f, id), ",")
	}
	docs := []wire.DocumentID{w.north, w.fed, w.south, wire.NewDocumentID()}

	f.Fuzz(func(t *testing.T, b []byte, target uint8) {
		if m, err := wire.Decode(b, 0); err == nil && m.DocumentID != "" {
			m.DocumentID = docs[int(target)%len(docs)]
			b, _ = wire.Encode(m)
		}
		cai := connectAs(t, w.r, "cai", MemberPrincipal(string(w.south), w.cai))
		cai.sendFrame(b)
		// A request after it is answered unless the frame closed the
		// connection: either way the frame has been handled.
		cai.sendMsg(wire.Message{Type: wire.TypeRequest, SenderID: "cai", TargetID: "r", DocumentID: wire.NewDocumentID(), Data: emptySyncMessage()})
		deadline := time.After(5 * time.Second)
	wait:
		for {
			select {
			case m, ok := <-cai.inbox:
				if !ok || m.Type == wire.TypeDocUnavailable && m.DocumentID != docs[int(target)%len(docs)] {
					break wait
				}
			case <-deadline:
				t.Fatal("relay did not answer")
			}
		}
		cai.conn.Close("")
		for _, id := range forbidden {
			if got := strings.Join(w.heads(t, id), ","); got != before[id] {
				t.Fatalf("a south member changed %s", id)
			}
		}
	})
}

// TestSecurityTableWebsocket: every message type that touches a document,
// from every kind of principal, against the federation document.
func TestSecurityTableWebsocket(t *testing.T) {
	w := newWorld(t)
	// Dora is a rightful member of the federation; she watches for what
	// reaches her.
	dora := connectAs(t, w.r, "dora", MemberPrincipal(string(w.fed), w.dora))
	dora.find(w.fed)
	dora.waitFor("federation", func() bool { return len(dora.doc(w.fed).Heads()) > 0 })

	// A recalled delegate: Cai of south held a mandate to the federation
	// that south then recalled (built here on south's document). South
	// joined the federation, but the federation never admitted it.
	at := time.Now().Add(-time.Minute)
	next := func() time.Time { at = at.Add(time.Second); return at }
	cai := w.as(w.south, w.cai)
	w.change(t, w.south, func(d *automerge.Doc) error {
		if err := crdt.JoinFederation(d, cai, string(w.fed), next()); err != nil {
			return err
		}
		pid, mid, err := crdt.ProposeMandate(d, cai, crdt.ProposalSpec{Title: "send cai"}, crdt.MandateSpec{Task: "t", Body: string(w.fed), Delegate: w.cai}, next())
		if err != nil {
			return err
		}
		if err := crdt.CastVote(d, cai, pid, crdt.Yes, next()); err != nil {
			return err
		}
		rid, err := crdt.Propose(d, cai, crdt.ProposalSpec{Kind: crdt.ProposalRecall, Title: "recall", Subject: mid}, next())
		if err != nil {
			return err
		}
		return crdt.CastVote(d, cai, rid, crdt.Yes, next())
	})

	type want int
	const (
		unavailable want = iota // doc-unavailable, as if it did not exist
		asNew                   // answered as a new document would be (a shadow, decoy.go), nothing applied to it
		refused                 // error, nothing applied
		served                  // synced / relayed
	)
	principals := []struct {
		name string
		p    Principal
		read want // request
		sync want // sync carrying a change
	}{
		{"operator", OperatorPrincipal, unavailable, unavailable},
		{"peer relay without a link", Principal{ID: "peer:x", Kind: KindPeer}, unavailable, unavailable},
		// Cai's mandate to the federation was recalled: nothing is left.
		// A member may create documents: a sync for an id it may not read
		// is answered as for a free id, so existence is not told.
		{"recalled delegate of a council outside the federation", MemberPrincipal(string(w.south), w.cai), unavailable, asNew},
		{"unknown member of a real council", MemberPrincipal(string(w.north), "ghost"), unavailable, unavailable},
		{"read-only member (council in the federation)", MemberPrincipal(string(w.north), w.ana), served, refused},
		{"rightful member", MemberPrincipal(string(w.fed), w.dora), served, served},
		{"delegate with an active mandate", MemberPrincipal(string(w.north), w.ben), served, served},
	}
	for i, c := range principals {
		t.Run(c.name, func(t *testing.T) {
			p := connectAs(t, w.r, c.name, c.p)
			got := canFetch(t, p, w.fed)
			if got != (c.read == served) {
				t.Fatalf("request: served=%v, want %v", got, c.read == served)
			}
			// A change to the document.
			key := "change-" + string(rune('a'+i))
			p.change(w.fed, key, c.name)
			switch c.sync {
			case unavailable:
				if m := p.expect(wire.TypeDocUnavailable); m.DocumentID != w.fed {
					t.Fatalf("sync answered %+v", m)
				}
			case asNew:
				if m := p.expect(wire.TypeSync); m.DocumentID != w.fed {
					t.Fatalf("sync answered %+v", m)
				}
			case refused:
				if m := p.expect(wire.TypeError); !strings.Contains(m.ErrorMessage, "no write access") {
					t.Fatalf("sync answered %q", m.ErrorMessage)
				}
			case served:
				dora.waitValue(w.fed, key, c.name)
			}
			if c.sync != served {
				// A lawful write after the refusal, committed: had the
				// refused change been applied, this commit would carry it.
				lawful := "lawful-" + string(rune('a'+i))
				w.change(t, w.fed, func(d *automerge.Doc) error { return d.RootMap().Set(lawful, "yes") })
				if storedValue(t, w.r, w.fed, lawful) != "yes" || storedValue(t, w.r, w.fed, key) != nil {
					t.Fatal("the refused change reached the federation document")
				}
			}
			// Ephemeral messages reach Dora only from those who may read.
			sess := "s-" + c.name
			p.sendMsg(wire.Message{Type: wire.TypeEphemeral, SenderID: c.name, TargetID: "r", DocumentID: w.fed, SessionID: sess, Count: 1, Data: []byte{0xa0}})
			relayed := false
			timeout := time.After(300 * time.Millisecond)
		loop:
			for {
				select {
				case m := <-dora.inbox:
					if m.Type == wire.TypeEphemeral && m.SessionID == sess {
						relayed = true
						break loop
					}
				case <-timeout:
					break loop
				}
			}
			if relayed != (c.read == served) {
				t.Fatalf("ephemeral relayed=%v, want %v", relayed, c.read == served)
			}
			p.conn.Close("")
		})
	}
}

// TestDelegateSeatInTheFederationLastsAsLongAsTheMandate: a delegate
// seated as a member of the federation (TakeSeat, signed with their north
// key, naming their council and mandate) holds that seat's grants only
// while north's log shows the mandate active; the recall cuts the seat's
// connections too.
func TestDelegateSeatInTheFederationLastsAsLongAsTheMandate(t *testing.T) {
	w := newWorld(t)
	p := MemberPrincipal(string(w.fed), w.seat)
	if !w.g.CanWrite(p, string(w.fed)) {
		t.Fatal("a seated delegate with an active mandate cannot write the federation")
	}
	conn := connectAs(t, w.r, "seat", p)
	conn.find(w.fed)
	conn.waitFor("federation", func() bool { return len(conn.doc(w.fed).Heads()) > 0 })

	now := time.Now()
	w.recallBen(t, now)
	conn.waitClosed()
	if w.g.CanWrite(p, string(w.fed)) || w.g.CanRead(p, string(w.fed)) {
		t.Fatal("the seat keeps its grants after the recall")
	}
	// The federation's own log ends the seat too, once it has re-read
	// north: the seat's member is no longer active there.
	waitUntil(t, "the federation to end the seat", func() bool {
		f := w.g.facts(string(w.fed))
		return f != nil && !f.members[w.seat]
	})
	// Dora, a member the federation seated itself, is unaffected.
	if !w.g.CanWrite(MemberPrincipal(string(w.fed), w.dora), string(w.fed)) {
		t.Fatal("the recall touched another member")
	}
}
