package crdt_test

import (
	"testing"

	"github.com/veche-sync/veche/crdt"
)

func TestFederationSides(t *testing.T) {
	council := newCouncil(t, majority, "ana")
	fed := must1[*automergeDoc](t)(crdt.NewCouncil(crdt.CouncilSpec{Name: "Valley federation", Kind: crdt.KindFederation, Region: "Valley", Rule: majority}, t0))
	must1[string](t)(crdt.Join(fed, crdt.MemberSpec{ID: "d-ana", Name: "Ana", Role: crdt.RoleDelegate, SentBy: &crdt.SentBy{Council: "2sXhRiverside", Mandate: "m1"}}, at(1)))

	must(t, crdt.JoinFederation(council, "ana", "5mmValleyFederation", at(2)))
	must(t, crdt.AdmitCouncil(fed, "d-ana", "2sXhRiverside", at(3)))
	if v := read(t, council, at(4)); len(v.Federation.MemberOf) != 1 || v.Federation.MemberOf[0] != (crdt.FederationLink{Council: "5mmValleyFederation", Since: at(2)}) {
		t.Errorf("memberOf = %+v", v.Federation.MemberOf)
	}
	if v := read(t, fed, at(4)); len(v.Federation.Members) != 1 || v.Federation.Members[0] != (crdt.FederationLink{Council: "2sXhRiverside", Since: at(3)}) {
		t.Errorf("members = %+v", v.Federation.Members)
	}
	refused(t, council, crdt.ErrExists, func() error { return crdt.JoinFederation(council, "ana", "5mmValleyFederation", at(5)) })
	refused(t, fed, crdt.ErrExists, func() error { return crdt.AdmitCouncil(fed, "d-ana", "2sXhRiverside", at(5)) })
	refused(t, council, crdt.ErrInvalid, func() error { return crdt.AdmitCouncil(council, "ana", "2sXhOther", at(5)) })
	refused(t, council, crdt.ErrInvalid, func() error { return crdt.JoinFederation(council, "ana", "", at(5)) })
	refused(t, fed, crdt.ErrUnknownMember, func() error { return crdt.AdmitCouncil(fed, "ana", "2sXhOther", at(5)) })

	must(t, crdt.LeaveFederation(council, "ana", "5mmValleyFederation", at(10)))
	must(t, crdt.RemoveCouncil(fed, "d-ana", "2sXhRiverside", at(10)))
	if v := read(t, council, at(11)); len(v.Federation.MemberOf) != 0 {
		t.Errorf("memberOf after leaving = %+v", v.Federation.MemberOf)
	}
	if v := read(t, fed, at(11)); len(v.Federation.Members) != 0 {
		t.Errorf("members after removal = %+v", v.Federation.Members)
	}
	refused(t, council, crdt.ErrNotFound, func() error { return crdt.LeaveFederation(council, "ana", "5mmValleyFederation", at(12)) })
	refused(t, fed, crdt.ErrNotFound, func() error { return crdt.RemoveCouncil(fed, "d-ana", "2sXhRiverside", at(12)) })

	h := must1[[]crdt.HistoryEntry](t)(crdt.History(fed))
	if info := h[len(h)-1].Info; info.Op != crdt.OpRemoveCouncil || info.By != "d-ana" || info.Args["council"] != "2sXhRiverside" {
		t.Errorf("change = %+v", info)
	}
}
