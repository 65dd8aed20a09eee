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
	v, problems := crdt.Read(nil, t0)
	if len(problems) != 1 || v.Members == nil || v.Exchange.Needs == nil {
		t.Errorf("nil doc: %v %+v", problems, v)
	}
	v, problems = crdt.Read(automerge.New(), t0)
	paths := []string{}
	for _, p := range problems {
		paths = append(paths, p.Path)
	}
	if got := strings.Join(paths, " "); got != "/council /exchange /mandates /members /proposals /schema" {
		t.Errorf("empty doc problems: %v", problems)
	}
	if v.Council.Rule != crdt.DefaultRule {
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
// may use.
func TestReadValueKinds(t *testing.T) {
	doc := newCouncil(t, majority)
	ms := at(5).UnixMilli()
	for id, joined := range map[string]any{
		"ts":      at(5),
		"int":     ms,
		"uint":    uint64(ms),
		"float":   float64(ms),
		"string":  "2024-05-01T10:05:00Z",
		"text":    automerge.NewText("2024-05-01T10:05:00.000+00:00"),
		"counter": automerge.NewCounter(ms),
	} {
		rawSet(t, doc, map[string]any{"name": automerge.NewText("N " + id), "role": "worker", "joinedAt": joined, "leftAt": nil}, "members", id)
	}
	v := read(t, doc, at(6))
	if len(v.Members) != 7 {
		t.Fatalf("members = %+v", v.Members)
	}
	for _, m := range v.Members {
		if !m.JoinedAt.Equal(at(5)) || m.JoinedAt.Location() != time.UTC || m.Name != "N "+m.ID || !m.Active || m.LeftAt != nil {
			t.Errorf("member %+v", m)
		}
	}
	for _, q := range []any{int64(2), uint64(2), 2.0, automerge.NewCounter(2)} {
		d := newCouncil(t, majority, "ana")
		rawSet(t, d, map[string]any{"by": "ana", "item": "x", "quantity": q, "unit": "kg", "at": at(1)}, "exchange", "needs", "n")
		if n, _ := read(t, d, at(2)).Need("n"); n.Quantity != 2 || n.Remaining != 2 {
			t.Errorf("quantity %T: %+v", q, n)
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
		"recall of nothing":     {"ghost", []any{"proposals", "p", "subject"}, "/proposals/p/subject"},
		"proposal by nobody":    {"ghost", []any{"proposals", "p", "by"}, "/proposals/p/by"},
		"mandate kind mismatch": {"general", []any{"proposals", "pm", "kind"}, "/mandates/m/proposal"},
	} {
		t.Run(name, func(t *testing.T) {
			doc := newCouncil(t, majority, "ana")
			_, _, err := crdt.ProposeMandate(doc, "ana", crdt.ProposalSpec{ID: "pm", Title: "x", ClosesAt: at(60)}, crdt.MandateSpec{ID: "m", Task: "t", Body: "2sXh", Delegate: "ana"}, at(1))
			must(t, err)
			must(t, crdt.CastVote(doc, "ana", "pm", crdt.Yes, at(2)))
			must1[string](t)(crdt.Propose(doc, "ana", crdt.ProposalSpec{ID: "p", Kind: crdt.ProposalRecall, Title: "x", Subject: "m"}, at(61)))
			rawSet(t, doc, tc.value, tc.path...)
			v, problems := crdt.Read(doc, at(100))
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
	v, problems := crdt.Read(doc, at(1))
	if len(problems) != 1 || problems[0].Path != "/schema" || v.Schema != "veche/council/7" || len(v.Members) != 1 {
		t.Errorf("newer schema: %v %+v", problems, v)
	}
}
