package crdt_test

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

// t0 is the base time of unit tests.
var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// at returns t0 plus n minutes.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// ptr returns a pointer to t.
func ptr(t time.Time) *time.Time { return &t }

// majority is a simple-majority rule with a half quorum.
var majority = crdt.Rule{Quorum: 0.5, Majority: 0.5}

// newCouncil creates a farmers' council at t0 with the given rule and
// members (ids as given, joined at t0), failing the test on error.
func newCouncil(t tb, rule crdt.Rule, members ...string) *automerge.Doc {
	t.Helper()
	doc, err := crdt.NewCouncil(crdt.CouncilSpec{Name: "Riverside growers", Kind: crdt.KindFarmers, Region: "Lower valley", Rule: rule}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if _, err := crdt.Join(doc, crdt.MemberSpec{ID: m, Name: "Member " + m, Role: crdt.RoleSmallFarmer}, t0); err != nil {
			t.Fatal(err)
		}
	}
	return doc
}

// must fails the test if err is not nil.
func must(t tb, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// must1 returns v, failing the test if err is not nil.
func must1[T any](t tb) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// read reads doc at now and fails the test on problems.
func read(t tb, doc *automerge.Doc, now time.Time) crdt.View {
	t.Helper()
	v, problems := crdt.Read(doc, now)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	return v
}

// refused checks that err matches want and that doc did not change.
func refused(t tb, doc *automerge.Doc, want error, op func() error) {
	t.Helper()
	before := doc.Heads()
	saved := doc.Save()
	err := op()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	var e *crdt.Error
	if !errors.As(err, &e) || e.Op == "" || e.Message == "" {
		t.Fatalf("err = %#v, want an *Error with op and message", err)
	}
	after := doc.Heads()
	if len(before) != len(after) || (len(before) > 0 && before[0] != after[0]) {
		t.Fatalf("heads changed after refused operation: %v → %v", before, after)
	}
	if string(saved) != string(doc.Save()) {
		t.Fatal("document changed after refused operation")
	}
}

// proposal returns the proposal with the given id.
func proposal(t tb, v crdt.View, id string) crdt.Proposal {
	t.Helper()
	p, ok := v.Proposal(id)
	if !ok {
		t.Fatalf("no proposal %q", id)
	}
	return p
}

// mandate returns the mandate with the given id.
func mandate(t tb, v crdt.View, id string) crdt.Mandate {
	t.Helper()
	m, ok := v.Mandate(id)
	if !ok {
		t.Fatalf("no mandate %q", id)
	}
	return m
}

// asJSON encodes v, failing the test on error.
func asJSON(t tb, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fork returns an offline copy of doc with its own actor.
func fork(t tb, doc *automerge.Doc) *automerge.Doc {
	t.Helper()
	f, err := doc.Fork()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// merge merges src into dst.
func merge(t tb, dst, src *automerge.Doc) {
	t.Helper()
	if _, err := dst.Merge(src); err != nil {
		t.Fatal(err)
	}
}

// rawSet writes value at path as a non-validating client would, in one
// change.
func rawSet(t tb, doc *automerge.Doc, value any, path ...any) {
	t.Helper()
	must(t, doc.Path(path...).Set(value))
	now := t0
	if _, err := doc.Commit("raw", automerge.CommitOptions{Time: &now, AllowEmpty: true}); err != nil {
		t.Fatal(err)
	}
}

// approvedMandate adds a mandate for delegate "ben" proposed by "ana" at
// 10:05 and approved by every member of a-b-c at 11:00; ids pm1 and m1.
func approvedMandate(t tb, doc *automerge.Doc) {
	t.Helper()
	_, _, err := crdt.ProposeMandate(doc, "ana",
		crdt.ProposalSpec{ID: "pm1", Title: "Send Ben", ClosesAt: at(60)},
		crdt.MandateSpec{ID: "m1", Task: "Sell the rye", Body: "2sXhFederation", Delegate: "ben"}, at(5))
	must(t, err)
	for _, m := range []string{"ana", "ben", "cai"} {
		must(t, crdt.CastVote(doc, m, "pm1", crdt.Yes, at(10)))
	}
}

// recall proposes recall r of m1 by cai at minute from, closing at minute
// to, and has ana and cai vote yes at minute from+1.
func recall(t tb, doc *automerge.Doc, r string, from, to int) {
	t.Helper()
	_, err := crdt.Propose(doc, "cai", crdt.ProposalSpec{ID: r, Kind: crdt.ProposalRecall, Title: "Recall Ben", Subject: "m1", ClosesAt: at(to)}, at(from))
	must(t, err)
	must(t, crdt.CastVote(doc, "ana", r, crdt.Yes, at(from+1)))
	must(t, crdt.CastVote(doc, "cai", r, crdt.Yes, at(from+1)))
}

// tb is the part of testing.TB the helpers need; *rapid.T has it too.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}
