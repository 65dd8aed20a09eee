package crdt_test

import (
	"math"
	"testing"

	"github.com/veche-sync/veche/crdt"
)

func TestOffersAndNeeds(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	o := must1[string](t)(crdt.PostOffer(doc, "ana", crdt.ProduceSpec{Item: "apples", Quantity: 200, Unit: "kg", From: at(0).AddDate(0, 3, 0), Until: at(0).AddDate(0, 4, 0), Note: "Windfalls"}, at(1)))
	n := must1[string](t)(crdt.PostNeed(doc, "ben", crdt.ProduceSpec{Item: "seed potatoes", Quantity: 1.5, Unit: "t"}, at(2)))
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
	must(t, crdt.WithdrawOffer(doc, "ben", o, at(10)))
	must(t, crdt.WithdrawNeed(doc, "ana", n, at(11)))
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
	refused(t, doc, crdt.ErrWithdrawn, func() error { return crdt.WithdrawOffer(doc, "ana", o, at(12)) })
	refused(t, doc, crdt.ErrWithdrawn, func() error { return crdt.WithdrawNeed(doc, "ana", n, at(12)) })
	refused(t, doc, crdt.ErrNotFound, func() error { return crdt.WithdrawOffer(doc, "ana", n, at(12)) })
	refused(t, doc, crdt.ErrNotFound, func() error { return crdt.WithdrawNeed(doc, "ana", o, at(12)) })
}

func TestPostRefuses(t *testing.T) {
	doc := newCouncil(t, majority, "ana")
	must1[string](t)(crdt.PostOffer(doc, "ana", crdt.ProduceSpec{ID: "x1", Item: "a", Quantity: 1, Unit: "kg"}, at(1)))
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
		refused(t, doc, crdt.ErrInvalid, func() error { _, err := crdt.PostOffer(doc, "ana", spec, at(2)); return err })
		refused(t, doc, crdt.ErrInvalid, func() error { _, err := crdt.PostNeed(doc, "ana", spec, at(2)); return err })
		_ = name
	}
	refused(t, doc, crdt.ErrExists, func() error {
		_, err := crdt.PostNeed(doc, "ana", crdt.ProduceSpec{ID: "x1", Item: "a", Quantity: 1, Unit: "kg"}, at(2))
		return err
	})
	refused(t, doc, crdt.ErrUnknownMember, func() error {
		_, err := crdt.PostNeed(doc, "zoe", crdt.ProduceSpec{Item: "a", Quantity: 1, Unit: "kg"}, at(2))
		return err
	})
}

func TestPledges(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	n := must1[string](t)(crdt.PostNeed(doc, "ana", crdt.ProduceSpec{Item: "hay", Quantity: 40, Unit: "bales"}, at(1)))
	o := must1[string](t)(crdt.PostOffer(doc, "ben", crdt.ProduceSpec{Item: "hay", Quantity: 25, Unit: "bales"}, at(1)))
	must1[string](t)(crdt.MakePledge(doc, "ben", crdt.PledgeSpec{Need: n, Offer: o, Quantity: 25, Unit: "bales"}, at(2)))

	// Two councils pledge concurrently from offline replicas: both count.
	a, b := fork(t, doc), fork(t, doc)
	must1[string](t)(crdt.MakePledge(a, "far-1", crdt.PledgeSpec{Need: n, Council: "3kHillside", Quantity: 10}, at(3)))
	must1[string](t)(crdt.MakePledge(b, "far-2", crdt.PledgeSpec{Need: n, Council: "9zLakeside", Offer: "their-offer", Quantity: 10}, at(3)))
	merge(t, a, b)
	merge(t, b, a)
	for _, d := range []*automergeDoc{a, b} {
		need, _ := read(t, d, at(4)).Need(n)
		if need.Pledged != 45 || need.Remaining != 0 || !need.Met {
			t.Errorf("need = %+v", need)
		}
	}
	v := read(t, a, at(4))
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

	// A pledge stamped in the future is not yet counted.
	if need, _ := read(t, a, at(2)).Need(n); need.Pledged != 25 || need.Remaining != 15 || need.Met {
		t.Errorf("need at minute 2 = %+v", need)
	}
}

func TestPledgeRefuses(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	n := must1[string](t)(crdt.PostNeed(doc, "ana", crdt.ProduceSpec{Item: "hay", Quantity: 40, Unit: "bales"}, at(1)))
	gone := must1[string](t)(crdt.PostNeed(doc, "ana", crdt.ProduceSpec{Item: "oats", Quantity: 4, Unit: "t"}, at(1)))
	must(t, crdt.WithdrawNeed(doc, "ana", gone, at(2)))
	kg := must1[string](t)(crdt.PostOffer(doc, "ben", crdt.ProduceSpec{Item: "hay", Quantity: 100, Unit: "kg"}, at(1)))
	old := must1[string](t)(crdt.PostOffer(doc, "ben", crdt.ProduceSpec{Item: "hay", Quantity: 10, Unit: "bales"}, at(1)))
	must(t, crdt.WithdrawOffer(doc, "ben", old, at(2)))
	pledge := func(by string, spec crdt.PledgeSpec) func() error {
		return func() error { _, err := crdt.MakePledge(doc, by, spec, at(5)); return err }
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
	n := must1[string](t)(crdt.PostNeed(doc, "ana", crdt.ProduceSpec{ID: "n", Item: "hay", Quantity: 10, Unit: "bales"}, at(1)))
	rawSet(t, doc, map[string]any{"need": n, "quantity": int64(4), "by": "x", "at": at(2)}, "exchange", "pledges", "no-unit")
	rawSet(t, doc, map[string]any{"need": n, "quantity": 3.0, "unit": "kg", "by": "x", "at": at(2)}, "exchange", "pledges", "kg")
	rawSet(t, doc, map[string]any{"need": "ghost", "quantity": 3.0, "by": "x", "at": at(2)}, "exchange", "pledges", "ghost")
	rawSet(t, doc, map[string]any{"need": n, "quantity": -3.0, "by": "x", "at": at(2)}, "exchange", "pledges", "negative")
	v, problems := crdt.Read(doc, at(3))
	need, _ := v.Need(n)
	if need.Pledged != 4 || need.Remaining != 6 {
		t.Errorf("need = %+v", need)
	}
	want := []string{"/exchange/pledges/ghost/need", "/exchange/pledges/kg/unit", "/exchange/pledges/negative/quantity"}
	if len(problems) != len(want) {
		t.Fatalf("problems = %v", problems)
	}
	for i, p := range problems {
		if p.Path != want[i] {
			t.Errorf("problem %d = %v, want path %s", i, p, want[i])
		}
	}
}
