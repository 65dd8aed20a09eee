package crdt_test

import (
	"testing"

	"github.com/veche-sync/veche/crdt"
)

func TestCastVote(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	id := must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x", ClosesAt: at(60)}, at(1)))
	must(t, crdt.CastVote(doc, as(doc, "ben"), id, crdt.No, at(2)))
	must(t, crdt.CastVote(doc, as(doc, "ben"), id, crdt.Abstain, at(3))) // changed before closing
	must(t, crdt.CastVote(doc, as(doc, "cai"), id, crdt.Yes, at(4)))
	p := proposal(t, read(t, doc, at(5)), id)
	want := []crdt.Vote{
		{Member: "ben", Choice: crdt.Abstain, At: at(3), Counted: true},
		{Member: "cai", Choice: crdt.Yes, At: at(4), Counted: true},
	}
	if len(p.Votes) != 2 || p.Votes[0] != want[0] || p.Votes[1] != want[1] {
		t.Errorf("votes = %+v", p.Votes)
	}
	h := must1[[]crdt.HistoryEntry](t)(crdt.History(doc))
	if info := h[len(h)-1].Info; info.Op != crdt.OpVote || info.By != "cai" || info.Args["proposal"] != id {
		t.Errorf("change = %+v", info)
	}
}

func TestCastVoteRefuses(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	id := must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x", ClosesAt: at(60)}, at(10)))
	w := must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "y", ClosesAt: at(60)}, at(10)))
	must(t, crdt.WithdrawProposal(doc, as(doc, "ana"), w, at(11)))
	must(t, crdt.Leave(doc, as(doc, "cai"), at(12)))
	vote := func(by, p string, c crdt.Choice, minute int) func() error {
		return func() error { return crdt.CastVote(doc, as(doc, by), p, c, at(minute)) }
	}
	refused(t, doc, crdt.ErrInvalid, vote("ben", id, "maybe", 20))
	refused(t, doc, crdt.ErrInvalid, vote("ben", id, "", 20))
	refused(t, doc, crdt.ErrNotFound, vote("ben", "nope", crdt.Yes, 20))
	refused(t, doc, crdt.ErrUnknownMember, vote("zoe", id, crdt.Yes, 20))
	refused(t, doc, crdt.ErrMemberLeft, vote("cai", id, crdt.Yes, 20))
	refused(t, doc, crdt.ErrProposalClosed, vote("ben", w, crdt.Yes, 20))
	refused(t, doc, crdt.ErrProposalClosed, vote("ben", id, crdt.Yes, 60)) // at the closing moment
	refused(t, doc, crdt.ErrProposalClosed, vote("ben", id, crdt.Yes, 61))
	refused(t, doc, crdt.ErrNotFound, vote("ben", id, crdt.Yes, 9))   // before the proposal: it does not exist yet
	must(t, crdt.CastVote(doc, as(doc, "cai"), id, crdt.Yes, at(11))) // before leaving: accepted
}

// TestConcurrentVotesOfOneMember: a member votes differently on two
// offline devices; after merging, every replica counts the same single
// ballot: the member's latest signed vote. (The document state keeps one
// of the two, chosen by Automerge; where it is the other, the difference
// is reported.)
func TestConcurrentVotesOfOneMember(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	id := must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x", ClosesAt: at(60)}, at(1)))
	phone, laptop := fork(t, doc), fork(t, doc)
	must(t, crdt.CastVote(phone, as(doc, "ben"), id, crdt.Yes, at(2)))
	must(t, crdt.CastVote(laptop, as(doc, "ben"), id, crdt.No, at(3)))
	merge(t, phone, laptop)
	merge(t, laptop, phone)
	va, pa := readAny(phone, at(5))
	vb, pb := readAny(laptop, at(5))
	a, b := proposal(t, va, id).Votes, proposal(t, vb, id).Votes
	if len(a) != 1 || a[0] != b[0] || asJSON(t, pa) != asJSON(t, pb) {
		t.Fatalf("replicas disagree: %+v vs %+v", a, b)
	}
	if v := a[0]; v.Choice != crdt.No || !v.At.Equal(at(3)) || !v.Counted {
		t.Errorf("ballot %+v, want the latest vote", v)
	}
	for _, p := range pa {
		if p.Path != "/proposals/"+id+"/votes/ben" {
			t.Errorf("problem %v", p)
		}
	}
}
