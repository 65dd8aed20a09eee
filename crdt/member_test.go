package crdt_test

import (
	"time"

	"testing"

	"github.com/veche-sync/veche/crdt"
)

func TestJoinAndLeave(t *testing.T) {
	doc := newCouncil(t, majority, "fia")
	ana := must1[string](t)(crdt.Join(doc, as(doc, "fia"), crdt.MemberSpec{Name: "Ana", Role: crdt.RoleSmallFarmer, Key: pub("ana")}, at(1)))
	if !crdt.ValidID(ana) || len(ana) != 16 {
		t.Errorf("generated id %q", ana)
	}
	anaSigner := crdt.Signer{Council: councilOf(doc), Member: ana, Key: testKey("ana")}
	// Ana, admitted by Fia, admits Ben: the key chain goes on from hers.
	must1[string](t)(crdt.Join(doc, anaSigner, crdt.MemberSpec{ID: "ben", Name: "Ben", Role: crdt.RoleFarmLabourer, Key: pub("ben")}, at(2)))
	must(t, crdt.Leave(doc, as(doc, "ben"), at(30)))

	v := read(t, doc, at(29))
	if m, _ := v.Member("ben"); !m.Active || m.LeftAt == nil || !m.LeftAt.Equal(at(30)) || m.AdmittedBy != ana {
		t.Errorf("ben before leaving = %+v", m)
	}
	v = read(t, doc, at(30))
	if m, _ := v.Member("ben"); m.Active || len(m.Keys) != 1 || m.Keys[0].RetiredAt == nil || !m.Keys[0].RetiredAt.Equal(at(30)) {
		t.Errorf("ben at leftAt (keys retired): %+v", m)
	}
	if m, _ := v.Member(ana); !m.Active || m.Name != "Ana" || m.Role != crdt.RoleSmallFarmer || !m.JoinedAt.Equal(at(1)) || m.AdmittedBy != "fia" {
		t.Errorf("ana = %+v", m)
	}
	if v := readPast(t, doc, at(0)); len(v.Members) != 3 || v.Members[1].Active {
		t.Errorf("ana active before joining: %+v", v.Members)
	}
	h := must1[[]crdt.HistoryEntry](t)(crdt.History(doc))
	if got := h[len(h)-1].Info; got.Op != crdt.OpLeave || got.By != "ben" {
		t.Errorf("last change = %+v", got)
	}
	if got := h[1].Info; got.Op != crdt.OpJoin || got.By != "fia" || got.Args["member"] != ana {
		t.Errorf("join change = %+v", got)
	}
	// Ben left: his key no longer counts, for anything.
	refused(t, doc, crdt.ErrMemberLeft, func() error {
		_, err := crdt.Propose(doc, as(doc, "ben"), crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x"}, at(31))
		return err
	})
}

func TestJoinAndLeaveRefuse(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	must(t, crdt.Leave(doc, as(doc, "ben"), at(10)))
	join := func(spec crdt.MemberSpec) func() error {
		return func() error { _, err := crdt.Join(doc, as(doc, "ana"), spec, at(20)); return err }
	}
	cai := memberSpec("cai")
	with := func(f func(s *crdt.MemberSpec)) crdt.MemberSpec { s := cai; f(&s); return s }
	refused(t, doc, crdt.ErrInvalid, join(with(func(s *crdt.MemberSpec) { s.Name = "" })))
	refused(t, doc, crdt.ErrInvalid, join(with(func(s *crdt.MemberSpec) { s.Role = "  " })))
	refused(t, doc, crdt.ErrInvalid, join(with(func(s *crdt.MemberSpec) { s.ID = "has space" })))
	refused(t, doc, crdt.ErrInvalid, join(with(func(s *crdt.MemberSpec) { s.ID = "-dash" })))
	refused(t, doc, crdt.ErrInvalid, join(with(func(s *crdt.MemberSpec) { s.Key = "" })))
	refused(t, doc, crdt.ErrInvalid, join(with(func(s *crdt.MemberSpec) { s.Key = "not-a-key" })))
	refused(t, doc, crdt.ErrExists, join(with(func(s *crdt.MemberSpec) { s.ID = "ana" })))
	refused(t, doc, crdt.ErrExists, join(with(func(s *crdt.MemberSpec) { s.ID = "ben" })))
	refused(t, doc, crdt.ErrExists, join(with(func(s *crdt.MemberSpec) { s.Key = pub("ana") })))
	refused(t, doc, crdt.ErrExists, join(with(func(s *crdt.MemberSpec) { s.Key = pub("ben") }))) // a retired key stays taken
	refused(t, doc, crdt.ErrMemberLeft, func() error { _, err := crdt.Join(doc, as(doc, "ben"), cai, at(20)); return err })
	refused(t, doc, crdt.ErrUnknownMember, func() error { _, err := crdt.Join(doc, as(doc, "zoe"), cai, at(20)); return err })
	refused(t, doc, crdt.ErrKeyNotCounted, func() error {
		_, err := crdt.Join(doc, crdt.Signer{Council: councilOf(doc), Member: "ana", Key: testKey("zoe")}, cai, at(20))
		return err
	})
	refused(t, doc, crdt.ErrMemberLeft, func() error { return crdt.Leave(doc, as(doc, "ben"), at(20)) })
	refused(t, doc, crdt.ErrUnknownMember, func() error { return crdt.Leave(doc, as(doc, "zoe"), at(20)) })
	refused(t, doc, crdt.ErrInvalid, func() error { return crdt.Leave(doc, as(doc, ""), at(20)) })

	// A member acting before joining is unknown at that time.
	must1[string](t)(crdt.Join(doc, as(doc, "ana"), cai, at(60)))
	refused(t, doc, crdt.ErrUnknownMember, func() error { return crdt.Leave(doc, as(doc, "cai"), at(45)) })
}

func TestKeys(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	laptop := crdt.Signer{Council: councilOf(doc), Member: "ben", Key: testKey("ben-laptop")}
	// A key not yet added does not count.
	refused(t, doc, crdt.ErrKeyNotCounted, func() error { return postOffer(doc, laptop, at(1)) })
	must(t, crdt.AddKey(doc, as(doc, "ben"), pub("ben-laptop"), false, at(2)))
	must(t, crdt.AddKey(doc, laptop, pub("ben-relay"), true, at(3)))
	must(t, postOffer(doc, laptop, at(4)))

	// Ben's phone is lost: he retires its key from the laptop.
	must(t, crdt.RetireKey(doc, laptop, pub("ben"), at(10)))
	refused(t, doc, crdt.ErrKeyNotCounted, func() error { return postOffer(doc, as(doc, "ben"), at(11)) })
	must(t, postOffer(doc, laptop, at(11)))
	relay := crdt.Signer{Council: councilOf(doc), Member: "ben", Key: testKey("ben-relay"), Custodial: true}
	must(t, postOffer(doc, relay, at(12)))

	v := read(t, doc, at(20))
	ben, _ := v.Member("ben")
	if len(ben.Keys) != 3 {
		t.Fatalf("keys = %+v", ben.Keys)
	}
	for _, k := range ben.Keys {
		switch k.Key {
		case pub("ben"):
			if k.RetiredAt == nil || !k.RetiredAt.Equal(at(10)) || !k.AddedAt.Equal(t0) {
				t.Errorf("phone key = %+v", k)
			}
		case pub("ben-laptop"):
			if k.RetiredAt != nil || k.Custodial || !k.AddedAt.Equal(at(2)) {
				t.Errorf("laptop key = %+v", k)
			}
		case pub("ben-relay"):
			if !k.Custodial || k.RetiredAt != nil {
				t.Errorf("relay key = %+v", k)
			}
		}
	}
	if !ben.HasKey(pub("ben"), at(9)) || ben.HasKey(pub("ben"), at(10)) || ben.HasKey(pub("ben-laptop"), at(1)) {
		t.Error("HasKey does not follow the key's life")
	}
	offers := v.Exchange.Offers
	if len(offers) != 3 || offers[0].Custodial || offers[2].Custodial != true {
		t.Errorf("offers = %+v", offers)
	}

	// Nobody adds or retires keys for someone else; a key belongs to one member.
	refused(t, doc, crdt.ErrNotFound, func() error { return crdt.RetireKey(doc, as(doc, "ana"), pub("ben-laptop"), at(21)) })
	refused(t, doc, crdt.ErrNotFound, func() error { return crdt.RetireKey(doc, laptop, pub("ben"), at(21)) })
	refused(t, doc, crdt.ErrExists, func() error { return crdt.AddKey(doc, as(doc, "ana"), pub("ben-laptop"), false, at(21)) })
	refused(t, doc, crdt.ErrExists, func() error { return crdt.AddKey(doc, laptop, pub("ben"), false, at(21)) })
	refused(t, doc, crdt.ErrInvalid, func() error { return crdt.AddKey(doc, laptop, "short", false, at(21)) })

	// Leaving retires every key.
	must(t, crdt.Leave(doc, laptop, at(30)))
	ben, _ = read(t, doc, at(31)).Member("ben")
	for _, k := range ben.Keys {
		if k.RetiredAt == nil || k.RetiredAt.After(at(30)) {
			t.Errorf("key %+v not retired by leaving", k)
		}
	}
}

func TestDelegateTakesSeat(t *testing.T) {
	home := newCouncil(t, majority, "ana", "ben", "cai")
	fed := newCouncilOf(t, crdt.KindFederation, majority, "fed-founder")
	fedID, homeID := councilOf(fed), councilOf(home)
	must(t, crdt.JoinFederation(home, as(home, "ana"), fedID, t0))
	must(t, crdt.AdmitCouncil(fed, as(fed, "fed-founder"), homeID, t0))
	_, _, err := crdt.ProposeMandate(home, as(home, "ana"), crdt.ProposalSpec{ID: "pm1", Title: "Send Ben", ClosesAt: at(60)},
		crdt.MandateSpec{ID: "m1", Task: "Sell the rye", Body: fedID, Delegate: "ben"}, at(5))
	must(t, err)
	for _, m := range []string{"ana", "ben", "cai"} {
		must(t, crdt.CastVote(home, as(home, m), "pm1", crdt.Yes, at(10)))
	}
	// Ben signs his seat with his home council's key.
	seat := crdt.SeatSpec{ID: "d-ben", Name: "Ben", Council: homeID, Mandate: "m1"}
	id := must1[string](t)(crdt.TakeSeat(fed, as(fed, "ben"), seat, at(61)))
	homeView := func(now int) crdt.Councils {
		v := read(t, home, at(now))
		return func(c string) (crdt.View, bool) { return v, c == homeID }
	}
	readFed := func(now int, others crdt.Councils) (crdt.View, []crdt.Problem) {
		log := crdt.NewLog()
		must(t, log.Update(fed))
		return crdt.ReadLog(fed, log, fedID, at(now), others)
	}
	v, problems := readFed(62, homeView(62))
	m, ok := v.Member(id)
	if len(problems) > 0 || !ok || !m.Active || m.SentBy == nil || *m.SentBy != (crdt.SentBy{Council: homeID, Mandate: "m1"}) || m.Role != crdt.RoleDelegate {
		t.Errorf("delegate = %+v, problems %v", m, problems)
	}
	// Without the home council's log the seat cannot be checked: it does
	// not count.
	v, problems = readFed(62, nil)
	if _, ok := v.Member(id); ok || !hasProblem(problems, "/log/") || !hasProblem(problems, "/members/d-ben") {
		t.Errorf("unverifiable seat counted: %+v %v", v.Members, problems)
	}
	// Recalled, Ben loses the seat when the recall closes.
	recall(t, home, "r1", 70, 90)
	v, _ = readFed(95, homeView(95))
	if m, _ := v.Member(id); m.Active || m.LeftAt == nil || !m.LeftAt.Equal(at(90)) {
		t.Errorf("recalled delegate = %+v", m)
	}
	// A seat taken under a mandate that was not active does not count.
	id2 := must1[string](t)(crdt.TakeSeat(fed, as(fed, "ben"), crdt.SeatSpec{ID: "d-ben-2", Name: "Ben", Council: homeID, Mandate: "m1"}, at(91)))
	v, problems = readFed(95, homeView(95))
	if _, ok := v.Member(id2); ok || !hasProblem(problems, "/members/d-ben-2") {
		t.Errorf("seat under a recalled mandate counted: %v", problems)
	}
	// Only a federation seats delegates; the council must be a member.
	refused(t, home, crdt.ErrInvalid, func() error { _, err := crdt.TakeSeat(home, as(home, "ben"), seat, at(96)); return err })
	refused(t, fed, crdt.ErrNotFound, func() error {
		_, err := crdt.TakeSeat(fed, as(fed, "ben"), crdt.SeatSpec{Name: "Ben", Council: "2sXhOther", Mandate: "m1"}, at(96))
		return err
	})
	refused(t, fed, crdt.ErrInvalid, func() error {
		_, err := crdt.TakeSeat(fed, as(fed, "ben"), crdt.SeatSpec{Name: "Ben", Council: homeID}, at(96))
		return err
	})
}

func TestExpel(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	refused(t, doc, crdt.ErrUnknownMember, func() error {
		_, err := crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalExpel, Title: "x", Subject: "zoe"}, at(1))
		return err
	})
	must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{ID: "x1", Kind: crdt.ProposalExpel, Title: "Expel Cai", Subject: "cai", ClosesAt: at(30)}, at(1)))
	must(t, crdt.CastVote(doc, as(doc, "ana"), "x1", crdt.Yes, at(2)))
	must(t, crdt.CastVote(doc, as(doc, "ben"), "x1", crdt.Yes, at(3)))
	must(t, crdt.CastVote(doc, as(doc, "cai"), "x1", crdt.No, at(4)))
	// Until the proposal closes, Cai is a member and acts.
	must1[string](t)(crdt.Propose(doc, as(doc, "cai"), crdt.ProposalSpec{ID: "g1", Kind: crdt.ProposalGeneral, Title: "Stay"}, at(20)))
	if m, _ := readAny(doc, at(29)); !memberActive(m, "cai") {
		t.Error("cai expelled before the proposal closed")
	}
	v, problems := readAny(doc, at(31))
	cai, _ := v.Member("cai")
	if cai.Active || cai.LeftAt == nil || !cai.LeftAt.Equal(at(30)) || cai.ExpelledBy != "x1" || cai.Keys[0].RetiredAt == nil {
		t.Errorf("expelled member = %+v", cai)
	}
	// The state still says cai is a member: an expulsion is decided by the
	// log and never written into the state, so that is no problem.
	if hasProblem(problems, "/members/cai/leftAt") {
		t.Errorf("problems = %v", problems)
	}
	refused(t, doc, crdt.ErrMemberLeft, func() error { return crdt.CastVote(doc, as(doc, "cai"), "g1", crdt.Yes, at(31)) })
	if p := proposal(t, v, "g1"); p.Tally.Electorate != 2 {
		t.Errorf("electorate after the expulsion = %d", p.Tally.Electorate)
	}
}

// memberActive reports whether member id is active in v.
func memberActive(v crdt.View, id string) bool {
	m, ok := v.Member(id)
	return ok && m.Active
}

// postOffer posts an offer of rye signed by s, returning only the error.
func postOffer(doc *automergeDoc, s crdt.Signer, when time.Time) error {
	_, err := crdt.PostOffer(doc, s, crdt.ProduceSpec{Item: "rye", Quantity: 1, Unit: "t"}, when)
	return err
}

// TestUnverifiedDelegateCannotAct: a seat that its home council does not
// confirm (no such mandate) never lets its "delegate" act — not even
// before the seat is found out: a council they admit is not a member.
func TestUnverifiedDelegateCannotAct(t *testing.T) {
	fed := newCouncilOf(t, crdt.KindFederation, majority, "fia")
	home := newCouncil(t, majority, "ana")
	must(t, crdt.AdmitCouncil(fed, as(fed, "fia"), councilOf(home), t0))
	// TakeSeat cannot check the home council: it writes the seat, and
	// readers decide.
	must1[string](t)(crdt.TakeSeat(fed, as(fed, "mallory"), crdt.SeatSpec{ID: "d-m", Name: "M", Council: councilOf(home), Mandate: "m9"}, at(1)))
	r := record{council: councilOf(fed), op: crdt.OpAdmitCouncil, by: "d-m", at: at(2), key: testKey("mallory"), args: map[string]string{"council": "9zzEvil"}}
	commitRecord(t, fed, r.message(), at(2), setAt(map[string]any{"since": at(2)}, "federation", "members", "9zzEvil"))
	for _, others := range [][]*automergeDoc{nil, {home}} {
		v, problems := readWith(fed, at(3), others...)
		if len(v.Federation.Members) != 1 || len(v.Members) != 1 || !hasProblem(problems, "/federation/members/9zzEvil") || !hasProblem(problems, "/members/d-m") {
			t.Errorf("with %d other councils: members %+v, federation members %+v, problems %v", len(others), v.Members, v.Federation.Members, problems)
		}
	}
}

// TestSeatedDelegateActs: with the home council's view at hand
// (Signer.Others), a seated delegate acts in the federation — admits a
// council, votes — and it counts where readers hold that view; without
// it, operations do not know them.
func TestSeatedDelegateActs(t *testing.T) {
	home := newCouncil(t, majority, "ana", "ben")
	fed := newCouncilOf(t, crdt.KindFederation, majority, "fia")
	must(t, crdt.JoinFederation(home, as(home, "ana"), councilOf(fed), t0))
	must(t, crdt.AdmitCouncil(fed, as(fed, "fia"), councilOf(home), t0))
	_, _, err := crdt.ProposeMandate(home, as(home, "ana"), crdt.ProposalSpec{ID: "pm1", Title: "Send Ben"}, crdt.MandateSpec{ID: "m1", Task: "t", Body: councilOf(fed), Delegate: "ben"}, at(1))
	must(t, err)
	must(t, crdt.CastVote(home, as(home, "ana"), "pm1", crdt.Yes, at(2)))
	must(t, crdt.CastVote(home, as(home, "ben"), "pm1", crdt.Yes, at(2)))
	must1[string](t)(crdt.TakeSeat(fed, as(fed, "ben"), crdt.SeatSpec{ID: "d-ben", Name: "Ben", Council: councilOf(home), Mandate: "m1"}, at(3)))
	p := must1[string](t)(crdt.Propose(fed, as(fed, "fia"), crdt.ProposalSpec{ID: "fp", Kind: crdt.ProposalGeneral, Title: "Share the mill", ClosesAt: at(30)}, at(4)))

	delegate := crdt.Signer{Council: councilOf(fed), Member: "d-ben", Key: testKey("ben")}
	refused(t, fed, crdt.ErrUnknownMember, func() error { return crdt.CastVote(fed, delegate, p, crdt.Yes, at(5)) })
	homeView := read(t, home, at(5))
	delegate.Others = func(id string) (crdt.View, bool) { return homeView, id == councilOf(home) }
	must(t, crdt.CastVote(fed, delegate, p, crdt.Yes, at(5)))
	must(t, crdt.AdmitCouncil(fed, delegate, "9zzLakeside", at(6)))

	v, problems := readWith(fed, at(31), home)
	if pr := proposal(t, v, p); len(problems) > 0 || pr.Tally.Electorate != 2 || pr.Tally.Yes != 1 || len(v.Federation.Members) != 2 {
		t.Errorf("proposal %+v, federation %+v, problems %v", pr, v.Federation.Members, problems)
	}
}
