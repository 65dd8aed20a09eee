package crdt

import (
	"slices"
	"time"
)

// compareState fills the view's collaborative texts from the document
// state and reports, at its path, whatever the state says that the
// verified log does not: forged or deleted entries, overwritten fields.
// Such state counts for nothing; the problems make it visible.
func compareState(v *View, state View, r *reader) {
	const forged = "in the document but not in the signed log; not counted"
	const deleted = "in the signed log but missing from the document (deleted?); the log keeps it"
	if v.ID != "" && (state.Council.Name != v.Council.Name || state.Council.Kind != v.Council.Kind) {
		r.problem("/council", "the document says %q (%s); the signed log says %q (%s)", state.Council.Name, state.Council.Kind, v.Council.Name, v.Council.Kind)
	}
	if v.ID != "" && state.Council.Rule != v.foundingRule {
		r.problem("/council/rule", "the document says %+v, not the founding rule %+v; the rule in force by the signed log is %+v", state.Council.Rule, v.foundingRule, v.Council.Rule)
	}

	members := map[string]Member{}
	for _, m := range state.Members {
		members[m.ID] = m
	}
	for _, m := range v.Members {
		s, ok := members[m.ID]
		delete(members, m.ID)
		path := pointer("/members", m.ID)
		switch {
		case !ok:
			r.problem(path, deleted)
		case s.LeftAt == nil && (m.ExpelledBy != "" || m.SentBy != nil):
			// An expulsion, or a seat ending with its mandate, is decided by
			// the log and never written into the state.
		case !sameTime(s.LeftAt, m.LeftAt):
			r.problem(pointer(path, "leftAt"), "the document says %s; the signed log says %s", timeText(s.LeftAt), timeText(m.LeftAt))
		}
	}
	for id := range members {
		r.problem(pointer("/members", id), forged)
	}

	proposals := map[string]Proposal{}
	for _, p := range state.Proposals {
		proposals[p.ID] = p
	}
	for i := range v.Proposals {
		p := &v.Proposals[i]
		s, ok := proposals[p.ID]
		delete(proposals, p.ID)
		path := pointer("/proposals", p.ID)
		if !ok {
			r.problem(path, deleted)
			continue
		}
		p.Body = s.Body
		if !sameTime(s.WithdrawnAt, p.WithdrawnAt) {
			r.problem(pointer(path, "withdrawnAt"), "the document says %s; the signed log says %s", timeText(s.WithdrawnAt), timeText(p.WithdrawnAt))
		}
		if s.Title != p.Title || s.Kind != p.Kind || s.By != p.By || !s.At.Equal(p.At) || !sameTime(s.ClosesAt, p.ClosesAt) || s.Subject != p.Subject {
			r.problem(path, "the document's title, kind, proposer, time, closing time or subject differ from the signed log")
		}
		votes := map[string]Vote{}
		for _, vote := range p.Votes {
			votes[vote.Member] = vote
		}
		for _, sv := range s.Votes {
			_, ok := votes[sv.Member]
			delete(votes, sv.Member)
			if !ok || !slices.Contains(p.signed[sv.Member], sv.Choice) {
				r.problem(pointer(pointer(path, keyVotes), sv.Member), "vote %q %s", sv.Choice, forged)
			}
		}
		for member := range votes {
			r.problem(pointer(pointer(path, keyVotes), member), deleted)
		}
	}
	for id := range proposals {
		r.problem(pointer("/proposals", id), forged)
	}

	mandates := map[string]Mandate{}
	for _, m := range state.Mandates {
		mandates[m.ID] = m
	}
	for _, m := range v.Mandates {
		s, ok := mandates[m.ID]
		delete(mandates, m.ID)
		path := pointer("/mandates", m.ID)
		switch {
		case !ok:
			r.problem(path, deleted)
		case s.Body != m.Body || s.Delegate != m.Delegate || s.Proposal != m.Proposal || s.Task != m.Task:
			r.problem(path, "the document's task, body, delegate or proposal differ from the signed log")
		case !sameTime(s.ResignedAt, m.ResignedAt) || !sameTime(s.CompletedAt, m.CompletedAt):
			r.problem(path, "the document's resignation or completion differs from the signed log")
		}
	}
	for id := range mandates {
		r.problem(pointer("/mandates", id), forged)
	}

	compareIDs("/exchange/offers", ids(state.Exchange.Offers, func(o Offer) string { return o.ID }), ids(v.Exchange.Offers, func(o Offer) string { return o.ID }), r)
	compareIDs("/exchange/needs", ids(state.Exchange.Needs, func(n Need) string { return n.ID }), ids(v.Exchange.Needs, func(n Need) string { return n.ID }), r)
	compareIDs("/exchange/pledges", ids(state.Exchange.Pledges, func(p Pledge) string { return p.ID }), ids(v.Exchange.Pledges, func(p Pledge) string { return p.ID }), r)
	link := func(l FederationLink) string { return l.Council }
	compareIDs("/federation/memberOf", ids(state.Federation.MemberOf, link), ids(v.Federation.MemberOf, link), r)
	compareIDs("/federation/members", ids(state.Federation.Members, link), ids(v.Federation.Members, link), r)

	notes := map[string]string{}
	for _, m := range state.Minutes {
		if _, dup := notes[m.ID]; !dup {
			notes[m.ID] = m.Notes
		}
	}
	for i := range v.Minutes {
		m := &v.Minutes[i]
		n, ok := notes[m.ID]
		if !ok {
			r.problem(pointer("/minutes", m.ID), deleted)
		}
		m.Notes = n
		delete(notes, m.ID)
	}
	for id := range notes {
		r.problem(pointer("/minutes", id), forged)
	}
}

// ids returns the set of ids of a list.
func ids[T any](list []T, id func(T) string) map[string]bool {
	out := make(map[string]bool, len(list))
	for _, x := range list {
		out[id(x)] = true
	}
	return out
}

// compareIDs reports entries present on one side only.
func compareIDs(path string, state, log map[string]bool, r *reader) {
	for id := range state {
		if !log[id] {
			r.problem(pointer(path, id), "in the document but not in the signed log; not counted")
		}
	}
	for id := range log {
		if !state[id] {
			r.problem(pointer(path, id), "in the signed log but missing from the document (deleted?); the log keeps it")
		}
	}
}

// sameTime compares two optional times.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// timeText formats an optional time for a problem message.
func timeText(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.Format(time.RFC3339)
}
