package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server/wire"
)

// The tests in this file attack the relay's grants the way a member with a
// stock automerge-repo client can: by writing any byte of the document
// state they may write, with any change message. Grants come from the
// verified fact log only, so none of these writes may change what anyone
// may read or write. Each test checks that the forged state did reach the
// relay's stored document (so the forgery would have worked against
// grants read from the state), and that the grants did not move.

// load has p fetch document id from r and waits until p's copy has
// everything r stored.
func load(t *testing.T, r *Relay, p *testPeer, id wire.DocumentID) {
	t.Helper()
	p.find(id)
	waitUntil(t, p.id+" to load "+string(id), func() bool {
		m, err := r.store.Meta(context.Background(), string(id))
		return err == nil && len(m.Heads) > 0 && slices.Equal(m.Heads, hexHeads(p.doc(id).Heads()))
	})
}

// forge writes p's copy of document id directly with automerge-go, commits
// the edit as one change whose message is msg (no signed record), syncs it
// to r and waits until r stored it and derived its grants again. p must
// have loaded id and be allowed to write it.
func forge(t *testing.T, r *Relay, p *testPeer, id wire.DocumentID, msg string, write func(*automerge.Doc) error) {
	t.Helper()
	p.mu.Lock()
	d := p.docLocked(id)
	err := write(d.doc)
	if err == nil {
		_, err = d.doc.Commit(msg)
	}
	p.mu.Unlock()
	if err != nil {
		t.Fatalf("forging %s: %v", id, err)
	}
	p.syncDoc(id, wire.TypeSync)
	waitStored(t, r, p, id)
	settle(t, r, id)
}

// settle returns once r's synchronizer of id has handled everything before
// it (in particular the grants' update after the last commit).
func settle(t testing.TB, r *Relay, id wire.DocumentID) {
	t.Helper()
	if err := r.View(context.Background(), id, func(*automerge.Doc) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// stored reads the value at path in r's copy of document id (nil if
// absent).
func stored(t testing.TB, r *Relay, id wire.DocumentID, path ...any) any {
	t.Helper()
	var v any
	err := r.View(context.Background(), id, func(d *automerge.Doc) error {
		got, err := d.Path(path...).Get()
		if err == nil && got.Kind() != automerge.KindVoid {
			v = got.Interface()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// refusedWrite checks that p's change to document id is refused and that
// r stores nothing of it.
func refusedWrite(t *testing.T, r *Relay, p *testPeer, id wire.DocumentID, key string) {
	t.Helper()
	before := storedHeads(t, r, id)
	p.change(id, key, "x")
	if m := p.expect(wire.TypeError); !strings.Contains(m.ErrorMessage, "no write access") {
		t.Fatalf("%s's write to %s answered %q", p.id, id, m.ErrorMessage)
	}
	settle(t, r, id)
	if after := storedHeads(t, r, id); !slices.Equal(after, before) {
		t.Fatalf("%s's refused write changed %s: %v → %v", p.id, id, before, after)
	}
}

// heads returns the heads of document id in r's store.
func storedHeads(t testing.TB, r *Relay, id wire.DocumentID) []string {
	t.Helper()
	m, err := r.store.Meta(context.Background(), string(id))
	if err != nil {
		t.Fatal(err)
	}
	return m.Heads
}

// TestMembershipOfAFederationNeedsBothSides: a council's join of a
// federation (signed, in its own log) grants its members no read of the
// federation until the federation's log admits it; a signed half with the
// other half forged in the state, either way round, grants nothing.
func TestMembershipOfAFederationNeedsBothSides(t *testing.T) {
	w := newWorld(t)
	at := time.Now().Add(-time.Minute)
	west := foundCouncil(t, w.r, "west", crdt.KindWorkers, "eve", at)
	w.change(t, west, func(d *automerge.Doc) error {
		return crdt.JoinFederation(d, w.as(west, "eve"), string(w.fed), at.Add(time.Second))
	})
	eve := MemberPrincipal(string(west), "eve")
	if w.g.CanRead(eve, string(w.fed)) {
		t.Fatal("a council's join alone grants read of the federation")
	}
	if p := connectAs(t, w.r, "eve", eve); canFetch(t, p, w.fed) {
		t.Fatal("a member of a council that only joined reads the federation")
	}

	// The other half alone: the federation admits south, whose own log
	// never joined; Cai writes memberOf into south's state by hand.
	w.change(t, w.fed, func(d *automerge.Doc) error {
		return crdt.AdmitCouncil(d, w.as(w.fed, w.dora), string(w.south), at.Add(2*time.Second))
	})
	cai := connectAs(t, w.r, "cai", MemberPrincipal(string(w.south), w.cai))
	load(t, w.r, cai, w.south)
	forge(t, w.r, cai, w.south, "veche:join-federation by=cai federation="+string(w.fed), func(d *automerge.Doc) error {
		return d.Path("federation", "memberOf", string(w.fed)).Set(map[string]any{"since": at})
	})
	if stored(t, w.r, w.south, "federation", "memberOf", string(w.fed), "since") == nil {
		t.Fatal("the forged memberOf did not reach the relay's document")
	}
	if w.g.CanRead(MemberPrincipal(string(w.south), w.cai), string(w.fed)) || canFetch(t, cai, w.fed) {
		t.Fatal("an admission plus a forged memberOf grants read of the federation")
	}

	// West's join plus an admission written raw into the federation's
	// state by Dora, a member who may write it: still no read.
	dora := connectAs(t, w.r, "dora", MemberPrincipal(string(w.fed), w.dora))
	load(t, w.r, dora, w.fed)
	forge(t, w.r, dora, w.fed, "veche:admit-council by=dora council="+string(west), func(d *automerge.Doc) error {
		return d.Path("federation", "members", string(west)).Set(map[string]any{"since": at})
	})
	if stored(t, w.r, w.fed, "federation", "members", string(west), "since") == nil {
		t.Fatal("the forged admission did not reach the relay's document")
	}
	if w.g.CanRead(eve, string(w.fed)) {
		t.Fatal("a join plus a forged admission grants read of the federation")
	}

	// With both signed halves, west's member reads the federation.
	w.change(t, w.fed, func(d *automerge.Doc) error {
		return crdt.AdmitCouncil(d, w.as(w.fed, w.dora), string(west), at.Add(3*time.Second))
	})
	if !w.g.CanRead(eve, string(w.fed)) {
		t.Fatal("a council joined and admitted does not read the federation")
	}
	if p := connectAs(t, w.r, "eve2", eve); !canFetch(t, p, w.fed) {
		t.Fatal("a member of a council joined and admitted cannot fetch the federation")
	}
}

// TestForgedMandateInStateGrantsNoWrite: a mandate and its "passed"
// proposal written raw into the council's state, with no signed record,
// grant no write — neither to the federation nor to an ordinary council
// named as the mandate's body.
func TestForgedMandateInStateGrantsNoWrite(t *testing.T) {
	w := newWorld(t)
	ana := connectAs(t, w.r, "ana", MemberPrincipal(string(w.north), w.ana))
	load(t, w.r, ana, w.north)
	at := time.Now().Add(-time.Minute)
	forgeMandate := func(pid, mid string, body wire.DocumentID) {
		forge(t, w.r, ana, w.north, "veche:propose-mandate by=ana proposal="+pid+" mandate="+mid, func(d *automerge.Doc) error {
			err := d.Path("proposals", pid).Set(map[string]any{
				"kind": "mandate", "title": "send ana", "by": w.ana, "at": at, "subject": mid,
				"votes": map[string]any{
					w.ana: map[string]any{"choice": "yes", "at": at},
					w.ben: map[string]any{"choice": "yes", "at": at},
				},
			})
			if err != nil {
				return err
			}
			return d.Path("mandates", mid).Set(map[string]any{
				"task": "anything", "body": string(body), "delegate": w.ana, "proposal": pid, "issuedAt": at, "reports": []any{},
			})
		})
	}
	forgeMandate("forged-p1", "forged-m1", w.fed)
	forgeMandate("forged-p2", "forged-m2", w.south)
	if stored(t, w.r, w.north, "mandates", "forged-m1", "body") != string(w.fed) ||
		stored(t, w.r, w.north, "mandates", "forged-m2", "body") != string(w.south) {
		t.Fatal("the forged mandates did not reach the relay's document")
	}

	p := MemberPrincipal(string(w.north), w.ana)
	if w.g.CanWrite(p, string(w.fed)) || w.g.CanWrite(p, string(w.south)) || w.g.CanRead(p, string(w.south)) {
		t.Fatal("a forged mandate in the state grants access")
	}
	load(t, w.r, ana, w.fed) // Ana reads the federation, as before
	refusedWrite(t, w.r, ana, w.fed, "ana-forged")
	if canFetch(t, ana, w.south) {
		t.Fatal("a forged mandate naming south lets Ana read south")
	}
	// The verified view knows only Ben's mandate.
	err := w.r.View(context.Background(), w.north, func(d *automerge.Doc) error {
		v, _, _ := w.g.ReadCouncil(string(w.north), d, time.Now())
		if len(v.Mandates) != 1 || v.Mandates[0].ID != w.mandate {
			t.Errorf("verified mandates: %+v", v.Mandates)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Ben's real mandate still grants his write.
	if !w.g.CanWrite(MemberPrincipal(string(w.north), w.ben), string(w.fed)) {
		t.Fatal("the forgery touched Ben's mandate")
	}
}

// TestRecalledDelegateDeletingTheRecallStillCannotWrite: after the recall
// passed, Ben (still a member of north, so still its writer) deletes the
// recall proposal from north's state; his mandate stays recalled, and
// neither he nor his seat may write the federation.
func TestRecalledDelegateDeletingTheRecallStillCannotWrite(t *testing.T) {
	w := newWorld(t)
	rid := w.recall(t, w.r, time.Now())
	ben := connectAs(t, w.r, "ben", MemberPrincipal(string(w.north), w.ben))
	load(t, w.r, ben, w.north)
	forge(t, w.r, ben, w.north, "veche:withdraw-proposal by=ana proposal="+rid, func(d *automerge.Doc) error {
		return d.Path("proposals", rid).Delete()
	})
	if stored(t, w.r, w.north, "proposals", rid) != nil {
		t.Fatal("the deletion of the recall did not reach the relay's document")
	}
	if stored(t, w.r, w.north, "mandates", w.mandate, "body") != string(w.fed) {
		t.Fatal("the mandate is gone from the state: the state would not look active")
	}
	p := MemberPrincipal(string(w.north), w.ben)
	seat := MemberPrincipal(string(w.fed), w.seat)
	if w.g.CanWrite(p, string(w.fed)) || w.g.CanWrite(seat, string(w.fed)) {
		t.Fatal("deleting the recall from the state restores the delegate's write")
	}
	load(t, w.r, ben, w.fed) // north's members still read the federation
	refusedWrite(t, w.r, ben, w.fed, "after-deleting-the-recall")
}

// TestForgedDepartureKeepsAccess: a leftAt written into another member's
// entry, or their entry deleted, by a fellow member with a stock client
// does not end their membership: their grants stay.
func TestForgedDepartureKeepsAccess(t *testing.T) {
	w := newWorld(t)
	ben := connectAs(t, w.r, "ben", MemberPrincipal(string(w.north), w.ben))
	load(t, w.r, ben, w.north)
	forge(t, w.r, ben, w.north, "veche:leave by=ana", func(d *automerge.Doc) error {
		return d.Path("members", w.ana, "leftAt").Set(time.Now().Add(-time.Minute))
	})
	ana := connectAs(t, w.r, "ana", MemberPrincipal(string(w.north), w.ana))
	load(t, w.r, ana, w.north)
	forge(t, w.r, ana, w.north, "veche:leave by=ben", func(d *automerge.Doc) error {
		return d.Path("members", w.ben).Delete()
	})
	if stored(t, w.r, w.north, "members", w.ana, "leftAt") == nil || stored(t, w.r, w.north, "members", w.ben) != nil {
		t.Fatal("the forged departures did not reach the relay's document")
	}

	anaP, benP := MemberPrincipal(string(w.north), w.ana), MemberPrincipal(string(w.north), w.ben)
	switch {
	case !w.g.CanWrite(anaP, string(w.north)) || !w.g.CanRead(anaP, string(w.fed)):
		t.Fatal("a forged leftAt ends Ana's access")
	case !w.g.CanWrite(benP, string(w.north)) || !w.g.CanWrite(benP, string(w.fed)):
		t.Fatal("deleting Ben's entry ends his access or his mandate")
	case !w.g.CanWrite(MemberPrincipal(string(w.fed), w.seat), string(w.fed)):
		t.Fatal("deleting Ben's entry ends his seat")
	}
	// Over the websocket: Ana fetches the federation, Ben writes it.
	ana2 := connectAs(t, w.r, "ana2", anaP)
	if !canFetch(t, ana2, w.fed) {
		t.Fatal("Ana cannot fetch the federation")
	}
	load(t, w.r, ben, w.fed)
	ben.change(w.fed, "ben-still-here", "1")
	waitStored(t, w.r, ben, w.fed)
}

// TestDelegateWritesOnlyWhileTheCouncilBelongs: an active mandate grants
// the write only while the delegate's council belongs to the federation;
// either side ending the membership ends it, and the seat with it.
func TestDelegateWritesOnlyWhileTheCouncilBelongs(t *testing.T) {
	for _, side := range []string{"the federation removes north", "north leaves the federation"} {
		t.Run(side, func(t *testing.T) {
			w := newWorld(t)
			ben := MemberPrincipal(string(w.north), w.ben)
			seat := MemberPrincipal(string(w.fed), w.seat)
			if !w.g.CanWrite(ben, string(w.fed)) || !w.g.CanWrite(seat, string(w.fed)) {
				t.Fatal("the delegate cannot write the federation to begin with")
			}
			conn := connectAs(t, w.r, "ben", ben)
			load(t, w.r, conn, w.fed)
			seatConn := connectAs(t, w.r, "seat", seat)
			load(t, w.r, seatConn, w.fed)
			ana := connectAs(t, w.r, "ana", MemberPrincipal(string(w.north), w.ana))
			load(t, w.r, ana, w.fed)
			at := time.Now().Add(-time.Second)
			if side == "north leaves the federation" {
				w.change(t, w.north, func(d *automerge.Doc) error {
					return crdt.LeaveFederation(d, w.as(w.north, w.ana), string(w.fed), at)
				})
			} else {
				w.change(t, w.fed, func(d *automerge.Doc) error {
					return crdt.RemoveCouncil(d, w.as(w.fed, w.dora), string(w.north), at)
				})
			}
			settle(t, w.r, w.fed)
			if w.g.CanWrite(ben, string(w.fed)) || w.g.CanRead(ben, string(w.fed)) {
				t.Fatal("the delegate keeps the federation after their council left it")
			}
			waitUntil(t, "the seat to end", func() bool { return !w.g.CanWrite(seat, string(w.fed)) })
			if w.g.CanRead(MemberPrincipal(string(w.north), w.ana), string(w.fed)) {
				t.Fatal("north's members still read the federation")
			}
			// Sessions that had the federation open are cut, so they
			// receive none of its later changes.
			conn.waitClosed()
			seatConn.waitClosed()
			ana.waitClosed()
			// The mandate itself is still active: only membership ended it.
			err := w.r.View(context.Background(), w.north, func(d *automerge.Doc) error {
				v, _, _ := w.g.ReadCouncil(string(w.north), d, time.Now())
				if m, ok := v.Mandate(w.mandate); !ok || m.Status != crdt.MandateActive {
					t.Errorf("mandate %+v, want active", m)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestForgedSeatsGrantNothing: a seat in the federation counts only when
// the delegate of an active mandate signed it. A member entry with sentBy
// written raw into the federation's state, and a seat signed by another
// north member naming Ben's mandate, grant nothing.
func TestForgedSeatsGrantNothing(t *testing.T) {
	w := newWorld(t)
	dora := connectAs(t, w.r, "dora", MemberPrincipal(string(w.fed), w.dora))
	load(t, w.r, dora, w.fed)
	forge(t, w.r, dora, w.fed, "veche:join by=dora member=ghost", func(d *automerge.Doc) error {
		return d.Path("members", "ghost").Set(map[string]any{
			"name": "ghost", "role": "delegate", "joinedAt": time.Now().Add(-time.Minute),
			"sentBy": map[string]any{"council": string(w.north), "mandate": w.mandate},
			"keys":   map[string]any{},
		})
	})
	if stored(t, w.r, w.fed, "members", "ghost", "sentBy", "mandate") != w.mandate {
		t.Fatal("the forged seat did not reach the relay's document")
	}
	ghost := MemberPrincipal(string(w.fed), "ghost")
	if w.g.CanRead(ghost, string(w.fed)) || w.g.CanWrite(ghost, string(w.fed)) {
		t.Fatal("a seat written into the state grants access")
	}
	// Ana signs a seat with her own north key, naming Ben's mandate: the
	// record is well formed, but north's log says the mandate is Ben's.
	w.change(t, w.fed, func(d *automerge.Doc) error {
		_, err := crdt.TakeSeat(d, w.as(w.fed, w.ana), crdt.SeatSpec{ID: "ana-north", Name: "Ana",
			Council: string(w.north), Mandate: w.mandate}, time.Now().Add(-time.Second))
		return err
	})
	impostor := MemberPrincipal(string(w.fed), "ana-north")
	if w.g.CanRead(impostor, string(w.fed)) || w.g.CanWrite(impostor, string(w.fed)) {
		t.Fatal("a seat signed by someone other than the mandate's delegate grants access")
	}
	p := connectAs(t, w.r, "impostor", impostor)
	if canFetch(t, p, w.fed) {
		t.Fatal("the impostor's seat fetches the federation")
	}
	// Ben's own seat still counts.
	if !w.g.CanWrite(MemberPrincipal(string(w.fed), w.seat), string(w.fed)) {
		t.Fatal("Ben's seat lost its grant")
	}
}

// carry brings document id from relay from to relay to, as a file
// (bundle) or a device moving between them would: everything from's copy
// holds is merged into to's, which creates the document if it lacks it.
func carry(t testing.TB, from, to *Relay, id wire.DocumentID) {
	t.Helper()
	ctx := context.Background()
	var saved []byte
	if err := from.View(ctx, id, func(d *automerge.Doc) error { saved = d.Save(); return nil }); err != nil {
		t.Fatal(err)
	}
	merge := func(d *automerge.Doc) error {
		other, err := automerge.Load(saved)
		if err != nil {
			return err
		}
		_, err = d.Merge(other)
		return err
	}
	exists, err := to.store.Exists(ctx, string(id))
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		err = to.Change(ctx, id, merge)
	} else {
		err = to.CreateAt(ctx, id, merge)
	}
	if err != nil {
		t.Fatal(err)
	}
	settle(t, to, id)
}

// TestRecallWhileOfflineReachesTwoRelays: north and the federation live on
// two relays with their own stores (relay A, where north's members meet,
// and relay B). Ben is recalled on A while he is offline. Once the recall
// has reached B, neither relay lets him (or his seat) write the
// federation, whatever he deletes from north's state afterwards.
func TestRecallWhileOfflineReachesTwoRelays(t *testing.T) {
	w := newWorld(t)
	a, ga := w.r, w.g
	b := newTestRelay(t, openStore(t), Options{Access: AllowAll{}})
	gb := NewGrants(b, &memOwners{m: map[string]string{}})
	b.SetAccess(gb)
	for _, id := range []wire.DocumentID{w.north, w.fed, w.south} {
		carry(t, a, b, id)
	}
	ben := MemberPrincipal(string(w.north), w.ben)
	seat := MemberPrincipal(string(w.fed), w.seat)
	if !gb.CanWrite(ben, string(w.fed)) || !gb.CanWrite(seat, string(w.fed)) {
		t.Fatal("relay B does not grant the delegate's write from the carried logs")
	}
	// Ben writes the federation on B, then goes offline.
	conn := connectAs(t, b, "ben", ben)
	load(t, b, conn, w.fed)
	conn.change(w.fed, "ben-before", "1")
	waitStored(t, b, conn, w.fed)
	conn.conn.Close("")

	// North recalls him on A.
	rid := w.recall(t, a, time.Now())
	if ga.CanWrite(ben, string(w.fed)) || ga.CanWrite(seat, string(w.fed)) {
		t.Fatal("relay A grants the write after the recall")
	}
	if !gb.CanWrite(ben, string(w.fed)) {
		t.Fatal("relay B knows of the recall before it arrived: the relays are not apart")
	}

	// The recall reaches B.
	carry(t, a, b, w.north)
	if gb.CanWrite(ben, string(w.fed)) {
		t.Fatal("relay B grants the write after the recall reached it")
	}
	waitUntil(t, "B to end the seat", func() bool { return !gb.CanWrite(seat, string(w.fed)) })

	// Ben comes back on B, deletes the recall from north's state (he is
	// still north's member and writer) and tries the federation.
	conn = connectAs(t, b, "ben-back", ben)
	load(t, b, conn, w.north)
	forge(t, b, conn, w.north, "veche:withdraw-proposal by=ana proposal="+rid, func(d *automerge.Doc) error {
		return d.Path("proposals", rid).Delete()
	})
	if stored(t, b, w.north, "proposals", rid) != nil {
		t.Fatal("the deletion did not reach relay B")
	}
	load(t, b, conn, w.fed)
	refusedWrite(t, b, conn, w.fed, "ben-after")
	seatConn := connectAs(t, b, "seat", seat)
	if canFetch(t, seatConn, w.fed) {
		t.Fatal("the ended seat still fetches the federation on B")
	}

	// The deletion travels back to A: still no write there.
	carry(t, b, a, w.north)
	if stored(t, a, w.north, "proposals", rid) != nil {
		t.Fatal("the deletion did not reach relay A")
	}
	if ga.CanWrite(ben, string(w.fed)) || gb.CanWrite(ben, string(w.fed)) || ga.CanWrite(seat, string(w.fed)) {
		t.Fatal("deleting the recall restored the write on a relay")
	}
	connA := connectAs(t, a, "ben-a", ben)
	load(t, a, connA, w.fed)
	refusedWrite(t, a, connA, w.fed, "ben-on-a")
}

// handRecord signs a record by hand, as any client can (the format is
// public: crdt/doc.go), and returns the change message carrying it. It
// lets a test make records the crdt operations would refuse to make.
func handRecord(t *testing.T, council string, op crdt.Op, by string, key ed25519.PrivateKey, at time.Time, args map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		V       int               `json:"v"`
		Council string            `json:"council"`
		Op      crdt.Op           `json:"op"`
		By      string            `json:"by"`
		At      int64             `json:"at"`
		Key     string            `json:"key"`
		Args    map[string]string `json:"args"`
	}{crdt.RecordVersion, council, op, by, at.UnixMilli(), crdt.EncodeKey(key.Public().(ed25519.PublicKey)), args})
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	r := &crdt.Record{Op: op, By: by, Args: args, Payload: payload,
		Sig: ed25519.Sign(key, append([]byte("veche-fact/1\n"), payload...))}
	if _, err := crdt.ParseRecord(r.Message()); err != nil {
		t.Fatalf("the hand-made record does not parse: %v", err)
	}
	return r.Message()
}

// commitRecord commits an empty change carrying msg to document id on r,
// as if it had arrived from a replica that made it.
func commitRecord(t *testing.T, r *Relay, id wire.DocumentID, msg string) {
	t.Helper()
	err := r.Change(context.Background(), id, func(d *automerge.Doc) error {
		_, err := d.Commit(msg, automerge.CommitOptions{AllowEmpty: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSeatsThatDoNotCountDecideNothing: a seat that north's log does not
// confirm — taken with an outsider's key naming Ben's mandate, or Ben's
// own after his recall — cannot admit a council into the federation, so
// the admitted council's members get no read. South has joined the
// federation on its side; only the federation's half is forged.
func TestSeatsThatDoNotCountDecideNothing(t *testing.T) {
	at := time.Now().Add(-time.Minute)
	southJoins := func(w *world) {
		w.change(t, w.south, func(d *automerge.Doc) error {
			return crdt.JoinFederation(d, w.as(w.south, w.cai), string(w.fed), at)
		})
	}
	t.Run("an outsider's seat", func(t *testing.T) {
		w := newWorld(t)
		southJoins(w)
		mallory := testKey("mallory")
		commitRecord(t, w.r, w.fed, handRecord(t, string(w.fed), crdt.OpSeat, "mallory", mallory, at.Add(time.Second),
			map[string]string{"member": "mallory", "name": "Mallory", "role": "delegate", "council": string(w.north), "mandate": w.mandate}))
		commitRecord(t, w.r, w.fed, handRecord(t, string(w.fed), crdt.OpAdmitCouncil, "mallory", mallory, at.Add(2*time.Second),
			map[string]string{"council": string(w.south)}))
		if w.g.CanRead(MemberPrincipal(string(w.fed), "mallory"), string(w.fed)) {
			t.Fatal("the outsider's seat counts")
		}
		if w.g.CanRead(MemberPrincipal(string(w.south), w.cai), string(w.fed)) {
			t.Fatal("a council admitted by a seat that does not count reads the federation")
		}
	})
	t.Run("a recalled delegate's seat, the recall arriving last", func(t *testing.T) {
		w := newWorld(t)
		southJoins(w)
		// Ana's device, offline, passes the recall on its copy of north.
		var saved []byte
		if err := w.r.View(context.Background(), w.north, func(d *automerge.Doc) error { saved = d.Save(); return nil }); err != nil {
			t.Fatal(err)
		}
		anaDevice, err := automerge.Load(saved)
		if err != nil {
			t.Fatal(err)
		}
		heads := anaDevice.Heads()
		recalled := time.Now().Add(-30 * time.Second)
		pid, err := crdt.Propose(anaDevice, w.as(w.north, w.ana), crdt.ProposalSpec{Kind: crdt.ProposalRecall, Title: "recall ben", Subject: w.mandate}, recalled.Add(-time.Second))
		if err == nil {
			err = crdt.CastVote(anaDevice, w.as(w.north, w.ana), pid, crdt.Yes, recalled.Add(-time.Second))
		}
		if err == nil {
			err = crdt.CastVote(anaDevice, w.as(w.north, w.ben), pid, crdt.Abstain, recalled)
		}
		if err != nil {
			t.Fatal(err)
		}
		recall, err := anaDevice.Changes(heads...)
		if err != nil {
			t.Fatal(err)
		}
		// After the recall, Ben's seat key admits south; the federation
		// gets that record before north gets the recall.
		commitRecord(t, w.r, w.fed, handRecord(t, string(w.fed), crdt.OpAdmitCouncil, w.seat, testKey(w.ben), recalled.Add(10*time.Second),
			map[string]string{"council": string(w.south)}))
		cai := MemberPrincipal(string(w.south), w.cai)
		if !w.g.CanRead(cai, string(w.fed)) {
			t.Fatal("before the recall is known, the seat's admission does not count: the test proves nothing")
		}
		conn := connectAs(t, w.r, "cai", cai)
		load(t, w.r, conn, w.fed)
		w.change(t, w.north, func(d *automerge.Doc) error { return d.Apply(recall...) })
		waitUntil(t, "the admission to stop counting", func() bool { return !w.g.CanRead(cai, string(w.fed)) })
		conn.waitClosed()
		if canFetch(t, connectAs(t, w.r, "cai2", cai), w.fed) {
			t.Fatal("south's member fetches the federation after the recall arrived")
		}
	})
}

// TestExpulsionEndsMembershipOnlyWhenPassed: a member leaves a council
// only by their own signed departure or a passed expel proposal. While the
// expulsion of Ben is open (only its proposer voted), he keeps every grant;
// once it passes, his sessions are cut, and neither his mandate nor his
// seat in the federation grants anything: he acts for nobody.
func TestExpulsionEndsMembershipOnlyWhenPassed(t *testing.T) {
	w := newWorld(t)
	at := time.Now().Add(-time.Minute)
	next := func() time.Time { at = at.Add(time.Second); return at }
	var pid string
	w.change(t, w.north, func(d *automerge.Doc) error {
		if _, err := crdt.Join(d, w.as(w.north, w.ana), w.spec("eli"), next()); err != nil {
			return err
		}
		var err error
		pid, err = crdt.Propose(d, w.as(w.north, w.ana), crdt.ProposalSpec{Kind: crdt.ProposalExpel, Title: "expel ben", Subject: w.ben}, next())
		if err != nil {
			return err
		}
		return crdt.CastVote(d, w.as(w.north, w.ana), pid, crdt.Yes, next())
	})
	ben := MemberPrincipal(string(w.north), w.ben)
	if !w.g.CanWrite(ben, string(w.north)) || !w.g.CanWrite(ben, string(w.fed)) {
		t.Fatal("an open expulsion ends Ben's grants")
	}
	seat := MemberPrincipal(string(w.fed), w.seat)
	conn := connectAs(t, w.r, "ben", ben)
	load(t, w.r, conn, w.north)
	seatConn := connectAs(t, w.r, "seat", seat)
	load(t, w.r, seatConn, w.fed)
	w.change(t, w.north, func(d *automerge.Doc) error {
		if err := crdt.CastVote(d, w.as(w.north, w.ben), pid, crdt.No, next()); err != nil {
			return err
		}
		return crdt.CastVote(d, w.as(w.north, "eli"), pid, crdt.Yes, next())
	})
	conn.waitClosed()
	seatConn.waitClosed()
	if w.g.CanRead(ben, string(w.north)) || w.g.CanWrite(ben, string(w.fed)) || w.g.CanRead(ben, string(w.fed)) {
		t.Fatal("an expelled member keeps a grant")
	}
	if w.g.CanWrite(seat, string(w.fed)) || w.g.CanRead(seat, string(w.fed)) {
		t.Fatal("an expelled delegate keeps their seat in the federation")
	}
	if canFetch(t, connectAs(t, w.r, "ben2", ben), w.north) {
		t.Fatal("an expelled member fetches the council")
	}
}
