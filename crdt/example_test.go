package crdt_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

// A council decides by vote; the outcome is derived when the document is
// read.
func Example() {
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	min := func(n int) time.Time { return start.Add(time.Duration(n) * time.Minute) }

	doc, err := crdt.NewCouncil(crdt.CouncilSpec{
		Name: "Riverside growers", Kind: crdt.KindFarmers, Region: "Lower valley",
		Rule: crdt.Rule{Quorum: 0.5, Majority: 0.5},
	}, start)
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"ana", "ben", "cai"} {
		if _, err := crdt.Join(doc, crdt.MemberSpec{ID: name, Name: name, Role: crdt.RoleSmallFarmer}, start); err != nil {
			panic(err)
		}
	}
	id, err := crdt.Propose(doc, "ana", crdt.ProposalSpec{
		Kind: crdt.ProposalGeneral, Title: "Share the seed store", ClosesAt: min(60),
	}, min(1))
	if err != nil {
		panic(err)
	}
	_ = crdt.CastVote(doc, "ana", id, crdt.Yes, min(2))
	_ = crdt.CastVote(doc, "ben", id, crdt.Yes, min(3))
	_ = crdt.CastVote(doc, "cai", id, crdt.No, min(4))

	for _, now := range []time.Time{min(30), min(60)} {
		view, _ := crdt.Read(doc, now)
		p, _ := view.Proposal(id)
		fmt.Printf("%s: %s (%d yes, %d no of %d)\n", now.Format("15:04"), p.Outcome, p.Tally.Yes, p.Tally.No, p.Tally.Electorate)
	}

	err = crdt.CastVote(doc, "cai", id, crdt.Yes, min(61))
	fmt.Println(errors.Is(err, crdt.ErrProposalClosed))
	// Output:
	// 10:30: open (2 yes, 1 no of 3)
	// 11:00: passed (2 yes, 1 no of 3)
	// true
}

// A delegate is sent with a mandate, and recalled by the council.
func ExampleProposeMandate() {
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	min := func(n int) time.Time { return start.Add(time.Duration(n) * time.Minute) }
	doc, _ := crdt.NewCouncil(crdt.CouncilSpec{Name: "Mill workers", Kind: crdt.KindWorkers, Rule: crdt.DefaultRule}, start)
	for _, name := range []string{"ana", "ben", "cai"} {
		_, _ = crdt.Join(doc, crdt.MemberSpec{ID: name, Name: name, Role: crdt.RoleWorker}, start)
	}

	pid, mid, err := crdt.ProposeMandate(doc, "ana",
		crdt.ProposalSpec{Title: "Send Ben to the district federation", ClosesAt: min(60)},
		crdt.MandateSpec{Task: "Negotiate the grain price", Body: "2sXhDistrictFederation", Delegate: "ben"}, min(1))
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"ana", "ben", "cai"} {
		_ = crdt.CastVote(doc, name, pid, crdt.Yes, min(2))
	}
	_ = crdt.SubmitReport(doc, "ben", mid, "Price agreed at 210 per tonne.", min(70))

	rid, _ := crdt.Propose(doc, "cai", crdt.ProposalSpec{
		Kind: crdt.ProposalRecall, Title: "Recall Ben", Subject: mid, ClosesAt: min(120),
	}, min(80))
	_ = crdt.CastVote(doc, "ana", rid, crdt.Yes, min(81))
	_ = crdt.CastVote(doc, "cai", rid, crdt.Yes, min(82))

	for _, now := range []time.Time{min(30), min(90), min(120)} {
		view, _ := crdt.Read(doc, now)
		m, _ := view.Mandate(mid)
		fmt.Printf("%s: %s\n", now.Format("15:04"), m.Status)
	}
	view, _ := crdt.Read(doc, min(120))
	m, _ := view.Mandate(mid)
	fmt.Printf("recalled by the recall: %v, at %s; reports: %q\n", m.RecalledBy == rid, m.EndedAt.Format("15:04"), m.Reports[0].Text)
	// Output:
	// 10:30: pending
	// 11:30: active
	// 12:00: recalled
	// recalled by the recall: true, at 12:00; reports: "Price agreed at 210 per tonne."
}

// Needs are covered by pledges, also from other councils.
func ExampleMakePledge() {
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	doc, _ := crdt.NewCouncil(crdt.CouncilSpec{Name: "Town consumers", Kind: crdt.KindConsumers, Rule: crdt.DefaultRule}, start)
	_, _ = crdt.Join(doc, crdt.MemberSpec{ID: "ana", Name: "Ana", Role: crdt.RoleConsumer}, start)

	need, _ := crdt.PostNeed(doc, "ana", crdt.ProduceSpec{Item: "potatoes", Quantity: 100, Unit: "kg"}, start)
	_, _ = crdt.MakePledge(doc, "ana", crdt.PledgeSpec{Need: need, Quantity: 30}, start.Add(time.Hour))
	_, _ = crdt.MakePledge(doc, "far-7", crdt.PledgeSpec{Need: need, Council: "3kRiverside", Quantity: 50}, start.Add(time.Hour))
	_, err := crdt.MakePledge(doc, "ana", crdt.PledgeSpec{Need: need, Quantity: 1, Unit: "t"}, start.Add(time.Hour))
	fmt.Println(crdt.ErrorCode(err))

	view, _ := crdt.Read(doc, start.Add(2*time.Hour))
	n, _ := view.Need(need)
	fmt.Printf("pledged %v of %v %s, remaining %v, met %v\n", n.Pledged, n.Quantity, n.Unit, n.Remaining, n.Met)
	// Output:
	// invalid
	// pledged 80 of 100 kg, remaining 20, met false
}

// Read accepts documents written by other clients and reports what it
// could not use.
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

	view, problems := crdt.Read(doc, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	fmt.Println(view.Council.Name, view.Council.Rule.Quorum, view.Members[0].JoinedAt.Format(time.RFC3339))
	for _, p := range problems {
		fmt.Println(p)
	}
	// Output:
	// Hill orchards 1 2024-05-01T10:00:00Z
	// /exchange: missing (want a map)
	// /mandates: missing (want a map)
	// /proposals: missing (want a map)
	// /schema: unknown schema "veche/council/2"; reading as veche/council/1
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

func ExampleHistory() {
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	doc, _ := crdt.NewCouncil(crdt.CouncilSpec{Name: "Growers", Kind: crdt.KindFarmers, Rule: crdt.DefaultRule}, start)
	_, _ = crdt.Join(doc, crdt.MemberSpec{ID: "ana", Name: "Ana", Role: crdt.RoleSmallFarmer}, start.Add(time.Minute))
	_ = crdt.Leave(doc, "ana", start.Add(time.Hour))

	history, _ := crdt.History(doc)
	for _, e := range history {
		fmt.Printf("%s %-22s op=%s by=%q\n", e.Time.Format("15:04"), e.Message, e.Info.Op, e.Info.By)
	}
	// Output:
	// 10:00 veche:create-council   op=create-council by=""
	// 10:01 veche:join by=ana      op=join by="ana"
	// 11:00 veche:leave by=ana     op=leave by="ana"
}

func ExampleTextEditBetween() {
	edit := crdt.TextEditBetween("Plant barley on the north field.", "Plant rye on the north field.")
	fmt.Printf("%+v\n", edit)
	// Output:
	// {Pos:6 Delete:6 Insert:rye}
}
