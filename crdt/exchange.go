package crdt

import (
	"math"
	"time"

	"github.com/automerge/automerge-go"
)

// Exchange is the "exchange" map: produce offered and needed by the
// council, and pledges against its needs.
type Exchange struct {
	Offers  []Offer  `json:"offers"`
	Needs   []Need   `json:"needs"`
	Pledges []Pledge `json:"pledges"`
}

// Offer is an entry of exchange.offers: produce the council can give.
type Offer struct {
	ID       string  `json:"id"`
	By       string  `json:"by"`
	Item     string  `json:"item"`
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit"`
	// From and Until bound the availability window; either may be absent.
	From  *time.Time `json:"from,omitempty"`
	Until *time.Time `json:"until,omitempty"`
	Note  string     `json:"note,omitempty"`
	// At is when the offer was posted.
	At          time.Time  `json:"at"`
	WithdrawnAt *time.Time `json:"withdrawnAt,omitempty"`

	// Custodial: signed with a key a relay holds for the member.
	Custodial bool `json:"custodial,omitempty"`

	// Withdrawn is derived: withdrawn at or before View.Now. Withdrawn
	// offers stay in the view.
	Withdrawn bool `json:"withdrawn"`
}

// Need is an entry of exchange.needs: produce the council is looking for,
// with how much of it is pledged.
type Need struct {
	ID          string     `json:"id"`
	By          string     `json:"by"`
	Item        string     `json:"item"`
	Quantity    float64    `json:"quantity"`
	Unit        string     `json:"unit"`
	From        *time.Time `json:"from,omitempty"`
	Until       *time.Time `json:"until,omitempty"`
	Note        string     `json:"note,omitempty"`
	At          time.Time  `json:"at"`
	WithdrawnAt *time.Time `json:"withdrawnAt,omitempty"`

	// Custodial: signed with a key a relay holds for the member.
	Custodial bool `json:"custodial,omitempty"`

	// Withdrawn is derived, as for Offer.
	Withdrawn bool `json:"withdrawn"`
	// Pledged is derived: the sum of the counted pledges against the need.
	Pledged float64 `json:"pledged"`
	// Remaining is derived: max(0, Quantity − Pledged).
	Remaining float64 `json:"remaining"`
	// Met is derived: Pledged ≥ Quantity.
	Met bool `json:"met"`
}

// Pledge is an entry of exchange.pledges: a promise to cover part of a
// need, possibly from another council.
type Pledge struct {
	ID string `json:"id"`
	// Need is the need pledged against (in this document).
	Need string `json:"need"`
	// Offer optionally names the offer the produce comes from: in this
	// document, or in the pledging council's document if Council is set.
	Offer string `json:"offer,omitempty"`
	// Council is the documentId of the pledging council when it is not
	// this one; By is then a member of that council.
	Council  string  `json:"council,omitempty"`
	Quantity float64 `json:"quantity"`
	// Unit is the need's unit (written by MakePledge); a stored unit that
	// differs from the need's makes the pledge uncounted.
	Unit string    `json:"unit"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	// Custodial: signed with a key a relay holds for the member.
	Custodial bool `json:"custodial,omitempty"`

	// Counted is derived: the pledge is in its need's Pledged — the need
	// exists, the unit matches, the quantity is positive and the pledge
	// was made at or before View.Now.
	Counted bool `json:"counted"`
}

// ProduceSpec describes an offer or a need to post.
type ProduceSpec struct {
	ID       string    // optional explicit id; random (NewID) if empty
	Item     string    // required, e.g. "potatoes"
	Quantity float64   // required, > 0 and finite
	Unit     string    // required, e.g. "kg"
	From     time.Time // optional start of the availability window
	Until    time.Time // optional end of the window; not before From
	Note     string    // optional
}

// PledgeSpec describes a pledge to make.
type PledgeSpec struct {
	ID   string // optional explicit id; random (NewID) if empty
	Need string // required: a need of this council, not withdrawn
	// Offer optionally names the offer the produce comes from. Without
	// Council it must be an offer of this council, not withdrawn, in the
	// need's unit; with Council it is an offer id in that council's
	// document and is not checked.
	Offer string
	// Council is the documentId of the pledging council if it is not this
	// one. The signer is then a member of that council; readers check their
	// key against that council's log (Councils) and do not count the
	// pledge without it.
	Council  string
	Quantity float64 // required, > 0 and finite, in the need's unit
	Unit     string  // optional; if set it must equal the need's unit
}

// PostOffer posts produce the council offers and returns the offer's id.
func PostOffer(doc *automerge.Doc, as Signer, spec ProduceSpec, at time.Time) (string, error) {
	return post(doc, OpPostOffer, keyOffers, "offer", as, spec, at)
}

// PostNeed posts produce the council needs and returns the need's id.
func PostNeed(doc *automerge.Doc, as Signer, spec ProduceSpec, at time.Time) (string, error) {
	return post(doc, OpPostNeed, keyNeeds, "need", as, spec, at)
}

// post writes an offer or a need.
func post(doc *automerge.Doc, op Op, key, what string, as Signer, spec ProduceSpec, at time.Time) (string, error) {
	t, err := beginAs(doc, op, as, at)
	if err != nil {
		return "", err
	}
	if err := t.requireText(spec.Item, what+" item"); err != nil {
		return "", err
	}
	if err := t.requireText(spec.Unit, what+" unit"); err != nil {
		return "", err
	}
	if !(spec.Quantity > 0) || math.IsInf(spec.Quantity, 0) {
		return "", t.errorf(CodeInvalid, "%s quantity %v: want a positive number", what, spec.Quantity)
	}
	fields := map[string]any{
		"by":       as.Member,
		"item":     spec.Item,
		"quantity": spec.Quantity,
		"unit":     spec.Unit,
		"at":       t.at,
	}
	for name, tm := range map[string]time.Time{"from": spec.From, "until": spec.Until} {
		if tm.IsZero() {
			continue
		}
		if !validTime(tm) {
			return "", t.errorf(CodeInvalid, "%s %s time %v is out of range", what, name, tm)
		}
		fields[name] = msTime(tm)
		t.arg(name, millis(tm))
	}
	if !spec.From.IsZero() && !spec.Until.IsZero() && spec.Until.Before(spec.From) {
		return "", t.errorf(CodeInvalid, "%s window ends (%v) before it starts (%v)", what, spec.Until, spec.From)
	}
	if spec.Note != "" {
		fields["note"] = spec.Note
	}
	t.arg("item", spec.Item)
	t.arg("quantity", formatFloat(spec.Quantity))
	t.arg("unit", spec.Unit)
	t.arg("note", spec.Note)
	id, err := t.newID(spec.ID, what, func(id string) bool {
		_, isOffer := t.view.Offer(id)
		_, isNeed := t.view.need(id)
		return isOffer || isNeed
	})
	if err != nil {
		return "", err
	}
	t.arg(what, id)
	err = t.commit(func(w *automerge.Doc) error {
		return w.Path(keyExchange, key, id).Set(fields)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// WithdrawOffer withdraws an offer; only the member who posted it may
// (ErrNotProposer otherwise). The offer stays in the view, marked withdrawn.
func WithdrawOffer(doc *automerge.Doc, as Signer, offerID string, at time.Time) error {
	return withdraw(doc, OpWithdrawOffer, keyOffers, "offer", as, offerID, at, func(v View) (*time.Time, bool, bool, string) {
		o, ok := v.Offer(offerID)
		return o.WithdrawnAt, o.Withdrawn, ok, o.By
	})
}

// WithdrawNeed withdraws a need; only the member who posted it may. The
// need stays in the view, marked withdrawn, and takes no more pledges.
func WithdrawNeed(doc *automerge.Doc, as Signer, needID string, at time.Time) error {
	return withdraw(doc, OpWithdrawNeed, keyNeeds, "need", as, needID, at, func(v View) (*time.Time, bool, bool, string) {
		n, ok := v.Need(needID)
		return n.WithdrawnAt, n.Withdrawn, ok, n.By
	})
}

// withdraw marks an offer or a need (key, what) withdrawn; find reports
// its state in the view.
func withdraw(doc *automerge.Doc, op Op, key, what string, as Signer, id string, at time.Time, find func(View) (withdrawnAt *time.Time, withdrawn, ok bool, by string)) error {
	t, err := beginAs(doc, op, as, at)
	if err != nil {
		return err
	}
	withdrawnAt, withdrawn, ok, by := find(t.view)
	if !ok {
		return t.errorf(CodeNotFound, "no %s %q", what, id)
	}
	if by != as.Member {
		return t.errorf(CodeNotProposer, "%s %q was posted by %q: only they withdraw it", what, id, by)
	}
	if withdrawn {
		return t.errorf(CodeWithdrawn, "%s %q was withdrawn at %v", what, id, *withdrawnAt)
	}
	t.arg(what, id)
	return t.commit(func(w *automerge.Doc) error {
		return w.Path(keyExchange, key, id, "withdrawnAt").Set(t.at)
	})
}

// MakePledge pledges a quantity against a need of this council and
// returns the pledge's id. Pledges are never edited: each is a separate
// fact, so concurrent pledges all count. Over-pledging is allowed
// (Remaining stops at 0).
func MakePledge(doc *automerge.Doc, as Signer, spec PledgeSpec, at time.Time) (string, error) {
	var t *tx
	var err error
	if spec.Council == "" {
		t, err = beginAs(doc, OpPledge, as, at)
	} else {
		// A member of another council: their key is checked by readers
		// that hold that council's log.
		t, err = begin(doc, OpPledge, as, at)
	}
	if err != nil {
		return "", err
	}
	if spec.Council != "" {
		if !ValidID(spec.Council) || spec.Council == t.view.ID {
			return "", t.errorf(CodeInvalid, "council %q is not another council's document id", spec.Council)
		}
		t.arg("council", spec.Council)
	}
	n, ok := t.view.need(spec.Need)
	if !ok {
		return "", t.errorf(CodeNotFound, "no need %q", spec.Need)
	}
	if n.Withdrawn {
		return "", t.errorf(CodeWithdrawn, "need %q was withdrawn at %v", n.ID, *n.WithdrawnAt)
	}
	if spec.Unit != "" && spec.Unit != n.Unit {
		return "", t.errorf(CodeInvalid, "pledge in %q against a need in %q", spec.Unit, n.Unit)
	}
	if !(spec.Quantity > 0) || math.IsInf(spec.Quantity, 0) {
		return "", t.errorf(CodeInvalid, "pledge quantity %v: want a positive number", spec.Quantity)
	}
	if spec.Offer != "" {
		if spec.Council == "" {
			o, ok := t.view.Offer(spec.Offer)
			switch {
			case !ok:
				return "", t.errorf(CodeNotFound, "no offer %q", spec.Offer)
			case o.Withdrawn:
				return "", t.errorf(CodeWithdrawn, "offer %q was withdrawn at %v", o.ID, *o.WithdrawnAt)
			case o.Unit != n.Unit:
				return "", t.errorf(CodeInvalid, "offer %q is in %q, the need in %q", o.ID, o.Unit, n.Unit)
			}
		} else if !ValidID(spec.Offer) {
			return "", t.errorf(CodeInvalid, "offer id %q is not a valid id", spec.Offer)
		}
	}
	id, err := t.newID(spec.ID, "pledge", func(id string) bool {
		for _, p := range t.view.Exchange.Pledges {
			if p.ID == id {
				return true
			}
		}
		return false
	})
	if err != nil {
		return "", err
	}
	t.arg("need", n.ID)
	t.arg("pledge", id)
	fields := map[string]any{
		"need":     n.ID,
		"quantity": spec.Quantity,
		"unit":     n.Unit,
		"by":       as.Member,
		"at":       t.at,
	}
	t.arg("quantity", formatFloat(spec.Quantity))
	t.arg("unit", n.Unit)
	if spec.Offer != "" {
		fields["offer"] = spec.Offer
		t.arg("offer", spec.Offer)
	}
	if spec.Council != "" {
		fields["council"] = spec.Council
	}
	err = t.commit(func(w *automerge.Doc) error {
		return w.Path(keyExchange, keyPledges, id).Set(fields)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// derivePledges sets each pledge's Counted and each need's Withdrawn,
// Pledged, Remaining and Met at now. Pledges are summed in id order so the
// floating-point sum is the same on every replica.
func derivePledges(x *Exchange, now time.Time, r *reader, _ Councils) {
	needs := make(map[string]*Need, len(x.Needs))
	for i := range x.Needs {
		n := &x.Needs[i]
		n.Withdrawn = n.WithdrawnAt != nil && !n.WithdrawnAt.After(now)
		n.Pledged = 0
		needs[n.ID] = n
	}
	for i := range x.Offers {
		o := &x.Offers[i]
		o.Withdrawn = o.WithdrawnAt != nil && !o.WithdrawnAt.After(now)
	}
	for _, i := range sortedIndex(len(x.Pledges), func(i int) string { return x.Pledges[i].ID }) {
		p := &x.Pledges[i]
		path := pointer(pointer("/exchange/pledges", p.ID), "need")
		n, ok := needs[p.Need]
		switch {
		case !ok:
			p.Counted = false
			r.problem(path, "pledge against unknown need %q; not counted", p.Need)
			continue
		case p.Unit != "" && p.Unit != n.Unit:
			p.Counted = false
			r.problem(pointer(pointer("/exchange/pledges", p.ID), "unit"), "pledge in %q against a need in %q; not counted", p.Unit, n.Unit)
			continue
		}
		p.Counted = p.Quantity > 0 && !p.At.After(now)
		if p.Counted {
			n.Pledged += p.Quantity
		}
	}
	for _, n := range needs {
		n.Remaining = math.Max(0, n.Quantity-n.Pledged)
		n.Met = n.Pledged >= n.Quantity
	}
}
