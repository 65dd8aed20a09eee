package crdt_test

import (
	"testing"

	"github.com/veche-sync/veche/crdt"
)

func TestMinutes(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	id := must1[string](t)(crdt.StartMinutes(doc, as(doc, "ana"), crdt.MinutesSpec{Title: "Spring assembly", Notes: "Present: all."}, at(30)))
	must(t, crdt.EditMinutes(doc, as(doc, "ben"), id, crdt.TextEdit{Pos: 13, Insert: " Agreed: rye."}, at(31)))

	// Both replicas start a meeting offline: both entries are kept, in the
	// same order everywhere.
	a, b := fork(t, doc), fork(t, doc)
	must1[string](t)(crdt.StartMinutes(a, as(a, "ana"), crdt.MinutesSpec{ID: "m-a", Title: "Harvest"}, at(40)))
	must1[string](t)(crdt.StartMinutes(b, as(b, "ben"), crdt.MinutesSpec{ID: "m-b", Title: "Market"}, at(40)))
	must(t, crdt.EditMinutes(b, as(b, "ben"), id, crdt.TextEdit{Pos: 0, Insert: "Minutes. "}, at(41)))
	merge(t, a, b)
	merge(t, b, a)
	va, vb := read(t, a, at(50)), read(t, b, at(50))
	if asJSON(t, va.Minutes) != asJSON(t, vb.Minutes) || len(va.Minutes) != 3 {
		t.Fatalf("replicas differ: %s vs %s", asJSON(t, va.Minutes), asJSON(t, vb.Minutes))
	}
	if m := va.Minutes[0]; m.ID != id || m.Title != "Spring assembly" || m.By != "ana" || !m.At.Equal(at(30)) || m.Notes != "Minutes. Present: all. Agreed: rye." {
		t.Errorf("minutes = %+v", m)
	}
	// Editing still finds the entry after others were inserted around it.
	must(t, crdt.EditMinutes(a, as(a, "ana"), "m-b", crdt.TextEdit{Insert: "Prices up."}, at(51)))
	for _, m := range read(t, a, at(52)).Minutes {
		if m.ID == "m-b" && m.Notes != "Prices up." {
			t.Errorf("m-b = %+v", m)
		}
	}

	refused(t, doc, crdt.ErrInvalid, func() error {
		_, err := crdt.StartMinutes(doc, as(doc, "ana"), crdt.MinutesSpec{Title: ""}, at(60))
		return err
	})
	refused(t, doc, crdt.ErrExists, func() error {
		_, err := crdt.StartMinutes(doc, as(doc, "ana"), crdt.MinutesSpec{ID: id, Title: "again"}, at(60))
		return err
	})
	refused(t, doc, crdt.ErrNotFound, func() error { return crdt.EditMinutes(doc, as(doc, "ana"), "nope", crdt.TextEdit{Insert: "x"}, at(60)) })
	refused(t, doc, crdt.ErrNotFound, func() error { return crdt.EditMinutes(doc, as(doc, "ana"), "", crdt.TextEdit{Insert: "x"}, at(60)) })
	refused(t, doc, crdt.ErrInvalid, func() error { return crdt.EditMinutes(doc, as(doc, "ana"), id, crdt.TextEdit{Pos: 99}, at(60)) })
	refused(t, doc, crdt.ErrUnknownMember, func() error { return crdt.EditMinutes(doc, as(doc, "zoe"), id, crdt.TextEdit{Insert: "x"}, at(60)) })
}
