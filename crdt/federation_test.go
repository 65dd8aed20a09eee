package crdt_test

import (
	"testing"

	"github.com/veche-sync/veche/crdt"
)

func TestFederationSides(t *testing.T) {
	council := newCouncil(t, majority, "ana")
	fed := newCouncilOf(t, crdt.KindFederation, majority, "fia")
	councilID, fedID := councilOf(council), councilOf(fed)

	must(t, crdt.JoinFederation(council, as(council, "ana"), fedID, at(2)))
	must(t, crdt.AdmitCouncil(fed, as(fed, "fia"), councilID, at(3)))
	if v := read(t, council, at(4)); len(v.Federation.MemberOf) != 1 || v.Federation.MemberOf[0] != (crdt.FederationLink{Council: fedID, Since: at(2)}) {
		t.Errorf("memberOf = %+v", v.Federation.MemberOf)
	}
	if v := read(t, fed, at(4)); len(v.Federation.Members) != 1 || v.Federation.Members[0] != (crdt.FederationLink{Council: councilID, Since: at(3)}) {
		t.Errorf("members = %+v", v.Federation.Members)
	}
	refused(t, council, crdt.ErrExists, func() error { return crdt.JoinFederation(council, as(council, "ana"), fedID, at(5)) })
	refused(t, fed, crdt.ErrExists, func() error { return crdt.AdmitCouncil(fed, as(fed, "fia"), councilID, at(5)) })
	refused(t, council, crdt.ErrInvalid, func() error { return crdt.AdmitCouncil(council, as(council, "ana"), "2sXhOther", at(5)) })
	refused(t, council, crdt.ErrInvalid, func() error { return crdt.JoinFederation(council, as(council, "ana"), "", at(5)) })
	refused(t, council, crdt.ErrInvalid, func() error { return crdt.JoinFederation(council, as(council, "ana"), councilID, at(5)) })
	refused(t, fed, crdt.ErrUnknownMember, func() error { return crdt.AdmitCouncil(fed, as(fed, "ana"), "2sXhOther", at(5)) })

	must(t, crdt.LeaveFederation(council, as(council, "ana"), fedID, at(10)))
	must(t, crdt.RemoveCouncil(fed, as(fed, "fia"), councilID, at(10)))
	if v := read(t, council, at(11)); len(v.Federation.MemberOf) != 0 {
		t.Errorf("memberOf after leaving = %+v", v.Federation.MemberOf)
	}
	if v := read(t, fed, at(11)); len(v.Federation.Members) != 0 {
		t.Errorf("members after removal = %+v", v.Federation.Members)
	}
	refused(t, council, crdt.ErrNotFound, func() error { return crdt.LeaveFederation(council, as(council, "ana"), fedID, at(12)) })
	refused(t, fed, crdt.ErrNotFound, func() error { return crdt.RemoveCouncil(fed, as(fed, "fia"), councilID, at(12)) })

	h := must1[[]crdt.HistoryEntry](t)(crdt.History(fed))
	if info := h[len(h)-1].Info; info.Op != crdt.OpRemoveCouncil || info.By != "fia" || info.Args["council"] != councilID {
		t.Errorf("change = %+v", info)
	}
}

// TestForgedFederationLinks: a link written into the state by a stock
// client, or a member of F admitting itself into C's view, counts for
// nothing.
func TestForgedFederationLinks(t *testing.T) {
	council := newCouncil(t, majority, "ana")
	rawSet(t, council, map[string]any{"since": at(1)}, "federation", "memberOf", "2sXhStolen")
	v, problems := readAny(council, at(2))
	if len(v.Federation.MemberOf) != 0 || !hasProblem(problems, "/federation/memberOf/2sXhStolen") {
		t.Errorf("forged memberOf: %+v %v", v.Federation.MemberOf, problems)
	}
	// Without the link, no mandate can name that body.
	refused(t, council, crdt.ErrInvalid, func() error {
		_, _, err := crdt.ProposeMandate(council, as(council, "ana"), crdt.ProposalSpec{Title: "x"}, crdt.MandateSpec{Task: "t", Body: "2sXhStolen", Delegate: "ana"}, at(3))
		return err
	})
}
