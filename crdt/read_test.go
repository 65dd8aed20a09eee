package crdt_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

func TestReadEmptyAndNil(t *testing.T) {
	v, problems := crdt.Read(nil, "2sXhNothing", t0)
	if !hasProblem(problems, "") || v.Members == nil || v.Exchange.Needs == nil || v.ID != "" {
		t.Errorf("nil doc: %v %+v", problems, v)
	}
	v, problems = crdt.Read(automerge.New(), "2sXhNothing", t0)
	paths := []string{}
	for _, p := range problems {
		paths = append(paths, p.Path)
	}
	if got := strings.Join(paths, " "); got != "/council /exchange /log /mandates /members /proposals /schema" {
		t.Errorf("empty doc problems: %v", problems)
	}
	if v.Council.Rule != crdt.DefaultRule || v.Schema != "" {
		t.Errorf("rule = %+v", v.Council.Rule)
	}
	b := asJSON(t, v)
	for _, key := range []string{`"members":[]`, `"proposals":[]`, `"mandates":[]`, `"offers":[]`, `"memberOf":[]`, `"minutes":[]`} {
		if !strings.Contains(b, key) {
			t.Errorf("view JSON lacks %s: %s", key, b)
		}
	}
}

func TestReadDoesNotModify(t *testing.T) {
	doc := newCouncil(t, majority, "ana")
	before := doc.Save()
	read(t, doc, at(1))
	if string(before) != string(doc.Save()) {
		t.Error("Read changed the document")
	}
}

// TestReadValueKinds stores each field in every representation a client
// may use: the state is read without a type problem, and reported only as
// not in the signed log.
func TestReadValueKinds(t *testing.T) {
	doc := newCouncil(t, majority, "ana")
	ms := at(5).UnixMilli()
	// kinds returns each representation afresh (an Automerge Text or
	// Counter is written once).
	kinds := func() map[string]any {
		return map[string]any{
			"ts":      at(5),
			"int":     ms,
			"uint":    uint64(ms),
			"float":   float64(ms),
			"string":  "2024-05-01T10:05:00Z",
			"text":    automerge.NewText("2024-05-01T10:05:00.000+00:00"),
			"counter": automerge.NewCounter(ms),
		}
	}
	for id, joined := range kinds() {
		rawSet(t, doc, map[string]any{"name": automerge.NewText("N " + id), "role": "worker", "joinedAt": joined, "leftAt": nil}, "members", id)
	}
	for id, joined := range kinds() {
		rawSet(t, doc, map[string]any{"kind": "general", "title": automerge.NewText("T"), "by": "ana", "at": joined}, "proposals", id)
	}
	for id, q := range map[string]any{"qi": int64(2), "qu": uint64(2), "qf": 2.0, "qc": automerge.NewCounter(2)} {
		rawSet(t, doc, map[string]any{"by": "ana", "item": "x", "quantity": q, "unit": "kg", "at": at(1)}, "exchange", "needs", id)
	}
	v, problems := readAny(doc, at(6))
	if len(v.Members) != 1 || !v.Members[0].Active || len(v.Exchange.Needs) != 0 {
		t.Fatalf("forged state counted: %+v", v)
	}
	want := map[string]bool{}
	for id := range kinds() {
		want["/members/"+id] = true
		want["/proposals/"+id] = true
	}
	for _, id := range []string{"qi", "qu", "qf", "qc"} {
		want["/exchange/needs/"+id] = true
	}
	for _, p := range problems {
		if !want[p.Path] || !strings.Contains(p.Message, "not in the signed log") {
			t.Errorf("problem %v", p)
		}
		delete(want, p.Path)
	}
	if len(want) > 0 {
		t.Errorf("not reported: %v", want)
	}
	// The founder's departure written in every representation: each is
	// read, and compared with the log, which has none.
	for _, left := range kinds() {
		d := newCouncil(t, majority, "ana")
		rawSet(t, d, left, "members", "ana", "leftAt")
		_, problems := readAny(d, at(6))
		if got := paths(problems); len(got) != 1 || got[0] != "/members/ana/leftAt" || !strings.Contains(problems[0].Message, "2024-05-01T10:05:00Z") {
			t.Errorf("leftAt %T: %v", left, problems)
		}
	}
}

func TestReadBadValues(t *testing.T) {
	for name, tc := range map[string]struct {
		value any
		path  []any
		want  string // problem path
	}{
		"timestamp far future":  {int64(math.MaxInt64), []any{"members", "ana", "joinedAt"}, "/members/ana/joinedAt"},
		"timestamp year 10000":  {time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC), []any{"members", "ana", "joinedAt"}, "/members/ana/joinedAt"},
		"timestamp NaN":         {math.NaN(), []any{"members", "ana", "joinedAt"}, "/members/ana/joinedAt"},
		"timestamp bool":        {true, []any{"members", "ana", "joinedAt"}, "/members/ana/joinedAt"},
		"name bytes":            {[]byte("Ana"), []any{"members", "ana", "name"}, "/members/ana/name"},
		"name number":           {int64(7), []any{"members", "ana", "name"}, "/members/ana/name"},
		"quorum NaN":            {math.NaN(), []any{"council", "rule", "quorum"}, "/council/rule/quorum"},
		"quorum infinite":       {math.Inf(1), []any{"council", "rule", "quorum"}, "/council/rule/quorum"},
		"quorum 2":              {int64(2), []any{"council", "rule", "quorum"}, "/council/rule/quorum"},
		"majority 1":            {1.0, []any{"council", "rule", "majority"}, "/council/rule/majority"},
		"rule a list":           {[]any{0.5}, []any{"council", "rule"}, "/council/rule"},
		"council kind":          {"guild", []any{"council", "kind"}, "/council/kind"},
		"members a string":      {"x", []any{"members"}, "/members"},
		"votes a list":          {[]any{"yes"}, []any{"proposals", "p", "votes"}, "/proposals/p/votes"},
		"vote not a map":        {"yes", []any{"proposals", "p", "votes", "ana"}, "/proposals/p/votes/ana"},
		"reports a map":         {map[string]any{}, []any{"mandates", "m", "reports"}, "/mandates/m/reports"},
		"minutes a map":         {map[string]any{}, []any{"minutes"}, "/minutes"},
		"link not a map":        {true, []any{"federation", "memberOf", "5mmX"}, "/federation/memberOf/5mmX"},
		"key with slash":        {"x", []any{"members", "a/b~c"}, "/members/a~1b~0c"},
		"recall of nothing":     {"ghost", []any{"proposals", "p", "subject"}, "/proposals/p"},
		"proposal by nobody":    {"ghost", []any{"proposals", "p", "by"}, "/proposals/p"},
		"mandate kind mismatch": {"general", []any{"proposals", "pm", "kind"}, "/proposals/pm"},
	} {
		t.Run(name, func(t *testing.T) {
			doc := newCouncil(t, majority, "ana")
			joinFed(t, doc, "ana")
			_, _, err := crdt.ProposeMandate(doc, as(doc, "ana"), crdt.ProposalSpec{ID: "pm", Title: "x", ClosesAt: at(60)}, crdt.MandateSpec{ID: "m", Task: "t", Body: federationID, Delegate: "ana"}, at(1))
			must(t, err)
			must(t, crdt.CastVote(doc, as(doc, "ana"), "pm", crdt.Yes, at(2)))
			must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{ID: "p", Kind: crdt.ProposalRecall, Title: "x", Subject: "m"}, at(61)))
			rawSet(t, doc, tc.value, tc.path...)
			v, problems := readAny(doc, at(100))
			if v.Council.Rule != majority || len(v.Members) != 1 || len(v.Proposals) != 2 {
				t.Errorf("the state changed what counts: %+v", v)
			}
			found := false
			for _, p := range problems {
				found = found || p.Path == tc.want
			}
			if !found {
				t.Errorf("problems %v lack %s", problems, tc.want)
			}
			if _, err := json.Marshal(v); err != nil {
				t.Errorf("view does not encode: %v", err)
			}
		})
	}
}

func TestReadUnknownFieldsAndSchemas(t *testing.T) {
	doc := newCouncil(t, majority, "ana")
	rawSet(t, doc, map[string]any{"nested": []any{1.0, "x"}}, "futureThing")
	rawSet(t, doc, "purple", "members", "ana", "favouriteColour")
	read(t, doc, at(1)) // no problems

	rawSet(t, doc, "veche/council/7", "schema")
	v, problems := readAny(doc, at(1))
	if len(problems) != 1 || problems[0].Path != "/schema" || v.Schema != crdt.Schema || len(v.Members) != 1 {
		t.Errorf("newer schema: %v %+v", problems, v)
	}
}

// TestReadLogIsRead: reading through a kept Log, updated as the document
// grows (and merges), gives what Read gives.
func TestReadLogIsRead(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben", "cai")
	log := crdt.NewLog()
	check := func(now time.Time) {
		t.Helper()
		must(t, log.Update(doc))
		v1, p1 := crdt.Read(doc, councilOf(doc), now)
		v2, p2 := crdt.ReadLog(doc, log, councilOf(doc), now, nil)
		if asJSON(t, v1) != asJSON(t, v2) || asJSON(t, p1) != asJSON(t, p2) {
			t.Fatalf("Read and ReadLog differ at %v:\n%s %v\n%s %v", now, asJSON(t, v1), p1, asJSON(t, v2), p2)
		}
	}
	check(at(1))
	approvedMandate(t, doc)
	check(at(61))
	other := fork(t, doc)
	recall(t, other, "r1", 70, 90)
	must(t, crdt.Resign(doc, as(doc, "ben"), "m1", at(80)))
	check(at(95))
	merge(t, doc, other)
	rawSet(t, doc, "x", "proposals", "r1", "title")
	check(at(95))
	if log.Len() != len(must1[[]crdt.HistoryEntry](t)(crdt.History(doc))) {
		t.Errorf("log has %d changes", log.Len())
	}
}
