package crdt_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

// founderSpec is a council spec founded by "ana".
func founderSpec(name string, kind crdt.CouncilKind, rule crdt.Rule) crdt.CouncilSpec {
	return crdt.CouncilSpec{Name: name, Kind: kind, Rule: rule, Founder: crdt.MemberSpec{ID: "ana", Name: "Ana", Role: crdt.RoleWorker}}
}

// founder is ana's signer for founding a council (no council id yet).
var founder = crdt.Signer{Member: "ana", Key: testKey("ana")}

func TestCreateCouncil(t *testing.T) {
	doc := automerge.New()
	spec := founderSpec("Mill workers", crdt.KindWorkers, crdt.Rule{Quorum: 2.0 / 3, Majority: 0.5})
	spec.Region = "Town"
	id := must1[string](t)(crdt.CreateCouncil(doc, spec, founder, t0.Add(1500*time.Microsecond)))
	if id != councilOf(doc) || !crdt.ValidID(id) {
		t.Fatalf("council id %q, founding record names %q", id, councilOf(doc))
	}
	v := read(t, doc, at(1))
	want := crdt.Council{Name: "Mill workers", Kind: crdt.KindWorkers, Region: "Town", CreatedAt: t0.Add(time.Millisecond), Rule: spec.Rule}
	if v.Council != want || v.ID != id {
		t.Errorf("council = %+v (id %q), want %+v", v.Council, v.ID, want)
	}
	if v.Schema != crdt.Schema || crdt.Schema != "veche/council/2" {
		t.Errorf("schema = %q", v.Schema)
	}
	ana, ok := v.Member("ana")
	if !ok || !ana.Active || ana.Name != "Ana" || ana.AdmittedBy != "ana" || len(ana.Keys) != 1 || ana.Keys[0].Key != pub("ana") || ana.Keys[0].Custodial {
		t.Errorf("founder = %+v", ana)
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
	if len(h) != 1 || !strings.HasPrefix(h[0].Message, "veche:create-council by=ana member=ana\nveche-fact/1 ") || h[0].Info.Op != crdt.OpCreateCouncil || h[0].Info.By != "ana" || !h[0].Time.Equal(t0.Add(time.Millisecond)) {
		t.Errorf("history = %+v", h)
	}

	// Two foundings of the same spec name two councils (the record holds a
	// random nonce), and the founding record counts only in its own.
	doc2, id2 := must2(t)(crdt.NewCouncil(spec, founder, t0))
	if id2 == id {
		t.Error("two councils with one id")
	}
	if v, problems := crdt.Read(doc2, id, at(1)); v.ID != "" || len(v.Members) != 0 || !hasProblem(problems, "/log/") {
		t.Errorf("council %s read as %s: %+v %v", id2, id, v, problems)
	}
}

// must2 returns a function that returns the doc and id, failing on error.
func must2(t tb) func(*automerge.Doc, string, error) (*automerge.Doc, string) {
	return func(d *automerge.Doc, id string, err error) (*automerge.Doc, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return d, id
	}
}

func TestCreateCouncilCustodialFounder(t *testing.T) {
	s := founder
	s.Custodial = true
	doc, id := must2(t)(crdt.NewCouncil(founderSpec("Relay users", crdt.KindConsumers, majority), s, t0))
	v := read(t, doc, at(1))
	if ana, _ := v.Member("ana"); len(ana.Keys) != 1 || !ana.Keys[0].Custodial {
		t.Errorf("founder keys = %+v", ana.Keys)
	}
	p := must1[string](t)(crdt.Propose(doc, crdt.Signer{Council: id, Member: "ana", Key: testKey("ana")}, crdt.ProposalSpec{Kind: crdt.ProposalGeneral, Title: "x"}, at(1)))
	if p := proposal(t, read(t, doc, at(2)), p); !p.Custodial {
		t.Errorf("proposal signed with a custodial key = %+v", p)
	}
}

func TestCreateCouncilRefuses(t *testing.T) {
	good := founderSpec("Growers", crdt.KindFarmers, majority)
	bad := func(f func(s *crdt.CouncilSpec)) crdt.CouncilSpec {
		s := good
		f(&s)
		return s
	}
	for name, tc := range map[string]struct {
		spec   crdt.CouncilSpec
		signer crdt.Signer
		at     time.Time
		want   error
	}{
		"empty name":     {bad(func(s *crdt.CouncilSpec) { s.Name = " " }), founder, t0, crdt.ErrInvalid},
		"bad kind":       {bad(func(s *crdt.CouncilSpec) { s.Kind = "guild" }), founder, t0, crdt.ErrInvalid},
		"no kind":        {bad(func(s *crdt.CouncilSpec) { s.Kind = "" }), founder, t0, crdt.ErrInvalid},
		"quorum above 1": {bad(func(s *crdt.CouncilSpec) { s.Rule = crdt.Rule{Quorum: 1.5, Majority: 0.5} }), founder, t0, crdt.ErrInvalid},
		"negative":       {bad(func(s *crdt.CouncilSpec) { s.Rule = crdt.Rule{Quorum: -0.1, Majority: 0.5} }), founder, t0, crdt.ErrInvalid},
		"majority 1":     {bad(func(s *crdt.CouncilSpec) { s.Rule = crdt.Rule{Quorum: 0.5, Majority: 1} }), founder, t0, crdt.ErrInvalid},
		"NaN":            {bad(func(s *crdt.CouncilSpec) { s.Rule = crdt.Rule{Quorum: math.NaN(), Majority: 0.5} }), founder, t0, crdt.ErrInvalid},
		"no founder":     {bad(func(s *crdt.CouncilSpec) { s.Founder.Name = "" }), founder, t0, crdt.ErrInvalid},
		"no role":        {bad(func(s *crdt.CouncilSpec) { s.Founder.Role = " " }), founder, t0, crdt.ErrInvalid},
		"no key":         {good, crdt.Signer{Member: "ana"}, t0, crdt.ErrInvalid},
		"bad member id":  {good, crdt.Signer{Member: "a b", Key: testKey("ana")}, t0, crdt.ErrInvalid},
		"zero time":      {good, founder, time.Time{}, crdt.ErrInvalid},
		"year 10000":     {good, founder, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), crdt.ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			doc := automerge.New()
			refused(t, doc, tc.want, func() error { _, err := crdt.CreateCouncil(doc, tc.spec, tc.signer, tc.at); return err })
		})
	}
	t.Run("twice", func(t *testing.T) {
		doc := newCouncil(t, majority, "ana")
		refused(t, doc, crdt.ErrExists, func() error { _, err := crdt.CreateCouncil(doc, good, founder, t0); return err })
	})
	t.Run("foreign document", func(t *testing.T) {
		doc := automerge.New()
		rawSet(t, doc, "something else", "title")
		refused(t, doc, crdt.ErrExists, func() error { _, err := crdt.CreateCouncil(doc, good, founder, t0); return err })
	})
	if _, err := crdt.CreateCouncil(nil, good, founder, t0); !errorsIs(err, crdt.ErrInvalid) {
		t.Errorf("nil doc: %v", err)
	}
}

func TestOperationsNeedACouncil(t *testing.T) {
	empty := automerge.New()
	refused(t, empty, crdt.ErrNoCouncil, func() error {
		_, err := crdt.Join(empty, as("2sXhNothing", "ana"), memberSpec("ben"), t0)
		return err
	})
	refused(t, empty, crdt.ErrInvalid, func() error {
		_, err := crdt.Join(empty, as("", "ana"), memberSpec("ben"), t0)
		return err
	})
	// A document whose state looks like a council but holds no founding
	// record (a stock client wrote it) is no council.
	fake := automerge.New()
	rawSet(t, fake, crdt.Schema, "schema")
	rawSet(t, fake, map[string]any{"name": "Fake", "kind": "farmers"}, "council")
	rawSet(t, fake, map[string]any{"ana": map[string]any{"name": "Ana", "role": "worker", "joinedAt": t0}}, "members")
	refused(t, fake, crdt.ErrNoCouncil, func() error { return crdt.Leave(fake, as("2sXhFake", "ana"), at(1)) })

	// Another council's id: the founding record in the document does not
	// name it.
	doc := newCouncil(t, majority, "ana")
	other := newCouncil(t, majority, "ana")
	refused(t, doc, crdt.ErrNoCouncil, func() error { return crdt.Leave(doc, as(other, "ana"), at(1)) })
	if _, err := crdt.Join(nil, as(doc, "ana"), memberSpec("ben"), t0); !errorsIs(err, crdt.ErrInvalid) {
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
