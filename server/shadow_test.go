package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/syncmsg"
	"github.com/veche-sync/veche/server/wire"
)

// The hostile trial behind decoy.go: a member writes to an id on one
// connection and reads it back on another — of their own, of a fellow
// member, after a restart — and compares a free id with a taken one it
// may not read. Every step must look the same.

// addFellow admits eve to south, so that cai has a fellow member.
func (w *world) addFellow(t testing.TB) string {
	t.Helper()
	w.at = w.at.Add(time.Second)
	w.change(t, w.south, func(d *automerge.Doc) error {
		_, err := crdt.Join(d, w.as(w.south, w.cai), w.spec("eve"), w.at)
		return err
	})
	return "eve"
}

// written is what a writer saw of its first change to an id.
type written struct {
	Answers []wire.Type // messages for the id until the relay acknowledged the change
	Heads   []string    // the writer's heads, which the relay acknowledged
}

// write connects as p, writes key=value to id and waits until the relay
// acknowledges it (a sync message announcing the writer's heads, which
// then include whatever the relay held of id).
func write(t *testing.T, r *Relay, name string, p Principal, id wire.DocumentID, key, value string) written {
	t.Helper()
	c := connectAs(t, r, name, p)
	defer c.conn.Close("")
	c.change(id, key, value)
	var w written
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-c.inbox:
			if !ok {
				t.Fatalf("%s: closed; got %v", name, w.Answers)
			}
			if m.DocumentID != id {
				continue
			}
			w.Answers = append(w.Answers, m.Type)
			if m.Type != wire.TypeSync {
				return w // refused or unavailable: what it saw is the answer
			}
			// The writer's copy holds what the relay sent too: acknowledged
			// once the relay announces exactly the writer's heads.
			mine := c.doc(id).Heads()
			if parsed, err := syncmsg.Decode(m.Data); err == nil && sameHeads(changeHashes(parsed.Heads), mine) {
				w.Heads = hexHeads(mine)
				return w
			}
		case <-timeout:
			t.Fatalf("%s: no acknowledgement for %s; got %v", name, id, w.Answers)
		}
	}
}

// read is what a reader got when it asked for an id.
type read struct {
	Answers []wire.Type
	Heads   []string
	Values  map[string]any
}

// readBack connects as p, asks for id and waits until it holds heads
// want, or the relay said the id is unavailable.
func readBack(t *testing.T, r *Relay, name string, p Principal, id wire.DocumentID, want []string, keys ...string) read {
	t.Helper()
	c := connectAs(t, r, name, p)
	defer c.conn.Close("")
	c.find(id)
	var got read
	timeout := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case m, ok := <-c.inbox:
			if !ok {
				t.Fatalf("%s: closed; got %v", name, got.Answers)
			}
			if m.DocumentID != id {
				continue
			}
			got.Answers = append(got.Answers, m.Type)
			done = m.Type != wire.TypeSync || slices.Equal(hexHeads(c.doc(id).Heads()), want)
		case <-timeout:
			t.Fatalf("%s: did not get %s; got %v", name, id, got.Answers)
		}
	}
	got.Heads = hexHeads(c.doc(id).Heads())
	got.Values = map[string]any{}
	for _, k := range keys {
		got.Values[k] = c.get(id, k)
	}
	return got
}

// sameSighting fails unless what was seen of the free id and of the
// taken one is alike, beyond the heads themselves (different changes).
func sameSighting(t *testing.T, step string, free, taken read, freeW, takenW written) {
	t.Helper()
	if !slices.Equal(free.Answers, taken.Answers) {
		t.Errorf("%s: a free id answered %v, a taken one %v", step, free.Answers, taken.Answers)
	}
	if fmt.Sprint(free.Values) != fmt.Sprint(taken.Values) {
		t.Errorf("%s: a free id holds %v, a taken one %v", step, free.Values, taken.Values)
	}
	if !slices.Equal(free.Heads, freeW.Heads) || !slices.Equal(taken.Heads, takenW.Heads) {
		t.Errorf("%s: heads read back differ from those written: free %v/%v, taken %v/%v", step, free.Heads, freeW.Heads, taken.Heads, takenW.Heads)
	}
}

// TestShadowLooksLikeANewDocumentAcrossConnections: cai (south) writes to
// a free id and to north's council document, which south may not read,
// then reads both back on a second connection of his own and on a
// connection of eve, a fellow member. Both ids answer alike at every
// step, and hold what cai wrote; north's document is untouched, and its
// members never see what cai wrote.
func TestShadowLooksLikeANewDocumentAcrossConnections(t *testing.T) {
	t.Run("in-process", func(t *testing.T) { shadowProbe(t, newWorld(t)) })
	// With the sandbox, a shadow's copy there is its own (named by its
	// key), as its crash marks and incidents are (TestShadowIsContained).
	t.Run("sandbox", func(t *testing.T) {
		st := openStore(t)
		shadowProbe(t, newWorldOn(t, st, st, Options{Sandbox: startSandbox(t), Quarantine: st}))
	})
}

func shadowProbe(t *testing.T, w *world) {
	eve := w.addFellow(t)
	cai := MemberPrincipal(string(w.south), w.cai)
	fellow := MemberPrincipal(string(w.south), eve)
	free, taken := wire.NewDocumentID(), w.north
	northBefore := w.heads(t, w.north)

	freeW := write(t, w.r, "cai-a", cai, free, "note", "seed prices")
	takenW := write(t, w.r, "cai-a2", cai, taken, "note", "seed prices")
	if !slices.Equal(freeW.Answers, takenW.Answers) || len(freeW.Answers) == 0 {
		t.Fatalf("the first write answered %v for a free id, %v for a taken one", freeW.Answers, takenW.Answers)
	}
	sameSighting(t, "cai's second connection",
		readBack(t, w.r, "cai-b", cai, free, freeW.Heads, "note"),
		readBack(t, w.r, "cai-b2", cai, taken, takenW.Heads, "note"), freeW, takenW)
	sameSighting(t, "a fellow member",
		readBack(t, w.r, "eve", fellow, free, freeW.Heads, "note"),
		readBack(t, w.r, "eve2", fellow, taken, takenW.Heads, "note"), freeW, takenW)

	// The fellow writes on; cai sees it on both alike.
	freeW2 := write(t, w.r, "eve-w", fellow, free, "reply", "agreed")
	takenW2 := write(t, w.r, "eve-w2", fellow, taken, "reply", "agreed")
	sameSighting(t, "cai after eve's reply",
		readBack(t, w.r, "cai-c", cai, free, freeW2.Heads, "note", "reply"),
		readBack(t, w.r, "cai-c2", cai, taken, takenW2.Heads, "note", "reply"), freeW2, takenW2)

	// North's document is untouched, and north's members read it as it
	// was: nothing of what south wrote.
	if got := w.heads(t, w.north); !slices.Equal(got, northBefore) {
		t.Fatalf("north's stored heads moved: %v, were %v", got, northBefore)
	}
	ana := readBack(t, w.r, "ana", MemberPrincipal(string(w.north), w.ana), w.north, northBefore, "note", "reply", "schema")
	if ana.Values["note"] != nil || ana.Values["reply"] != nil || ana.Values["schema"] != crdt.Schema {
		t.Fatalf("north's member reads %v", ana.Values)
	}
	// A north member's write reaches north, never south's shadow.
	anaW := write(t, w.r, "ana-w", MemberPrincipal(string(w.north), w.ana), w.north, "north-only", "yes")
	if storedValue(t, w.r, w.north, "north-only") != "yes" {
		t.Fatal("ana's write did not reach north")
	}
	again := readBack(t, w.r, "cai-d", cai, taken, takenW2.Heads, "north-only", "schema")
	if again.Values["north-only"] != nil || again.Values["schema"] != nil || slices.Equal(again.Heads, anaW.Heads) {
		t.Fatalf("south's shadow of north shows north: %v", again.Values)
	}
	// The shadow is stored under its own key, owned by south.
	key := shadowKey(string(w.south), string(w.north))
	if owner, err := w.g.owners.Owner(context.Background(), key); err != nil || owner != string(w.south) {
		t.Fatalf("the shadow's owner is %q (%v)", owner, err)
	}
	if m, err := w.r.store.Meta(context.Background(), key); err != nil || !slices.Equal(m.Heads, takenW2.Heads) {
		t.Fatalf("the shadow's stored heads are %v (%v), want %v", m.Heads, err, takenW2.Heads)
	}
}

// TestShadowSurvivesARestart: the same probe across a relay restart on
// one bbolt file: what cai wrote to a free id and to a taken one it may
// not read is read back alike by cai and a fellow member from the new
// relay, whose grants read the owners from the store — and count them:
// the shadow takes its share of the quota after the restart too.
func TestShadowSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldOn(t, st, st, Options{})
	eve := w.addFellow(t)
	cai := MemberPrincipal(string(w.south), w.cai)
	free, taken := wire.NewDocumentID(), w.fed
	freeW := write(t, w.r, "cai-a", cai, free, "note", "before the restart")
	takenW := write(t, w.r, "cai-a2", cai, taken, "note", "before the restart")
	fedHeads := w.heads(t, w.fed)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	// South made two documents: one new, one shadow. With a bound of two,
	// the restarted relay counts both from the store.
	r2 := newTestRelay(t, st2, Options{Access: AllowAll{}, MaxDocumentsPerCouncil: 2})
	r2.SetAccess(NewGrants(r2, st2))

	sameSighting(t, "cai after the restart",
		readBack(t, r2, "cai-b", cai, free, freeW.Heads, "note"),
		readBack(t, r2, "cai-b2", cai, taken, takenW.Heads, "note"), freeW, takenW)
	fellow := MemberPrincipal(string(w.south), eve)
	sameSighting(t, "a fellow member after the restart",
		readBack(t, r2, "eve", fellow, free, freeW.Heads, "note"),
		readBack(t, r2, "eve2", fellow, taken, takenW.Heads, "note"), freeW, takenW)
	for _, id := range []wire.DocumentID{wire.NewDocumentID(), w.north} {
		if got := write(t, r2, "cai-over", cai, id, "note", "over"); !slices.Equal(got.Answers, []wire.Type{wire.TypeError}) {
			t.Fatalf("south past its bound after the restart, for %s: %v", id, got.Answers)
		}
	}
	// The federation is untouched; its members read it as it was.
	dora := readBack(t, r2, "dora", MemberPrincipal(string(w.fed), w.dora), w.fed, fedHeads, "note")
	if dora.Values["note"] != nil || !slices.Equal(dora.Heads, fedHeads) {
		t.Fatalf("the federation's member reads %v at %v", dora.Values, dora.Heads)
	}
}

// TestShadowsCountInTheCreationQuota: a shadow costs the council one
// document of its quota, as a new document does; a council at the bound
// gets the same error for a free id and a taken one, and still writes the
// documents (and shadows) it owns.
func TestShadowsCountInTheCreationQuota(t *testing.T) {
	w := newWorld(t)
	w.r.opts.MaxDocumentsPerCouncil = 2
	cai := MemberPrincipal(string(w.south), w.cai)
	ana := MemberPrincipal(string(w.north), w.ana)
	// North creates two free ids; south one free id and one taken.
	mine := wire.NewDocumentID()
	write(t, w.r, "ana-1", ana, mine, "k", "1")
	write(t, w.r, "ana-2", ana, wire.NewDocumentID(), "k", "2")
	write(t, w.r, "cai-1", cai, wire.NewDocumentID(), "k", "1")
	write(t, w.r, "cai-2", cai, w.north, "k", "2")
	// Both councils are at the bound, alike.
	for _, c := range []struct {
		name string
		p    Principal
	}{{"ana", ana}, {"cai", cai}} {
		got := write(t, w.r, c.name+"-over", c.p, wire.NewDocumentID(), "k", "3")
		if !slices.Equal(got.Answers, []wire.Type{wire.TypeError}) {
			t.Fatalf("%s past the bound: %v", c.name, got.Answers)
		}
	}
	over := connectAs(t, w.r, "cai-over-taken", cai)
	over.change(w.fed, "k", "3")
	if m := over.expect(wire.TypeError); !strings.Contains(m.ErrorMessage, "too many documents") {
		t.Fatalf("a taken id past the bound: %q", m.ErrorMessage)
	}
	// What each owns is still written.
	if got := write(t, w.r, "cai-own", cai, w.north, "k", "4"); got.Heads == nil {
		t.Fatalf("cai's shadow at the bound: %v", got.Answers)
	}
	if got := write(t, w.r, "ana-own", ana, mine, "k", "4"); got.Heads == nil {
		t.Fatalf("ana's document at the bound: %v", got.Answers)
	}
	if n, _ := w.g.owners.OwnedCount(context.Background(), string(w.south)); n != 2 {
		t.Fatalf("south owns %d documents, want 2", n)
	}
}

// TestReaderOfTheRealDocumentNeverGetsTheShadow: whoever may read a
// document gets that document, never a shadow — from the moment a grant
// makes it readable too: south joins the federation after cai wrote a
// shadow of it; cai's next connection reads the federation, and his open
// one is switched to it at its next message (read-only there: refused).
func TestReaderOfTheRealDocumentNeverGetsTheShadow(t *testing.T) {
	w := newWorld(t)
	cai := MemberPrincipal(string(w.south), w.cai)
	open := connectAs(t, w.r, "cai-open", cai)
	open.change(w.fed, "note", "written before the grant")
	open.waitFor("the shadow's acknowledgement", func() bool {
		m, err := w.r.store.Meta(context.Background(), shadowKey(string(w.south), string(w.fed)))
		return err == nil && slices.Equal(m.Heads, hexHeads(open.doc(w.fed).Heads()))
	})
	fedHeads := w.heads(t, w.fed)

	w.at = w.at.Add(time.Second)
	w.change(t, w.south, func(d *automerge.Doc) error {
		return crdt.JoinFederation(d, w.as(w.south, w.cai), string(w.fed), w.at)
	})
	w.change(t, w.fed, func(d *automerge.Doc) error {
		return crdt.AdmitCouncil(d, w.as(w.fed, w.dora), string(w.south), w.at.Add(time.Second))
	})
	fedHeads = w.heads(t, w.fed)
	if !w.g.CanRead(cai, string(w.fed)) {
		t.Fatal("south's members do not read the federation after both sides agreed")
	}
	got := readBack(t, w.r, "cai-new", cai, w.fed, fedHeads, "note", "schema")
	if got.Values["note"] != nil || got.Values["schema"] != crdt.Schema || !slices.Equal(got.Heads, fedHeads) {
		t.Fatalf("after the grant cai reads %v at %v, want the federation at %v", got.Values, got.Heads, fedHeads)
	}
	// The open connection: its next change goes to the federation, which
	// south may only read.
	open.change(w.fed, "note", "written after the grant")
	if m := open.expect(wire.TypeError); !strings.Contains(m.ErrorMessage, "no write access") {
		t.Fatalf("the open connection's change after the grant: %q", m.ErrorMessage)
	}
	if got := w.heads(t, w.fed); !slices.Equal(got, fedHeads) {
		t.Fatal("the federation's heads moved")
	}
	// Read over the relay's own API as REST reads: the federation, not the shadow.
	err := w.r.ViewAs(context.Background(), cai, w.fed, func(d *automerge.Doc) error {
		if !slices.Equal(hexHeads(d.Heads()), fedHeads) {
			return fmt.Errorf("ViewAs shows heads %v, want %v", hexHeads(d.Heads()), fedHeads)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestViewAsServesWhatTheWebsocketServes: REST reads (Relay.ViewAs,
// Relay.CanRead) see a shadow exactly where the websocket serves one, and
// a free id nobody created is not found alike.
func TestViewAsServesWhatTheWebsocketServes(t *testing.T) {
	w := newWorld(t)
	cai := MemberPrincipal(string(w.south), w.cai)
	free := wire.NewDocumentID()
	for _, id := range []wire.DocumentID{free, w.north} {
		if w.r.CanRead(cai, string(id)) {
			t.Fatalf("cai reads %s before writing it", id)
		}
		if err := w.r.ViewAs(context.Background(), cai, id, func(*automerge.Doc) error { return nil }); err == nil {
			t.Fatalf("ViewAs of %s before it was written: no error", id)
		}
		write(t, w.r, "cai", cai, id, "note", "hello")
		if !w.r.CanRead(cai, string(id)) || !w.r.CanWrite(cai, string(id)) {
			t.Fatalf("cai may not read or write %s after writing it", id)
		}
		var note any
		err := w.r.ViewAs(context.Background(), cai, id, func(d *automerge.Doc) error {
			v, err := d.Path("note").Get()
			note = v.Interface()
			return err
		})
		if err != nil || note != "hello" {
			t.Fatalf("ViewAs of %s: %v, %v", id, note, err)
		}
	}
}

// TestShadowsNeverCrossALink: a relay holding south's shadow of north
// and sharing north over a peer link sends the district north itself:
// the district holds north's heads, nothing south wrote, and no shadow.
func TestShadowsNeverCrossALink(t *testing.T) {
	w := newWorld(t)
	cai := MemberPrincipal(string(w.south), w.cai)
	write(t, w.r, "cai", cai, w.north, "note", "south only")
	northHeads := w.heads(t, w.north)
	w.r.opts.Share = shareList{w.north}
	district := newTestRelay(t, openStore(t), Options{PeerID: "district", StorageID: "district-store"})
	dialSide, acceptSide := newPipe()
	go w.r.Dial(context.Background(), dialSide, Principal{ID: "link:district", Kind: KindPeer})
	go district.Accept(context.Background(), acceptSide, Principal{ID: "link:village", Kind: KindPeer})
	t.Cleanup(func() { dialSide.Close("") })
	waitUntil(t, "the district to hold north", func() bool {
		return slices.Equal(storedHeadsOrNil(district, w.north), northHeads)
	})
	if v := storedValue(t, district, w.north, "note"); v != nil {
		t.Fatalf("the district's north holds south's note %v", v)
	}
	err := district.store.Documents(context.Background(), func(id string, _ store.Meta) error {
		if strings.HasPrefix(id, shadowPrefix) || id != string(w.north) {
			return fmt.Errorf("the district stores %q", id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// storedHeadsOrNil is the heads r stores for id, nil while it stores none.
func storedHeadsOrNil(r *Relay, id wire.DocumentID) []string {
	m, err := r.store.Meta(context.Background(), string(id))
	if err != nil {
		return nil
	}
	return m.Heads
}

// TestShadowIsContained: a change that crashes the Automerge core, sent
// as the first sync for a taken id the sender may not read, is contained
// in the shadow it makes: quarantined under the shadow's key, its sender
// suspended, the real document untouched and served to its members.
func TestShadowIsContained(t *testing.T) {
	pool := startSandbox(t)
	st := openStore(t)
	w := newWorldOn(t, st, st, Options{Sandbox: pool, Quarantine: st})
	var poison []byte
	for _, c := range loadCorpus(t) {
		if len(c.State) == 0 && validateSyncMessage(c.Message) == nil {
			poison = c.Message
			break
		}
	}
	if poison == nil {
		t.Fatal("no crasher for a new document in testdata/crashers")
	}
	northBefore := w.heads(t, w.north)
	cai := MemberPrincipal(string(w.south), w.cai)
	bad := connectAs(t, w.r, "cai", cai)
	bad.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "cai", TargetID: w.r.PeerID(), DocumentID: w.north, Data: poison})
	bad.expectError("quarantined")
	bad.waitClosed()
	if !w.r.Suspended(cai) {
		t.Fatal("the sender was not suspended")
	}
	incs := w.r.Incidents()
	if len(incs) != 1 || incs[0].Document != shadowKey(string(w.south), string(w.north)) {
		t.Fatalf("incidents %+v: want one, for the shadow's key", incs)
	}
	if got := w.heads(t, w.north); !slices.Equal(got, northBefore) {
		t.Fatal("north moved")
	}
	got := readBack(t, w.r, "ana", MemberPrincipal(string(w.north), w.ana), w.north, northBefore, "schema")
	if got.Values["schema"] != crdt.Schema {
		t.Fatalf("north's member reads %v", got.Values)
	}
}

// TestShadowEphemeralStaysInItsScope: presence sent on a shadow reaches
// the scope's members syncing it, never the real document's peers, and
// theirs never reaches the shadow.
func TestShadowEphemeralStaysInItsScope(t *testing.T) {
	w := newWorld(t)
	eveID := w.addFellow(t)
	cai := connectAs(t, w.r, "cai", MemberPrincipal(string(w.south), w.cai))
	eve := connectAs(t, w.r, "eve", MemberPrincipal(string(w.south), eveID))
	ana := connectAs(t, w.r, "ana", MemberPrincipal(string(w.north), w.ana))
	ben := connectAs(t, w.r, "ben", MemberPrincipal(string(w.north), w.ben))
	cai.change(w.north, "note", "south")
	waitUntil(t, "the shadow to be stored", func() bool {
		ok, _ := w.r.store.Exists(context.Background(), shadowKey(string(w.south), string(w.north)))
		return ok
	})
	eve.find(w.north)
	eve.waitValue(w.north, "note", "south")
	for _, p := range []*testPeer{ana, ben} {
		p.find(w.north)
		p.waitFor("north", func() bool { return p.get(w.north, "schema") == crdt.Schema })
	}
	ephemeral := func(from *testPeer, session string) {
		from.sendMsg(wire.Message{Type: wire.TypeEphemeral, SenderID: from.id, TargetID: w.r.PeerID(), DocumentID: w.north, SessionID: session, Count: 1, Data: []byte{0xa0}})
	}
	// firstEphemeral is the session of the first ephemeral message p gets.
	firstEphemeral := func(p *testPeer) string {
		t.Helper()
		return p.expect(wire.TypeEphemeral).SessionID
	}
	ephemeral(cai, "south-presence")
	if got := firstEphemeral(eve); got != "south-presence" {
		t.Fatalf("eve got %q", got)
	}
	// Relayed to every peer of the document in one pass: had ana been
	// one, hers would be queued before ben's below.
	ephemeral(ben, "north-presence")
	if got := firstEphemeral(ana); got != "north-presence" {
		t.Fatalf("ana's first presence on north is %q: the shadow's reached her", got)
	}
	ephemeral(eve, "south-again")
	if got := firstEphemeral(cai); got != "south-again" {
		t.Fatalf("cai's first presence on the shadow is %q: north's reached him", got)
	}
}

// TestTwoCouncilsNeverShareANewID: a member of south starts a new
// document (its first sync message, no changes yet: the relay holds it in
// memory, owned by south, not stored); a member of north who then writes
// to the same id gets a document of north's own — a shadow — and neither
// council ever sees the other's writes nor loses the id to the other.
func TestTwoCouncilsNeverShareANewID(t *testing.T) {
	w := newWorld(t)
	id := wire.NewDocumentID()
	src := automerge.New()
	src.RootMap().Set("note", "south")
	src.Commit("south")
	first, _ := automerge.NewSyncState(src).GenerateMessage()
	cai := connectAs(t, w.r, "cai", MemberPrincipal(string(w.south), w.cai))
	cai.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "cai", TargetID: w.r.PeerID(), DocumentID: id, Data: first.Bytes()})
	cai.expect(wire.TypeSync) // the relay asks for the changes: it holds the id now
	if owner, err := w.g.owners.Owner(context.Background(), string(id)); err != nil || owner != string(w.south) {
		t.Fatalf("the new id's owner is %q (%v)", owner, err)
	}

	ana := MemberPrincipal(string(w.north), w.ana)
	anaW := write(t, w.r, "ana", ana, id, "note", "north")
	if owner, _ := w.g.owners.Owner(context.Background(), string(id)); owner != string(w.south) {
		t.Fatalf("north's write took the id: owner %q", owner)
	}
	if ok, _ := w.r.store.Exists(context.Background(), string(id)); ok {
		t.Fatal("north's write reached south's document")
	}
	got := readBack(t, w.r, "ana-again", ana, id, anaW.Heads, "note")
	if got.Values["note"] != "north" {
		t.Fatalf("north reads %v", got.Values)
	}
	// South writes its document and never sees north's note.
	caiW := write(t, w.r, "cai-w", MemberPrincipal(string(w.south), w.cai), id, "other", "south")
	back := readBack(t, w.r, "cai-again", MemberPrincipal(string(w.south), w.cai), id, caiW.Heads, "note", "other")
	if back.Values["note"] != nil || back.Values["other"] != "south" {
		t.Fatalf("south reads %v", back.Values)
	}
}

// TestAStartedDocumentKeepsItsID: south starts a new document and leaves
// before writing to it (the relay records the owner, stores nothing, and
// unloads it); north writing to that id later gets a shadow, and south
// keeps the id.
func TestAStartedDocumentKeepsItsID(t *testing.T) {
	w := newWorldOn(t, openStore(t), &memOwners{m: map[string]string{}}, Options{IdleTimeout: 10 * time.Millisecond})
	id := wire.NewDocumentID()
	src := automerge.New()
	src.RootMap().Set("note", "south")
	src.Commit("south")
	first, _ := automerge.NewSyncState(src).GenerateMessage()
	cai := connectAs(t, w.r, "cai", MemberPrincipal(string(w.south), w.cai))
	cai.sendMsg(wire.Message{Type: wire.TypeSync, SenderID: "cai", TargetID: w.r.PeerID(), DocumentID: id, Data: first.Bytes()})
	cai.expect(wire.TypeSync)
	cai.conn.Close("")
	waitUntil(t, "the started document to be unloaded", func() bool {
		w.r.mu.Lock()
		defer w.r.mu.Unlock()
		return w.r.docs[string(id)] == nil
	})
	write(t, w.r, "ana", MemberPrincipal(string(w.north), w.ana), id, "note", "north")
	if owner, _ := w.g.owners.Owner(context.Background(), string(id)); owner != string(w.south) {
		t.Fatalf("north's write took the id: owner %q", owner)
	}
	if ok, _ := w.r.store.Exists(context.Background(), shadowKey(string(w.north), string(id))); !ok {
		t.Fatal("north's write made no shadow")
	}
}
