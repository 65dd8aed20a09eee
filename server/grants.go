package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server/wire"
)

// OwnerStore records which council owns a document a member created over
// the websocket (attachments, drafts): such documents carry the council's
// grants.
type OwnerStore interface {
	// SetOwner records that council owns docID.
	SetOwner(ctx context.Context, docID, council string) error
	// Owner returns the council owning docID, or an error when none does.
	Owner(ctx context.Context, docID string) (string, error)
	// OwnedCount returns how many documents council owns.
	OwnedCount(ctx context.Context, council string) (int, error)
}

// Grants is the Access of a relay with access control: every grant is
// derived from the council documents themselves, with no list kept beside
// them.
//
//   - A member reads and writes their council's document and the documents
//     their council owns.
//   - A member reads the federations their council belongs to: the
//     council's log joins the federation and the federation's log admits
//     the council. When either side ends it, the council's members'
//     connections are cut.
//   - A delegate reads and writes the document of the body a mandate sent
//     them to, for as long as that mandate is active and their council
//     belongs to that body. When a recall passes, or the mandate ends
//     otherwise, the grant ends and the delegate's connections are cut at
//     once.
//   - A member another council seated in a federation (sentBy) holds that
//     seat until the mandate that sent them ends or their council stops
//     belonging to the federation.
//   - The operator and other principals hold no grant to council content.
//
// Facts are recomputed whenever a council document is committed and when
// the clock closes one of its proposals.
type Grants struct {
	relay  *Relay
	owners OwnerStore
	log    *slog.Logger

	mu       sync.Mutex // guards the following
	councils map[string]*councilFacts
	owned    map[string]int // documents each council owns, once counted
}

// councilFacts is what grants need to know of one council document, all
// derived from its verified fact log.
type councilFacts struct {
	view      crdt.View              // the verified view, for other councils' facts that rest on this one
	fedMember map[string]bool        // councils this federation admitted (its half of membership)
	members   map[string]bool        // active member ids
	sentBy    map[string]crdt.SentBy // members sent by another council (delegates in a federation)
	memberOf  map[string]bool        // federations the council belongs to
	mandates  map[string][]string    // active mandates: delegate → bodies
	active    map[string]bool        // active mandate ids
	ended     map[string]bool        // mandate ids recalled, resigned, completed or rejected
	nextClose time.Time              // when the clock may change a status
	timer     *time.Timer
}

// NewGrants returns grants derived from the documents r holds. Install
// them with r.SetAccess before serving.
func NewGrants(r *Relay, owners OwnerStore) *Grants {
	return &Grants{relay: r, owners: owners, log: r.log, councils: make(map[string]*councilFacts), owned: make(map[string]int)}
}

// SetAccess installs the access policy; call it before serving.
func (r *Relay) SetAccess(a Access) {
	r.opts.Access = a
}

// CanRead reports whether p may receive documentID.
func (g *Grants) CanRead(p Principal, documentID string) bool {
	if g.CanWrite(p, documentID) {
		return true
	}
	f := g.member(p)
	return f != nil && g.belongs(p.Council, f, documentID)
}

// belongs reports whether council (with facts f) belongs to federation:
// both logs must say so — the council's joins it, the federation's admits
// the council.
func (g *Grants) belongs(council string, f *councilFacts, federation string) bool {
	if !f.memberOf[federation] {
		return false
	}
	fed := g.facts(federation)
	return fed != nil && fed.fedMember[council]
}

// member returns the facts of p's council when p is an active member of
// it. A member another council sent (a delegate in a federation) counts
// only while the mandate that sent them is active.
func (g *Grants) member(p Principal) *councilFacts {
	if p.Kind != KindMember {
		return nil
	}
	f := g.facts(p.Council)
	if f == nil || !f.members[p.Member] {
		return nil
	}
	if by, ok := f.sentBy[p.Member]; ok {
		// The seat ends with the mandate, and with the home council's
		// membership of the federation, whichever side ends it.
		if !f.fedMember[by.Council] {
			return nil
		}
		if home := g.facts(by.Council); home != nil && (home.ended[by.Mandate] || !home.memberOf[p.Council]) {
			return nil
		}
	}
	return f
}

// CanWrite reports whether p may change (or create) documentID.
func (g *Grants) CanWrite(p Principal, documentID string) bool {
	f := g.member(p)
	if f == nil {
		return false
	}
	if documentID == p.Council {
		return true
	}
	for _, body := range f.mandates[p.Member] {
		if body == documentID && g.belongs(p.Council, f, documentID) {
			return true
		}
	}
	if g.owners != nil {
		if owner, err := g.owners.Owner(context.Background(), documentID); err == nil && owner == p.Council {
			return true
		}
	}
	return false
}

// CanCreate reports whether p may create a new document over the
// websocket: members only; the document then belongs to their council.
func (g *Grants) CanCreate(p Principal) bool {
	return g.member(p) != nil
}

// CreatorScope names the principals that share what p creates
// (server.CreatorScope): p's council, which owns every document a member
// creates, and so every shadow one makes (decoy.go).
func (g *Grants) CreatorScope(p Principal) string {
	return p.Council
}

// Created records that p's council owns a document p created
// (CreationQuota): documentID is a document id, or the key of a shadow
// (decoy.go), which is owned and counted exactly alike.
func (g *Grants) Created(p Principal, documentID string) {
	if g.owners == nil || p.Kind != KindMember {
		return
	}
	if err := g.owners.SetOwner(context.Background(), documentID, p.Council); err != nil {
		g.log.Error("recording the owner of a new document", "doc", documentID, "err", err)
		return
	}
	g.mu.Lock()
	if n, ok := g.owned[p.Council]; ok {
		g.owned[p.Council] = n + 1
	}
	g.mu.Unlock()
}

// Claimed reports whether a council owns documentID, stored yet or not
// (CreationLedger).
func (g *Grants) Claimed(documentID string) bool {
	if g.owners == nil {
		return false
	}
	_, err := g.owners.Owner(context.Background(), documentID)
	return err == nil
}

// QuotaFull reports whether p's council owns Options.MaxDocumentsPerCouncil
// documents already, so that p may create no more: without a bound, one
// member creating documents as fast as the relay commits them fills its
// disk (some 8 KiB of bbolt each, however small) and, while connections
// hold them open, its memory. A count the store cannot give counts as
// full.
func (g *Grants) QuotaFull(p Principal) bool {
	limit := g.relay.opts.MaxDocumentsPerCouncil
	if g.owners == nil || p.Kind != KindMember || limit <= 0 {
		return false
	}
	g.mu.Lock()
	n, ok := g.owned[p.Council]
	g.mu.Unlock()
	if !ok {
		var err error
		if n, err = g.owners.OwnedCount(context.Background(), p.Council); err != nil {
			g.log.Error("counting the documents a council owns", "council", p.Council, "err", err)
			return true
		}
		g.mu.Lock()
		if m, ok := g.owned[p.Council]; ok {
			n = m // counted meanwhile, and counting on
		} else {
			g.owned[p.Council] = n
		}
		g.mu.Unlock()
	}
	return n >= limit
}

// facts returns the facts of a council, reading its document on first use.
// It must not be called with a synchronizer's lock held.
func (g *Grants) facts(council string) *councilFacts {
	g.mu.Lock()
	f, ok := g.councils[council]
	g.mu.Unlock()
	if ok {
		return f
	}
	g.refresh(council)
	g.mu.Lock()
	f = g.councils[council]
	g.mu.Unlock()
	if f == nil || len(f.fedMember) == 0 {
		return f
	}
	// A federation's seats rest on its member councils' logs: read them,
	// then derive the federation again with their views.
	loaded := false
	for member := range f.fedMember {
		g.mu.Lock()
		_, known := g.councils[member]
		g.mu.Unlock()
		if !known {
			g.refresh(member)
			loaded = true
		}
	}
	if loaded {
		g.refresh(council)
		g.mu.Lock()
		f = g.councils[council]
		g.mu.Unlock()
	}
	return f
}

// Committed (CommitHook) recomputes a council's facts from its document's verified fact
// log and cuts the connections of members who lost a grant. It is called
// with the document's synchronizer lock held, after every commit; the
// document's log is read only there, so verification is incremental:
// signatures are checked once per new change. Facts of one council that
// rest on another (a delegate's seat) are resolved through the other
// council's last known view; when a council's members or mandates change,
// the councils that rest on it are refreshed.
func (g *Grants) Committed(council string, doc *automerge.Doc) {
	if !isCouncil(doc) {
		return
	}
	now := time.Now()
	// The document's shared verified log (crdt.WithLog): signatures are
	// checked once per change, and the log goes with the document when it
	// is unloaded.
	var view crdt.View
	crdt.WithLog(doc, func(log *crdt.Log) { view, _, _ = log.Derive(council, now, g.viewOf) })
	f := &councilFacts{
		view:      view,
		fedMember: map[string]bool{},
		members:   map[string]bool{},
		sentBy:    map[string]crdt.SentBy{},
		memberOf:  map[string]bool{},
		mandates:  map[string][]string{},
		active:    map[string]bool{},
		ended:     map[string]bool{},
	}
	for _, m := range view.Members {
		if m.Active {
			f.members[m.ID] = true
			if m.SentBy != nil {
				f.sentBy[m.ID] = *m.SentBy
			}
		}
	}
	for _, l := range view.Federation.MemberOf {
		f.memberOf[l.Council] = true
	}
	for _, l := range view.Federation.Members {
		f.fedMember[l.Council] = true
	}
	for _, m := range view.Mandates {
		switch m.Status {
		case crdt.MandateActive:
			if !f.members[m.Delegate] {
				// A delegate who left or was expelled acts for nobody:
				// their seat ends with their membership.
				f.ended[m.ID] = true
				break
			}
			f.mandates[m.Delegate] = append(f.mandates[m.Delegate], m.Body)
			f.active[m.ID] = true
		case crdt.MandateRecalled, crdt.MandateResigned, crdt.MandateCompleted, crdt.MandateRejected:
			f.ended[m.ID] = true
		}
	}
	for _, p := range view.Proposals {
		if p.Outcome == crdt.OutcomeOpen && p.ClosesAt != nil && p.ClosesAt.After(now) &&
			(f.nextClose.IsZero() || p.ClosesAt.Before(f.nextClose)) {
			f.nextClose = *p.ClosesAt
		}
	}

	g.mu.Lock()
	old := g.councils[council]
	g.councils[council] = f
	if old != nil && old.timer != nil {
		old.timer.Stop()
	}
	if !f.nextClose.IsZero() {
		f.timer = time.AfterFunc(time.Until(f.nextClose)+time.Millisecond, func() { g.refresh(council) })
	}
	var dependents []string
	if old == nil || changedPeople(old, f) {
		for other, of := range g.councils {
			if other != council && restsOn(of, council) {
				dependents = append(dependents, other)
			}
		}
	}
	g.mu.Unlock()

	if old != nil {
		g.cutLost(council, old, f)
	}
	for _, other := range dependents {
		go g.refresh(other) // not under this document's lock: lock order
	}
}

// viewOf returns the last verified view of a council this relay has read,
// for facts of another council that rest on it. It never loads a
// document (it may run under a synchronizer's lock).
func (g *Grants) viewOf(council string) (crdt.View, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.councils[council]
	if f == nil {
		return crdt.View{}, false
	}
	return f.view, true
}

// changedPeople reports whether members or mandates differ between two
// derivations of a council: what other councils' facts may rest on.
func changedPeople(a, b *councilFacts) bool {
	return len(a.view.Members) != len(b.view.Members) || len(a.active) != len(b.active) || len(a.ended) != len(b.ended) ||
		len(a.members) != len(b.members) || keyCount(a.view) != keyCount(b.view)
}

// keyCount counts the keys of a view's members, retired ones included.
func keyCount(v crdt.View) int {
	n := 0
	for _, m := range v.Members {
		n += len(m.Keys)
		if m.LeftAt != nil {
			n++
		}
	}
	return n
}

// restsOn reports whether a council's facts rest on another's: a
// delegate seated from it, or a council that is a member of it.
func restsOn(f *councilFacts, council string) bool {
	if f.fedMember[council] {
		return true
	}
	for _, by := range f.sentBy {
		if by.Council == council {
			return true
		}
	}
	return false
}

// ReadCouncil reads a council document through its cached verified log:
// the view at now and its problems (see crdt.ReadLog), with facts that
// rest on other councils resolved from their last known views. It must
// be called with the document's synchronizer lock held (inside
// Relay.View or Relay.Change).
func (g *Grants) ReadCouncil(council string, doc *automerge.Doc, now time.Time) (crdt.View, []crdt.Problem, []crdt.Fact) {
	var view crdt.View
	var problems []crdt.Problem
	var facts []crdt.Fact
	crdt.WithLog(doc, func(log *crdt.Log) {
		view, problems = crdt.ReadLog(doc, log, council, now, g.viewOf)
		_, _, facts = log.Derive(council, now, g.viewOf)
	})
	return view, problems, facts
}

// refresh re-reads a council when the clock may have closed a proposal.
func (g *Grants) refresh(council string) {
	id, err := wire.ParseDocumentID(council)
	if err != nil {
		return
	}
	_ = g.relay.View(context.Background(), id, func(doc *automerge.Doc) error {
		g.Committed(council, doc)
		return nil
	})
}

// cutLost cuts every connection of a member whose grants shrank: a member
// who left, or a delegate whose mandate ended. Their next connection gets
// only what they may still have.
func (g *Grants) cutLost(council string, old, now *councilFacts) {
	lost := map[string]string{}
	for m := range old.members {
		if !now.members[m] {
			lost[m] = "no longer a member"
		}
	}
	for m, bodies := range old.mandates {
		for _, b := range bodies {
			if !contains(now.mandates[m], b) && lost[m] == "" {
				lost[m] = "mandate for " + b + " ended"
			}
		}
	}
	// Delegates this council sent elsewhere, whose mandate ended, lose
	// their membership of the body they were sent to.
	ended := map[string]bool{}
	for id := range now.ended {
		if !old.ended[id] {
			ended[id] = true
		}
	}
	// Federation membership that ended, on either side: the councils
	// involved lose their read of the federation (and their delegates
	// their write), this council's delegates seated there their seat.
	left := map[string]bool{}       // federations this council left
	councils := map[string]string{} // council → why its members are cut
	for fed := range old.memberOf {
		if !now.memberOf[fed] {
			left[fed] = true
			councils[council] = "the council left federation " + fed
		}
	}
	for c := range old.fedMember {
		if !now.fedMember[c] {
			councils[c] = "the council is no longer a member of federation " + council
			for m, by := range old.sentBy {
				if by.Council == c && lost[m] == "" {
					lost[m] = "the council that sent them is no longer a member"
				}
			}
		}
	}
	elsewhere := map[string]string{} // principal ID → why
	if len(ended) > 0 || len(left) > 0 {
		g.mu.Lock()
		for body, bf := range g.councils {
			for m, by := range bf.sentBy {
				switch {
				case by.Council == council && ended[by.Mandate]:
					elsewhere[MemberPrincipal(body, m).ID] = "the mandate that sent them ended"
				case by.Council == council && left[body]:
					elsewhere[MemberPrincipal(body, m).ID] = "the council that sent them left the federation"
				}
			}
		}
		g.mu.Unlock()
	}
	if len(lost) == 0 && len(elsewhere) == 0 && len(councils) == 0 {
		return
	}
	why := func(p Principal) string {
		if p.Kind != KindMember {
			return ""
		}
		if p.Council == council && lost[p.Member] != "" {
			return lost[p.Member]
		}
		if why := councils[p.Council]; why != "" {
			return why
		}
		return elsewhere[p.ID]
	}
	g.relay.mu.Lock()
	var cut []*peer
	for pe := range g.relay.peers {
		if why(pe.principal) != "" {
			cut = append(cut, pe)
		}
	}
	g.relay.mu.Unlock()
	for _, pe := range cut {
		why := why(pe.principal)
		g.log.Info("access ended, cutting connection", "principal", pe.principal.ID, "why", why)
		pe.sendNow(wireError("access ended: " + why))
		pe.cut("access ended: " + why)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// isCouncil reports whether doc declares the council schema.
func isCouncil(doc *automerge.Doc) bool {
	v, err := doc.Path("schema").Get()
	if err != nil {
		return false
	}
	switch v.Kind() {
	case automerge.KindStr:
		return v.Str() == crdt.Schema
	case automerge.KindText:
		s, err := v.Text().Get()
		return err == nil && s == crdt.Schema
	}
	return false
}

func wireError(text string) wire.Message {
	return wire.Message{Type: wire.TypeError, ErrorMessage: text}
}

// CanRead reports whether p may read documentID under the relay's access
// policy — the document itself, or the shadow p's scope holds of it,
// which stands in for it wherever p looks (decoy.go; ViewAs reads what
// p reads). The HTTP API asks it for principals reading beyond their own
// council (a member reading a federation their council belongs to).
func (r *Relay) CanRead(p Principal, documentID string) bool {
	return r.readKey(p, documentID) != ""
}

// CanWrite reports whether p may change documentID under the relay's
// access policy: the document p reads as documentID (CanRead).
func (r *Relay) CanWrite(p Principal, documentID string) bool {
	key := r.readKey(p, documentID)
	return key != "" && r.opts.Access.CanWrite(p, key)
}
