package crdt_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/crdt"
)

func TestOffersAndNeeds(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	o := must1[string](t)(crdt.PostOffer(doc, as(doc, "ana"), crdt.ProduceSpec{Item: "apples", Quantity: 200, Unit: "kg", From: at(0).AddDate(0, 3, 0), Until: at(0).AddDate(0, 4, 0), Note: "Windfalls"}, at(1)))
	n := must1[string](t)(crdt.PostNeed(doc, as(doc, "ben"), crdt.ProduceSpec{Item: "seed potatoes", Quantity: 1.5, Unit: "t"}, at(2)))
	v := read(t, doc, at(3))
	offer, _ := v.Offer(o)
	if offer.Item != "apples" || offer.Quantity != 200 || offer.Unit != "kg" || offer.By != "ana" || !offer.At.Equal(at(1)) ||
		!offer.From.Equal(at(0).AddDate(0, 3, 0)) || !offer.Until.Equal(at(0).AddDate(0, 4, 0)) || offer.Note != "Windfalls" || offer.Withdrawn {
		t.Errorf("offer = %+v", offer)
	}
	need, _ := v.Need(n)
	if need.Quantity != 1.5 || need.Pledged != 0 || need.Remaining != 1.5 || need.Met || need.From != nil {
		t.Errorf("need = %+v", need)
	}
	refused(t, doc, crdt.ErrNotProposer, func() error { return crdt.WithdrawOffer(doc, as(doc, "ben"), o, at(10)) })
	refused(t, doc, crdt.ErrNotProposer, func() error { return crdt.WithdrawNeed(doc, as(doc, "ana"), n, at(10)) })
	must(t, crdt.WithdrawOffer(doc, as(doc, "ana"), o, at(10)))
	must(t, crdt.WithdrawNeed(doc, as(doc, "ben"), n, at(11)))
	v = read(t, doc, at(11))
	if offer, _ := v.Offer(o); !offer.Withdrawn || !offer.WithdrawnAt.Equal(at(10)) {
		t.Errorf("withdrawn offer = %+v", offer)
	}
	if need, _ := v.Need(n); !need.Withdrawn {
		t.Errorf("withdrawn need = %+v", need)
	}
	if need, _ := read(t, doc, at(10)).Need(n); need.Withdrawn {
		t.Error("need withdrawn before its withdrawal")
	}
	refused(t, doc, crdt.ErrWithdrawn, func() error { return crdt.WithdrawOffer(doc, as(doc, "ana"), o, at(12)) })
	refused(t, doc, crdt.ErrWithdrawn, func() error { return crdt.WithdrawNeed(doc, as(doc, "ben"), n, at(12)) })
	refused(t, doc, crdt.ErrNotFound, func() error { return crdt.WithdrawOffer(doc, as(doc, "ana"), n, at(12)) })
	refused(t, doc, crdt.ErrNotFound, func() error { return crdt.WithdrawNeed(doc, as(doc, "ana"), o, at(12)) })
}

func TestPostRefuses(t *testing.T) {
	doc := newCouncil(t, majority, "ana")
	must1[string](t)(crdt.PostOffer(doc, as(doc, "ana"), crdt.ProduceSpec{ID: "x1", Item: "a", Quantity: 1, Unit: "kg"}, at(1)))
	for name, spec := range map[string]crdt.ProduceSpec{
		"empty item":    {Quantity: 1, Unit: "kg"},
		"empty unit":    {Item: "a", Quantity: 1},
		"zero":          {Item: "a", Unit: "kg"},
		"negative":      {Item: "a", Quantity: -1, Unit: "kg"},
		"NaN":           {Item: "a", Quantity: math.NaN(), Unit: "kg"},
		"infinite":      {Item: "a", Quantity: math.Inf(1), Unit: "kg"},
		"window upside": {Item: "a", Quantity: 1, Unit: "kg", From: at(10), Until: at(5)},
		"bad id":        {ID: "a/b", Item: "a", Quantity: 1, Unit: "kg"},
	} {
		refused(t, doc, crdt.ErrInvalid, func() error { _, err := crdt.PostOffer(doc, as(doc, "ana"), spec, at(2)); return err })
		refused(t, doc, crdt.ErrInvalid, func() error { _, err := crdt.PostNeed(doc, as(doc, "ana"), spec, at(2)); return err })
		_ = name
	}
	refused(t, doc, crdt.ErrExists, func() error {
		_, err := crdt.PostNeed(doc, as(doc, "ana"), crdt.ProduceSpec{ID: "x1", Item: "a", Quantity: 1, Unit: "kg"}, at(2))
		return err
	})
	refused(t, doc, crdt.ErrUnknownMember, func() error {
		_, err := crdt.PostNeed(doc, as(doc, "zoe"), crdt.ProduceSpec{Item: "a", Quantity: 1, Unit: "kg"}, at(2))
		return err
	})
}

func TestPledges(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	hill, lake := newCouncil(t, majority, "far-1"), newCouncil(t, majority, "far-2")
	n := must1[string](t)(crdt.PostNeed(doc, as(doc, "ana"), crdt.ProduceSpec{Item: "hay", Quantity: 40, Unit: "bales"}, at(1)))
	o := must1[string](t)(crdt.PostOffer(doc, as(doc, "ben"), crdt.ProduceSpec{Item: "hay", Quantity: 25, Unit: "bales"}, at(1)))
	must1[string](t)(crdt.MakePledge(doc, as(doc, "ben"), crdt.PledgeSpec{Need: n, Offer: o, Quantity: 25, Unit: "bales"}, at(2)))

	// Two councils pledge concurrently from offline replicas, each signed
	// by a member of the pledging council: both count where those
	// councils' logs are at hand.
	a, b := fork(t, doc), fork(t, doc)
	must1[string](t)(crdt.MakePledge(a, as(doc, "far-1"), crdt.PledgeSpec{Need: n, Council: councilOf(hill), Quantity: 10}, at(3)))
	must1[string](t)(crdt.MakePledge(b, as(doc, "far-2"), crdt.PledgeSpec{Need: n, Council: councilOf(lake), Offer: "their-offer", Quantity: 10}, at(3)))
	merge(t, a, b)
	merge(t, b, a)
	for _, d := range []*automergeDoc{a, b} {
		v, problems := readWith(d, at(4), hill, lake)
		need, _ := v.Need(n)
		if len(problems) > 0 || need.Pledged != 45 || need.Remaining != 0 || !need.Met {
			t.Errorf("need = %+v, problems %v", need, problems)
		}
	}
	v, _ := readWith(a, at(4), hill, lake)
	if len(v.Exchange.Pledges) != 3 {
		t.Fatalf("pledges = %+v", v.Exchange.Pledges)
	}
	for _, p := range v.Exchange.Pledges {
		if !p.Counted || p.Unit != "bales" || p.Need != n {
			t.Errorf("pledge = %+v", p)
		}
	}
	h := must1[[]crdt.HistoryEntry](t)(crdt.History(a))
	var foreign int
	for _, e := range h {
		if e.Info.Op == crdt.OpPledge && e.Info.Args["council"] != "" {
			foreign++
			if e.Info.By != "far-1" && e.Info.By != "far-2" {
				t.Errorf("foreign pledge by %q", e.Info.By)
			}
		}
	}
	if foreign != 2 {
		t.Errorf("%d foreign pledges in history", foreign)
	}

	// Without the other councils' logs their pledges cannot be checked
	// and do not count.
	v, problems := readWith(a, at(4))
	if need, _ := v.Need(n); need.Pledged != 25 || !hasProblem(problems, "/log/") {
		t.Errorf("unverifiable pledges counted: %+v %v", need, problems)
	}
	// A pledge in another council's name by someone who is not its member
	// does not count either.
	must1[string](t)(crdt.MakePledge(a, as(doc, "zoe"), crdt.PledgeSpec{ID: "zoe-pl", Need: n, Council: councilOf(hill), Quantity: 10}, at(3)))
	v, problems = readWith(a, at(4), hill, lake)
	if need, _ := v.Need(n); need.Pledged != 45 || !hasProblem(problems, "/exchange/pledges/zoe-pl") {
		t.Errorf("pledge by a stranger counted: %+v %v", need, problems)
	}

	// A pledge stamped in the future is not yet counted.
	if v, _ := readWith(a, at(2), hill, lake); !hasNeed(v, n, func(need crdt.Need) bool { return need.Pledged == 25 && need.Remaining == 15 && !need.Met }) {
		t.Errorf("need at minute 2 = %+v", v.Exchange.Needs)
	}
	if need, _ := readPast(t, doc, at(2)).Need(n); need.Pledged != 25 || need.Remaining != 15 || need.Met {
		t.Errorf("need at minute 2 = %+v", need)
	}
}

// readWith reads doc at now through a Log, resolving other councils with
// the views of the given documents at now.
func readWith(doc *automergeDoc, now time.Time, others ...*automergeDoc) (crdt.View, []crdt.Problem) {
	views := map[string]crdt.View{}
	for _, o := range others {
		v, _ := readAny(o, now)
		views[councilOf(o)] = v
	}
	log := crdt.NewLog()
	if err := log.Update(doc); err != nil {
		panic(err)
	}
	return crdt.ReadLog(doc, log, councilOf(doc), now, func(id string) (crdt.View, bool) { v, ok := views[id]; return v, ok })
}

func TestPledgeRefuses(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	n := must1[string](t)(crdt.PostNeed(doc, as(doc, "ana"), crdt.ProduceSpec{Item: "hay", Quantity: 40, Unit: "bales"}, at(1)))
	gone := must1[string](t)(crdt.PostNeed(doc, as(doc, "ana"), crdt.ProduceSpec{Item: "oats", Quantity: 4, Unit: "t"}, at(1)))
	must(t, crdt.WithdrawNeed(doc, as(doc, "ana"), gone, at(2)))
	kg := must1[string](t)(crdt.PostOffer(doc, as(doc, "ben"), crdt.ProduceSpec{Item: "hay", Quantity: 100, Unit: "kg"}, at(1)))
	old := must1[string](t)(crdt.PostOffer(doc, as(doc, "ben"), crdt.ProduceSpec{Item: "hay", Quantity: 10, Unit: "bales"}, at(1)))
	must(t, crdt.WithdrawOffer(doc, as(doc, "ben"), old, at(2)))
	pledge := func(by string, spec crdt.PledgeSpec) func() error {
		return func() error { _, err := crdt.MakePledge(doc, as(doc, by), spec, at(5)); return err }
	}
	refused(t, doc, crdt.ErrNotFound, pledge("ben", crdt.PledgeSpec{Need: "nope", Quantity: 1}))
	refused(t, doc, crdt.ErrWithdrawn, pledge("ben", crdt.PledgeSpec{Need: gone, Quantity: 1}))
	refused(t, doc, crdt.ErrInvalid, pledge("ben", crdt.PledgeSpec{Need: n, Quantity: 0}))
	refused(t, doc, crdt.ErrInvalid, pledge("ben", crdt.PledgeSpec{Need: n, Quantity: -2}))
	refused(t, doc, crdt.ErrInvalid, pledge("ben", crdt.PledgeSpec{Need: n, Quantity: 1, Unit: "kg"}))
	refused(t, doc, crdt.ErrInvalid, pledge("ben", crdt.PledgeSpec{Need: n, Offer: kg, Quantity: 1}))
	refused(t, doc, crdt.ErrWithdrawn, pledge("ben", crdt.PledgeSpec{Need: n, Offer: old, Quantity: 1}))
	refused(t, doc, crdt.ErrNotFound, pledge("ben", crdt.PledgeSpec{Need: n, Offer: "nope", Quantity: 1}))
	refused(t, doc, crdt.ErrUnknownMember, pledge("zoe", crdt.PledgeSpec{Need: n, Quantity: 1}))
	refused(t, doc, crdt.ErrInvalid, pledge("far 1", crdt.PledgeSpec{Need: n, Council: "3kHillside", Quantity: 1}))
	refused(t, doc, crdt.ErrInvalid, pledge("far-1", crdt.PledgeSpec{Need: n, Council: "bad council", Quantity: 1}))
	refused(t, doc, crdt.ErrInvalid, pledge("far-1", crdt.PledgeSpec{Need: n, Council: "3kHillside", Offer: "a b", Quantity: 1}))
}

func TestPledgeReaderRules(t *testing.T) {
	doc := newCouncil(t, majority, "ana")
	n := must1[string](t)(crdt.PostNeed(doc, as(doc, "ana"), crdt.ProduceSpec{ID: "n", Item: "hay", Quantity: 10, Unit: "bales"}, at(1)))
	pledge := func(id, need, quantity, unit string) {
		args := map[string]string{"pledge": id, "need": need, "quantity": quantity}
		if unit != "" {
			args["unit"] = unit
		}
		r := signedBy(doc, "ana", crdt.OpPledge, at(2), args)
		commitRecord(t, doc, r.message(), at(2), setAt(map[string]any{"need": need, "quantity": 1.0, "unit": unit, "by": "ana", "at": at(2)}, "exchange", "pledges", id))
	}
	// Signed by a member, but made by hand: no unit, another unit, an
	// unknown need, a negative quantity.
	pledge("no-unit", n, "4", "")
	pledge("kg", n, "3", "kg")
	pledge("ghost", "ghost", "3", "")
	pledge("negative", n, "-3", "")
	// Unsigned pledges, written by a stock client.
	rawSet(t, doc, map[string]any{"need": n, "quantity": 100.0, "by": "ana", "at": at(2)}, "exchange", "pledges", "raw")
	v, problems := readAny(doc, at(3))
	need, _ := v.Need(n)
	if need.Pledged != 4 || need.Remaining != 6 {
		t.Errorf("need = %+v", need)
	}
	got := paths(problems)
	want := []string{"/exchange/pledges/ghost", "/exchange/pledges/kg/unit", "/exchange/pledges/negative", "/exchange/pledges/raw"}
	for _, w := range want {
		if !hasProblem(problems, w) {
			t.Errorf("no problem at %s: %v", w, got)
		}
	}
	logProblems := 0
	for _, p := range got {
		if strings.HasPrefix(p, "/log/") {
			logProblems++
		}
	}
	if logProblems != 2 || len(got) != len(want)+2 {
		t.Errorf("problems = %v", problems)
	}
}

// hasNeed reports whether v has need id and ok holds for it.
func hasNeed(v crdt.View, id string, ok func(crdt.Need) bool) bool {
	n, found := v.Need(id)
	return found && ok(n)
}
