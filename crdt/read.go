package crdt

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
)

// Read reads a council document and derives every status at now from its
// verified fact log (see Log.Derive): council is the document's id, which
// names its founding record (CouncilID). It never fails and never panics.
// Read keeps a Log per document (dropped when the document is collected),
// so signatures and records are checked once per change however often a
// document is read or written.
func Read(doc *automerge.Doc, council string, now time.Time) (view View, problems []Problem) {
	if doc == nil {
		return ReadLog(nil, NewLog(), council, now, nil)
	}
	withLog(doc, func(log *Log) { view, problems = ReadLog(doc, log, council, now, nil) })
	return view, problems
}

// ReadLog derives the view of doc at now from log, which must have been
// updated from doc, resolving facts that rest on other councils through
// others (may be nil). The view holds only what the verified log says,
// plus the collaborative texts (proposal bodies, minutes notes), which are
// unsigned content read from the document state. The document state is
// also read tolerantly and compared with the log: whatever it says that
// the log does not — a vote, a member, a departure, a rule, a federation
// link — is reported as a problem at its path, and counts for nothing.
//
// Problems are sorted by path. Reads may run concurrently with each other,
// not with writes to the same document or log.
func ReadLog(doc *automerge.Doc, log *Log, council string, now time.Time, others Councils) (view View, problems []Problem) {
	return readLog(doc, log, council, now, others, MaxSkew)
}

// readLog is ReadLog with records dated after now + skew left out.
func readLog(doc *automerge.Doc, log *Log, council string, now time.Time, others Councils, skew time.Duration) (view View, problems []Problem) {
	view, problems, _ = log.derive(council, now, others, skew)
	r := &reader{problems: problems}
	defer func() {
		if e := recover(); e != nil {
			r.problem("", "reading stopped: %v", e)
		}
		problems = r.sorted()
	}()
	if doc == nil {
		r.problem("", "no document")
		return view, nil
	}
	state := readState(doc, r)
	compareState(&view, state, r)
	return view, nil
}

// readState reads the document state tolerantly, as another client wrote
// it; nothing in it is trusted.
func readState(doc *automerge.Doc, r *reader) View {
	view := newView(time.Time{})
	root, _ := r.object(doc.Root(), "", true)
	view.Schema = r.readSchema(root)
	view.Council = r.readCouncil(root)
	view.Members = r.readMembers(root)
	view.Proposals = r.readProposals(root)
	view.Mandates = r.readMandates(root)
	view.Exchange = r.readExchange(root)
	view.Federation = r.readFederation(root)
	view.Minutes = r.readMinutes(root)
	return view
}

// derive computes every derived field of v at v.Now, reporting dangling
// references. ruleAt gives the rule in force at a proposal's time.
func derive(v *View, r *reader, ruleAt func(time.Time) Rule, others Councils) {
	members := make(map[string]*Member, len(v.Members))
	for i := range v.Members {
		m := &v.Members[i]
		m.Active = m.ActiveAt(v.Now)
		members[m.ID] = m
	}
	proposals := make(map[string]*Proposal, len(v.Proposals))
	recalls := map[string][]*Proposal{}
	for i := range v.Proposals {
		p := &v.Proposals[i]
		proposals[p.ID] = p
		decide(p, members, ruleAt(p.At), v.Now)
		if p.Kind == ProposalRecall {
			recalls[p.Subject] = append(recalls[p.Subject], p) // in (at, id) order
		}
	}
	for i := range v.Mandates {
		m := &v.Mandates[i]
		// A delegate's membership ending ends the mandate: expelled, as by a
		// recall (the expel proposal recalls it); left, as by resigning.
		var left *time.Time
		rs := recalls[m.ID]
		if d := members[m.Delegate]; d != nil && d.LeftAt != nil {
			if x := proposals[d.ExpelledBy]; x != nil {
				rs = append(slices.Clone(rs), x)
			} else {
				left = d.LeftAt
			}
		}
		deriveMandate(m, proposals, rs, left, v.Now)
	}
	derivePledges(&v.Exchange, v.Now, r, others)
}

// reader collects problems while reading.
type reader struct {
	problems []Problem
}

// problem records a problem at path.
func (r *reader) problem(path, format string, args ...any) {
	r.problems = append(r.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// sorted returns the problems sorted by path, then message.
func (r *reader) sorted() []Problem {
	p := slices.Clone(r.problems)
	if p == nil {
		p = []Problem{}
	}
	slices.SortStableFunc(p, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Message, b.Message))
	})
	return p
}

// object is a map value of the document being read.
type object struct {
	r    *reader
	path string
	vals map[string]*automerge.Value
}

// isAbsent reports whether v stands for "no value": missing or null.
func isAbsent(v *automerge.Value) bool {
	return v == nil || v.Kind() == automerge.KindVoid || v.Kind() == automerge.KindNull
}

// object reads v as a map. An absent v is a problem only if required.
func (r *reader) object(v *automerge.Value, path string, required bool) (object, bool) {
	o := object{r: r, path: path}
	if isAbsent(v) {
		if required {
			r.problem(path, "missing (want a map)")
		}
		return o, false
	}
	if v.Kind() != automerge.KindMap {
		r.problem(path, "want a map, got %s", kindName(v))
		return o, false
	}
	vals, err := v.Map().Values()
	if err != nil {
		r.problem(path, "unreadable map: %v", err)
		return o, false
	}
	o.vals = vals
	return o, true
}

// at returns the path of key in o.
func (o object) at(key string) string { return pointer(o.path, key) }

// missing reports a missing required field.
func (o object) missing(key, want string) {
	o.r.problem(o.at(key), "missing (want %s)", want)
}

// str reads a string (plain or Text).
func (o object) str(key string, required bool) string {
	v := o.vals[key]
	if isAbsent(v) {
		if required {
			o.missing(key, "a string")
		}
		return ""
	}
	s, err := asString(v)
	if err != nil {
		o.r.problem(o.at(key), "%v", err)
	}
	return s
}

// num reads a finite number.
func (o object) num(key string, required bool) (float64, bool) {
	v := o.vals[key]
	if isAbsent(v) {
		if required {
			o.missing(key, "a number")
		}
		return 0, false
	}
	n, err := asNumber(v)
	if err != nil {
		o.r.problem(o.at(key), "%v", err)
		return 0, false
	}
	return n, true
}

// time reads a timestamp.
func (o object) time(key string, required bool) time.Time {
	v := o.vals[key]
	if isAbsent(v) {
		if required {
			o.missing(key, "a timestamp")
		}
		return time.Time{}
	}
	t, err := asTime(v)
	if err != nil {
		o.r.problem(o.at(key), "%v", err)
	}
	return t
}

// optTime reads an optional timestamp; nil if absent or invalid.
func (o object) optTime(key string) *time.Time {
	v := o.vals[key]
	if isAbsent(v) {
		return nil
	}
	t, err := asTime(v)
	if err != nil {
		o.r.problem(o.at(key), "%v", err)
		return nil
	}
	return &t
}

// obj reads a nested map.
func (o object) obj(key string, required bool) (object, bool) {
	return o.r.object(o.vals[key], o.at(key), required)
}

// entries reads a nested map of maps keyed by id, in id order, skipping
// (with a problem) entries that are not maps.
func (o object) entries(key string, required bool) []object {
	m, ok := o.obj(key, required)
	if !ok {
		return nil
	}
	var out []object
	for _, id := range sortedKeys(m.vals) {
		if e, ok := m.r.object(m.vals[id], m.at(id), true); ok {
			out = append(out, e)
		}
	}
	return out
}

// list reads a nested list.
func (o object) list(key string, required bool) []*automerge.Value {
	v := o.vals[key]
	if isAbsent(v) {
		if required {
			o.missing(key, "a list")
		}
		return nil
	}
	if v.Kind() != automerge.KindList {
		o.r.problem(o.at(key), "want a list, got %s", kindName(v))
		return nil
	}
	vals, err := v.List().Values()
	if err != nil {
		o.r.problem(o.at(key), "unreadable list: %v", err)
		return nil
	}
	return vals
}

// id returns the last segment of o's path, unescaped: the entry's id.
func (o object) id() string {
	i := strings.LastIndex(o.path, "/")
	s := o.path[i+1:]
	s = strings.ReplaceAll(s, "~1", "/")
	return strings.ReplaceAll(s, "~0", "~")
}

// asString reads a plain string or an Automerge Text.
func asString(v *automerge.Value) (string, error) {
	switch v.Kind() {
	case automerge.KindStr:
		return v.Str(), nil
	case automerge.KindText:
		return v.Text().Get()
	}
	return "", fmt.Errorf("want a string, got %s", kindName(v))
}

// maxSafe is the largest integer a JavaScript number holds exactly.
const maxSafe = 1<<53 - 1

// asNumber reads an int, uint, float or counter as a finite float64.
func asNumber(v *automerge.Value) (float64, error) {
	var n float64
	switch v.Kind() {
	case automerge.KindInt64:
		n = float64(v.Int64())
	case automerge.KindUint64:
		n = float64(v.Uint64())
	case automerge.KindFloat64:
		n = v.Float64()
	case automerge.KindCounter:
		c, err := v.Counter().Get()
		if err != nil {
			return 0, fmt.Errorf("unreadable counter: %v", err)
		}
		n = float64(c)
	default:
		return 0, fmt.Errorf("want a number, got %s", kindName(v))
	}
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("want a finite number, got %v", n)
	}
	return n, nil
}

// minTime and maxTime bound the timestamps Read accepts: years 1 to 9999,
// the range JSON (RFC 3339) can show.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)
)

// asTime reads an Automerge timestamp, a number of milliseconds since the
// Unix epoch, or an RFC 3339 string, in UTC at millisecond precision.
func asTime(v *automerge.Value) (time.Time, error) {
	var t time.Time
	switch v.Kind() {
	case automerge.KindTime:
		t = v.Time()
	case automerge.KindInt64, automerge.KindUint64, automerge.KindFloat64, automerge.KindCounter:
		ms, err := asNumber(v)
		if err != nil {
			return time.Time{}, err
		}
		if ms < float64(minTime.UnixMilli()) || ms > float64(maxTime.UnixMilli()) {
			return time.Time{}, fmt.Errorf("timestamp %v ms is out of range", ms)
		}
		t = time.UnixMilli(int64(ms))
	case automerge.KindStr, automerge.KindText:
		s, err := asString(v)
		if err != nil {
			return time.Time{}, err
		}
		t, err = time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("want a timestamp, got the string %q", s)
		}
		t = msTime(t)
	default:
		return time.Time{}, fmt.Errorf("want a timestamp, got %s", kindName(v))
	}
	t = t.UTC()
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, fmt.Errorf("timestamp %v is out of range", t.UnixMilli())
	}
	return t, nil
}

// kindName names the kind of v for problems.
func kindName(v *automerge.Value) string {
	switch v.Kind() {
	case automerge.KindVoid:
		return "nothing"
	case automerge.KindNull:
		return "null"
	case automerge.KindBool:
		return "a bool"
	case automerge.KindBytes:
		return "bytes"
	case automerge.KindCounter:
		return "a counter"
	case automerge.KindFloat64:
		return "a float"
	case automerge.KindInt64:
		return "an int"
	case automerge.KindUint64:
		return "a uint"
	case automerge.KindStr:
		return "a string"
	case automerge.KindTime:
		return "a timestamp"
	case automerge.KindMap:
		return "a map"
	case automerge.KindList:
		return "a list"
	case automerge.KindText:
		return "a text"
	}
	return "an unknown value"
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// sortedIndex returns 0..n-1 ordered by key(i).
func sortedIndex(n int, key func(int) string) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return strings.Compare(key(a), key(b)) })
	return idx
}

// byTimeThenID orders entries by a time, then by id.
func byTimeThenID(at1, at2 time.Time, id1, id2 string) int {
	return cmp.Or(at1.Compare(at2), strings.Compare(id1, id2))
}

func (r *reader) readSchema(root object) string {
	v := root.vals[keySchema]
	if isAbsent(v) {
		r.problem("/schema", "missing; reading as %s", Schema)
		return ""
	}
	s, err := asString(v)
	if err != nil {
		r.problem("/schema", "%v; reading as %s", err, Schema)
		return ""
	}
	if s != Schema {
		r.problem("/schema", "unknown schema %q; reading as %s", s, Schema)
	}
	return s
}

func (r *reader) readCouncil(root object) Council {
	c := Council{Rule: DefaultRule}
	o, ok := root.obj(keyCouncil, true)
	if !ok {
		return c
	}
	c.Name = o.str("name", true)
	c.Kind = CouncilKind(o.str("kind", true))
	if c.Kind != "" && !c.Kind.Valid() {
		r.problem(o.at("kind"), "unknown council kind %q", c.Kind)
	}
	c.Region = o.str("region", false)
	c.CreatedAt = o.time("createdAt", true)
	rule, ok := o.obj("rule", true)
	if !ok {
		r.problem(o.at("rule"), "using the default rule (quorum %v, majority %v)", DefaultRule.Quorum, DefaultRule.Majority)
		return c
	}
	if q, ok := rule.num("quorum", true); ok {
		if q >= 0 && q <= 1 {
			c.Rule.Quorum = q
		} else {
			r.problem(rule.at("quorum"), "quorum %v is outside [0, 1]; using %v", q, DefaultRule.Quorum)
		}
	}
	if m, ok := rule.num("majority", true); ok {
		if m >= 0 && m < 1 {
			c.Rule.Majority = m
		} else {
			r.problem(rule.at("majority"), "majority %v is outside [0, 1); using %v", m, DefaultRule.Majority)
		}
	}
	return c
}

func (r *reader) readMembers(root object) []Member {
	out := []Member{}
	for _, o := range root.entries(keyMembers, true) {
		m := Member{
			ID:       o.id(),
			Name:     o.str("name", true),
			Role:     o.str("role", true),
			JoinedAt: o.time("joinedAt", true),
			LeftAt:   o.optTime("leftAt"),
		}
		if s, ok := o.obj("sentBy", false); ok {
			m.SentBy = &SentBy{Council: s.str("council", true), Mandate: s.str("mandate", true)}
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return byTimeThenID(a.JoinedAt, b.JoinedAt, a.ID, b.ID) })
	return out
}

func (r *reader) readProposals(root object) []Proposal {
	out := []Proposal{}
	for _, o := range root.entries(keyProposals, true) {
		p := Proposal{
			ID:          o.id(),
			Kind:        ProposalKind(o.str("kind", true)),
			Title:       o.str("title", true),
			Body:        o.str(keyBody, false),
			By:          o.str("by", true),
			At:          o.time("at", true),
			ClosesAt:    o.optTime("closesAt"),
			WithdrawnAt: o.optTime("withdrawnAt"),
			Subject:     o.str("subject", false),
			Votes:       []Vote{},
		}
		if p.Kind != "" && !p.Kind.Valid() {
			r.problem(o.at("kind"), "unknown proposal kind %q", p.Kind)
		}
		if (p.Kind == ProposalRecall || p.Kind == ProposalMandate) && p.Subject == "" {
			r.problem(o.at("subject"), "missing (a %s proposal names its mandate)", p.Kind)
		}
		for _, vo := range o.entries(keyVotes, false) {
			v := Vote{
				Member: vo.id(),
				Choice: Choice(vo.str("choice", true)),
				At:     vo.time("at", true),
			}
			if v.Choice != "" && !v.Choice.Valid() {
				r.problem(vo.at("choice"), "unknown choice %q; not counted", v.Choice)
			}
			p.Votes = append(p.Votes, v)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Proposal) int { return byTimeThenID(a.At, b.At, a.ID, b.ID) })
	return out
}

func (r *reader) readMandates(root object) []Mandate {
	out := []Mandate{}
	for _, o := range root.entries(keyMandates, true) {
		m := Mandate{
			ID:          o.id(),
			Task:        o.str("task", true),
			Body:        o.str("body", true),
			Delegate:    o.str("delegate", true),
			Proposal:    o.str("proposal", true),
			IssuedAt:    o.time("issuedAt", true),
			ResignedAt:  o.optTime("resignedAt"),
			CompletedAt: o.optTime("completedAt"),
			Reports:     []Report{},
		}
		for i, v := range o.list(keyReports, false) {
			ro, ok := r.object(v, pointer(o.at(keyReports), fmt.Sprint(i)), true)
			if !ok {
				continue
			}
			m.Reports = append(m.Reports, Report{
				At:   ro.time("at", true),
				By:   ro.str("by", true),
				Text: ro.str("text", true),
			})
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Mandate) int { return byTimeThenID(a.IssuedAt, b.IssuedAt, a.ID, b.ID) })
	return out
}

// produce holds the fields offers and needs share.
type produce struct {
	id, by, item, unit, note string
	quantity                 float64
	from, until, withdrawnAt *time.Time
	at                       time.Time
}

func (r *reader) readProduce(ex object, key string) []produce {
	var out []produce
	for _, o := range ex.entries(key, true) {
		p := produce{
			id:          o.id(),
			by:          o.str("by", true),
			item:        o.str("item", true),
			unit:        o.str("unit", true),
			note:        o.str("note", false),
			from:        o.optTime("from"),
			until:       o.optTime("until"),
			withdrawnAt: o.optTime("withdrawnAt"),
			at:          o.time("at", false),
		}
		if q, ok := o.num("quantity", true); ok {
			p.quantity = q
			if q <= 0 {
				r.problem(o.at("quantity"), "quantity %v is not positive", q)
			}
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b produce) int { return byTimeThenID(a.at, b.at, a.id, b.id) })
	return out
}

func (r *reader) readExchange(root object) Exchange {
	x := Exchange{Offers: []Offer{}, Needs: []Need{}, Pledges: []Pledge{}}
	ex, ok := root.obj(keyExchange, true)
	if !ok {
		return x
	}
	for _, p := range r.readProduce(ex, keyOffers) {
		x.Offers = append(x.Offers, Offer{
			ID: p.id, By: p.by, Item: p.item, Quantity: p.quantity, Unit: p.unit,
			From: p.from, Until: p.until, Note: p.note, At: p.at, WithdrawnAt: p.withdrawnAt,
		})
	}
	for _, p := range r.readProduce(ex, keyNeeds) {
		x.Needs = append(x.Needs, Need{
			ID: p.id, By: p.by, Item: p.item, Quantity: p.quantity, Unit: p.unit,
			From: p.from, Until: p.until, Note: p.note, At: p.at, WithdrawnAt: p.withdrawnAt,
		})
	}
	for _, o := range ex.entries(keyPledges, true) {
		p := Pledge{
			ID:      o.id(),
			Need:    o.str("need", true),
			Offer:   o.str("offer", false),
			Council: o.str("council", false),
			Unit:    o.str("unit", false),
			By:      o.str("by", true),
			At:      o.time("at", true),
		}
		if q, ok := o.num("quantity", true); ok {
			p.Quantity = q
			if q <= 0 {
				r.problem(o.at("quantity"), "quantity %v is not positive; not counted", q)
			}
		}
		x.Pledges = append(x.Pledges, p)
	}
	slices.SortFunc(x.Pledges, func(a, b Pledge) int { return byTimeThenID(a.At, b.At, a.ID, b.ID) })
	return x
}

func (r *reader) readLinks(fed object, key string) []FederationLink {
	out := []FederationLink{}
	m, ok := fed.obj(key, false)
	if !ok {
		return out
	}
	for _, id := range sortedKeys(m.vals) {
		l := FederationLink{Council: id}
		if o, ok := r.object(m.vals[id], m.at(id), true); ok {
			l.Since = o.time("since", true)
		}
		out = append(out, l)
	}
	return out
}

func (r *reader) readFederation(root object) Federation {
	f := Federation{MemberOf: []FederationLink{}, Members: []FederationLink{}}
	fed, ok := root.obj(keyFederation, false)
	if !ok {
		return f
	}
	f.MemberOf = r.readLinks(fed, keyMemberOf)
	f.Members = r.readLinks(fed, keyFedMembers)
	return f
}

func (r *reader) readMinutes(root object) []Minutes {
	out := []Minutes{}
	seen := map[string]bool{}
	for i, v := range root.list(keyMinutes, false) {
		o, ok := r.object(v, pointer("/minutes", fmt.Sprint(i)), true)
		if !ok {
			continue
		}
		m := Minutes{
			ID:    o.str("id", true),
			At:    o.time("at", true),
			Title: o.str("title", true),
			Notes: o.str(keyNotes, false),
			By:    o.str("by", true),
		}
		if m.ID != "" && seen[m.ID] {
			r.problem(o.at("id"), "duplicate minutes id %q", m.ID)
		}
		seen[m.ID] = true
		out = append(out, m)
	}
	return out
}
