package crdt_test

import (
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

func TestProposeMandate(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	joinFed(t, doc, "cai")
	pid, mid, err := crdt.ProposeMandate(doc, as(doc, "ana"),
		crdt.ProposalSpec{Title: "Send Ben", Body: "To sell the rye.", ClosesAt: at(60)},
		crdt.MandateSpec{Task: "Sell the rye at the district market", Body: federationID, Delegate: "ben"}, at(5))
	must(t, err)
	v := read(t, doc, at(6))
	p, m := proposal(t, v, pid), mandate(t, v, mid)
	if p.Kind != crdt.ProposalMandate || p.Subject != mid || p.Body != "To sell the rye." {
		t.Errorf("proposal = %+v", p)
	}
	if m.Task != "Sell the rye at the district market" || m.Body != federationID || m.Delegate != "ben" || m.Proposal != pid ||
		!m.IssuedAt.Equal(at(5)) || m.Status != crdt.MandatePending || len(m.Reports) != 0 || m.ApprovedAt != nil || m.EndedAt != nil {
		t.Errorf("mandate = %+v", m)
	}
	h := must1[[]crdt.HistoryEntry](t)(crdt.History(doc))
	info := h[len(h)-1].Info
	if info.Op != crdt.OpProposeMandate || info.By != "ana" || info.Args["proposal"] != pid || info.Args["mandate"] != mid || info.Args["member"] != "ben" {
		t.Errorf("change = %+v", info)
	}
}

func TestProposeMandateRefuses(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	// Not a member of the federation yet: no mandate can send anyone there.
	refused(t, doc, crdt.ErrInvalid, func() error {
		_, _, err := crdt.ProposeMandate(doc, as(doc, "ana"), crdt.ProposalSpec{Title: "x"}, crdt.MandateSpec{Task: "t", Body: federationID, Delegate: "ben"}, at(1))
		return err
	})
	joinFed(t, doc, "ana")
	must(t, crdt.Leave(doc, as(doc, "cai"), at(1)))
	good := crdt.MandateSpec{Task: "t", Body: federationID, Delegate: "ben"}
	title := crdt.ProposalSpec{Title: "x"}
	try := func(p crdt.ProposalSpec, m crdt.MandateSpec) func() error {
		return func() error { _, _, err := crdt.ProposeMandate(doc, as(doc, "ana"), p, m, at(5)); return err }
	}
	refused(t, doc, crdt.ErrInvalid, try(crdt.ProposalSpec{Title: "x", Kind: crdt.ProposalGeneral}, good))
	refused(t, doc, crdt.ErrInvalid, try(crdt.ProposalSpec{Title: "x", Subject: "other"}, good))
	refused(t, doc, crdt.ErrInvalid, try(crdt.ProposalSpec{}, good))
	refused(t, doc, crdt.ErrInvalid, try(title, crdt.MandateSpec{Body: federationID, Delegate: "ben"}))
	refused(t, doc, crdt.ErrInvalid, try(title, crdt.MandateSpec{Task: "t", Body: "", Delegate: "ben"}))
	refused(t, doc, crdt.ErrInvalid, try(title, crdt.MandateSpec{Task: "t", Body: "a b", Delegate: "ben"}))
	refused(t, doc, crdt.ErrUnknownMember, try(title, crdt.MandateSpec{Task: "t", Body: federationID, Delegate: "zoe"}))
	refused(t, doc, crdt.ErrMemberLeft, try(title, crdt.MandateSpec{Task: "t", Body: federationID, Delegate: "cai"}))
	refused(t, doc, crdt.ErrMemberLeft, func() error { _, _, err := crdt.ProposeMandate(doc, as(doc, "cai"), title, good, at(5)); return err })
	_, _, err := crdt.ProposeMandate(doc, as(doc, "ana"), crdt.ProposalSpec{ID: "pm", Title: "x", Kind: crdt.ProposalMandate, Subject: "m"}, crdt.MandateSpec{ID: "m", Task: "t", Body: federationID, Delegate: "ben"}, at(5))
	must(t, err)
	refused(t, doc, crdt.ErrExists, try(title, crdt.MandateSpec{ID: "m", Task: "t", Body: federationID, Delegate: "ben"}))
	refused(t, doc, crdt.ErrExists, try(crdt.ProposalSpec{ID: "pm", Title: "x"}, good))
}

func TestMandateStatuses(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	approvedMandate(t, doc)
	m := mandate(t, read(t, doc, at(59)), "m1")
	if m.Status != crdt.MandatePending {
		t.Errorf("before approval: %s", m.Status)
	}
	m = mandate(t, read(t, doc, at(60)), "m1")
	if m.Status != crdt.MandateActive || !m.ApprovedAt.Equal(at(60)) || m.EndedAt != nil {
		t.Errorf("after approval: %+v", m)
	}

	// Reports, by the delegate only, on an active mandate only.
	refused(t, doc, crdt.ErrMandateNotActive, func() error { return crdt.SubmitReport(doc, as(doc, "ben"), "m1", "early", at(30)) })
	refused(t, doc, crdt.ErrNotDelegate, func() error { return crdt.SubmitReport(doc, as(doc, "ana"), "m1", "not mine", at(70)) })
	refused(t, doc, crdt.ErrInvalid, func() error { return crdt.SubmitReport(doc, as(doc, "ben"), "m1", " ", at(70)) })
	refused(t, doc, crdt.ErrNotFound, func() error { return crdt.SubmitReport(doc, as(doc, "ben"), "m9", "x", at(70)) })
	refused(t, doc, crdt.ErrUnknownMember, func() error { return crdt.SubmitReport(doc, as(doc, "zoe"), "m1", "x", at(70)) })
	must(t, crdt.SubmitReport(doc, as(doc, "ben"), "m1", "Sold 3 t at 210.", at(70)))
	a, b := fork(t, doc), fork(t, doc)
	must(t, crdt.SubmitReport(a, as(a, "ben"), "m1", "From the phone.", at(80)))
	must(t, crdt.SubmitReport(b, as(b, "ben"), "m1", "From the laptop.", at(81)))
	merge(t, a, b)
	if m := mandate(t, read(t, a, at(90)), "m1"); len(m.Reports) != 3 || m.Reports[0] != (crdt.Report{At: at(70), By: "ben", Text: "Sold 3 t at 210."}) {
		t.Errorf("reports = %+v", m.Reports)
	}

	refused(t, doc, crdt.ErrNotDelegate, func() error { return crdt.Complete(doc, as(doc, "cai"), "m1", at(100)) })
	must(t, crdt.Complete(doc, as(doc, "ben"), "m1", at(100)))
	m = mandate(t, read(t, doc, at(100)), "m1")
	if m.Status != crdt.MandateCompleted || !m.EndedAt.Equal(at(100)) || !m.CompletedAt.Equal(at(100)) {
		t.Errorf("completed: %+v", m)
	}
	if m := mandate(t, read(t, doc, at(99)), "m1"); m.Status != crdt.MandateActive {
		t.Errorf("just before completion: %s", m.Status)
	}
	refused(t, doc, crdt.ErrMandateNotActive, func() error { return crdt.Complete(doc, as(doc, "ben"), "m1", at(101)) })
	refused(t, doc, crdt.ErrMandateNotActive, func() error { return crdt.Resign(doc, as(doc, "ben"), "m1", at(101)) })
	refused(t, doc, crdt.ErrMandateNotActive, func() error { return crdt.SubmitReport(doc, as(doc, "ben"), "m1", "x", at(101)) })
	refused(t, doc, crdt.ErrMandateNotActive, func() error {
		_, err := crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{Kind: crdt.ProposalRecall, Title: "x", Subject: "m1"}, at(101))
		return err
	})
}

func TestMandateRejected(t *testing.T) {
	for name, decide := range map[string]func(t *testing.T, doc *automerge.Doc){
		"voted down": func(t *testing.T, doc *automerge.Doc) {
			must(t, crdt.CastVote(doc, as(doc, "ana"), "pm1", crdt.No, at(10)))
			must(t, crdt.CastVote(doc, as(doc, "ben"), "pm1", crdt.No, at(10)))
		},
		"no quorum": func(t *testing.T, doc *automerge.Doc) {
			must(t, crdt.CastVote(doc, as(doc, "ben"), "pm1", crdt.Yes, at(10)))
		},
		"withdrawn": func(t *testing.T, doc *automerge.Doc) {
			must(t, crdt.WithdrawProposal(doc, as(doc, "ana"), "pm1", at(10)))
		},
	} {
		t.Run(name, func(t *testing.T) {
			doc := newCouncil(t, majority, "ana", "ben", "cai")
			joinFed(t, doc, "ana")
			_, _, err := crdt.ProposeMandate(doc, as(doc, "ana"), crdt.ProposalSpec{ID: "pm1", Title: "Send Ben", ClosesAt: at(60)},
				crdt.MandateSpec{ID: "m1", Task: "t", Body: federationID, Delegate: "ben"}, at(5))
			must(t, err)
			decide(t, doc)
			m := mandate(t, read(t, doc, at(90)), "m1")
			if m.Status != crdt.MandateRejected || m.ApprovedAt != nil || m.EndedAt == nil {
				t.Errorf("mandate = %+v", m)
			}
			refused(t, doc, crdt.ErrMandateNotActive, func() error { return crdt.Resign(doc, as(doc, "ben"), "m1", at(91)) })
		})
	}
}

func TestResignWhilePending(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	approvedMandate(t, doc)
	must(t, crdt.Resign(doc, as(doc, "ben"), "m1", at(30)))
	if m := mandate(t, read(t, doc, at(40)), "m1"); m.Status != crdt.MandatePending {
		t.Errorf("while the proposal is open: %s", m.Status)
	}
	if m := mandate(t, read(t, doc, at(90)), "m1"); m.Status != crdt.MandateResigned || !m.EndedAt.Equal(at(30)) {
		t.Errorf("after approval: %+v", m)
	}
}

func TestRecall(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	approvedMandate(t, doc)
	recall(t, doc, "r1", 70, 90)
	if m := mandate(t, read(t, doc, at(89)), "m1"); m.Status != crdt.MandateActive {
		t.Errorf("before the recall closes: %s", m.Status)
	}
	m := mandate(t, read(t, doc, at(90)), "m1")
	if m.Status != crdt.MandateRecalled || !m.EndedAt.Equal(at(90)) || m.RecalledBy != "r1" {
		t.Errorf("recalled: %+v", m)
	}
	refused(t, doc, crdt.ErrMandateNotActive, func() error { return crdt.Resign(doc, as(doc, "ben"), "m1", at(95)) })
}

func TestFailedRecallLeavesMandateActive(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	approvedMandate(t, doc)
	_, err := crdt.Propose(doc, as(doc, "cai"), crdt.ProposalSpec{ID: "r1", Kind: crdt.ProposalRecall, Title: "Recall", Subject: "m1", ClosesAt: at(90)}, at(70))
	must(t, err)
	must(t, crdt.CastVote(doc, as(doc, "cai"), "r1", crdt.Yes, at(71)))
	must(t, crdt.CastVote(doc, as(doc, "ben"), "r1", crdt.No, at(71)))
	if m := mandate(t, read(t, doc, at(100)), "m1"); m.Status != crdt.MandateActive || m.RecalledBy != "" {
		t.Errorf("mandate = %+v", m)
	}
}

func TestRecallOfResignedDelegateStaysResigned(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	approvedMandate(t, doc)
	recall(t, doc, "r1", 70, 90)
	must(t, crdt.Resign(doc, as(doc, "ben"), "m1", at(80)))
	m := mandate(t, read(t, doc, at(100)), "m1")
	if m.Status != crdt.MandateResigned || !m.EndedAt.Equal(at(80)) || m.RecalledBy != "" {
		t.Errorf("mandate = %+v", m)
	}
	if p := proposal(t, read(t, doc, at(100)), "r1"); p.Outcome != crdt.OutcomePassed {
		t.Errorf("the recall itself: %s", p.Outcome)
	}
}

// TestConcurrentRecallAndResignation: the council passes a recall while the
// delegate, offline, resigns. Whatever happened first decides, on every
// replica and in every merge order.
func TestConcurrentRecallAndResignation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		resign int // minute of the offline resignation; the recall closes at 90
		want   crdt.MandateStatus
		ended  int
	}{
		{"resignation first", 85, crdt.MandateResigned, 85},
		{"recall first", 95, crdt.MandateRecalled, 90},
		{"same moment: recall wins the tie", 90, crdt.MandateRecalled, 90},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := newCouncil(t, majority, "ana", "ben", "cai")
			approvedMandate(t, doc)
			must1[string](t)(crdt.Propose(doc, as(doc, "cai"), crdt.ProposalSpec{ID: "r1", Kind: crdt.ProposalRecall, Title: "Recall", Subject: "m1", ClosesAt: at(90)}, at(70)))
			council, phone := fork(t, doc), fork(t, doc)
			must(t, crdt.CastVote(council, as(council, "ana"), "r1", crdt.Yes, at(71)))
			must(t, crdt.CastVote(council, as(council, "cai"), "r1", crdt.Yes, at(72)))
			must(t, crdt.Resign(phone, as(phone, "ben"), "m1", at(tc.resign)))
			a, b := fork(t, council), fork(t, phone)
			merge(t, a, phone)
			merge(t, b, council)
			for _, d := range []*automerge.Doc{a, b} {
				m := mandate(t, read(t, d, at(120)), "m1")
				if m.Status != tc.want || !m.EndedAt.Equal(at(tc.ended)) {
					t.Errorf("mandate = %+v, want %s at minute %d", m, tc.want, tc.ended)
				}
			}
		})
	}
}

func TestMandateTieOrder(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	approvedMandate(t, doc)
	// Ben, offline on two devices, completes and resigns at the same
	// moment: resigned wins the tie, whatever the merge order.
	phone, laptop := fork(t, doc), fork(t, doc)
	must(t, crdt.Complete(phone, as(doc, "ben"), "m1", at(80)))
	must(t, crdt.Resign(laptop, as(doc, "ben"), "m1", at(80)))
	merge(t, phone, laptop)
	merge(t, laptop, phone)
	for _, d := range []*automerge.Doc{phone, laptop} {
		m := mandate(t, readAny1(d, at(100)), "m1")
		if m.Status != crdt.MandateResigned || !m.EndedAt.Equal(at(80)) {
			t.Errorf("resigned and completed at once: %+v", m)
		}
	}
	// A completion signed earlier (on a third device) comes first.
	r := signedBy(doc, "ben", crdt.OpComplete, at(75), map[string]string{"mandate": "m1"})
	commitRecord(t, phone, r.message(), at(75), nil)
	if m := mandate(t, readAny1(phone, at(100)), "m1"); m.Status != crdt.MandateCompleted || !m.EndedAt.Equal(at(75)) {
		t.Errorf("completed first: %+v", m)
	}
	// The mandate's state says when it was completed or resigned; written
	// by a stock client, it counts for nothing.
	rawSet(t, doc, at(70), "mandates", "m1", "completedAt")
	v, problems := readAny(doc, at(100))
	if m := mandate(t, v, "m1"); m.Status != crdt.MandateActive || !hasProblem(problems, "/mandates/m1") {
		t.Errorf("forged completion: %+v %v", m, problems)
	}
}

// readAny1 is readAny without the problems.
func readAny1(doc *automerge.Doc, now time.Time) crdt.View {
	v, _ := readAny(doc, now)
	return v
}

// TestMandateEndsWithMembership: a delegate who leaves the council gives
// up the mandate (resigned, at their departure); a delegate expelled is
// recalled by the expel proposal. Neither needs a resignation or a recall
// of its own, so the view agrees with a relay's grants.
func TestMandateEndsWithMembership(t *testing.T) {
	t.Run("left", func(t *testing.T) {
		doc := newCouncil(t, majority, "ana", "ben", "cai")
		approvedMandate(t, doc)
		if m := mandate(t, read(t, doc, at(61)), "m1"); m.Status != crdt.MandateActive {
			t.Fatalf("before leaving: %+v", m)
		}
		must(t, crdt.Leave(doc, as(doc, "ben"), at(70)))
		m := mandate(t, read(t, doc, at(71)), "m1")
		if m.Status != crdt.MandateResigned || m.EndedAt == nil || !m.EndedAt.Equal(at(70)) {
			t.Fatalf("after the delegate left: %+v", m)
		}
	})
	t.Run("expelled", func(t *testing.T) {
		doc := newCouncil(t, majority, "ana", "ben", "cai")
		approvedMandate(t, doc)
		must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{ID: "x1", Kind: crdt.ProposalExpel, Title: "Expel Ben", Subject: "ben", ClosesAt: at(80)}, at(65)))
		must(t, crdt.CastVote(doc, as(doc, "ana"), "x1", crdt.Yes, at(66)))
		must(t, crdt.CastVote(doc, as(doc, "cai"), "x1", crdt.Yes, at(66)))
		if m := mandate(t, read(t, doc, at(79)), "m1"); m.Status != crdt.MandateActive {
			t.Fatalf("before the expulsion closed: %+v", m)
		}
		m := mandate(t, read(t, doc, at(81)), "m1")
		if m.Status != crdt.MandateRecalled || m.RecalledBy != "x1" || m.EndedAt == nil || !m.EndedAt.Equal(at(80)) {
			t.Fatalf("after the expulsion: %+v", m)
		}
	})
}
