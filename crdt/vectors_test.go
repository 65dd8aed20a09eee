package crdt_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

// vector is one shared test vector (see testdata/vectors/README.md).
type vector struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Now         time.Time         `json:"now"`
	Operations  []json.RawMessage `json:"operations"`
	Read        string            `json:"read"`     // replica to read; "main" if empty
	Expected    json.RawMessage   `json:"expected"` // partial view
	Problems    *[]string         `json:"problems"` // the set of problem paths, if given; else none
}

// defaultActor is the actor id of the "main" replica of every vector.
const defaultActor = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestVectors(t *testing.T) {
	files, err := filepath.Glob("testdata/vectors/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("found %d vectors, want at least 12", len(files))
	}
	names := map[string]string{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var v vector
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if v.Name == "" || v.Description == "" || v.Now.IsZero() || len(v.Expected) == 0 {
			t.Fatalf("%s: name, description, now and expected are required", file)
		}
		if other, dup := names[v.Name]; dup {
			t.Fatalf("%s: name %q already used by %s", file, v.Name, other)
		}
		names[v.Name] = file
		t.Run(v.Name, func(t *testing.T) { runVector(t, v) })
	}
}

// runVector replays v's operations and compares the view.
func runVector(t *testing.T, v vector) {
	replicas := map[string]*automerge.Doc{"main": automerge.New()}
	must(t, replicas["main"].SetActorID(defaultActor))
	for i, raw := range v.Operations {
		var op vectorOp
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Fatalf("operation %d: %v", i, err)
		}
		if op.Replica == "" {
			op.Replica = "main"
		}
		doc := replicas[op.Replica]
		if doc == nil && op.Op != "fork" {
			t.Fatalf("operation %d (%s): no replica %q", i, op.Op, op.Replica)
		}
		before := ""
		if doc != nil {
			before = string(doc.Save())
		}
		err := applyVectorOp(t, replicas, op, raw)
		switch {
		case op.Error == "" && err != nil:
			t.Fatalf("operation %d (%s): %v", i, op.Op, err)
		case op.Error != "" && crdt.ErrorCode(err) != crdt.Code(op.Error):
			t.Fatalf("operation %d (%s): err = %v, want code %q", i, op.Op, err, op.Error)
		case op.Error != "" && string(doc.Save()) != before:
			t.Fatalf("operation %d (%s): refused but changed the document", i, op.Op)
		}
	}
	name := v.Read
	if name == "" {
		name = "main"
	}
	doc := replicas[name]
	if doc == nil {
		t.Fatalf("no replica %q to read", name)
	}
	view, problems := crdt.Read(doc, v.Now)
	if os.Getenv("SHOWPROBLEMS") != "" {
		for _, p := range problems {
			t.Log(p)
		}
	}
	var got any
	if err := json.Unmarshal([]byte(asJSON(t, view)), &got); err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(v.Expected, &want); err != nil {
		t.Fatal(err)
	}
	if diffs := match("", want, got); len(diffs) > 0 {
		t.Errorf("view differs from expected:\n  %s\nview: %s", strings.Join(diffs, "\n  "), asJSON(t, view))
	}
	paths := []string{}
	for _, p := range problems {
		if len(paths) == 0 || paths[len(paths)-1] != p.Path {
			paths = append(paths, p.Path) // problems are sorted by path
		}
	}
	if v.Problems != nil {
		want := append([]string{}, *v.Problems...)
		sort.Strings(want)
		want = slices.Compact(want)
		if !reflect.DeepEqual(paths, want) {
			t.Errorf("problem paths = %q, want %q\nproblems: %v", paths, want, problems)
		}
	} else if len(problems) > 0 {
		t.Errorf("unexpected problems: %v", problems)
	}
}

// match compares want (a partial view) with got: objects match if every
// key of want matches in got (a null in want matches an absent key); arrays
// match element by element and must have the same length; numbers compare
// within 1e-9.
func match(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, got)}
		}
		var diffs []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, present := g[k]
			if w[k] == nil {
				if present && gv != nil {
					diffs = append(diffs, fmt.Sprintf("%s/%s: want absent, got %v", path, k, gv))
				}
				continue
			}
			if !present {
				diffs = append(diffs, fmt.Sprintf("%s/%s: missing, want %v", path, k, w[k]))
				continue
			}
			diffs = append(diffs, match(path+"/"+k, w[k], gv)...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %d elements, got %v", path, len(w), got)}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, match(fmt.Sprintf("%s/%d", path, i), w[i], g[i])...)
		}
		return diffs
	case float64:
		g, ok := got.(float64)
		if !ok || math.Abs(g-w) > 1e-9 {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, w, got)}
		}
		return nil
	default:
		if !reflect.DeepEqual(want, got) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
		}
		return nil
	}
}

// vectorOp holds the fields of a vector operation; which are used depends
// on Op.
type vectorOp struct {
	Op      string    `json:"op"`
	Replica string    `json:"replica"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`

	By       string          `json:"by"`
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Kind     string          `json:"kind"`
	Region   string          `json:"region"`
	Rule     *crdt.Rule      `json:"rule"`
	Role     string          `json:"role"`
	SentBy   *crdt.SentBy    `json:"sentBy"`
	Title    string          `json:"title"`
	Body     string          `json:"body"`
	ClosesAt time.Time       `json:"closesAt"`
	Subject  string          `json:"subject"`
	Mandate  json.RawMessage `json:"mandate"`
	Proposal string          `json:"proposal"`
	Choice   string          `json:"choice"`
	Edit     crdt.TextEdit   `json:"edit"`
	Text     string          `json:"text"`
	Item     string          `json:"item"`
	Quantity float64         `json:"quantity"`
	Unit     string          `json:"unit"`
	From     time.Time       `json:"from"`
	Until    time.Time       `json:"until"`
	Note     string          `json:"note"`
	Offer    string          `json:"offer"`
	Need     string          `json:"need"`
	Council  string          `json:"council"`
	Fed      string          `json:"federation"`
	Notes    string          `json:"notes"`
	Minutes  string          `json:"minutes"`
	Source   string          `json:"source"`
	Actor    string          `json:"actor"`
	Path     []any           `json:"path"`
	Value    json.RawMessage `json:"value"`
}

// mandateArg is the "mandate" argument of propose-mandate.
type mandateArg struct {
	ID       string `json:"id"`
	Task     string `json:"task"`
	Body     string `json:"body"`
	Delegate string `json:"delegate"`
}

// applyVectorOp runs one vector operation against the replicas.
func applyVectorOp(t *testing.T, replicas map[string]*automerge.Doc, op vectorOp, raw json.RawMessage) error {
	doc := replicas[op.Replica]
	switch op.Op {
	case "create-council":
		rule := crdt.Rule{}
		if op.Rule != nil {
			rule = *op.Rule
		}
		return crdt.CreateCouncil(doc, crdt.CouncilSpec{Name: op.Name, Kind: crdt.CouncilKind(op.Kind), Region: op.Region, Rule: rule}, op.At)
	case "join":
		_, err := crdt.Join(doc, crdt.MemberSpec{ID: op.ID, Name: op.Name, Role: op.Role, SentBy: op.SentBy}, op.At)
		return err
	case "leave":
		return crdt.Leave(doc, op.By, op.At)
	case "propose":
		_, err := crdt.Propose(doc, op.By, op.proposalSpec(), op.At)
		return err
	case "propose-mandate":
		var m mandateArg
		if err := json.Unmarshal(op.Mandate, &m); err != nil {
			return err
		}
		_, _, err := crdt.ProposeMandate(doc, op.By, op.proposalSpec(),
			crdt.MandateSpec{ID: m.ID, Task: m.Task, Body: m.Body, Delegate: m.Delegate}, op.At)
		return err
	case "edit-proposal":
		return crdt.EditProposal(doc, op.By, op.Proposal, op.Edit, op.At)
	case "withdraw-proposal":
		return crdt.WithdrawProposal(doc, op.By, op.Proposal, op.At)
	case "vote":
		return crdt.CastVote(doc, op.By, op.Proposal, crdt.Choice(op.Choice), op.At)
	case "report", "resign", "complete":
		var id string
		if err := json.Unmarshal(op.Mandate, &id); err != nil {
			return err
		}
		switch op.Op {
		case "report":
			return crdt.SubmitReport(doc, op.By, id, op.Text, op.At)
		case "resign":
			return crdt.Resign(doc, op.By, id, op.At)
		default:
			return crdt.Complete(doc, op.By, id, op.At)
		}
	case "post-offer", "post-need":
		var err error
		spec := crdt.ProduceSpec{ID: op.ID, Item: op.Item, Quantity: op.Quantity, Unit: op.Unit, From: op.From, Until: op.Until, Note: op.Note}
		if op.Op == "post-offer" {
			_, err = crdt.PostOffer(doc, op.By, spec, op.At)
		} else {
			_, err = crdt.PostNeed(doc, op.By, spec, op.At)
		}
		return err
	case "withdraw-offer":
		return crdt.WithdrawOffer(doc, op.By, op.Offer, op.At)
	case "withdraw-need":
		return crdt.WithdrawNeed(doc, op.By, op.Need, op.At)
	case "pledge":
		_, err := crdt.MakePledge(doc, op.By, crdt.PledgeSpec{ID: op.ID, Need: op.Need, Offer: op.Offer, Council: op.Council, Quantity: op.Quantity, Unit: op.Unit}, op.At)
		return err
	case "join-federation":
		return crdt.JoinFederation(doc, op.By, op.Fed, op.At)
	case "leave-federation":
		return crdt.LeaveFederation(doc, op.By, op.Fed, op.At)
	case "admit-council":
		return crdt.AdmitCouncil(doc, op.By, op.Council, op.At)
	case "remove-council":
		return crdt.RemoveCouncil(doc, op.By, op.Council, op.At)
	case "start-minutes":
		_, err := crdt.StartMinutes(doc, op.By, crdt.MinutesSpec{ID: op.ID, Title: op.Title, Notes: op.Notes}, op.At)
		return err
	case "edit-minutes":
		return crdt.EditMinutes(doc, op.By, op.Minutes, op.Edit, op.At)
	case "fork":
		src := replicas[op.Source]
		if src == nil || doc != nil || op.Actor == "" {
			return fmt.Errorf("fork: need an existing source, a new replica and an actor")
		}
		f, err := src.Fork()
		if err != nil {
			return err
		}
		if err := f.SetActorID(op.Actor); err != nil {
			return err
		}
		replicas[op.Replica] = f
		return nil
	case "merge":
		src := replicas[op.Source]
		if src == nil {
			return fmt.Errorf("merge: no replica %q", op.Source)
		}
		_, err := doc.Merge(src)
		return err
	case "set":
		value, err := decodeRaw(op.Value)
		if err != nil {
			return err
		}
		path := make([]any, len(op.Path))
		for i, p := range op.Path {
			if f, ok := p.(float64); ok {
				path[i] = int(f)
			} else {
				path[i] = p
			}
		}
		if err := doc.Path(path...).Set(value); err != nil {
			return err
		}
		at := op.At
		_, err = doc.Commit("raw", automerge.CommitOptions{Time: &at, AllowEmpty: true})
		return err
	}
	return fmt.Errorf("unknown operation %q in %s", op.Op, raw)
}

// proposalSpec builds the proposal fields of op.
func (op vectorOp) proposalSpec() crdt.ProposalSpec {
	return crdt.ProposalSpec{ID: op.ID, Kind: crdt.ProposalKind(op.Kind), Title: op.Title, Body: op.Body, ClosesAt: op.ClosesAt, Subject: op.Subject}
}

// decodeRaw turns the JSON value of a "set" operation into an Automerge
// value the way a JavaScript client writes it: strings as plain strings,
// integral numbers as ints, other numbers as floats, objects as maps,
// arrays as lists; and the tagged objects {"$text": s}, {"$timestamp":
// RFC 3339}, {"$uint": n}, {"$float": n}, {"$counter": n}, {"$bytes": s}.
func decodeRaw(raw json.RawMessage) (any, error) {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return rawValue(v)
}

func rawValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		return x.Float64()
	case []any:
		out := make([]any, len(x))
		for i := range x {
			var err error
			if out[i], err = rawValue(x[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, val := range x {
				switch k {
				case "$text":
					return automerge.NewText(fmt.Sprint(val)), nil
				case "$timestamp":
					return time.Parse(time.RFC3339Nano, fmt.Sprint(val))
				case "$uint":
					n, err := val.(json.Number).Int64()
					return uint64(n), err
				case "$float":
					return val.(json.Number).Float64()
				case "$counter":
					n, err := val.(json.Number).Int64()
					return automerge.NewCounter(n), err
				case "$bytes":
					return []byte(fmt.Sprint(val)), nil
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, val := range x {
			var err error
			if out[k], err = rawValue(val); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported JSON value %v", v)
}
