package crdt_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
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
	Others      []string          `json:"others"`   // replicas whose councils resolve seats and pledges
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

// run is the state of one vector's replay: its replicas and the change
// of each labelled operation.
type run struct {
	replicas map[string]*automerge.Doc
	labels   map[string]string // label → hex hash of the change it made
}

// placeholder matches {council:<replica>}, {key:<seed>} and
// {change:<label>} in a vector's text.
var placeholder = regexp.MustCompile(`\{(council|key|change):([A-Za-z0-9._-]+)\}`)

// subst replaces the placeholders of s: the id of the council founded in a
// replica's document, the public key of a test key seed, the hash of a
// labelled operation's change.
func (r *run) subst(t *testing.T, s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		p := placeholder.FindStringSubmatch(m)
		switch p[1] {
		case "council":
			if id := councilOf(r.replicas[p[2]]); id != "" {
				return id
			}
		case "key":
			return pub(p[2])
		case "change":
			if h, ok := r.labels[p[2]]; ok {
				return h
			}
		}
		t.Fatalf("placeholder %s names nothing (yet)", m)
		return ""
	})
}

// runVector replays v's operations and compares the view.
func runVector(t *testing.T, v vector) {
	r := &run{replicas: map[string]*automerge.Doc{"main": automerge.New()}, labels: map[string]string{}}
	replicas := r.replicas
	must(t, replicas["main"].SetActorID(defaultActor))
	for i, raw := range v.Operations {
		raw = json.RawMessage(r.subst(t, string(raw)))
		var op vectorOp
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&op); err != nil {
			t.Fatalf("operation %d: %v", i, err)
		}
		if op.Replica == "" {
			op.Replica = "main"
		}
		doc := replicas[op.Replica]
		if doc == nil && op.Op != "fork" && op.Op != "new" {
			t.Fatalf("operation %d (%s): no replica %q", i, op.Op, op.Replica)
		}
		before := ""
		if doc != nil {
			before = string(doc.Save())
		}
		err := applyVectorOp(t, r, op, raw)
		switch {
		case op.Error == "" && err != nil:
			t.Fatalf("operation %d (%s): %v", i, op.Op, err)
		case op.Error != "" && crdt.ErrorCode(err) != crdt.Code(op.Error):
			t.Fatalf("operation %d (%s): err = %v, want code %q", i, op.Op, err, op.Error)
		case op.Error != "" && string(doc.Save()) != before:
			t.Fatalf("operation %d (%s): refused but changed the document", i, op.Op)
		}
		if op.Label != "" {
			h := must1[[]crdt.HistoryEntry](t)(crdt.History(replicas[op.Replica]))
			if _, dup := r.labels[op.Label]; dup || len(h) == 0 {
				t.Fatalf("operation %d: label %q used twice or no change", i, op.Label)
			}
			r.labels[op.Label] = h[len(h)-1].Hash
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
	views := map[string]crdt.View{}
	for _, o := range v.Others {
		ov, _ := readAny(replicas[o], v.Now)
		views[ov.ID] = ov
	}
	log := crdt.NewLog()
	must(t, log.Update(doc))
	view, problems := crdt.ReadLog(doc, log, councilOf(doc), v.Now, func(id string) (crdt.View, bool) { ov, ok := views[id]; return ov, ok })
	if len(v.Others) == 0 {
		// Without other councils, ReadLog is Read.
		v2, p2 := crdt.Read(doc, councilOf(doc), v.Now)
		if asJSON(t, v2) != asJSON(t, view) || asJSON(t, p2) != asJSON(t, problems) {
			t.Error("Read and ReadLog differ")
		}
	}
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
	if err := json.Unmarshal([]byte(r.subst(t, string(v.Expected))), &want); err != nil {
		t.Fatal(err)
	}
	if diffs := match("", want, got); len(diffs) > 0 {
		t.Errorf("view differs from expected:\n  %s\nview: %s", strings.Join(diffs, "\n  "), asJSON(t, view))
	}
	got2 := paths(problems)
	if v.Problems != nil {
		want := []string{}
		for _, p := range *v.Problems {
			want = append(want, r.subst(t, p))
		}
		sort.Strings(want)
		want = slices.Compact(want)
		if !reflect.DeepEqual(got2, want) {
			t.Errorf("problem paths = %q, want %q\nproblems: %v", got2, want, problems)
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
		if u, ok := w["$unordered"].([]any); ok && len(w) == 1 {
			return matchUnordered(path, u, got)
		}
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

// matchUnordered matches the array got against want in any order: each
// element of want matches a different element of got, and the lengths are
// equal ({"$unordered": [...]} in a vector, for lists ordered by random
// ids such as council ids).
func matchUnordered(path string, want []any, got any) []string {
	g, ok := got.([]any)
	if !ok || len(g) != len(want) {
		return []string{fmt.Sprintf("%s: want %d elements in any order, got %v", path, len(want), got)}
	}
	used := make([]bool, len(g))
	for i, w := range want {
		found := false
		for j := range g {
			if !used[j] && len(match(path, w, g[j])) == 0 {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return []string{fmt.Sprintf("%s: element %d of want (%v) matches none of %v", path, i, w, got)}
		}
	}
	return nil
}

// vectorOp holds the fields of a vector operation; which are used depends
// on Op.
type vectorOp struct {
	Op      string    `json:"op"`
	Replica string    `json:"replica"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
	Label   string    `json:"label"`

	By        string          `json:"by"`
	SignWith  string          `json:"signWith"` // seed of the signing key; by if empty
	Custodial bool            `json:"custodial"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Region    string          `json:"region"`
	Rule      *crdt.Rule      `json:"rule"`
	Founder   *founderArg     `json:"founder"`
	Role      string          `json:"role"`
	KeySeed   string          `json:"keySeed"`
	Key       string          `json:"key"`
	Title     string          `json:"title"`
	Body      string          `json:"body"`
	ClosesAt  time.Time       `json:"closesAt"`
	Subject   string          `json:"subject"`
	Mandate   json.RawMessage `json:"mandate"`
	Proposal  string          `json:"proposal"`
	Choice    string          `json:"choice"`
	Edit      crdt.TextEdit   `json:"edit"`
	Text      string          `json:"text"`
	Item      string          `json:"item"`
	Quantity  float64         `json:"quantity"`
	Unit      string          `json:"unit"`
	From      time.Time       `json:"from"`
	Until     time.Time       `json:"until"`
	Note      string          `json:"note"`
	Offer     string          `json:"offer"`
	Need      string          `json:"need"`
	Council   string          `json:"council"`
	Fed       string          `json:"federation"`
	Notes     string          `json:"notes"`
	Minutes   string          `json:"minutes"`
	Source    string          `json:"source"`
	Actor     string          `json:"actor"`
	Path      []any           `json:"path"`
	Value     json.RawMessage `json:"value"`
	Message   string          `json:"message"`
	Record    *recordArg      `json:"record"`
	State     []stateWrite    `json:"state"`
	Tamper    string          `json:"tamper"`
	Change    string          `json:"change"`
	Redate    time.Time       `json:"redate"`
}

// founderArg is the "founder" argument of create-council.
type founderArg struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// recordArg is the "record" argument of forge: a record made by hand.
type recordArg struct {
	Council *string           `json:"council"` // the replica's council if absent
	Op      string            `json:"op"`
	By      string            `json:"by"`
	At      time.Time         `json:"at"` // the operation's at if zero
	Args    map[string]string `json:"args"`
}

// stateWrite is one raw write of a forge operation: set value at path, or
// delete it if delete is true.
type stateWrite struct {
	Path   []any           `json:"path"`
	Value  json.RawMessage `json:"value"`
	Delete bool            `json:"delete"`
}

// mandateArg is the "mandate" argument of propose-mandate.
type mandateArg struct {
	ID       string `json:"id"`
	Task     string `json:"task"`
	Body     string `json:"body"`
	Delegate string `json:"delegate"`
}

// signer returns the signer of op: member by, with the test key of
// signWith (or by), on the council of doc.
func (op vectorOp) signer(doc *automerge.Doc) crdt.Signer {
	seed := op.SignWith
	if seed == "" {
		seed = op.By
	}
	return crdt.Signer{Council: councilOf(doc), Member: op.By, Key: testKey(seed), Custodial: op.Custodial}
}

// applyVectorOp runs one vector operation against the replicas.
func applyVectorOp(t *testing.T, r *run, op vectorOp, raw json.RawMessage) error {
	replicas := r.replicas
	doc := replicas[op.Replica]
	s := op.signer(doc)
	switch op.Op {
	case "create-council":
		rule := crdt.Rule{}
		if op.Rule != nil {
			rule = *op.Rule
		}
		spec := crdt.CouncilSpec{Name: op.Name, Kind: crdt.CouncilKind(op.Kind), Region: op.Region, Rule: rule}
		if op.Founder != nil {
			spec.Founder = crdt.MemberSpec{ID: op.Founder.ID, Name: op.Founder.Name, Role: op.Founder.Role}
			s.Member = op.Founder.ID
			if op.SignWith == "" {
				s.Key = testKey(op.Founder.ID)
			}
		}
		_, err := crdt.CreateCouncil(doc, spec, s, op.At)
		return err
	case "join":
		seed := op.KeySeed
		if seed == "" {
			seed = op.ID
		}
		_, err := crdt.Join(doc, s, crdt.MemberSpec{ID: op.ID, Name: op.Name, Role: op.Role, Key: pub(seed), Custodial: op.Key == "custodial"}, op.At)
		return err
	case "take-seat":
		_, err := crdt.TakeSeat(doc, s, crdt.SeatSpec{ID: op.ID, Name: op.Name, Role: op.Role, Council: op.Council, Mandate: string(bytes.Trim(op.Mandate, `"`))}, op.At)
		return err
	case "add-key":
		return crdt.AddKey(doc, s, pub(op.KeySeed), op.Key == "custodial", op.At)
	case "retire-key":
		return crdt.RetireKey(doc, s, pub(op.KeySeed), op.At)
	case "leave":
		return crdt.Leave(doc, s, op.At)
	case "propose":
		_, err := crdt.Propose(doc, s, op.proposalSpec(), op.At)
		return err
	case "propose-mandate":
		var m mandateArg
		if err := json.Unmarshal(op.Mandate, &m); err != nil {
			return err
		}
		_, _, err := crdt.ProposeMandate(doc, s, op.proposalSpec(),
			crdt.MandateSpec{ID: m.ID, Task: m.Task, Body: m.Body, Delegate: m.Delegate}, op.At)
		return err
	case "edit-proposal":
		return crdt.EditProposal(doc, s, op.Proposal, op.Edit, op.At)
	case "withdraw-proposal":
		return crdt.WithdrawProposal(doc, s, op.Proposal, op.At)
	case "vote":
		return crdt.CastVote(doc, s, op.Proposal, crdt.Choice(op.Choice), op.At)
	case "report", "resign", "complete":
		var id string
		if err := json.Unmarshal(op.Mandate, &id); err != nil {
			return err
		}
		switch op.Op {
		case "report":
			return crdt.SubmitReport(doc, s, id, op.Text, op.At)
		case "resign":
			return crdt.Resign(doc, s, id, op.At)
		default:
			return crdt.Complete(doc, s, id, op.At)
		}
	case "post-offer", "post-need":
		var err error
		spec := crdt.ProduceSpec{ID: op.ID, Item: op.Item, Quantity: op.Quantity, Unit: op.Unit, From: op.From, Until: op.Until, Note: op.Note}
		if op.Op == "post-offer" {
			_, err = crdt.PostOffer(doc, s, spec, op.At)
		} else {
			_, err = crdt.PostNeed(doc, s, spec, op.At)
		}
		return err
	case "withdraw-offer":
		return crdt.WithdrawOffer(doc, s, op.Offer, op.At)
	case "withdraw-need":
		return crdt.WithdrawNeed(doc, s, op.Need, op.At)
	case "pledge":
		_, err := crdt.MakePledge(doc, s, crdt.PledgeSpec{ID: op.ID, Need: op.Need, Offer: op.Offer, Council: op.Council, Quantity: op.Quantity, Unit: op.Unit}, op.At)
		return err
	case "join-federation":
		return crdt.JoinFederation(doc, s, op.Fed, op.At)
	case "leave-federation":
		return crdt.LeaveFederation(doc, s, op.Fed, op.At)
	case "admit-council":
		return crdt.AdmitCouncil(doc, s, op.Council, op.At)
	case "remove-council":
		return crdt.RemoveCouncil(doc, s, op.Council, op.At)
	case "start-minutes":
		_, err := crdt.StartMinutes(doc, s, crdt.MinutesSpec{ID: op.ID, Title: op.Title, Notes: op.Notes}, op.At)
		return err
	case "edit-minutes":
		return crdt.EditMinutes(doc, s, op.Minutes, op.Edit, op.At)
	case "new":
		if doc != nil || op.Actor == "" {
			return fmt.Errorf("new: need a new replica and an actor")
		}
		d := automerge.New()
		if err := d.SetActorID(op.Actor); err != nil {
			return err
		}
		replicas[op.Replica] = d
		return nil
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
	case "set", "delete":
		w := stateWrite{Path: op.Path, Value: op.Value, Delete: op.Op == "delete"}
		if err := w.apply(doc); err != nil {
			return err
		}
		return commitAt(doc, cmp.Or(op.Message, "raw"), op.At)
	case "forge":
		return forgeOp(r, doc, op)
	case "replay":
		return replayOp(r, doc, op)
	}
	return fmt.Errorf("unknown operation %q in %s", op.Op, raw)
}

// apply makes the write in doc.
func (w stateWrite) apply(doc *automerge.Doc) error {
	path := make([]any, len(w.Path))
	for i, p := range w.Path {
		if f, ok := p.(float64); ok {
			path[i] = int(f)
		} else {
			path[i] = p
		}
	}
	if w.Delete {
		return doc.Path(path...).Delete()
	}
	value, err := decodeRaw(w.Value)
	if err != nil {
		return err
	}
	return doc.Path(path...).Set(value)
}

// commitAt commits doc's pending writes as one change.
func commitAt(doc *automerge.Doc, msg string, when time.Time) error {
	_, err := doc.Commit(msg, automerge.CommitOptions{Time: &when, AllowEmpty: true})
	return err
}

// forgeOp commits a change carrying a record made by hand (see the README,
// "Records"), with the state writes given; tamper garbles it.
func forgeOp(r *run, doc *automerge.Doc, op vectorOp) error {
	if op.Record == nil {
		return fmt.Errorf("forge: no record")
	}
	rec := record{council: councilOf(doc), op: crdt.Op(op.Record.Op), by: op.Record.By, at: op.Record.At, args: op.Record.Args}
	if op.Record.Council != nil {
		rec.council = *op.Record.Council
	}
	if rec.at.IsZero() {
		rec.at = op.At
	}
	seed := op.SignWith
	if seed == "" {
		seed = rec.by
	}
	rec.key = testKey(seed)
	msg := rec.message()
	switch op.Tamper {
	case "":
	case "signature": // the 10th character from the end changed to 'A' (or 'B')
		b := []byte(msg)
		if i := len(b) - 10; b[i] != 'A' {
			b[i] = 'A'
		} else {
			b[i] = 'B'
		}
		msg = string(b)
	case "unsigned": // the summary line alone
		msg, _, _ = strings.Cut(msg, "\n")
	case "garbled": // the record line cut short
		msg = msg[:len(msg)-20]
	default:
		return fmt.Errorf("forge: unknown tamper %q", op.Tamper)
	}
	for _, w := range op.State {
		if err := w.apply(doc); err != nil {
			return err
		}
	}
	return commitAt(doc, msg, op.At)
}

// replayOp copies the message of a labelled change (op.Change, made in any
// replica) into a new change of doc, with the state writes given. With
// redate, the record's time is changed in its payload and the signature
// kept.
func replayOp(r *run, doc *automerge.Doc, op vectorOp) error {
	var msg string
	for _, d := range r.replicas {
		changes, err := d.Changes()
		if err != nil {
			return err
		}
		for _, c := range changes {
			if c.Hash().String() == op.Change {
				msg = c.Message()
			}
		}
	}
	if msg == "" {
		return fmt.Errorf("replay: no change %q", op.Change)
	}
	if !op.Redate.IsZero() {
		rec, err := crdt.ParseRecord(msg)
		if err != nil {
			return err
		}
		payload := strings.Replace(string(rec.Payload), fmt.Sprintf(`"at":%d`, rec.At.UnixMilli()), fmt.Sprintf(`"at":%d`, op.Redate.UnixMilli()), 1)
		summary, _, _ := strings.Cut(msg, "\n")
		msg = summary + "\nveche-fact/1 " + b64(payload) + " " + b64(string(rec.Sig))
	}
	for _, w := range op.State {
		if err := w.apply(doc); err != nil {
			return err
		}
	}
	return commitAt(doc, msg, op.At)
}

// proposalSpec builds the proposal fields of op.
func (op vectorOp) proposalSpec() crdt.ProposalSpec {
	return crdt.ProposalSpec{ID: op.ID, Kind: crdt.ProposalKind(op.Kind), Title: op.Title, Body: op.Body, ClosesAt: op.ClosesAt, Subject: op.Subject, Rule: op.Rule}
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
