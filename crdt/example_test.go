package crdt_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

// A council decides by vote; every fact is signed by the member who makes
// it, and the outcome is derived from the signed facts when the document
// is read.
func Example() {
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	min := func(n int) time.Time { return start.Add(time.Duration(n) * time.Minute) }

	// Each member holds a key on their own device.
	ana, ben, cai := crdt.NewSigner("ana", false), crdt.NewSigner("ben", false), crdt.NewSigner("cai", false)

	// Ana founds the council; its id is derived from her signed founding
	// record, and the document is stored under it.
	doc, council, err := crdt.NewCouncil(crdt.CouncilSpec{
		Name: "Riverside growers", Kind: crdt.KindFarmers, Region: "Lower valley",
		Rule:    crdt.Rule{Quorum: 0.5, Majority: 0.5},
		Founder: crdt.MemberSpec{Name: "Ana", Role: crdt.RoleSmallFarmer},
	}, ana, start)
	if err != nil {
		panic(err)
	}
	ana.Council, ben.Council, cai.Council = council, council, council

	// Ana admits Ben and Cai: her signature vouches for their keys.
	for _, s := range []crdt.Signer{ben, cai} {
		if _, err := crdt.Join(doc, ana, crdt.MemberSpec{ID: s.Member, Name: s.Member, Role: crdt.RoleSmallFarmer, Key: s.PublicKey()}, start); err != nil {
			panic(err)
		}
	}
	id, err := crdt.Propose(doc, ana, crdt.ProposalSpec{
		Kind: crdt.ProposalGeneral, Title: "Share the seed store", ClosesAt: min(60),
	}, min(1))
	if err != nil {
		panic(err)
	}
	_ = crdt.CastVote(doc, ana, id, crdt.Yes, min(2))
	_ = crdt.CastVote(doc, ben, id, crdt.Yes, min(3))
	_ = crdt.CastVote(doc, cai, id, crdt.No, min(4))

	for _, now := range []time.Time{min(30), min(60)} {
		view, _ := crdt.Read(doc, council, now)
		p, _ := view.Proposal(id)
		fmt.Printf("%s: %s (%d yes, %d no of %d)\n", now.Format("15:04"), p.Outcome, p.Tally.Yes, p.Tally.No, p.Tally.Electorate)
	}

	err = crdt.CastVote(doc, cai, id, crdt.Yes, min(61))
	fmt.Println(errors.Is(err, crdt.ErrProposalClosed))

	// Ben signs a vote in Cai's name: his key does not count for Cai.
	_ = crdt.CastVote(doc, crdt.Signer{Council: council, Member: "cai", Key: ben.Key}, id, crdt.Yes, min(5))
	fmt.Println(crdt.ErrorCode(crdt.CastVote(doc, crdt.Signer{Council: council, Member: "cai", Key: ben.Key}, id, crdt.Yes, min(5))))
	// Output:
	// 10:30: open (2 yes, 1 no of 3)
	// 11:00: passed (2 yes, 1 no of 3)
	// true
	// key-not-counted
}

// Writing the document state directly, as any member's stock client can,
// changes nothing that counts: the forged state is reported as problems.
func Example_forgery() {
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	ana, ben := crdt.NewSigner("ana", false), crdt.NewSigner("ben", false)
	doc, council, _ := crdt.NewCouncil(crdt.CouncilSpec{
		Name: "Mill workers", Kind: crdt.KindWorkers, Rule: crdt.DefaultRule,
		Founder: crdt.MemberSpec{Name: "Ana", Role: crdt.RoleWorker},
	}, ana, start)
	ana.Council, ben.Council = council, council
	_, _ = crdt.Join(doc, ana, crdt.MemberSpec{ID: "ben", Name: "Ben", Role: crdt.RoleWorker, Key: ben.PublicKey()}, start)
	id, _ := crdt.Propose(doc, ben, crdt.ProposalSpec{ID: "p1", Kind: crdt.ProposalGeneral, Title: "Raise the wage"}, start.Add(time.Minute))
	_ = crdt.CastVote(doc, ben, id, crdt.Yes, start.Add(2*time.Minute))

	// Ben writes a yes vote for Ana and a departure for her, unsigned.
	_ = doc.Path("proposals", id, "votes", "ana").Set(map[string]any{"choice": "yes", "at": start.Add(2 * time.Minute)})
	_ = doc.Path("members", "ana", "leftAt").Set(start.Add(3 * time.Minute))
	_, _ = doc.Commit("veche:vote by=ana proposal=p1")

	view, problems := crdt.Read(doc, council, start.Add(time.Hour))
	p, _ := view.Proposal(id)
	a, _ := view.Member("ana")
	fmt.Println(p.Outcome, p.Tally.Yes, a.Active)
	for _, pr := range problems {
		fmt.Println(pr.Path)
	}
	// Output:
	// open 1 true
	// /members/ana/leftAt
	// /proposals/p1/votes/ana
}

// A delegate is sent with a mandate, and recalled by the council.
func ExampleProposeMandate() {
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	min := func(n int) time.Time { return start.Add(time.Duration(n) * time.Minute) }
	ana, ben, cai := crdt.NewSigner("ana", false), crdt.NewSigner("ben", false), crdt.NewSigner("cai", false)
	doc, council, _ := crdt.NewCouncil(crdt.CouncilSpec{
		Name: "Mill workers", Kind: crdt.KindWorkers, Rule: crdt.DefaultRule,
		Founder: crdt.MemberSpec{Name: "Ana", Role: crdt.RoleWorker},
	}, ana, start)
	ana.Council, ben.Council, cai.Council = council, council, council
	for _, s := range []crdt.Signer{ben, cai} {
		_, _ = crdt.Join(doc, ana, crdt.MemberSpec{ID: s.Member, Name: s.Member, Role: crdt.RoleWorker, Key: s.PublicKey()}, start)
	}
	// A mandate's body must be a federation the council belongs to.
	const federation = "2sXhDistrictFederation"
	_ = crdt.JoinFederation(doc, ana, federation, start)

	pid, mid, err := crdt.ProposeMandate(doc, ana,
		crdt.ProposalSpec{Title: "Send Ben to the district federation", ClosesAt: min(60)},
		crdt.MandateSpec{Task: "Negotiate the grain price", Body: federation, Delegate: "ben"}, min(1))
	if err != nil {
		panic(err)
	}
	for _, s := range []crdt.Signer{ana, ben, cai} {
		_ = crdt.CastVote(doc, s, pid, crdt.Yes, min(2))
	}
	_ = crdt.SubmitReport(doc, ben, mid, "Price agreed at 210 per tonne.", min(70))

	rid, _ := crdt.Propose(doc, cai, crdt.ProposalSpec{
		Kind: crdt.ProposalRecall, Title: "Recall Ben", Subject: mid, ClosesAt: min(120),
	}, min(80))
	_ = crdt.CastVote(doc, ana, rid, crdt.Yes, min(81))
	_ = crdt.CastVote(doc, cai, rid, crdt.Yes, min(82))

	for _, now := range []time.Time{min(30), min(90), min(120)} {
		view, _ := crdt.Read(doc, council, now)
		m, _ := view.Mandate(mid)
		fmt.Printf("%s: %s\n", now.Format("15:04"), m.Status)
	}
	view, _ := crdt.Read(doc, council, min(120))
	m, _ := view.Mandate(mid)
	fmt.Printf("recalled by the recall: %v, at %s; reports: %q\n", m.RecalledBy == rid, m.EndedAt.Format("15:04"), m.Reports[0].Text)
	// Output:
	// 10:30: pending
	// 11:30: active
	// 12:00: recalled
	// recalled by the recall: true, at 12:00; reports: "Price agreed at 210 per tonne."
}

// Needs are covered by pledges, also from other councils: a pledge signed
// by a member of another council counts where that council's verified
// view is at hand (ReadLog with Councils).
func ExampleMakePledge() {
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	ana, far := crdt.NewSigner("ana", false), crdt.NewSigner("far-7", false)
	doc, town, _ := crdt.NewCouncil(crdt.CouncilSpec{Name: "Town consumers", Kind: crdt.KindConsumers, Rule: crdt.DefaultRule,
		Founder: crdt.MemberSpec{Name: "Ana", Role: crdt.RoleConsumer}}, ana, start)
	farm, hill, _ := crdt.NewCouncil(crdt.CouncilSpec{Name: "Hill farm", Kind: crdt.KindFarmers, Rule: crdt.DefaultRule,
		Founder: crdt.MemberSpec{Name: "Far", Role: crdt.RoleSmallFarmer}}, far, start)
	ana.Council, far.Council = town, town // far-7 writes the town's document

	need, _ := crdt.PostNeed(doc, ana, crdt.ProduceSpec{Item: "potatoes", Quantity: 100, Unit: "kg"}, start)
	_, _ = crdt.MakePledge(doc, ana, crdt.PledgeSpec{Need: need, Quantity: 30}, start.Add(time.Hour))
	_, _ = crdt.MakePledge(doc, far, crdt.PledgeSpec{Need: need, Council: hill, Quantity: 50}, start.Add(time.Hour))
	_, err := crdt.MakePledge(doc, ana, crdt.PledgeSpec{Need: need, Quantity: 1, Unit: "t"}, start.Add(time.Hour))
	fmt.Println(crdt.ErrorCode(err))

	now := start.Add(2 * time.Hour)
	view, _ := crdt.Read(doc, town, now) // the hill farm's log is not at hand
	n, _ := view.Need(need)
	fmt.Printf("pledged %v of %v %s\n", n.Pledged, n.Quantity, n.Unit)

	hillView, _ := crdt.Read(farm, hill, now)
	others := func(id string) (crdt.View, bool) { return hillView, id == hill }
	log := crdt.NewLog()
	_ = log.Update(doc)
	view, _ = crdt.ReadLog(doc, log, town, now, others)
	n, _ = view.Need(need)
	fmt.Printf("pledged %v of %v %s, remaining %v, met %v\n", n.Pledged, n.Quantity, n.Unit, n.Remaining, n.Met)
	// Output:
	// invalid
	// pledged 30 of 100 kg
	// pledged 80 of 100 kg, remaining 20, met false
}

// Read accepts documents written by other clients and reports what it
// could not use. A document without a signed founding record holds no
// council: whatever its state says counts for nothing.
func ExampleRead() {
	doc := automerge.New()
	_ = doc.Path("schema").Set("veche/council/2")
	_ = doc.Path("council").Set(map[string]any{
		"name":      automerge.NewText("Hill orchards"), // JavaScript writes strings as Text
		"kind":      "farmers",
		"createdAt": time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
		"rule":      map[string]any{"quorum": int64(1), "majority": 0.5},
	})
	_ = doc.Path("members", "ana").Set(map[string]any{
		"name": "Ana", "role": "small-farmer",
		"joinedAt": int64(1714557600000), // a millisecond number instead of a timestamp
	})
	_, _ = doc.Commit("written elsewhere")

	view, problems := crdt.Read(doc, "2sXhHillOrchards", time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	fmt.Printf("id %q, %d members\n", view.ID, len(view.Members))
	for _, p := range problems {
		fmt.Println(p)
	}
	// Output:
	// id "", 0 members
	// /exchange: missing (want a map)
	// /log: no founding record for this council: nothing counts
	// /mandates: missing (want a map)
	// /members/ana: in the document but not in the signed log; not counted
	// /proposals: missing (want a map)
}

func ExampleParseChangeMessage() {
	info, ok := crdt.ParseChangeMessage("veche:vote by=3f9a0c1d2e4b5a69 proposal=51ab0c9d8e7f6a5b")
	fmt.Println(ok, info.Op, info.By, info.Args["proposal"])

	_, ok = crdt.ParseChangeMessage("some other tool's message")
	fmt.Println(ok)
	// Output:
	// true vote 3f9a0c1d2e4b5a69 51ab0c9d8e7f6a5b
	// false
}

// Every change's message carries a summary line and the signed record;
// ParseRecord checks the record's signature.
func ExampleHistory() {
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	founder, ana := crdt.NewSigner("fia", false), crdt.NewSigner("ana", false)
	doc, council, _ := crdt.NewCouncil(crdt.CouncilSpec{Name: "Growers", Kind: crdt.KindFarmers, Rule: crdt.DefaultRule,
		Founder: crdt.MemberSpec{Name: "Fia", Role: crdt.RoleSmallFarmer}}, founder, start)
	founder.Council, ana.Council = council, council
	_, _ = crdt.Join(doc, founder, crdt.MemberSpec{ID: "ana", Name: "Ana", Role: crdt.RoleSmallFarmer, Key: ana.PublicKey()}, start.Add(time.Minute))
	_ = crdt.Leave(doc, ana, start.Add(time.Hour))

	history, _ := crdt.History(doc)
	for _, e := range history {
		summary, _, _ := strings.Cut(e.Message, "\n")
		rec, err := crdt.ParseRecord(e.Message)
		fmt.Printf("%s %-35s signed by %s: %v\n", e.Time.Format("15:04"), summary, rec.By, err == nil)
	}
	// Output:
	// 10:00 veche:create-council by=fia member=fia signed by fia: true
	// 10:01 veche:join by=fia member=ana        signed by fia: true
	// 11:00 veche:leave by=ana                  signed by ana: true
}

func ExampleTextEditBetween() {
	edit := crdt.TextEditBetween("Plant barley on the north field.", "Plant rye on the north field.")
	fmt.Printf("%+v\n", edit)
	// Output:
	// {Pos:6 Delete:6 Insert:rye}
}
