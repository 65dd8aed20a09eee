package crdt_test

import (
	"testing"

	"github.com/veche-sync/veche/crdt"
)

func TestJoinAndLeave(t *testing.T) {
	doc := newCouncil(t, majority)
	ana := must1[string](t)(crdt.Join(doc, crdt.MemberSpec{Name: "Ana", Role: crdt.RoleSmallFarmer}, at(1)))
	if !crdt.ValidID(ana) || len(ana) != 16 {
		t.Errorf("generated id %q", ana)
	}
	must1[string](t)(crdt.Join(doc, crdt.MemberSpec{ID: "ben", Name: "Ben", Role: crdt.RoleFarmLabourer}, at(2)))
	must(t, crdt.Leave(doc, "ben", at(30)))

	v := read(t, doc, at(29))
	if m, _ := v.Member("ben"); !m.Active || m.LeftAt == nil || !m.LeftAt.Equal(at(30)) {
		t.Errorf("ben before leaving = %+v", m)
	}
	v = read(t, doc, at(30))
	if m, _ := v.Member("ben"); m.Active {
		t.Errorf("ben active at leftAt: %+v", m)
	}
	if m, _ := v.Member(ana); !m.Active || m.Name != "Ana" || m.Role != crdt.RoleSmallFarmer || !m.JoinedAt.Equal(at(1)) {
		t.Errorf("ana = %+v", m)
	}
	if v := read(t, doc, at(0)); v.Members[0].Active {
		t.Error("ana active before joining")
	}
	h := must1[[]crdt.HistoryEntry](t)(crdt.History(doc))
	if got := h[len(h)-1].Info; got.Op != crdt.OpLeave || got.By != "ben" {
		t.Errorf("last change = %+v", got)
	}
	if got := h[1].Info; got.Op != crdt.OpJoin || got.By != ana {
		t.Errorf("join change = %+v", got)
	}
}

func TestJoinAndLeaveRefuse(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	must(t, crdt.Leave(doc, "ben", at(10)))
	join := func(spec crdt.MemberSpec) func() error {
		return func() error { _, err := crdt.Join(doc, spec, at(20)); return err }
	}
	refused(t, doc, crdt.ErrInvalid, join(crdt.MemberSpec{Name: "", Role: crdt.RoleWorker}))
	refused(t, doc, crdt.ErrInvalid, join(crdt.MemberSpec{Name: "Cai", Role: "  "}))
	refused(t, doc, crdt.ErrInvalid, join(crdt.MemberSpec{ID: "has space", Name: "Cai", Role: crdt.RoleWorker}))
	refused(t, doc, crdt.ErrInvalid, join(crdt.MemberSpec{ID: "-dash", Name: "Cai", Role: crdt.RoleWorker}))
	refused(t, doc, crdt.ErrExists, join(crdt.MemberSpec{ID: "ana", Name: "Ana again", Role: crdt.RoleWorker}))
	refused(t, doc, crdt.ErrExists, join(crdt.MemberSpec{ID: "ben", Name: "Ben again", Role: crdt.RoleWorker}))
	refused(t, doc, crdt.ErrInvalid, join(crdt.MemberSpec{Name: "Dee", Role: crdt.RoleDelegate, SentBy: &crdt.SentBy{Council: "c1", Mandate: "m1"}}))
	refused(t, doc, crdt.ErrMemberLeft, func() error { return crdt.Leave(doc, "ben", at(20)) })
	refused(t, doc, crdt.ErrUnknownMember, func() error { return crdt.Leave(doc, "zoe", at(20)) })
	refused(t, doc, crdt.ErrInvalid, func() error { return crdt.Leave(doc, "", at(20)) })

	// A member acting before joining is unknown at that time.
	must1[string](t)(crdt.Join(doc, crdt.MemberSpec{ID: "cai", Name: "Cai", Role: crdt.RoleWorker}, at(60)))
	refused(t, doc, crdt.ErrUnknownMember, func() error { return crdt.Leave(doc, "cai", at(30)) })
}

func TestDelegateJoinsFederation(t *testing.T) {
	doc := must1[*automergeDoc](t)(crdt.NewCouncil(crdt.CouncilSpec{Name: "Valley federation", Kind: crdt.KindFederation, Rule: majority}, t0))
	id := must1[string](t)(crdt.Join(doc, crdt.MemberSpec{Name: "Ben", Role: crdt.RoleDelegate, SentBy: &crdt.SentBy{Council: "2sXhRiverside", Mandate: "m1"}}, at(1)))
	v := read(t, doc, at(2))
	if m, _ := v.Member(id); m.SentBy == nil || *m.SentBy != (crdt.SentBy{Council: "2sXhRiverside", Mandate: "m1"}) {
		t.Errorf("delegate = %+v", m)
	}
	refused(t, doc, crdt.ErrInvalid, func() error {
		_, err := crdt.Join(doc, crdt.MemberSpec{Name: "X", Role: crdt.RoleDelegate, SentBy: &crdt.SentBy{Council: "2sXhRiverside"}}, at(3))
		return err
	})
}
