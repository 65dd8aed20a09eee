package crdt

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// MaxSkew is how far in the future of the reading moment a record may be
// dated and still wait its turn ("not yet in effect"). A record dated
// later than now + MaxSkew is a problem, never a fact. Times are the
// signer's claim: a member can date their own record earlier than they
// made it (see "Rules of the log"), never anyone else's.
const MaxSkew = 10 * time.Minute

// Councils resolves other councils' verified views, for the facts of one
// document that rest on another's log: a delegate's seat in a federation
// (the mandate that sent them and the key they sign with live in their
// home council's log) and a pledge from another council. A relay passes
// the councils it holds; a reader without them reports such facts as
// unverifiable problems and does not count them.
type Councils func(id string) (View, bool)

// Fact is the verdict on one change of the history: the record it carries
// and whether that record counts.
type Fact struct {
	Hash string `json:"hash"`
	// Op and By are the record's operation and acting member; empty when
	// the change carries no record.
	Op Op     `json:"op,omitempty"`
	By string `json:"by,omitempty"`
	// Counted: the record is valid and part of the council's facts.
	Counted bool `json:"counted"`
	// Custodial: the record was signed with a key a relay holds for the
	// member.
	Custodial bool `json:"custodial,omitempty"`
	// Problem says why a record does not count ("" if it does, or if the
	// change carries no record).
	Problem string `json:"problem,omitempty"`
}

// keyState is one key of a member over time.
type keyState struct {
	info   KeyInfo
	member string
}

// replay builds a council's view from its verified records.
type replay struct {
	council string
	now     time.Time
	skew    time.Duration // records dated after now + skew are problems
	others  Councils
	r       *reader
	v       *View
	founded bool

	members   map[string]*Member
	keys      map[string]*keyState
	proposals map[string]*Proposal
	mandates  map[string]*Mandate
	offers    map[string]*Offer
	needs     map[string]*Need
	pledges   map[string]*Pledge
	memberOf  map[string]*FederationLink
	fedMember map[string]*FederationLink
	minutes   map[string]*Minutes
	rules     []ruleChange // rule timeline, by time
	pending   []*Proposal  // expel and rule proposals not yet in effect
	open      map[*Proposal]openCheck
	facts     map[string]*Fact
	factOrder []string
	current   string      // hash of the change being applied
	copies    [][2]string // (change hash, hash of the change whose record it repeats)
}

// ruleChange is the rule in force from At on.
type ruleChange struct {
	At   time.Time
	Rule Rule
}

// item is a record in replay order.
type item struct {
	rec  *Record
	hash string // change hash
	id   string // rec.ID(), computed once
}

// maxPasses bounds how many times the records of one millisecond are
// applied (see Derive).
const maxPasses = 8

// Derive replays the log's records for the council whose id is council
// and derives the view at now. Only valid records count: a well-formed
// record with a good signature, for this council, by a key that counts for
// its member at its time, that keeps the rules of its operation (see the
// package documentation). Everything else is reported as a problem under
// "/log/<change hash>". Records are replayed in the order of their time,
// then their id, so the result does not depend on the order in which
// changes were merged. If council is empty, the one founding record in
// the log is trusted (with a problem if there are several).
//
// The view has no collaborative texts (proposal bodies, minutes notes):
// those are unsigned content that Read takes from the document state.
func (l *Log) Derive(council string, now time.Time, others Councils) (View, []Problem, []Fact) {
	return l.derive(council, now, others, MaxSkew)
}

// derive is Derive with records dated after now + skew left out (as
// problems). Operations validate with skew 0: against the facts dated at
// or before their own time, which are the facts the replay applies before
// their record.
func (l *Log) derive(council string, now time.Time, others Councils, skew time.Duration) (View, []Problem, []Fact) {
	now = now.UTC()
	v := newView(now)
	p := &replay{
		council: council, now: now, skew: skew, others: others, r: &reader{}, v: &v,
		members: map[string]*Member{}, keys: map[string]*keyState{}, proposals: map[string]*Proposal{},
		mandates: map[string]*Mandate{}, offers: map[string]*Offer{}, needs: map[string]*Need{},
		pledges: map[string]*Pledge{}, memberOf: map[string]*FederationLink{}, fedMember: map[string]*FederationLink{},
		minutes: map[string]*Minutes{}, facts: map[string]*Fact{}, open: map[*Proposal]openCheck{},
	}
	items := p.collect(l)
	for i := 0; i < len(items); {
		// Records of one millisecond may depend on each other (a member
		// admitted, then acting, at the same moment), whatever their id
		// order: apply the group again while that admits more of it, at
		// most maxPasses times (a chain of records signed to come in
		// reverse order would otherwise cost a pass per record).
		j := i + 1
		for j < len(items) && items[j].rec.At.Equal(items[i].rec.At) {
			j++
		}
		p.advance(items[i].rec.At)
		pending := items[i:j]
		for pass := 1; ; pass++ {
			var failed []item
			var why []string
			for _, it := range pending {
				p.current = it.hash
				if err := p.apply(it.rec); err != "" {
					failed, why = append(failed, it), append(why, err)
					continue
				}
				f := p.facts[it.hash]
				f.Counted = true
				if k := p.keys[it.rec.Key]; k != nil {
					f.Custodial = k.info.Custodial
				}
			}
			if len(failed) == 0 || len(failed) == len(pending) || pass == maxPasses {
				for k, it := range failed {
					p.reject(it.hash, it.rec, why[k])
				}
				break
			}
			pending = failed
		}
		i = j
	}
	p.advance(now)
	p.finish()
	for _, c := range p.copies {
		f, first := p.facts[c[0]], p.facts[c[1]]
		f.Counted, f.Custodial = first.Counted, first.Custodial
	}
	facts := make([]Fact, 0, len(p.factOrder))
	for _, h := range p.factOrder {
		facts = append(facts, *p.facts[h])
	}
	return v, p.r.sorted(), facts
}

// collect checks what can be checked of each record alone and returns the
// records to replay, in (time, id) order, each once.
func (p *replay) collect(l *Log) []item {
	var items []item
	seen := map[string]string{} // record id → hash of its first change
	var founding []item
	for _, e := range l.entries {
		if e.Record == nil && e.Err == nil {
			continue // no record: text edits, stock clients' changes
		}
		f := &Fact{Hash: e.Hash}
		p.facts[e.Hash] = f
		p.factOrder = append(p.factOrder, e.Hash)
		if e.Err != nil {
			f.Problem = e.Err.Error()
			p.r.problem(pointer("/log", e.Hash), "%s; not counted", f.Problem)
			continue
		}
		rec := e.Record
		f.Op, f.By = rec.Op, rec.By
		id := rec.ID()
		if first, ok := seen[id]; ok {
			// The fact counts once, through its first copy; the copy gets
			// the same verdict once the log is replayed.
			f.Problem = "a copy of a record already in the log"
			p.copies = append(p.copies, [2]string{e.Hash, first})
			continue
		}
		seen[id] = e.Hash
		switch {
		case rec.Op == OpCreateCouncil:
			founding = append(founding, item{rec, e.Hash, id})
			continue
		case rec.At.After(p.now.Add(p.skew)):
			p.reject(e.Hash, rec, fmt.Sprintf("dated %v, in the future", rec.At.Format(time.RFC3339)))
			continue
		case p.council != "" && rec.Council != p.council:
			p.reject(e.Hash, rec, fmt.Sprintf("a record of council %q, not this one", rec.Council))
			continue
		}
		items = append(items, item{rec, e.Hash, id})
	}
	p.pickFounding(founding)
	if p.council == "" {
		// Trusting the founding record: records must name the council it founded.
		items = slices.DeleteFunc(items, func(it item) bool {
			if it.rec.Council != p.v.ID {
				p.reject(it.hash, it.rec, fmt.Sprintf("a record of council %q, not this one", it.rec.Council))
				return true
			}
			return false
		})
	}
	slices.SortFunc(items, func(a, b item) int {
		return cmp.Or(a.rec.At.Compare(b.rec.At), cmp.Compare(a.id, b.id))
	})
	return items
}

// pickFounding finds the founding record that names this council.
func (p *replay) pickFounding(founding []item) {
	// In id order, so that trusting the first one (council "") does not
	// depend on merge order.
	slices.SortFunc(founding, func(a, b item) int { return cmp.Compare(a.id, b.id) })
	var chosen *item
	for i := range founding {
		it := &founding[i]
		id := CouncilID(it.rec.Payload)
		switch {
		case p.council != "" && id != p.council:
			p.reject(it.hash, it.rec, fmt.Sprintf("founds council %q, not this one", id))
		case chosen != nil:
			p.reject(it.hash, it.rec, "a second founding record")
		default:
			chosen = it
		}
	}
	if chosen == nil {
		p.r.problem("/log", "no founding record for this council: nothing counts")
		return
	}
	if err := p.found(chosen.rec); err != "" {
		p.reject(chosen.hash, chosen.rec, err)
		return
	}
	f := p.facts[chosen.hash]
	f.Counted, f.Custodial = true, chosen.rec.Arg("custodial") == "true"
}

// reject records that a record does not count.
func (p *replay) reject(hash string, rec *Record, why string) {
	f := p.facts[hash]
	f.Counted, f.Problem = false, why
	p.r.problem(pointer("/log", hash), "%s %s by %q: %s; not counted", rec.Op, rec.At.Format(time.RFC3339), rec.By, why)
}

// found applies the founding record.
func (p *replay) found(rec *Record) string {
	rule, err := parseRule(rec.Args)
	if err != "" {
		return err
	}
	kind := CouncilKind(rec.Arg("kind"))
	switch {
	case rec.Council != "":
		return "a founding record names no council"
	case rec.Arg("name") == "":
		return "no council name"
	case !kind.Valid():
		return fmt.Sprintf("council kind %q is not valid", kind)
	case rec.Arg("member") != rec.By:
		return "the founder must sign the founding record"
	}
	p.founded = true
	p.v.ID = CouncilID(rec.Payload)
	if p.council == "" {
		p.council = p.v.ID
	}
	p.v.Schema = Schema
	p.v.Council = Council{Name: rec.Arg("name"), Kind: kind, Region: rec.Arg("region"), CreatedAt: rec.At, Rule: rule}
	p.v.foundingRule = rule
	p.rules = []ruleChange{{rec.At, rule}}
	return p.admit(rec, rec.By, rec.Arg("member-name"), rec.Arg("member-role"), rec.Key, rec.Arg("custodial") == "true", nil)
}

// parseRule reads the quorum and majority arguments.
func parseRule(args map[string]string) (Rule, string) {
	q, err1 := strconv.ParseFloat(args["quorum"], 64)
	m, err2 := strconv.ParseFloat(args["majority"], 64)
	r := Rule{Quorum: q, Majority: m}
	if err1 != nil || err2 != nil || !r.Valid() {
		return Rule{}, fmt.Sprintf("rule quorum %q, majority %q is not valid", args["quorum"], args["majority"])
	}
	return r, ""
}

// admit adds a member with one key.
func (p *replay) admit(rec *Record, id, name, role, key string, custodial bool, sentBy *SentBy) string {
	switch {
	case !ValidID(id):
		return fmt.Sprintf("member id %q is not valid", id)
	case p.members[id] != nil:
		return fmt.Sprintf("member %q already exists", id)
	case name == "":
		return "no member name"
	}
	if _, err := DecodeKey(key); err != nil {
		return "the new member's " + err.Error()
	}
	if p.keys[key] != nil {
		return "the key already belongs to a member"
	}
	m := &Member{ID: id, Name: name, Role: role, JoinedAt: rec.At, SentBy: sentBy, AdmittedBy: rec.By}
	p.members[id] = m
	p.addKey(m, key, custodial, rec.At)
	return ""
}

// addKey adds a key to member m from at.
func (p *replay) addKey(m *Member, key string, custodial bool, at time.Time) {
	k := &keyState{info: KeyInfo{Key: key, Custodial: custodial, AddedAt: at}, member: m.ID}
	p.keys[key] = k
	m.Keys = append(m.Keys, k.info)
}

// retireKey ends a key at at (if it is not retired earlier).
func (p *replay) retireKey(key string, at time.Time) {
	k := p.keys[key]
	if k == nil || k.info.RetiredAt != nil && !k.info.RetiredAt.After(at) {
		return
	}
	k.info.RetiredAt = &at
	m := p.members[k.member]
	for i := range m.Keys {
		if m.Keys[i].Key == key {
			m.Keys[i].RetiredAt = &at
		}
	}
}

// signer checks that rec's key counts for its member at its time and that
// the member is active then.
func (p *replay) signer(rec *Record) (*Member, string) {
	if !p.founded {
		return nil, "the council's founding record is missing"
	}
	k := p.keys[rec.Key]
	switch {
	case k == nil:
		return nil, "signed with a key that is not a member's"
	case k.member != rec.By:
		return nil, fmt.Sprintf("signed with a key of member %q, not of %q", k.member, rec.By)
	case k.info.AddedAt.After(rec.At):
		return nil, "signed with a key added only later"
	case k.info.RetiredAt != nil && !k.info.RetiredAt.After(rec.At):
		return nil, "signed with a retired key"
	}
	m := p.members[rec.By]
	if !m.ActiveAt(rec.At) {
		return nil, fmt.Sprintf("member %q is not active then", rec.By)
	}
	return m, ""
}

// advance puts into effect the expel and rule proposals decided before t.
func (p *replay) advance(t time.Time) {
	for changed := true; changed; {
		changed = false
		departed := 0
		for _, m := range p.members {
			if m.LeftAt != nil && !m.LeftAt.After(t) {
				departed++
			}
		}
		for i := 0; i < len(p.pending); i++ {
			prop := p.pending[i]
			// Deciding is costly and advance runs for every millisecond of
			// the log: skip a proposal that cannot have closed since it was
			// last found open — its closing time is still ahead, or (without
			// one) no vote, member, departure or withdrawal came since.
			if prop.ClosesAt != nil && prop.ClosesAt.After(t) {
				continue
			}
			state := openState{len(prop.Votes), len(p.members), departed, prop.WithdrawnAt != nil}
			if last, ok := p.open[prop]; ok && prop.ClosesAt == nil && last.state == state && !t.Before(last.at) {
				continue
			}
			q := *prop
			q.Votes = slices.Clone(prop.Votes)
			decide(&q, p.members, p.ruleAt(q.At), t)
			if q.Outcome == OutcomeOpen {
				p.open[prop] = openCheck{state, t}
				continue
			}
			p.pending = slices.Delete(p.pending, i, i+1)
			i--
			if q.Outcome != OutcomePassed {
				continue
			}
			changed = true
			at := *q.ClosedAt
			switch prop.Kind {
			case ProposalExpel:
				if m := p.members[prop.Subject]; m != nil && (m.LeftAt == nil || m.LeftAt.After(at)) {
					m.LeftAt, m.ExpelledBy = &at, prop.ID
					for _, k := range m.Keys {
						p.retireKey(k.Key, at)
					}
				}
			case ProposalRule:
				p.rules = append(p.rules, ruleChange{at, *prop.NewRule})
				slices.SortStableFunc(p.rules, func(a, b ruleChange) int { return a.At.Compare(b.At) })
			}
		}
	}
}

// openState is what decides whether a pending proposal without a closing
// time has closed: its votes, the members, the departures and its
// withdrawal (see advance).
type openState struct {
	votes, members, departed int
	withdrawn                bool
}

// openCheck is the state in which a pending proposal was last found open,
// and when.
type openCheck struct {
	state openState
	at    time.Time
}

// ruleAt returns the rule in force at t: the founding rule, or the rule of
// the last rule proposal that passed at or before t.
func (p *replay) ruleAt(t time.Time) Rule {
	r := DefaultRule
	for _, c := range p.rules {
		if c.At.After(t) {
			break
		}
		r = c.Rule
	}
	return r
}

// apply checks one record against the facts so far and applies it. It
// returns why the record does not count, or "".
func (p *replay) apply(rec *Record) string {
	a := rec.Args
	if rec.Op == OpPledge && a["council"] != "" {
		return p.foreignPledge(rec)
	}
	m, err := p.signer(rec)
	if err != "" && rec.Op != OpSeat {
		return err
	}
	switch rec.Op {
	case OpJoin:
		var sent *SentBy
		if a["sent-council"] != "" || a["sent-mandate"] != "" {
			return "a delegate takes their seat themself (seat), not by admission"
		}
		return p.admit(rec, a["member"], a["name"], a["role"], a["key"], a["custodial"] == "true", sent)
	case OpSeat:
		if p.v.Council.Kind != KindFederation {
			return "only a federation seats delegates"
		}
		if !p.founded {
			return "the council's founding record is missing"
		}
		sent := &SentBy{Council: a["council"], Mandate: a["mandate"]}
		if !ValidID(sent.Council) || !ValidID(sent.Mandate) {
			return "a seat names the sending council and mandate"
		}
		// The seat is checked against the home council now, before the
		// delegate can act: records signed by an unverified delegate never
		// count.
		end, why := p.checkSeat(rec, sent)
		if why != "" {
			return why
		}
		if e := p.admit(rec, a["member"], a["name"], a["role"], rec.Key, false, sent); e != "" {
			return e
		}
		if end != nil {
			m := p.members[a["member"]]
			m.LeftAt = end
			p.retireKey(rec.Key, *end)
		}
		return ""
	case OpAddKey:
		if p.keys[a["key"]] != nil {
			return "the key already belongs to a member"
		}
		if _, e := DecodeKey(a["key"]); e != nil {
			return e.Error()
		}
		p.addKey(m, a["key"], a["custodial"] == "true", rec.At)
	case OpRetireKey:
		k := p.keys[a["key"]]
		if k == nil || k.member != m.ID {
			return "not one of the member's keys"
		}
		p.retireKey(a["key"], rec.At)
	case OpLeave:
		at := rec.At
		m.LeftAt = &at
		for _, k := range m.Keys {
			p.retireKey(k.Key, at)
		}
	case OpPropose, OpProposeMandate:
		return p.propose(rec)
	case OpWithdrawProposal:
		prop := p.proposals[a["proposal"]]
		switch {
		case prop == nil:
			return fmt.Sprintf("no proposal %q", a["proposal"])
		case prop.By != rec.By:
			return "only the proposer withdraws a proposal"
		case prop.WithdrawnAt != nil:
			return "already withdrawn"
		case rec.At.Before(prop.At):
			return "withdrawn before it was made"
		}
		at := rec.At
		prop.WithdrawnAt = &at
	case OpVote:
		prop := p.proposals[a["proposal"]]
		choice := Choice(a["choice"])
		switch {
		case prop == nil:
			return fmt.Sprintf("no proposal %q", a["proposal"])
		case !choice.Valid():
			return fmt.Sprintf("choice %q is not valid", choice)
		case rec.At.Before(prop.At):
			return "a vote before the proposal"
		}
		prop.Votes = append(prop.Votes, Vote{Member: rec.By, Choice: choice, At: rec.At, Custodial: p.custodial(rec)})
		if prop.signed == nil {
			prop.signed = map[string][]Choice{}
		}
		prop.signed[rec.By] = append(prop.signed[rec.By], choice)
	case OpReport, OpResign, OpComplete:
		md := p.mandates[a["mandate"]]
		switch {
		case md == nil:
			return fmt.Sprintf("no mandate %q", a["mandate"])
		case md.Delegate != rec.By:
			return "only the delegate acts on a mandate"
		case rec.At.Before(md.IssuedAt):
			return "before the mandate was proposed"
		}
		at := rec.At
		switch rec.Op {
		case OpReport:
			if a["text"] == "" {
				return "an empty report"
			}
			md.Reports = append(md.Reports, Report{At: at, By: rec.By, Text: a["text"]})
		case OpResign:
			if md.ResignedAt == nil {
				md.ResignedAt = &at
			}
		case OpComplete:
			if md.CompletedAt == nil {
				md.CompletedAt = &at
			}
		}
	case OpPostOffer, OpPostNeed:
		return p.post(rec)
	case OpWithdrawOffer, OpWithdrawNeed:
		var by string
		var w **time.Time
		if rec.Op == OpWithdrawOffer {
			if o := p.offers[a["offer"]]; o != nil {
				by, w = o.By, &o.WithdrawnAt
			}
		} else if n := p.needs[a["need"]]; n != nil {
			by, w = n.By, &n.WithdrawnAt
		}
		switch {
		case w == nil:
			return "no such offer or need"
		case by != rec.By:
			return "only the member who posted it withdraws it"
		case *w != nil:
			return "already withdrawn"
		}
		at := rec.At
		*w = &at
	case OpPledge:
		return p.pledge(rec, m)
	case OpJoinFederation, OpLeaveFederation, OpAdmitCouncil, OpRemoveCouncil:
		return p.link(rec)
	case OpStartMinutes:
		id := a["minutes"]
		if !ValidID(id) || p.minutes[id] != nil {
			return fmt.Sprintf("minutes id %q is not valid or taken", id)
		}
		if a["title"] == "" {
			return "no title"
		}
		p.minutes[id] = &Minutes{ID: id, At: rec.At, Title: a["title"], By: rec.By}
	default:
		return fmt.Sprintf("unknown operation %q", rec.Op)
	}
	return ""
}

// custodial reports whether rec was signed with a custodial key.
func (p *replay) custodial(rec *Record) bool {
	k := p.keys[rec.Key]
	return k != nil && k.info.Custodial
}

// propose applies a proposal (and, for a mandate proposal, its mandate).
func (p *replay) propose(rec *Record) string {
	a := rec.Args
	id := a["proposal"]
	kind := ProposalKind(a["kind"])
	if rec.Op == OpProposeMandate {
		kind = ProposalMandate
	}
	switch {
	case !ValidID(id) || p.proposals[id] != nil:
		return fmt.Sprintf("proposal id %q is not valid or taken", id)
	case !kind.Valid():
		return fmt.Sprintf("proposal kind %q is not valid", kind)
	case rec.Op == OpPropose && kind == ProposalMandate:
		return "a mandate proposal carries its mandate (propose-mandate)"
	case a["title"] == "":
		return "no title"
	}
	prop := &Proposal{ID: id, Kind: kind, Title: a["title"], By: rec.By, At: rec.At, Subject: a["subject"], Votes: []Vote{}, Custodial: p.custodial(rec)}
	if s := a["closes-at"]; s != "" {
		c, ok := parseMillis(s)
		if !ok || !c.After(rec.At) {
			return fmt.Sprintf("closing time %q is not after the proposal", s)
		}
		prop.ClosesAt = &c
	}
	switch kind {
	case ProposalGeneral:
		prop.Subject = ""
	case ProposalRecall:
		if p.mandates[prop.Subject] == nil {
			return fmt.Sprintf("recall of unknown mandate %q", prop.Subject)
		}
	case ProposalExpel:
		if p.members[prop.Subject] == nil {
			return fmt.Sprintf("expulsion of unknown member %q", prop.Subject)
		}
		p.pending = append(p.pending, prop)
	case ProposalRule:
		r, e := parseRule(a)
		if e != "" {
			return e
		}
		prop.NewRule = &r
		p.pending = append(p.pending, prop)
	case ProposalMandate:
		mid, body, delegate := a["mandate"], a["body"], a["member"]
		switch {
		case !ValidID(mid) || p.mandates[mid] != nil:
			return fmt.Sprintf("mandate id %q is not valid or taken", mid)
		case a["task"] == "":
			return "a mandate without a task"
		case p.members[delegate] == nil || !p.members[delegate].ActiveAt(rec.At):
			return fmt.Sprintf("delegate %q is not an active member", delegate)
		case p.memberOf[body] == nil:
			return fmt.Sprintf("mandate body %q is not a federation this council belongs to", body)
		}
		prop.Subject = mid
		p.mandates[mid] = &Mandate{ID: mid, Task: a["task"], Body: body, Delegate: delegate, Proposal: id, IssuedAt: rec.At, Reports: []Report{}}
	}
	p.proposals[id] = prop
	return ""
}

// post applies an offer or a need.
func (p *replay) post(rec *Record) string {
	a := rec.Args
	key := "offer"
	if rec.Op == OpPostNeed {
		key = "need"
	}
	id := a[key]
	q, err := strconv.ParseFloat(a["quantity"], 64)
	switch {
	case !ValidID(id) || p.offers[id] != nil || p.needs[id] != nil:
		return fmt.Sprintf("%s id %q is not valid or taken", key, id)
	case a["item"] == "" || a["unit"] == "":
		return "no item or unit"
	case err != nil || !(q > 0) || math.IsInf(q, 0):
		return fmt.Sprintf("quantity %q is not positive", a["quantity"])
	}
	from, _ := parseMillis(a["from"])
	until, _ := parseMillis(a["until"])
	o := Offer{ID: id, By: rec.By, Item: a["item"], Quantity: q, Unit: a["unit"], Note: a["note"], At: rec.At, Custodial: p.custodial(rec)}
	if !from.IsZero() {
		o.From = &from
	}
	if !until.IsZero() {
		o.Until = &until
	}
	if rec.Op == OpPostOffer {
		p.offers[id] = &o
	} else {
		p.needs[id] = &Need{ID: o.ID, By: o.By, Item: o.Item, Quantity: o.Quantity, Unit: o.Unit, From: o.From, Until: o.Until, Note: o.Note, At: o.At, Custodial: o.Custodial}
	}
	return ""
}

// pledge applies a pledge. A pledge from another council is checked
// against that council's log when it is available.
func (p *replay) pledge(rec *Record, m *Member) string {
	a := rec.Args
	id := a["pledge"]
	q, err := strconv.ParseFloat(a["quantity"], 64)
	switch {
	case !ValidID(id) || p.pledges[id] != nil:
		return fmt.Sprintf("pledge id %q is not valid or taken", id)
	case p.needs[a["need"]] == nil:
		return fmt.Sprintf("no need %q", a["need"])
	case err != nil || !(q > 0) || math.IsInf(q, 0):
		return fmt.Sprintf("quantity %q is not positive", a["quantity"])
	}
	p.pledges[id] = &Pledge{ID: id, Need: a["need"], Offer: a["offer"], Council: a["council"], Quantity: q, Unit: a["unit"], By: rec.By, At: rec.At, Custodial: p.custodial(rec)}
	return ""
}

// link applies a federation link, one side of it.
func (p *replay) link(rec *Record) string {
	links, key := p.memberOf, "federation"
	if rec.Op == OpAdmitCouncil || rec.Op == OpRemoveCouncil {
		if p.v.Council.Kind != KindFederation {
			return "only a federation admits councils"
		}
		links, key = p.fedMember, "council"
	}
	id := rec.Args[key]
	if !ValidID(id) || id == p.council {
		return fmt.Sprintf("%s %q is not valid", key, id)
	}
	switch rec.Op {
	case OpJoinFederation, OpAdmitCouncil:
		if links[id] != nil {
			return "already linked"
		}
		links[id] = &FederationLink{Council: id, Since: rec.At}
	default:
		if links[id] == nil {
			return "not linked"
		}
		delete(links, id)
	}
	return ""
}

// checkSeat checks a delegate's seat against the home council's verified
// view: the mandate named was active when they took the seat, for this
// federation, held by the member whose key signed the seat, and the home
// council is a member of this federation then. It returns when the seat
// ends (when the mandate does; nil while it is active) or why it does not
// count.
func (p *replay) checkSeat(rec *Record, sent *SentBy) (*time.Time, string) {
	if p.others == nil {
		return nil, "the sending council's log is not available here"
	}
	home, ok := p.others(sent.Council)
	if !ok {
		return nil, "the sending council's log is not available here"
	}
	md, ok := home.Mandate(sent.Mandate)
	delegate, _ := home.Member(md.Delegate)
	switch {
	case !ok:
		return nil, fmt.Sprintf("no mandate %q in the sending council", sent.Mandate)
	case md.Body != p.council:
		return nil, "the mandate sends the delegate elsewhere"
	case md.ApprovedAt == nil || md.ApprovedAt.After(rec.At) || md.EndedAt != nil && !md.EndedAt.After(rec.At):
		return nil, "the mandate was not active when the seat was taken"
	case md.Delegate != rec.By || !delegate.HasKey(rec.Key, rec.At):
		return nil, "the seat is not signed by the mandate's delegate"
	case p.fedMember[sent.Council] == nil:
		return nil, "the sending council is not a member of this federation"
	}
	if md.EndedAt != nil {
		end := *md.EndedAt
		return &end, ""
	}
	return nil, ""
}

// foreignPledge checks a pledge signed by a member of another council
// against that council's log, and applies it.
func (p *replay) foreignPledge(rec *Record) string {
	if !p.founded {
		return "the council's founding record is missing"
	}
	from := rec.Arg("council")
	if p.others == nil {
		return fmt.Sprintf("rests on council %q's log, which is not available here", from)
	}
	home, ok := p.others(from)
	if !ok {
		return fmt.Sprintf("rests on council %q's log, which is not available here", from)
	}
	m, ok := home.Member(rec.By)
	if !ok || !m.ActiveAt(rec.At) || !m.HasKey(rec.Key, rec.At) {
		return fmt.Sprintf("not signed by an active member of council %q", from)
	}
	return p.pledge(rec, nil)
}

// finish puts the replayed facts into the view, in its fixed orders, and
// derives every status at now.
func (p *replay) finish() {
	v := p.v
	for _, id := range sortedKeys(p.members) {
		v.Members = append(v.Members, *p.members[id])
	}
	slices.SortFunc(v.Members, func(a, b Member) int { return byTimeThenID(a.JoinedAt, b.JoinedAt, a.ID, b.ID) })
	for _, id := range sortedKeys(p.proposals) {
		v.Proposals = append(v.Proposals, *p.proposals[id])
	}
	slices.SortFunc(v.Proposals, func(a, b Proposal) int { return byTimeThenID(a.At, b.At, a.ID, b.ID) })
	for _, id := range sortedKeys(p.mandates) {
		v.Mandates = append(v.Mandates, *p.mandates[id])
	}
	slices.SortFunc(v.Mandates, func(a, b Mandate) int { return byTimeThenID(a.IssuedAt, b.IssuedAt, a.ID, b.ID) })
	for _, id := range sortedKeys(p.offers) {
		v.Exchange.Offers = append(v.Exchange.Offers, *p.offers[id])
	}
	slices.SortFunc(v.Exchange.Offers, func(a, b Offer) int { return byTimeThenID(a.At, b.At, a.ID, b.ID) })
	for _, id := range sortedKeys(p.needs) {
		v.Exchange.Needs = append(v.Exchange.Needs, *p.needs[id])
	}
	slices.SortFunc(v.Exchange.Needs, func(a, b Need) int { return byTimeThenID(a.At, b.At, a.ID, b.ID) })
	for _, id := range sortedKeys(p.pledges) {
		v.Exchange.Pledges = append(v.Exchange.Pledges, *p.pledges[id])
	}
	slices.SortFunc(v.Exchange.Pledges, func(a, b Pledge) int { return byTimeThenID(a.At, b.At, a.ID, b.ID) })
	for _, id := range sortedKeys(p.memberOf) {
		v.Federation.MemberOf = append(v.Federation.MemberOf, *p.memberOf[id])
	}
	for _, id := range sortedKeys(p.fedMember) {
		v.Federation.Members = append(v.Federation.Members, *p.fedMember[id])
	}
	for _, id := range sortedKeys(p.minutes) {
		v.Minutes = append(v.Minutes, *p.minutes[id])
	}
	slices.SortFunc(v.Minutes, func(a, b Minutes) int { return byTimeThenID(a.At, b.At, a.ID, b.ID) })
	v.Council.Rule = p.ruleAt(v.Now)
	derive(v, p.r, p.ruleAt, p.others)
}

// parseMillis parses a time argument: milliseconds since the Unix epoch.
func parseMillis(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	t := time.UnixMilli(n).UTC()
	return t, validTime(t)
}

// millis formats a time argument.
func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
