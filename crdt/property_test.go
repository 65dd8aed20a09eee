package crdt_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"pgregory.net/rapid"

	"github.com/veche-sync/veche/crdt"
)

// TestConvergence: several replicas of one council apply random operations
// while apart, then merge in random orders and groupings. Every merge
// result must read as the same view, at every moment, with no problems:
// derived statuses never depend on merge order. Along the way, every
// refused operation must leave its replica unchanged and every accepted
// one must add exactly one change whose message names the acting member.
func TestConvergence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rule := crdt.Rule{
			Quorum:   rapid.SampledFrom([]float64{0, 0.5, 0.6, 2.0 / 3, 1}).Draw(t, "quorum"),
			Majority: rapid.SampledFrom([]float64{0, 0.5, 2.0 / 3}).Draw(t, "majority"),
		}
		base := baseCouncil(t, rule)
		n := rapid.IntRange(2, 4).Draw(t, "replicas")
		clocks := make([]int, n)
		replicas := make([]*automerge.Doc, n)
		for i := range replicas {
			replicas[i] = fork(t, base)
			must(t, replicas[i].SetActorID(fmt.Sprintf("%032x", i+1)))
			clocks[i] = 5
		}
		for round := range rapid.IntRange(1, 2).Draw(t, "rounds") {
			for i, doc := range replicas {
				steps := rapid.IntRange(0, 10).Draw(t, fmt.Sprintf("steps-%d-%d", round, i))
				for s := range steps {
					// Each replica's clock moves forward; replicas' clocks
					// are independent, as on separate devices.
					clocks[i] += rapid.IntRange(0, 15).Draw(t, "tick")
					randomOperation(t, doc, fmt.Sprintf("r%d-%d-%d", i, round, s), at(clocks[i]))
				}
			}
			// Between rounds some replicas meet, so later operations build
			// on merged states.
			if round == 0 && n > 2 {
				a := rapid.IntRange(0, n-1).Draw(t, "meet-a")
				b := rapid.IntRange(0, n-1).Draw(t, "meet-b")
				if a != b {
					merge(t, replicas[a], replicas[b])
				}
			}
		}

		finals := mergeAllWays(t, replicas)
		nows := []time.Time{at(rapid.IntRange(0, 200).Draw(t, "now")), at(30), at(90), at(100000)}
		for _, now := range nows {
			var want string
			for k, doc := range finals {
				v, problems := crdt.Read(doc, now)
				if len(problems) > 0 {
					t.Fatalf("merge %d at %v: problems %v", k, now, problems)
				}
				checkInvariants(t, v)
				got := asJSON(t, v)
				if k == 0 {
					want = got
				} else if got != want {
					t.Fatalf("merge %d at %v differs:\n%s\nvs\n%s", k, now, got, want)
				}
			}
		}
	})
}

// baseCouncil is the common ancestor of the replicas: four members, open
// proposals, a mandate that becomes active at minute 20 and one decided
// once everyone voted, a need, an offer and minutes.
func baseCouncil(t *rapid.T, rule crdt.Rule) *automerge.Doc {
	doc := newCouncil(t, rule, "m0", "m1", "m2", "m3")
	must1[string](t)(crdt.Propose(doc, "m0", crdt.ProposalSpec{ID: "g-open", Kind: crdt.ProposalGeneral, Title: "Open", Body: "body"}, at(1)))
	must1[string](t)(crdt.Propose(doc, "m1", crdt.ProposalSpec{ID: "g-close", Kind: crdt.ProposalGeneral, Title: "Closing", ClosesAt: at(60)}, at(1)))
	_, _, err := crdt.ProposeMandate(doc, "m0", crdt.ProposalSpec{ID: "pm-a", Title: "Send m1", ClosesAt: at(20)},
		crdt.MandateSpec{ID: "ma", Task: "t", Body: "2sXhFederation", Delegate: "m1"}, at(1))
	must(t, err)
	_, _, err = crdt.ProposeMandate(doc, "m3", crdt.ProposalSpec{ID: "pm-b", Title: "Send m2"},
		crdt.MandateSpec{ID: "mb", Task: "t", Body: "2sXhFederation", Delegate: "m2"}, at(1))
	must(t, err)
	for _, m := range []string{"m0", "m1", "m2", "m3"} {
		must(t, crdt.CastVote(doc, m, "pm-a", crdt.Yes, at(2)))
	}
	must1[string](t)(crdt.PostNeed(doc, "m2", crdt.ProduceSpec{ID: "n0", Item: "hay", Quantity: 20, Unit: "kg"}, at(3)))
	must1[string](t)(crdt.PostOffer(doc, "m3", crdt.ProduceSpec{ID: "o0", Item: "hay", Quantity: 10, Unit: "kg"}, at(3)))
	must1[string](t)(crdt.StartMinutes(doc, "m0", crdt.MinutesSpec{ID: "mt0", Title: "Assembly", Notes: "notes"}, at(4)))
	return doc
}

// mergeAllWays merges the replicas into one document in several random
// ways and returns the results (the replicas are not modified).
func mergeAllWays(t *rapid.T, replicas []*automerge.Doc) []*automerge.Doc {
	var finals []*automerge.Doc

	// In sequence, in a random order.
	order := rapid.Permutation(indexes(len(replicas))).Draw(t, "order")
	seq := fork(t, replicas[order[0]])
	for _, i := range order[1:] {
		merge(t, seq, replicas[i])
	}
	finals = append(finals, seq)

	// As a random tree: merge random pairs until one is left.
	pool := make([]*automerge.Doc, len(replicas))
	for i, r := range replicas {
		pool[i] = fork(t, r)
	}
	for len(pool) > 1 {
		a := rapid.IntRange(0, len(pool)-1).Draw(t, "tree-a")
		b := rapid.IntRange(0, len(pool)-2).Draw(t, "tree-b")
		if b >= a {
			b++
		}
		merge(t, pool[a], pool[b])
		pool = slices.Delete(pool, b, b+1)
	}
	finals = append(finals, pool[0])

	// Gossip: random pairwise exchanges, then a final round so everyone
	// has everything; every replica is a result.
	gossip := make([]*automerge.Doc, len(replicas))
	for i, r := range replicas {
		gossip[i] = fork(t, r)
	}
	for range rapid.IntRange(0, 6).Draw(t, "gossip") {
		a := rapid.IntRange(0, len(gossip)-1).Draw(t, "gossip-a")
		b := rapid.IntRange(0, len(gossip)-1).Draw(t, "gossip-b")
		if a != b {
			merge(t, gossip[a], gossip[b])
		}
	}
	for i := range gossip {
		for j := range gossip {
			if i != j {
				merge(t, gossip[i], gossip[j])
			}
		}
	}
	return append(finals, gossip...)
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// randomOperation applies one random operation to doc at a random time,
// choosing its arguments mostly among what the replica can see (so that
// most operations succeed) and sometimes at random (so that some fail).
// New ids start with prefix, unique per replica and step.
func randomOperation(t *rapid.T, doc *automerge.Doc, prefix string, now time.Time) {
	v, _ := crdt.Read(doc, now)
	pick := func(label string, ids []string) string {
		if len(ids) == 0 || rapid.IntRange(0, 9).Draw(t, label+" exists") == 0 {
			return "nobody"
		}
		return rapid.SampledFrom(ids).Draw(t, label)
	}
	var members, proposals, mandates, needs, offers, minutes, links []string
	for _, m := range v.Members {
		members = append(members, m.ID)
	}
	for _, p := range v.Proposals {
		proposals = append(proposals, p.ID)
	}
	for _, m := range v.Mandates {
		mandates = append(mandates, m.ID)
	}
	for _, n := range v.Exchange.Needs {
		needs = append(needs, n.ID)
	}
	for _, o := range v.Exchange.Offers {
		offers = append(offers, o.ID)
	}
	for _, m := range v.Minutes {
		minutes = append(minutes, m.ID)
	}
	for _, l := range v.Federation.MemberOf {
		links = append(links, l.Council)
	}
	by := pick("by", members)
	closes := func() time.Time {
		if rapid.Bool().Draw(t, "closing time") {
			return now.Add(time.Duration(rapid.IntRange(1, 90).Draw(t, "open for")) * time.Minute)
		}
		return time.Time{}
	}
	edit := func(text string) crdt.TextEdit {
		r := []rune(text)
		pos := rapid.IntRange(0, len(r)).Draw(t, "pos")
		return crdt.TextEdit{Pos: pos, Delete: rapid.IntRange(0, len(r)-pos).Draw(t, "delete"), Insert: rapid.SampledFrom([]string{"", "a", "ж", "🌾", "rye "}).Draw(t, "insert")}
	}

	heads := doc.Heads()
	changes := len(must1[[]crdt.HistoryEntry](t)(crdt.History(doc)))
	var err error
	op := rapid.IntRange(0, 17).Draw(t, "op")
	switch op {
	case 0:
		_, err = crdt.Join(doc, crdt.MemberSpec{ID: prefix, Name: "Member " + prefix, Role: crdt.RoleWorker}, now)
		by = prefix
	case 1:
		err = crdt.Leave(doc, by, now)
	case 2:
		_, err = crdt.Propose(doc, by, crdt.ProposalSpec{ID: prefix, Kind: crdt.ProposalGeneral, Title: "General " + prefix, Body: "text", ClosesAt: closes()}, now)
	case 3:
		_, _, err = crdt.ProposeMandate(doc, by, crdt.ProposalSpec{ID: prefix, Title: "Mandate " + prefix, ClosesAt: closes()},
			crdt.MandateSpec{ID: "m-" + prefix, Task: "task", Body: "2sXhFederation", Delegate: pick("delegate", members)}, now)
	case 4:
		_, err = crdt.Propose(doc, by, crdt.ProposalSpec{ID: prefix, Kind: crdt.ProposalRecall, Title: "Recall", Subject: pick("mandate", mandates), ClosesAt: closes()}, now)
	case 5, 6:
		choice := rapid.SampledFrom([]crdt.Choice{crdt.Yes, crdt.No, crdt.Abstain}).Draw(t, "choice")
		err = crdt.CastVote(doc, by, pick("proposal", proposals), choice, now)
	case 7:
		err = crdt.WithdrawProposal(doc, by, pick("proposal", proposals), now)
	case 8, 9, 10:
		m := pick("mandate", mandates)
		if mv, ok := v.Mandate(m); ok && rapid.Bool().Draw(t, "as delegate") {
			by = mv.Delegate
		}
		switch op {
		case 8:
			err = crdt.Resign(doc, by, m, now)
		case 9:
			err = crdt.Complete(doc, by, m, now)
		default:
			err = crdt.SubmitReport(doc, by, m, "report "+prefix, now)
		}
	case 11:
		spec := crdt.ProduceSpec{ID: prefix, Item: "hay", Quantity: float64(rapid.IntRange(-1, 50).Draw(t, "quantity")), Unit: rapid.SampledFrom([]string{"kg", "bales"}).Draw(t, "unit")}
		if rapid.Bool().Draw(t, "offer") {
			_, err = crdt.PostOffer(doc, by, spec, now)
		} else {
			_, err = crdt.PostNeed(doc, by, spec, now)
		}
	case 12:
		if rapid.Bool().Draw(t, "withdraw offer") {
			err = crdt.WithdrawOffer(doc, by, pick("offer", offers), now)
		} else {
			err = crdt.WithdrawNeed(doc, by, pick("need", needs), now)
		}
	case 13:
		spec := crdt.PledgeSpec{ID: prefix, Need: pick("need", needs), Quantity: float64(rapid.IntRange(-1, 30).Draw(t, "quantity")) / 2}
		if rapid.Bool().Draw(t, "from offer") {
			spec.Offer = pick("offer", offers)
		}
		if rapid.Bool().Draw(t, "other council") {
			spec.Council, by = "3kHillside", "far-"+prefix
		}
		_, err = crdt.MakePledge(doc, by, spec, now)
	case 14:
		p := pick("proposal", proposals)
		pv, _ := v.Proposal(p)
		err = crdt.EditProposal(doc, by, p, edit(pv.Body), now)
	case 15:
		if len(minutes) == 0 || rapid.Bool().Draw(t, "new minutes") {
			_, err = crdt.StartMinutes(doc, by, crdt.MinutesSpec{ID: prefix, Title: "Meeting", Notes: "notes"}, now)
		} else {
			m := pick("minutes", minutes)
			var notes string
			for _, mv := range v.Minutes {
				if mv.ID == m {
					notes = mv.Notes
				}
			}
			err = crdt.EditMinutes(doc, by, m, edit(notes), now)
		}
	case 16:
		err = crdt.JoinFederation(doc, by, rapid.SampledFrom([]string{"5mmValley", "7qRegion"}).Draw(t, "federation"), now)
	case 17:
		err = crdt.LeaveFederation(doc, by, pick("federation", links), now)
	}

	h := must1[[]crdt.HistoryEntry](t)(crdt.History(doc))
	if err != nil {
		if crdt.ErrorCode(err) == "" || crdt.ErrorCode(err) == crdt.CodeMalformed {
			t.Fatalf("op %d: unexpected error %v", op, err)
		}
		if !slices.Equal(heads, doc.Heads()) || len(h) != changes {
			t.Fatalf("op %d refused (%v) but changed the document", op, err)
		}
		return
	}
	if len(h) != changes+1 {
		t.Fatalf("op %d made %d changes", op, len(h)-changes)
	}
	last := h[len(h)-1]
	if !last.Veche || last.Info.By != by || !last.Time.Equal(now) {
		t.Fatalf("op %d: change %+v, want by=%s at %v", op, last, by, now)
	}
}

// checkInvariants checks relations every derived view satisfies.
func checkInvariants(t *rapid.T, v crdt.View) {
	proposals := map[string]crdt.Proposal{}
	for _, p := range v.Proposals {
		proposals[p.ID] = p
		tl := p.Tally
		if tl.Yes+tl.No+tl.Abstain > tl.Electorate {
			t.Fatalf("proposal %s: more votes than voters: %+v", p.ID, tl)
		}
		if (p.Outcome == crdt.OutcomeOpen) != (p.ClosedAt == nil) {
			t.Fatalf("proposal %s: outcome %s with closedAt %v", p.ID, p.Outcome, p.ClosedAt)
		}
		if p.Outcome == crdt.OutcomePassed && (!tl.QuorumMet || tl.Yes == 0) {
			t.Fatalf("proposal %s passed with %+v", p.ID, tl)
		}
		if p.Outcome == crdt.OutcomeNoQuorum && tl.QuorumMet {
			t.Fatalf("proposal %s: no-quorum with quorum met", p.ID)
		}
	}
	for _, m := range v.Mandates {
		p := proposals[m.Proposal]
		switch {
		case (m.Status == crdt.MandatePending) != (p.Outcome == crdt.OutcomeOpen):
			t.Fatalf("mandate %s is %s but its proposal is %s", m.ID, m.Status, p.Outcome)
		case (m.Status == crdt.MandateRejected) != (p.Outcome != crdt.OutcomeOpen && p.Outcome != crdt.OutcomePassed):
			t.Fatalf("mandate %s is %s but its proposal is %s", m.ID, m.Status, p.Outcome)
		case (m.Status == crdt.MandateRecalled) != (m.RecalledBy != ""):
			t.Fatalf("mandate %s is %s, recalledBy %q", m.ID, m.Status, m.RecalledBy)
		}
	}
	for _, n := range v.Exchange.Needs {
		if n.Met != (n.Pledged >= n.Quantity) || n.Remaining != max(0, n.Quantity-n.Pledged) {
			t.Fatalf("need %+v", n)
		}
	}
}
