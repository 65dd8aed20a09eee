package crdt_test

import (
	"math"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

func TestCreateCouncil(t *testing.T) {
	doc := automerge.New()
	spec := crdt.CouncilSpec{Name: "Mill workers", Kind: crdt.KindWorkers, Region: "Town", Rule: crdt.Rule{Quorum: 2.0 / 3, Majority: 0.5}}
	must(t, crdt.CreateCouncil(doc, spec, t0.Add(1500*time.Microsecond)))
	v := read(t, doc, at(1))
	want := crdt.Council{Name: "Mill workers", Kind: crdt.KindWorkers, Region: "Town", CreatedAt: t0.Add(time.Millisecond), Rule: spec.Rule}
	if v.Council != want {
		t.Errorf("council = %+v, want %+v", v.Council, want)
	}
	if v.Schema != crdt.Schema {
		t.Errorf("schema = %q", v.Schema)
	}
	for _, key := range []string{"members", "proposals", "mandates", "minutes"} {
		if val, err := doc.Path(key).Get(); err != nil || val.IsVoid() {
			t.Errorf("container %q not created: %v", key, err)
		}
	}
	for _, path := range [][]any{{"exchange", "offers"}, {"exchange", "needs"}, {"exchange", "pledges"}, {"federation", "memberOf"}, {"federation", "members"}} {
		if val, err := doc.Path(path...).Get(); err != nil || val.Kind() != automerge.KindMap {
			t.Errorf("container %v not created: %v", path, err)
		}
	}
	h := must1[[]crdt.HistoryEntry](t)(crdt.History(doc))
	if len(h) != 1 || h[0].Message != "veche:create-council" || !h[0].Time.Equal(t0.Add(time.Millisecond)) {
		t.Errorf("history = %+v", h)
	}
}

func TestCreateCouncilRefuses(t *testing.T) {
	good := crdt.CouncilSpec{Name: "Growers", Kind: crdt.KindFarmers, Rule: majority}
	for name, tc := range map[string]struct {
		spec crdt.CouncilSpec
		at   time.Time
		want error
	}{
		"empty name":     {crdt.CouncilSpec{Name: " ", Kind: crdt.KindFarmers, Rule: majority}, t0, crdt.ErrInvalid},
		"bad kind":       {crdt.CouncilSpec{Name: "x", Kind: "guild", Rule: majority}, t0, crdt.ErrInvalid},
		"no kind":        {crdt.CouncilSpec{Name: "x", Rule: majority}, t0, crdt.ErrInvalid},
		"quorum above 1": {crdt.CouncilSpec{Name: "x", Kind: crdt.KindFarmers, Rule: crdt.Rule{Quorum: 1.5, Majority: 0.5}}, t0, crdt.ErrInvalid},
		"negative":       {crdt.CouncilSpec{Name: "x", Kind: crdt.KindFarmers, Rule: crdt.Rule{Quorum: -0.1, Majority: 0.5}}, t0, crdt.ErrInvalid},
		"majority 1":     {crdt.CouncilSpec{Name: "x", Kind: crdt.KindFarmers, Rule: crdt.Rule{Quorum: 0.5, Majority: 1}}, t0, crdt.ErrInvalid},
		"NaN":            {crdt.CouncilSpec{Name: "x", Kind: crdt.KindFarmers, Rule: crdt.Rule{Quorum: math.NaN(), Majority: 0.5}}, t0, crdt.ErrInvalid},
		"zero time":      {good, time.Time{}, crdt.ErrInvalid},
		"year 10000":     {good, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), crdt.ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			doc := automerge.New()
			refused(t, doc, tc.want, func() error { return crdt.CreateCouncil(doc, tc.spec, tc.at) })
		})
	}
	t.Run("twice", func(t *testing.T) {
		doc := newCouncil(t, majority)
		refused(t, doc, crdt.ErrExists, func() error { return crdt.CreateCouncil(doc, good, t0) })
	})
	t.Run("foreign document", func(t *testing.T) {
		doc := automerge.New()
		rawSet(t, doc, "something else", "title")
		refused(t, doc, crdt.ErrExists, func() error { return crdt.CreateCouncil(doc, good, t0) })
	})
	if err := crdt.CreateCouncil(nil, good, t0); !errorsIs(err, crdt.ErrInvalid) {
		t.Errorf("nil doc: %v", err)
	}
}

func TestOperationsNeedACouncilOfThisSchema(t *testing.T) {
	empty := automerge.New()
	refused(t, empty, crdt.ErrNoCouncil, func() error {
		_, err := crdt.Join(empty, crdt.MemberSpec{Name: "Ana", Role: crdt.RoleWorker}, t0)
		return err
	})
	newer := newCouncil(t, majority, "ana")
	rawSet(t, newer, "veche/council/2", "schema")
	refused(t, newer, crdt.ErrUnsupportedSchema, func() error {
		_, err := crdt.Join(newer, crdt.MemberSpec{Name: "Ben", Role: crdt.RoleWorker}, at(1))
		return err
	})
	refused(t, newer, crdt.ErrUnsupportedSchema, func() error { return crdt.Leave(newer, "ana", at(1)) })
	if _, err := crdt.Join(nil, crdt.MemberSpec{Name: "Ana", Role: crdt.RoleWorker}, t0); !errorsIs(err, crdt.ErrInvalid) {
		t.Errorf("nil doc: %v", err)
	}
}

func TestRuleValid(t *testing.T) {
	for _, tc := range []struct {
		r    crdt.Rule
		want bool
	}{
		{crdt.Rule{0, 0}, true},
		{crdt.Rule{1, 0.999}, true},
		{crdt.DefaultRule, true},
		{crdt.Rule{1.0001, 0.5}, false},
		{crdt.Rule{0.5, 1}, false},
		{crdt.Rule{0.5, -1}, false},
		{crdt.Rule{math.Inf(1), 0.5}, false},
		{crdt.Rule{0.5, math.NaN()}, false},
	} {
		if got := tc.r.Valid(); got != tc.want {
			t.Errorf("%+v.Valid() = %v", tc.r, got)
		}
	}
}
