package crdt_test

import (
	"reflect"
	"testing"

	"github.com/veche-sync/veche/crdt"
)

func TestParseChangeMessage(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want crdt.ChangeInfo
		ok   bool
	}{
		{"veche:create-council", crdt.ChangeInfo{Op: crdt.OpCreateCouncil}, true},
		{"veche:vote by=m1 proposal=p1", crdt.ChangeInfo{Op: crdt.OpVote, By: "m1", Args: map[string]string{"proposal": "p1"}}, true},
		{"veche:pledge by=far-7 council=3kHill need=n1 pledge=pl2", crdt.ChangeInfo{Op: crdt.OpPledge, By: "far-7", Args: map[string]string{"council": "3kHill", "need": "n1", "pledge": "pl2"}}, true},
		{"veche:future-op by=m1 thing=x", crdt.ChangeInfo{Op: "future-op", By: "m1", Args: map[string]string{"thing": "x"}}, true},
		{"", crdt.ChangeInfo{}, false},
		{"raw", crdt.ChangeInfo{}, false},
		{"veche:", crdt.ChangeInfo{}, false},
		{"veche:vote by", crdt.ChangeInfo{}, false},
		{"veche:vote by=", crdt.ChangeInfo{}, false},
		{"veche:vote =x", crdt.ChangeInfo{}, false},
		{"veche:vote  by=m1", crdt.ChangeInfo{}, false},
		{"veche:vote by=a=b", crdt.ChangeInfo{}, false},
		{"veche:by=m1", crdt.ChangeInfo{}, false},
		{"Veche:vote by=m1", crdt.ChangeInfo{}, false},
	} {
		got, ok := crdt.ParseChangeMessage(tc.msg)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseChangeMessage(%q) = %+v, %v; want %+v, %v", tc.msg, got, ok, tc.want, tc.ok)
		}
		if ok {
			if again, _ := crdt.ParseChangeMessage(got.String()); !reflect.DeepEqual(again, got) {
				t.Errorf("round trip of %q: %+v", tc.msg, again)
			}
		}
	}
}

func TestHistoryNamesTheActingMember(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	approvedMandate(t, doc)
	recall(t, doc, "r1", 70, 90)
	rawSet(t, doc, "x", "extra")
	h := must1[[]crdt.HistoryEntry](t)(crdt.History(doc))
	want := []struct {
		op crdt.Op
		by string
	}{
		{crdt.OpCreateCouncil, "ana"}, {crdt.OpJoin, "ana"}, {crdt.OpJoin, "ana"}, {crdt.OpJoinFederation, "ana"},
		{crdt.OpProposeMandate, "ana"}, {crdt.OpVote, "ana"}, {crdt.OpVote, "ben"}, {crdt.OpVote, "cai"},
		{crdt.OpPropose, "cai"}, {crdt.OpVote, "ana"}, {crdt.OpVote, "cai"},
	}
	if len(h) != len(want)+1 {
		t.Fatalf("%d changes, want %d", len(h), len(want)+1)
	}
	for i, w := range want {
		if !h[i].Veche || h[i].Info.Op != w.op || h[i].Info.By != w.by || h[i].Hash == "" || h[i].Actor == "" || h[i].Seq != uint64(i+1) {
			t.Errorf("change %d = %+v, want %s by %q", i, h[i], w.op, w.by)
		}
	}
	if last := h[len(h)-1]; last.Veche || last.Message != "raw" {
		t.Errorf("raw change = %+v", last)
	}
	if got := h[9].Info.Args["proposal"]; got != "r1" || !h[9].Time.Equal(at(71)) {
		t.Errorf("vote change = %+v", h[9])
	}
	if got := h[1].Info.Args["member"]; got != "ben" {
		t.Errorf("join change = %+v", h[1])
	}
	// The summary line is what the message says, never trusted: a stock
	// client can write any. The log says who signed.
	commitRecord(t, doc, "veche:vote by=ben proposal=r1", at(72), nil)
	h = must1[[]crdt.HistoryEntry](t)(crdt.History(doc))
	if last := h[len(h)-1]; !last.Veche || last.Info.By != "ben" {
		t.Errorf("forged summary = %+v", last)
	}
	log := crdt.NewLog()
	must(t, log.Update(doc))
	_, _, facts := log.Derive(councilOf(doc), at(100), nil)
	verdicts := map[string]crdt.Fact{}
	for _, f := range facts {
		verdicts[f.Hash] = f
	}
	if _, ok := verdicts[h[len(h)-1].Hash]; ok {
		t.Error("a change without a record has a verdict")
	}
	for i, w := range want {
		if f := verdicts[h[i].Hash]; !f.Counted || f.By != w.by || f.Op != w.op {
			t.Errorf("verdict on change %d = %+v", i, f)
		}
	}
}
