package crdt_test

import (
	"testing"
	"time"

	"github.com/veche-sync/veche/crdt"
)

func TestPropose(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	id := must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "Repair the well", Body: "Before the dry season.", ClosesAt: at(60)}, at(1)))
	p := proposal(t, read(t, doc, at(2)), id)
	if p.Kind != crdt.ProposalGeneral || p.Title != "Repair the well" || p.Body != "Before the dry season." || p.By != "ana" ||
		!p.At.Equal(at(1)) || p.ClosesAt == nil || !p.ClosesAt.Equal(at(60)) || p.WithdrawnAt != nil || p.Subject != "" ||
		len(p.Votes) != 0 || p.Outcome != crdt.OutcomeOpen || p.ClosedAt != nil {
		t.Errorf("proposal = %+v", p)
	}
	if p.Tally != (crdt.Tally{Electorate: 2}) {
		t.Errorf("tally = %+v", p.Tally)
	}
	h := must1[[]crdt.HistoryEntry](t)(crdt.History(doc))
	if info := h[len(h)-1].Info; info.Op != crdt.OpPropose || info.By != "ana" || info.Args["proposal"] != id {
		t.Errorf("change = %+v", info)
	}
}

func TestProposeRefuses(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	must(t, crdt.Leave(doc, as(doc, "cai"), at(1)))
	offer := must1[string](t)(crdt.PostOffer(doc, as(doc, "ana"), crdt.ProduceSpec{Item: "rye", Quantity: 1, Unit: "t"}, at(1)))
	propose := func(by string, spec crdt.ProposalSpec) func() error {
		return func() error { _, err := crdt.Propose(doc, as(doc, by), spec, at(2)); return err }
	}
	general := crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x"}
	refused(t, doc, crdt.ErrUnknownMember, propose("zoe", general))
	refused(t, doc, crdt.ErrMemberLeft, propose("cai", general))
	refused(t, doc, crdt.ErrInvalid, propose("ana", crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: ""}))
	refused(t, doc, crdt.ErrInvalid, propose("ana", crdt.ProposalSpec{Kind: "poll", Title: "x"}))
	refused(t, doc, crdt.ErrInvalid, propose("ana", crdt.ProposalSpec{Title: "x"}))
	refused(t, doc, crdt.ErrInvalid, propose("ana", crdt.ProposalSpec{Kind: crdt.ProposalMandate, Title: "x"}))
	refused(t, doc, crdt.ErrInvalid, propose("ana", crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x", Subject: "m1"}))
	refused(t, doc, crdt.ErrInvalid, propose("ana", crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x", ClosesAt: at(2)}))
	refused(t, doc, crdt.ErrInvalid, propose("ana", crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x", ClosesAt: at(1)}))
	refused(t, doc, crdt.ErrInvalid, propose("ana", crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x", Body: "\xff"}))
	refused(t, doc, crdt.ErrNotFound, propose("ana", crdt.ProposalSpec{Kind: crdt.ProposalRecall, Title: "x", Subject: "m1"}))
	refused(t, doc, crdt.ErrNotFound, propose("ana", crdt.ProposalSpec{Kind: crdt.ProposalRecall, Title: "x"}))
	refused(t, doc, crdt.ErrNotFound, propose("ana", crdt.ProposalSpec{Kind: crdt.ProposalExchange, Title: "x", Subject: "nope"}))
	must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{ID: "p1", Kind: crdt.ProposalExchange, Title: "Sell the rye", Subject: offer}, at(2)))
	must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalExchange, Title: "Any exchange"}, at(2)))
	refused(t, doc, crdt.ErrExists, propose("ana", crdt.ProposalSpec{ID: "p1", Kind: crdt.ProposalGeneral, Title: "x"}))
}

func TestWithdrawProposal(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	id := must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x", ClosesAt: at(60)}, at(1)))
	refused(t, doc, crdt.ErrNotProposer, func() error { return crdt.WithdrawProposal(doc, as(doc, "ben"), id, at(2)) })
	refused(t, doc, crdt.ErrNotFound, func() error { return crdt.WithdrawProposal(doc, as(doc, "ana"), "nope", at(2)) })
	refused(t, doc, crdt.ErrProposalClosed, func() error { return crdt.WithdrawProposal(doc, as(doc, "ana"), id, at(60)) })
	must(t, crdt.WithdrawProposal(doc, as(doc, "ana"), id, at(5)))
	p := proposal(t, read(t, doc, at(10)), id)
	if p.Outcome != crdt.OutcomeWithdrawn || !p.WithdrawnAt.Equal(at(5)) || !p.ClosedAt.Equal(at(5)) {
		t.Errorf("withdrawn proposal = %+v", p)
	}
	if p := proposal(t, read(t, doc, at(4)), id); p.Outcome != crdt.OutcomeOpen {
		t.Errorf("before the withdrawal: %s", p.Outcome)
	}
	refused(t, doc, crdt.ErrProposalClosed, func() error { return crdt.WithdrawProposal(doc, as(doc, "ana"), id, at(6)) })
}

func TestEditProposal(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	id := must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x", Body: "Plant barley on the north field.", ClosesAt: at(60)}, at(1)))
	must(t, crdt.EditProposal(doc, as(doc, "ben"), id, crdt.TextEdit{Pos: 6, Delete: 6, Insert: "rye"}, at(2)))

	// Concurrent edits at different places both survive.
	a, b := fork(t, doc), fork(t, doc)
	must(t, crdt.EditProposal(a, as(a, "ana"), id, crdt.TextEdit{Pos: 0, Insert: "Let us "}, at(3)))
	must(t, crdt.EditProposal(b, as(b, "ben"), id, crdt.TextEdit{Pos: 28, Delete: 1, Insert: " this autumn."}, at(3)))
	merge(t, a, b)
	merge(t, b, a)
	for _, d := range []*automergeDoc{a, b} {
		if p := proposal(t, read(t, d, at(4)), id); p.Body != "Let us Plant rye on the north field this autumn." {
			t.Errorf("body = %q", p.Body)
		}
	}
	refused(t, doc, crdt.ErrInvalid, func() error { return crdt.EditProposal(doc, as(doc, "ben"), id, crdt.TextEdit{Pos: 100}, at(5)) })
	refused(t, doc, crdt.ErrInvalid, func() error {
		return crdt.EditProposal(doc, as(doc, "ben"), id, crdt.TextEdit{Pos: 28, Delete: 2}, at(5))
	})
	refused(t, doc, crdt.ErrInvalid, func() error { return crdt.EditProposal(doc, as(doc, "ben"), id, crdt.TextEdit{Pos: -1}, at(5)) })
	refused(t, doc, crdt.ErrInvalid, func() error { return crdt.EditProposal(doc, as(doc, "ben"), id, crdt.TextEdit{Delete: -1}, at(5)) })
	refused(t, doc, crdt.ErrUnknownMember, func() error { return crdt.EditProposal(doc, as(doc, "zoe"), id, crdt.TextEdit{Insert: "x"}, at(5)) })
	refused(t, doc, crdt.ErrNotFound, func() error { return crdt.EditProposal(doc, as(doc, "ben"), "nope", crdt.TextEdit{Insert: "x"}, at(5)) })
	refused(t, doc, crdt.ErrProposalClosed, func() error { return crdt.EditProposal(doc, as(doc, "ben"), id, crdt.TextEdit{Insert: "x"}, at(60)) })
}

func TestTextPositionsAreCodePoints(t *testing.T) {
	doc := newCouncil(t, majority, "ana")
	id := must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x", Body: "Сад 🌳 у реки", ClosesAt: at(60)}, at(1)))
	old := "Сад 🌳 у реки"
	edit := crdt.TextEditBetween(old, "Сад 🌳🌳 у реки")
	if edit != (crdt.TextEdit{Pos: 5, Delete: 0, Insert: "🌳"}) && edit != (crdt.TextEdit{Pos: 4, Delete: 0, Insert: "🌳"}) {
		t.Errorf("edit = %+v", edit)
	}
	must(t, crdt.EditProposal(doc, as(doc, "ana"), id, edit, at(2)))
	must(t, crdt.EditProposal(doc, as(doc, "ana"), id, crdt.TextEdit{Pos: 12, Delete: 1, Insert: "е"}, at(3)))
	if p := proposal(t, read(t, doc, at(4)), id); p.Body != "Сад 🌳🌳 у реке" {
		t.Errorf("body = %q", p.Body)
	}
}

func TestTextEditBetween(t *testing.T) {
	for _, tc := range []struct {
		old, new string
		want     crdt.TextEdit
	}{
		{"", "", crdt.TextEdit{}},
		{"", "abc", crdt.TextEdit{Insert: "abc"}},
		{"abc", "", crdt.TextEdit{Delete: 3}},
		{"abc", "abc", crdt.TextEdit{Pos: 3}},
		{"abXc", "abc", crdt.TextEdit{Pos: 2, Delete: 1}},
		{"hello world", "hello brave world", crdt.TextEdit{Pos: 6, Insert: "brave "}},
		{"aaa", "aa", crdt.TextEdit{Pos: 2, Delete: 1}},
		{"éa", "éb", crdt.TextEdit{Pos: 1, Delete: 1, Insert: "b"}},
	} {
		got := crdt.TextEditBetween(tc.old, tc.new)
		if got != tc.want {
			t.Errorf("TextEditBetween(%q, %q) = %+v, want %+v", tc.old, tc.new, got, tc.want)
		}
		r := []rune(tc.old)
		if applied := string(r[:got.Pos]) + got.Insert + string(r[got.Pos+got.Delete:]); applied != tc.new {
			t.Errorf("applying %+v to %q gives %q", got, tc.old, applied)
		}
	}
}

func TestProposalTimesAreMilliseconds(t *testing.T) {
	doc := newCouncil(t, majority, "ana")
	id := must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x", ClosesAt: at(60).Add(999 * time.Microsecond)}, at(1).Add(1500*time.Microsecond)))
	p := proposal(t, read(t, doc, at(2)), id)
	if !p.At.Equal(at(1).Add(time.Millisecond)) || !p.ClosesAt.Equal(at(60)) {
		t.Errorf("times = %v, %v", p.At, p.ClosesAt)
	}
}
