package crdt

import (
	"slices"
	"time"
)

// Tally counts a proposal's votes at one moment (see Proposal.Tally).
type Tally struct {
	// Electorate is the number of members active at the moment.
	Electorate int `json:"electorate"`
	Yes        int `json:"yes"`
	No         int `json:"no"`
	Abstain    int `json:"abstain"`
	// QuorumMet: yes+no+abstain ≥ quorum × electorate.
	QuorumMet bool `json:"quorumMet"`
}

// count tallies p's votes at moment at: the electorate is the members
// active at at; each member's ballot is their latest vote cast at or
// before at (p.Votes may hold several votes of one member, in time order),
// and it counts if the member is in the electorate and its choice is
// valid. It sets Vote.Counted on the ballots that count.
func count(p *Proposal, members map[string]*Member, rule Rule, at time.Time) Tally {
	var t Tally
	for _, m := range members {
		if m.ActiveAt(at) {
			t.Electorate++
		}
	}
	ballots := map[string]int{}
	for i := range p.Votes {
		v := &p.Votes[i]
		v.Counted = false
		if v.Choice.Valid() && !v.At.After(at) {
			ballots[v.Member] = i // later votes replace earlier ones
		}
	}
	for member, i := range ballots {
		v := &p.Votes[i]
		m, ok := members[member]
		v.Counted = ok && m.ActiveAt(at)
		if !v.Counted {
			continue
		}
		switch v.Choice {
		case Yes:
			t.Yes++
		case No:
			t.No++
		case Abstain:
			t.Abstain++
		}
	}
	// Explicit float64 conversions: each product is rounded on its own, as
	// in JavaScript, never fused into another operation.
	t.QuorumMet = float64(t.Yes+t.No+t.Abstain) >= float64(rule.Quorum*float64(t.Electorate))
	return t
}

// ballots keeps one vote per member in p.Votes, the one the tally used:
// the member's counted vote, else their latest vote at or before the tally
// moment, else their latest vote. Votes end in member order.
func ballots(p *Proposal, at time.Time) {
	keep := map[string]int{}
	rank := func(v Vote) int {
		switch {
		case v.Counted:
			return 2
		case !v.At.After(at):
			return 1
		}
		return 0
	}
	for i, v := range p.Votes {
		j, ok := keep[v.Member]
		if !ok || rank(v) > rank(p.Votes[j]) || rank(v) == rank(p.Votes[j]) && rank(v) != 2 {
			keep[v.Member] = i
		}
	}
	out := make([]Vote, 0, len(keep))
	for _, member := range sortedKeys(keep) {
		out = append(out, p.Votes[keep[member]])
	}
	p.Votes = out
}

// passes reports whether a tally with quorum met passes: yes > majority ×
// (yes + no).
func passes(t Tally, rule Rule) bool {
	return float64(t.Yes) > float64(rule.Majority*float64(t.Yes+t.No))
}

// closingMoment returns when p is decided, as seen at now, ignoring
// withdrawal. With a closing time: at that time, once now reaches it.
// Without: the first moment c, from the proposal's time up to now, at
// which every member active at c has a valid vote cast at or before c
// (candidates for c are the proposal's time, vote times and departures).
// Once every member active now has voted, such a moment exists; and a
// member joining later does not reopen a decided proposal.
func closingMoment(p *Proposal, members map[string]*Member, now time.Time) (time.Time, bool) {
	if p.ClosesAt != nil {
		return *p.ClosesAt, !now.Before(*p.ClosesAt)
	}
	if p.At.After(now) {
		return time.Time{}, false
	}
	votes := make(map[string]*Vote, len(p.Votes)) // each member's first valid vote
	candidates := []time.Time{p.At}
	for i := range p.Votes {
		v := &p.Votes[i]
		if v.Choice.Valid() {
			if first, ok := votes[v.Member]; !ok || v.At.Before(first.At) {
				votes[v.Member] = v
			}
			candidates = append(candidates, v.At)
		}
	}
	for _, m := range members {
		if m.LeftAt != nil {
			candidates = append(candidates, *m.LeftAt)
		}
	}
	slices.SortFunc(candidates, time.Time.Compare)
	for _, c := range candidates {
		if c.Before(p.At) {
			continue
		}
		if c.After(now) {
			break
		}
		if everyoneVoted(members, votes, c) {
			return c, true
		}
	}
	return time.Time{}, false
}

// everyoneVoted reports whether every member active at c voted at or
// before c.
func everyoneVoted(members map[string]*Member, votes map[string]*Vote, c time.Time) bool {
	for id, m := range members {
		if !m.ActiveAt(c) {
			continue
		}
		v, ok := votes[id]
		if !ok || v.At.After(c) {
			return false
		}
	}
	return true
}

// decide derives p's Outcome, ClosedAt and Tally at now from its votes,
// the rule and the members (by id):
//
//   - withdrawn, if withdrawn at or before now and not decided before the
//     withdrawal (a withdrawal at the closing moment itself wins);
//   - open, if not decided at now (see closingMoment);
//   - otherwise counted at the closing moment: no-quorum, passed or
//     rejected (see Rule).
func decide(p *Proposal, members map[string]*Member, rule Rule, now time.Time) {
	slices.SortStableFunc(p.Votes, func(a, b Vote) int { return a.At.Compare(b.At) })
	closeAt, decided := closingMoment(p, members, now)
	if w := p.WithdrawnAt; w != nil && !w.After(now) && (!decided || !w.After(closeAt)) {
		at := *w
		p.Outcome, p.ClosedAt, p.Tally = OutcomeWithdrawn, &at, count(p, members, rule, at)
		ballots(p, at)
		return
	}
	if !decided {
		p.Outcome, p.ClosedAt, p.Tally = OutcomeOpen, nil, count(p, members, rule, now)
		ballots(p, now)
		return
	}
	p.ClosedAt = &closeAt
	p.Tally = count(p, members, rule, closeAt)
	ballots(p, closeAt)
	switch {
	case !p.Tally.QuorumMet:
		p.Outcome = OutcomeNoQuorum
	case passes(p.Tally, rule):
		p.Outcome = OutcomePassed
	default:
		p.Outcome = OutcomeRejected
	}
}
