package crdt_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"pgregory.net/rapid"

	"github.com/veche-sync/veche/crdt"
)

// TestConvergence: several replicas of one council apply random
// operations while apart, then merge in random orders and groupings. Every
// merge result must read as the same view, at every moment: derived
// statuses never depend on merge order. Along the way, every refused
// operation must leave its replica unchanged and every accepted one must
// add exactly one change, signed by the acting member, whose record counts.
func TestConvergence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		replicas, _ := runReplicas(t, false)
		finals := mergeAllWays(t, replicas)
		for _, now := range []time.Time{at(rapid.IntRange(0, 200).Draw(t, "now")), at(30), at(90), at(100000)} {
			var want string
			for k, doc := range finals {
				v, problems := readAny(doc, now)
				checkProblems(t, problems, false)
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

// TestForgeriesCountForNothing: replicas apply random valid operations and
// random forgeries — unsigned state writes, records signed with the wrong
// key, garbled records, deletions of state, replays of another council's
// records, re-dated copies, copies of valid records — while apart. After
// merging in any order, every replica derives the same view, equal to the
// view that the valid operations alone give; every forged record is
// reported and never counted.
func TestForgeriesCountForNothing(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		forged, clean := runReplicas(t, true)
		want := fork(t, clean[0])
		for _, c := range clean[1:] {
			merge(t, want, c)
		}
		finals := mergeAllWays(t, forged)
		for _, now := range []time.Time{at(rapid.IntRange(0, 200).Draw(t, "now")), at(90), at(100000)} {
			wv, wp := readAny(want, now)
			checkProblems(t, wp, false)
			wantJSON := asJSON(t, withoutTexts(wv))
			for k, doc := range finals {
				v, problems := readAny(doc, now)
				checkProblems(t, problems, true)
				if got := asJSON(t, withoutTexts(v)); got != wantJSON {
					t.Fatalf("merge %d at %v: the forgeries changed the view:\n%s\nwant (valid operations only)\n%s", k, now, got, wantJSON)
				}
			}
		}
		// Every forged record is reported, never counted; a copy of a
		// record has the verdict of the record it repeats.
		log := crdt.NewLog()
		must(t, log.Update(finals[0]))
		_, _, facts := log.Derive(councilOf(finals[0]), at(100000), nil)
		ids := map[string]string{} // change hash → record id
		for _, e := range log.Entries() {
			if e.Record != nil {
				ids[e.Hash] = e.Record.ID()
			}
		}
		counted := map[string]bool{} // record id → verdict of its non-copy changes
		for _, f := range facts {
			if !copiedChanges[f.Hash] && ids[f.Hash] != "" {
				counted[ids[f.Hash]] = counted[ids[f.Hash]] || f.Counted
			}
		}
		for _, f := range facts {
			switch {
			case copiedChanges[f.Hash] && f.Counted != counted[ids[f.Hash]]:
				t.Fatalf("copy %s counted=%v, its record counted=%v", f.Hash, f.Counted, counted[ids[f.Hash]])
			case forgedChanges[f.Hash] && !copiedChanges[f.Hash] && f.Counted:
				t.Fatalf("forged change %s counted: %+v", f.Hash, f)
			case forgedChanges[f.Hash] && f.Problem == "":
				t.Fatalf("forged change %s not reported: %+v", f.Hash, f)
			}
		}
	})
}

// withoutTexts returns v without its collaborative texts (proposal bodies,
// minutes notes): unsigned content, read from the state, which a forgery
// that deletes state entries takes with it.
func withoutTexts(v crdt.View) crdt.View {
	v.Proposals = slices.Clone(v.Proposals)
	for i := range v.Proposals {
		v.Proposals[i].Body = ""
	}
	v.Minutes = slices.Clone(v.Minutes)
	for i := range v.Minutes {
		v.Minutes[i].Notes = ""
	}
	return v
}

// checkProblems fails on problems that valid operations alone must not
// cause. Concurrent valid operations can make records that do not count
// once merged (a vote signed with a key retired meanwhile, a second
// withdrawal, a departure before the vote) and state that differs from
// the log (a link re-joined on one replica and left on another), and
// reading the past shows records dated after it: those are expected.
// Never expected: a bad signature or key, another council's record, a
// record that does not parse, a missing founding record, state of the
// wrong shape. With forged, the forgeries' problems are expected too.
func checkProblems(t *rapid.T, problems []crdt.Problem, forged bool) {
	if forged {
		return
	}
	for _, p := range problems {
		for _, bad := range []string{"signature", "not this one", "record ", "founding", "want a", "missing (want", "unknown schema", "unknown council", "unknown proposal kind", "unknown choice", "unreadable"} {
			if strings.Contains(p.Message, bad) {
				t.Fatalf("problem from valid operations: %v\nall: %v", p, problems)
			}
		}
	}
}

// forgedChanges and copiedChanges record, by change hash, the changes
// forgeries made (copies of valid records count once, through the
// original).
var forgedChanges, copiedChanges = map[string]bool{}, map[string]bool{}

// runReplicas builds the base council, forks it into 2 to 4 replicas and
// applies random steps to each in two rounds, with a meeting of two
// replicas between them. With forgeries, some steps are forgeries, and a
// clean copy of every replica receives the valid operations only; clean
// is nil otherwise.
func runReplicas(t *rapid.T, forgeries bool) (replicas, clean []*automerge.Doc) {
	clear(forgedChanges)
	clear(copiedChanges)
	rule := crdt.Rule{
		Quorum:   rapid.SampledFrom([]float64{0, 0.5, 0.6, 2.0 / 3, 1}).Draw(t, "quorum"),
		Majority: rapid.SampledFrom([]float64{0, 0.5, 2.0 / 3}).Draw(t, "majority"),
	}
	base := baseCouncil(t, rule)
	var other *automerge.Doc
	if forgeries {
		other = baseCouncil(t, rule) // another council, same members and keys
	}
	n := rapid.IntRange(2, 4).Draw(t, "replicas")
	clocks := make([]int, n)
	replicas = make([]*automerge.Doc, n)
	for i := range replicas {
		replicas[i] = fork(t, base)
		must(t, replicas[i].SetActorID(fmt.Sprintf("%032x", i+1)))
		clocks[i] = 5
		if forgeries {
			c := fork(t, base)
			must(t, c.SetActorID(fmt.Sprintf("%032x", i+1)))
			clean = append(clean, c)
		}
	}
	for round := range rapid.IntRange(1, 2).Draw(t, "rounds") {
		for i, doc := range replicas {
			steps := rapid.IntRange(0, 10).Draw(t, fmt.Sprintf("steps-%d-%d", round, i))
			for s := range steps {
				// Each replica's clock moves forward; replicas' clocks
				// are independent, as on separate devices.
				clocks[i] += rapid.IntRange(0, 15).Draw(t, "tick")
				if forgeries && rapid.IntRange(0, 2).Draw(t, "forge") == 0 {
					randomForgery(t, doc, other, at(clocks[i]))
					continue
				}
				var twin *automerge.Doc
				if forgeries {
					twin = clean[i]
				}
				randomOperation(t, doc, twin, fmt.Sprintf("r%d-%d-%d", i, round, s), at(clocks[i]), !forgeries)
			}
		}
		// Between rounds some replicas meet, so later operations build
		// on merged states.
		if round == 0 && n > 2 {
			a := rapid.IntRange(0, n-1).Draw(t, "meet-a")
			b := rapid.IntRange(0, n-1).Draw(t, "meet-b")
			if a != b {
				merge(t, replicas[a], replicas[b])
				if forgeries {
					merge(t, clean[a], clean[b])
				}
			}
		}
	}
	return replicas, clean
}

// baseCouncil is the common ancestor of the replicas: four members, open
// proposals, a mandate that becomes active at minute 20 and one decided
// once everyone voted, a need, an offer and minutes.
func baseCouncil(t *rapid.T, rule crdt.Rule) *automerge.Doc {
	doc := newCouncil(t, rule, "m0", "m1", "m2", "m3")
	joinFed(t, doc, "m0")
	must1[string](t)(crdt.Propose(doc, as(doc, "m0"), crdt.ProposalSpec{ID: "g-open", Kind: crdt.ProposalGeneral, Title: "Open", Body: "body"}, at(1)))
	must1[string](t)(crdt.Propose(doc, as(doc, "m1"), crdt.ProposalSpec{ID: "g-close", Kind: crdt.ProposalGeneral, Title: "Closing", ClosesAt: at(60)}, at(1)))
	_, _, err := crdt.ProposeMandate(doc, as(doc, "m0"), crdt.ProposalSpec{ID: "pm-a", Title: "Send m1", ClosesAt: at(20)},
		crdt.MandateSpec{ID: "ma", Task: "t", Body: federationID, Delegate: "m1"}, at(1))
	must(t, err)
	_, _, err = crdt.ProposeMandate(doc, as(doc, "m3"), crdt.ProposalSpec{ID: "pm-b", Title: "Send m2"},
		crdt.MandateSpec{ID: "mb", Task: "t", Body: federationID, Delegate: "m2"}, at(1))
	must(t, err)
	for _, m := range []string{"m0", "m1", "m2", "m3"} {
		must(t, crdt.CastVote(doc, as(doc, m), "pm-a", crdt.Yes, at(2)))
	}
	must1[string](t)(crdt.PostNeed(doc, as(doc, "m2"), crdt.ProduceSpec{ID: "n0", Item: "hay", Quantity: 20, Unit: "kg"}, at(3)))
	must1[string](t)(crdt.PostOffer(doc, as(doc, "m3"), crdt.ProduceSpec{ID: "o0", Item: "hay", Quantity: 10, Unit: "kg"}, at(3)))
	must1[string](t)(crdt.StartMinutes(doc, as(doc, "m0"), crdt.MinutesSpec{ID: "mt0", Title: "Assembly", Notes: "notes"}, at(4)))
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
// New ids start with prefix, unique per replica and step. If twin is not
// nil the same operation is applied to it, with the same result. texts
// allows edits of collaborative texts.
func randomOperation(t *rapid.T, doc, twin *automerge.Doc, prefix string, now time.Time, texts bool) {
	v, _ := readAny(doc, now)
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

	// The signer: the member's own first key, or sometimes another key
	// of theirs (added by add-key, possibly retired).
	signer := func(member string) crdt.Signer {
		s := as(doc, member)
		if m, ok := v.Member(member); ok && len(m.Keys) > 1 && rapid.Bool().Draw(t, "other key") {
			k := rapid.SampledFrom(m.Keys).Draw(t, "key")
			if seed, ok := keySeeds.Load(k.Key); ok {
				s.Key = testKey(seed.(string))
			}
		}
		return s
	}
	var do func(d *automerge.Doc) error
	foreign, text := false, false
	op := rapid.IntRange(0, 21).Draw(t, "op")
	s := signer(by)
	switch op {
	case 0:
		spec := crdt.MemberSpec{ID: prefix, Name: "Member " + prefix, Role: crdt.RoleWorker, Key: pub(prefix)}
		do = func(d *automerge.Doc) error { _, err := crdt.Join(d, s, spec, now); return err }
	case 1:
		do = func(d *automerge.Doc) error { return crdt.Leave(d, s, now) }
	case 2:
		spec := crdt.ProposalSpec{ID: prefix, Kind: crdt.ProposalGeneral, Title: "General " + prefix, Body: "text", ClosesAt: closes()}
		do = func(d *automerge.Doc) error { _, err := crdt.Propose(d, s, spec, now); return err }
	case 3:
		p := crdt.ProposalSpec{ID: prefix, Title: "Mandate " + prefix, ClosesAt: closes()}
		m := crdt.MandateSpec{ID: "m-" + prefix, Task: "task", Body: federationID, Delegate: pick("delegate", members)}
		do = func(d *automerge.Doc) error { _, _, err := crdt.ProposeMandate(d, s, p, m, now); return err }
	case 4:
		spec := crdt.ProposalSpec{ID: prefix, Kind: crdt.ProposalRecall, Title: "Recall", Subject: pick("mandate", mandates), ClosesAt: closes()}
		do = func(d *automerge.Doc) error { _, err := crdt.Propose(d, s, spec, now); return err }
	case 5, 6:
		choice := rapid.SampledFrom([]crdt.Choice{crdt.Yes, crdt.No, crdt.Abstain}).Draw(t, "choice")
		p := pick("proposal", proposals)
		do = func(d *automerge.Doc) error { return crdt.CastVote(d, s, p, choice, now) }
	case 7:
		p := pick("proposal", proposals)
		do = func(d *automerge.Doc) error { return crdt.WithdrawProposal(d, s, p, now) }
	case 8, 9, 10:
		m := pick("mandate", mandates)
		if mv, ok := v.Mandate(m); ok && rapid.Bool().Draw(t, "as delegate") {
			by = mv.Delegate
			s = signer(by)
		}
		do = func(d *automerge.Doc) error {
			switch op {
			case 8:
				return crdt.Resign(d, s, m, now)
			case 9:
				return crdt.Complete(d, s, m, now)
			}
			return crdt.SubmitReport(d, s, m, "report "+prefix, now)
		}
	case 11:
		spec := crdt.ProduceSpec{ID: prefix, Item: "hay", Quantity: float64(rapid.IntRange(-1, 50).Draw(t, "quantity")), Unit: rapid.SampledFrom([]string{"kg", "bales"}).Draw(t, "unit")}
		offer := rapid.Bool().Draw(t, "offer")
		do = func(d *automerge.Doc) error {
			if offer {
				_, err := crdt.PostOffer(d, s, spec, now)
				return err
			}
			_, err := crdt.PostNeed(d, s, spec, now)
			return err
		}
	case 12:
		offer := rapid.Bool().Draw(t, "withdraw offer")
		o, n := pick("offer", offers), pick("need", needs)
		do = func(d *automerge.Doc) error {
			if offer {
				return crdt.WithdrawOffer(d, s, o, now)
			}
			return crdt.WithdrawNeed(d, s, n, now)
		}
	case 13:
		spec := crdt.PledgeSpec{ID: prefix, Need: pick("need", needs), Quantity: float64(rapid.IntRange(-1, 30).Draw(t, "quantity")) / 2}
		if rapid.Bool().Draw(t, "from offer") {
			spec.Offer = pick("offer", offers)
		}
		if rapid.Bool().Draw(t, "other council") {
			// Not resolvable here: recorded, and reported as unverifiable.
			spec.Council, by, foreign = "3kHillside", "far-"+prefix, true
			s = as(doc, by)
		}
		do = func(d *automerge.Doc) error { _, err := crdt.MakePledge(d, s, spec, now); return err }
	case 14:
		if !texts {
			return
		}
		p := pick("proposal", proposals)
		pv, _ := v.Proposal(p)
		e := edit(pv.Body)
		text = true
		do = func(d *automerge.Doc) error { return crdt.EditProposal(d, s, p, e, now) }
	case 15:
		if len(minutes) == 0 || rapid.Bool().Draw(t, "new minutes") {
			spec := crdt.MinutesSpec{ID: prefix, Title: "Meeting", Notes: "notes"}
			do = func(d *automerge.Doc) error { _, err := crdt.StartMinutes(d, s, spec, now); return err }
			break
		}
		if !texts {
			return
		}
		m := pick("minutes", minutes)
		var notes string
		for _, mv := range v.Minutes {
			if mv.ID == m {
				notes = mv.Notes
			}
		}
		e := edit(notes)
		text = true
		do = func(d *automerge.Doc) error { return crdt.EditMinutes(d, s, m, e, now) }
	case 16:
		f := rapid.SampledFrom([]string{"5mmValley", "7qRegion"}).Draw(t, "federation")
		do = func(d *automerge.Doc) error { return crdt.JoinFederation(d, s, f, now) }
	case 17:
		f := pick("federation", links)
		do = func(d *automerge.Doc) error { return crdt.LeaveFederation(d, s, f, now) }
	case 18:
		seed := by + "-" + prefix
		keySeeds.Store(pub(seed), seed)
		custodial := rapid.Bool().Draw(t, "custodial")
		do = func(d *automerge.Doc) error { return crdt.AddKey(d, s, pub(seed), custodial, now) }
	case 19:
		key := pub(by)
		if m, ok := v.Member(by); ok && len(m.Keys) > 0 {
			key = rapid.SampledFrom(m.Keys).Draw(t, "retire").Key
		}
		do = func(d *automerge.Doc) error { return crdt.RetireKey(d, s, key, now) }
	case 20:
		r := crdt.Rule{Quorum: rapid.SampledFrom([]float64{0, 0.5, 1}).Draw(t, "new quorum"), Majority: rapid.SampledFrom([]float64{0, 0.5}).Draw(t, "new majority")}
		spec := crdt.ProposalSpec{ID: prefix, Kind: crdt.ProposalRule, Title: "Rule", Rule: &r, ClosesAt: closes()}
		do = func(d *automerge.Doc) error { _, err := crdt.Propose(d, s, spec, now); return err }
	case 21:
		spec := crdt.ProposalSpec{ID: prefix, Kind: crdt.ProposalExpel, Title: "Expel", Subject: pick("member", members), ClosesAt: closes()}
		do = func(d *automerge.Doc) error { _, err := crdt.Propose(d, s, spec, now); return err }
	}

	heads := doc.Heads()
	changes := len(must1[[]crdt.HistoryEntry](t)(crdt.History(doc)))
	err := do(doc)
	if twin != nil {
		if err2 := do(twin); crdt.ErrorCode(err2) != crdt.ErrorCode(err) {
			t.Fatalf("op %d: %v on the replica, %v on its clean twin", op, err, err2)
		}
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
	if text {
		if _, err := crdt.ParseRecord(last.Message); err != crdt.ErrNoRecord {
			t.Fatalf("op %d: a text edit carries a record: %v", op, err)
		}
		return
	}
	rec, err := crdt.ParseRecord(last.Message)
	if err != nil || rec.By != by || rec.Key != s.PublicKey() || !rec.At.Equal(now) {
		t.Fatalf("op %d: record %+v, %v", op, rec, err)
	}
	// What the operation accepted counts, as the replica sees it.
	_, _, facts := logOf(doc).Derive(councilOf(doc), now, nil)
	for _, f := range facts {
		if f.Hash == last.Hash && f.Counted == foreign {
			_, problems := readAny(doc, now)
			t.Fatalf("op %d accepted, but its record counted=%v: %+v\nproblems: %v", op, f.Counted, f, problems)
		}
	}
}

// keySeeds maps added public keys to the seed names of their test keys.
var keySeeds sync.Map

// randomForgery writes one random forgery into doc at now: what a member
// (or a relay) can write without the keys of those it impersonates.
// other is another council with the same members and keys, whose records
// are replayed here.
func randomForgery(t *rapid.T, doc, other *automerge.Doc, now time.Time) {
	v, _ := readAny(doc, now)
	var members, proposals []string
	for _, m := range v.Members {
		members = append(members, m.ID)
	}
	for _, p := range v.Proposals {
		proposals = append(proposals, p.ID)
	}
	member := rapid.SampledFrom(append(members, "stranger")).Draw(t, "forger")
	victim := rapid.SampledFrom(append(members, "stranger")).Draw(t, "victim")
	prop := rapid.SampledFrom(append(proposals, "p-none")).Draw(t, "forged proposal")
	voteState := setAt(map[string]any{"choice": "yes", "at": now}, "proposals", prop, "votes", victim)
	vote := record{council: councilOf(doc), op: crdt.OpVote, by: victim, at: now, key: testKey(victim), args: map[string]string{"proposal": prop, "choice": "yes"}}
	forged, copied := true, false
	switch kind := rapid.IntRange(0, 8).Draw(t, "forgery"); kind {
	case 0: // unsigned state write claiming to be the victim's vote
		commitRecord(t, doc, "veche:vote by="+victim+" proposal="+prop, now, voteState)
		forged = false // no record: only the state is forged
	case 1: // a record in the victim's name signed with the forger's key
		vote.key = testKey(member)
		if member == victim {
			vote.key = testKey("stranger")
		}
		commitRecord(t, doc, vote.message(), now, voteState)
	case 2: // a garbled record: one character of the signature changed
		msg := []byte(vote.message())
		i := len(msg) - 1 - rapid.IntRange(0, 20).Draw(t, "garble at")
		msg[i] = "AB"[rapid.IntRange(0, 1).Draw(t, "garble")%2]
		if msg[i] == vote.message()[i] {
			msg[i] = 'C'
		}
		commitRecord(t, doc, string(msg), now, voteState)
	case 3: // deletion of state: a member, a proposal, a vote, a mandate, a link, everything
		paths := [][]any{{"members", victim}, {"proposals", prop}, {"proposals", prop, "votes", victim}, {"mandates"}, {"federation", "memberOf"}, {"council", "rule"}}
		p := rapid.SampledFrom(paths).Draw(t, "delete")
		_ = doc.Path(p...).Delete()
		commitRecord(t, doc, "raw", now, nil)
		forged = false
	case 4: // state overwritten: quorum 0, a departure, a forged link
		switch rapid.IntRange(0, 2).Draw(t, "overwrite") {
		case 0:
			commitRecord(t, doc, "raw", now, setAt(map[string]any{"quorum": 0.0, "majority": 0.0}, "council", "rule"))
		case 1:
			commitRecord(t, doc, "raw", now, setAt(now, "members", victim, "leftAt"))
		default:
			commitRecord(t, doc, "raw", now, setAt(map[string]any{"since": now}, "federation", "memberOf", "9zStolen"))
		}
		forged = false
	case 5: // a record of another council, replayed here with its state
		changes := must1[[]*automerge.Change](t)(other.Changes())
		c := rapid.SampledFrom(changes).Draw(t, "replayed")
		commitRecord(t, doc, c.Message(), now, voteState)
	case 6: // a valid record re-dated: its time changed, its signature kept
		rec := lastRecord(t, doc)
		if rec == nil {
			return
		}
		shift := time.Duration(rapid.IntRange(-120, 120).Draw(t, "shift")) * time.Minute
		if shift == 0 {
			shift = time.Minute
		}
		payload := strings.Replace(string(rec.Payload), fmt.Sprintf(`"at":%d`, rec.At.UnixMilli()), fmt.Sprintf(`"at":%d`, rec.At.Add(shift).UnixMilli()), 1)
		line := "veche-fact/1 " + b64(payload) + " " + b64(string(rec.Sig))
		commitRecord(t, doc, "veche:"+string(rec.Op)+" by="+rec.By+"\n"+line, now, nil)
	case 7: // a copy of a valid record in a new change (a replay): counts once
		rec := lastRecord(t, doc)
		if rec == nil {
			return
		}
		commitRecord(t, doc, rec.Message(), now, nil)
		copied = true
	case 8: // a stranger, with a key of their own, admits themself
		r := record{council: councilOf(doc), op: crdt.OpJoin, by: "stranger", at: now, key: testKey("stranger"),
			args: map[string]string{"member": "stranger", "name": "S", "role": "worker", "key": pub("stranger")}}
		commitRecord(t, doc, r.message(), now, setAt(map[string]any{"name": "S", "role": "worker", "joinedAt": now}, "members", "stranger"))
	}
	if forged {
		h := must1[[]crdt.HistoryEntry](t)(crdt.History(doc))
		hash := h[len(h)-1].Hash
		forgedChanges[hash] = true
		copiedChanges[hash] = copied
	}
}

// lastRecord returns a random valid record of doc's history (nil if none).
func lastRecord(t *rapid.T, doc *automerge.Doc) *crdt.Record {
	var recs []*crdt.Record
	for _, c := range must1[[]*automerge.Change](t)(doc.Changes()) {
		if r, err := crdt.ParseRecord(c.Message()); err == nil {
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	return rapid.SampledFrom(recs).Draw(t, "record")
}

// b64 is unpadded base64url.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

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
	// Expel and rule proposals take effect as the log is replayed; what
	// took effect must be what the derived outcomes say. A passed expel
	// proposal ends its subject's membership at its closing moment (unless
	// they had left before); the rule in force is the last passed rule
	// proposal's (by closing moment), or the founding rule.
	var lastRule *crdt.Proposal
	for i, p := range v.Proposals {
		if p.Outcome != crdt.OutcomePassed {
			continue
		}
		switch p.Kind {
		case crdt.ProposalExpel:
			m, _ := v.Member(p.Subject)
			if m.LeftAt == nil || m.LeftAt.After(*p.ClosedAt) {
				t.Fatalf("expel %s passed at %v, member %+v", p.ID, p.ClosedAt, m)
			}
		case crdt.ProposalRule:
			if lastRule == nil || !p.ClosedAt.Before(*lastRule.ClosedAt) {
				lastRule = &v.Proposals[i]
			}
		}
	}
	for _, m := range v.Members {
		if m.ExpelledBy == "" {
			continue
		}
		p, ok := v.Proposal(m.ExpelledBy)
		if !ok || p.Outcome != crdt.OutcomePassed || p.Subject != m.ID || !m.LeftAt.Equal(*p.ClosedAt) {
			t.Fatalf("member %+v expelled by %+v", m, p)
		}
	}
	if lastRule != nil && v.Council.Rule != *lastRule.NewRule {
		t.Fatalf("rule %+v, but %s passed at %v with %+v", v.Council.Rule, lastRule.ID, lastRule.ClosedAt, *lastRule.NewRule)
	}
}
