package crdt_test

import (
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

// ballot is a vote to cast at a minute.
type ballot struct {
	by     string
	choice crdt.Choice
	minute int
}

func TestOutcome(t *testing.T) {
	five := []string{"a", "b", "c", "d", "e"}
	four := five[:4]
	for _, tc := range []struct {
		name    string
		rule    crdt.Rule
		members []string
		closes  int // minute; 0 = no closing time
		votes   []ballot
		setup   func(t *testing.T, doc *automerge.Doc) // after the votes
		now     int
		want    crdt.Outcome
		closed  int // minute of ClosedAt; -1 = nil
		tally   crdt.Tally
		// problems are the expected problem paths (none if empty).
		problems []string
	}{
		{name: "open before closing", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}, {"c", crdt.Yes, 3}}, now: 59,
			want: crdt.OutcomeOpen, closed: -1, tally: crdt.Tally{Electorate: 4, Yes: 3, QuorumMet: true}},
		{name: "passed at closing", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}, {"c", crdt.No, 3}}, now: 60,
			want: crdt.OutcomePassed, closed: 60, tally: crdt.Tally{Electorate: 4, Yes: 2, No: 1, QuorumMet: true}},
		{name: "tie rejected", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}, {"c", crdt.No, 3}, {"d", crdt.No, 4}}, now: 90,
			want: crdt.OutcomeRejected, closed: 60, tally: crdt.Tally{Electorate: 4, Yes: 2, No: 2, QuorumMet: true}},
		{name: "quorum not met", rule: crdt.Rule{Quorum: 0.6, Majority: 0.5}, members: five, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}}, now: 90,
			want: crdt.OutcomeNoQuorum, closed: 60, tally: crdt.Tally{Electorate: 5, Yes: 2}},
		{name: "quorum exactly met", rule: crdt.Rule{Quorum: 0.6, Majority: 0.5}, members: five, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}, {"c", crdt.No, 4}}, now: 90,
			want: crdt.OutcomePassed, closed: 60, tally: crdt.Tally{Electorate: 5, Yes: 2, No: 1, QuorumMet: true}},
		{name: "nobody votes", rule: majority, members: four, closes: 60, now: 90,
			want: crdt.OutcomeNoQuorum, closed: 60, tally: crdt.Tally{Electorate: 4}},
		{name: "quorum zero, nobody votes", rule: crdt.Rule{Quorum: 0, Majority: 0.5}, members: four, closes: 60, now: 90,
			want: crdt.OutcomeRejected, closed: 60, tally: crdt.Tally{Electorate: 4, QuorumMet: true}},
		{name: "all abstain", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Abstain, 2}, {"b", crdt.Abstain, 3}}, now: 90,
			want: crdt.OutcomeRejected, closed: 60, tally: crdt.Tally{Electorate: 4, Abstain: 2, QuorumMet: true}},
		{name: "majority 2/3: exactly two thirds is not more", rule: crdt.Rule{Quorum: 0.5, Majority: 2.0 / 3}, members: five, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}, {"c", crdt.No, 4}}, now: 90,
			want: crdt.OutcomeRejected, closed: 60, tally: crdt.Tally{Electorate: 5, Yes: 2, No: 1, QuorumMet: true}},
		{name: "majority 2/3: three of four passes", rule: crdt.Rule{Quorum: 0.5, Majority: 2.0 / 3}, members: five, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}, {"c", crdt.No, 4}, {"d", crdt.Yes, 4}}, now: 90,
			want: crdt.OutcomePassed, closed: 60, tally: crdt.Tally{Electorate: 5, Yes: 3, No: 1, QuorumMet: true}},
		{name: "vote at the closing moment counts", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}},
			setup: func(t *testing.T, doc *automerge.Doc) {
				signedVote(t, doc, "c", crdt.Yes, 60)
			}, now: 90,
			want: crdt.OutcomePassed, closed: 60, tally: crdt.Tally{Electorate: 4, Yes: 3, QuorumMet: true}},
		{name: "vote changed after closing is ignored: the ballot is the latest vote before closing", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.No, 3}, {"c", crdt.No, 4}, {"c", crdt.Yes, 5}, {"b", crdt.Yes, 6}},
			setup: func(t *testing.T, doc *automerge.Doc) {
				// Made offline after closing: a signed vote dated 61, and
				// the state written as CastVote writes it.
				signedVote(t, doc, "c", crdt.No, 61)
			}, now: 90, // the state shows c's later vote, which c signed: not a problem
			want: crdt.OutcomePassed, closed: 60, tally: crdt.Tally{Electorate: 4, Yes: 3, QuorumMet: true}},
		{name: "member who left is not in the electorate", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}, {"c", crdt.No, 4}, {"d", crdt.No, 5}},
			setup: func(t *testing.T, doc *automerge.Doc) { must(t, crdt.Leave(doc, as(doc, "d"), at(30))) }, now: 90,
			want: crdt.OutcomePassed, closed: 60, tally: crdt.Tally{Electorate: 3, Yes: 2, No: 1, QuorumMet: true}},
		{name: "member leaving after closing still counts", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}, {"c", crdt.No, 4}, {"d", crdt.No, 5}},
			setup: func(t *testing.T, doc *automerge.Doc) { must(t, crdt.Leave(doc, as(doc, "d"), at(61))) }, now: 90,
			want: crdt.OutcomeRejected, closed: 60, tally: crdt.Tally{Electorate: 4, Yes: 2, No: 2, QuorumMet: true}},
		{name: "member joining after closing is not in the electorate", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}},
			setup: func(t *testing.T, doc *automerge.Doc) {
				for _, m := range []string{"f", "g", "h"} {
					must1[string](t)(crdt.Join(doc, as(doc, "a"), memberSpec(m), at(61)))
				}
			}, now: 90,
			want: crdt.OutcomePassed, closed: 60, tally: crdt.Tally{Electorate: 4, Yes: 2, QuorumMet: true}},
		{name: "member joining before closing is in the electorate", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}},
			setup: func(t *testing.T, doc *automerge.Doc) {
				for _, m := range []string{"f", "g", "h"} {
					must1[string](t)(crdt.Join(doc, as(doc, "a"), memberSpec(m), at(30)))
				}
			}, now: 90,
			want: crdt.OutcomeNoQuorum, closed: 60, tally: crdt.Tally{Electorate: 7, Yes: 2}},
		{name: "no closing time: open until everyone voted", rule: majority, members: four,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}, {"c", crdt.Yes, 4}}, now: 600,
			want: crdt.OutcomeOpen, closed: -1, tally: crdt.Tally{Electorate: 4, Yes: 3, QuorumMet: true}},
		{name: "no closing time: decided by the last vote", rule: majority, members: four,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.No, 3}, {"c", crdt.No, 4}, {"d", crdt.Yes, 9}}, now: 600,
			want: crdt.OutcomeRejected, closed: 9, tally: crdt.Tally{Electorate: 4, Yes: 2, No: 2, QuorumMet: true}},
		{name: "no closing time: not decided before the last vote", rule: majority, members: four,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.No, 3}, {"c", crdt.No, 4}, {"d", crdt.Yes, 9}}, now: 8,
			want: crdt.OutcomeOpen, closed: -1, tally: crdt.Tally{Electorate: 4, Yes: 1, No: 2, QuorumMet: true}},
		{name: "no closing time: a late joiner does not reopen", rule: majority, members: four,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}, {"c", crdt.No, 4}, {"d", crdt.Yes, 5}},
			setup: func(t *testing.T, doc *automerge.Doc) {
				must1[string](t)(crdt.Join(doc, as(doc, "a"), memberSpec("f"), at(30)))
			}, now: 600,
			want: crdt.OutcomePassed, closed: 5, tally: crdt.Tally{Electorate: 4, Yes: 3, No: 1, QuorumMet: true}},
		{name: "no closing time: the last non-voter leaving decides", rule: majority, members: four,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}, {"c", crdt.No, 4}},
			setup: func(t *testing.T, doc *automerge.Doc) { must(t, crdt.Leave(doc, as(doc, "d"), at(20))) }, now: 600,
			want: crdt.OutcomePassed, closed: 20, tally: crdt.Tally{Electorate: 3, Yes: 2, No: 1, QuorumMet: true}},
		{name: "withdrawn", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}, {"c", crdt.Yes, 4}},
			setup: func(t *testing.T, doc *automerge.Doc) { must(t, crdt.WithdrawProposal(doc, as(doc, "a"), "p", at(10))) }, now: 90,
			want: crdt.OutcomeWithdrawn, closed: 10, tally: crdt.Tally{Electorate: 4, Yes: 3, QuorumMet: true}},
		{name: "withdrawn at the closing moment", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}},
			setup: func(t *testing.T, doc *automerge.Doc) { signedWithdrawal(t, doc, "a", 60) }, now: 90,
			want: crdt.OutcomeWithdrawn, closed: 60, tally: crdt.Tally{Electorate: 4, Yes: 1}},
		{name: "withdrawal after closing is ignored", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}},
			setup: func(t *testing.T, doc *automerge.Doc) { signedWithdrawal(t, doc, "a", 61) }, now: 90,
			want: crdt.OutcomePassed, closed: 60, tally: crdt.Tally{Electorate: 4, Yes: 2, QuorumMet: true}},
		{name: "no closing time: withdrawal after the decision is ignored", rule: majority, members: []string{"a", "b"},
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 3}},
			setup: func(t *testing.T, doc *automerge.Doc) { signedWithdrawal(t, doc, "a", 4) }, now: 90,
			want: crdt.OutcomePassed, closed: 3, tally: crdt.Tally{Electorate: 2, Yes: 2, QuorumMet: true}},
		{name: "withdrawal in the future is not yet in effect", rule: majority, members: four, closes: 60,
			setup: func(t *testing.T, doc *automerge.Doc) { must(t, crdt.WithdrawProposal(doc, as(doc, "a"), "p", at(50))) }, now: 40,
			want: crdt.OutcomeOpen, closed: -1, tally: crdt.Tally{Electorate: 4}},
		{name: "votes after now are not counted in the open tally", rule: majority, members: four, closes: 60,
			votes: []ballot{{"a", crdt.Yes, 2}, {"b", crdt.Yes, 30}}, now: 20,
			want: crdt.OutcomeOpen, closed: -1, tally: crdt.Tally{Electorate: 4, Yes: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := newCouncil(t, tc.rule, tc.members...)
			spec := crdt.ProposalSpec{ID: "p", Kind: crdt.ProposalGeneral, Title: tc.name}
			if tc.closes > 0 {
				spec.ClosesAt = at(tc.closes)
			}
			must1[string](t)(crdt.Propose(doc, as(doc, "a"), spec, at(1)))
			for _, b := range tc.votes {
				must(t, crdt.CastVote(doc, as(doc, b.by), "p", b.choice, at(b.minute)))
			}
			if tc.setup != nil {
				tc.setup(t, doc)
			}
			v, problems := readAny(doc, at(tc.now))
			if got := paths(problems); len(got) != len(tc.problems) || len(got) > 0 && got[0] != tc.problems[0] {
				t.Errorf("problems = %v, want paths %v", problems, tc.problems)
			}
			p := proposal(t, v, "p")
			if p.Outcome != tc.want {
				t.Errorf("outcome = %s, want %s", p.Outcome, tc.want)
			}
			switch {
			case tc.closed < 0 && p.ClosedAt != nil:
				t.Errorf("closedAt = %v, want none", p.ClosedAt)
			case tc.closed >= 0 && (p.ClosedAt == nil || !p.ClosedAt.Equal(at(tc.closed))):
				t.Errorf("closedAt = %v, want %v", p.ClosedAt, at(tc.closed))
			}
			if p.Tally != tc.tally {
				t.Errorf("tally = %+v, want %+v", p.Tally, tc.tally)
			}
		})
	}
}

// TestOutcomeIsStableOverTime: once decided, a proposal's outcome does not
// change as now advances.
func TestOutcomeIsStableOverTime(t *testing.T) {
	doc := newCouncil(t, majority, "a", "b", "c")
	must1[string](t)(crdt.Propose(doc, as(doc, "a"), crdt.ProposalSpec{ID: "p", Kind: crdt.ProposalGeneral, Title: "x"}, at(1)))
	for i, m := range []string{"a", "b", "c"} {
		must(t, crdt.CastVote(doc, as(doc, m), "p", crdt.Yes, at(2+i)))
	}
	must1[string](t)(crdt.Join(doc, as(doc, "a"), memberSpec("d"), at(10)))
	must(t, crdt.Leave(doc, as(doc, "a"), at(20)))
	for _, now := range []time.Duration{4, 5, 10, 20, 1000} {
		p := proposal(t, readPast(t, doc, at(int(now))), "p")
		if p.Outcome != crdt.OutcomePassed || !p.ClosedAt.Equal(at(4)) {
			t.Errorf("at minute %d: %s closed %v", now, p.Outcome, p.ClosedAt)
		}
	}
}

// signedVote commits a vote signed by member at minute, bypassing the
// operation's checks (as a client signing its own records may), with the
// state CastVote writes.
func signedVote(t tb, doc *automerge.Doc, member string, choice crdt.Choice, minute int) {
	t.Helper()
	r := signedBy(doc, member, crdt.OpVote, at(minute), map[string]string{"proposal": "p", "choice": string(choice)})
	commitRecord(t, doc, r.message(), at(minute), setAt(map[string]any{"choice": string(choice), "at": at(minute)}, "proposals", "p", "votes", member))
}

// signedWithdrawal commits a withdrawal of proposal p signed by member at
// minute, bypassing the operation's checks, with its state.
func signedWithdrawal(t tb, doc *automerge.Doc, member string, minute int) {
	t.Helper()
	r := signedBy(doc, member, crdt.OpWithdrawProposal, at(minute), map[string]string{"proposal": "p"})
	commitRecord(t, doc, r.message(), at(minute), setAt(at(minute), "proposals", "p", "withdrawnAt"))
}
