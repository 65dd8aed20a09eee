package crdt_test

import (
	"testing"
	"time"

	"github.com/veche-sync/veche/crdt"
)

// TestApplyRecord: records signed on a member's own device — made here by
// hand from the documented format, as another client would — are applied
// as the operation they describe and carried byte for byte; each counts,
// and the view is the one the operations give when the member signs with
// the package.
func TestApplyRecord(t *testing.T) {
	byHand := newCouncil(t, majority, "ana", "ben")
	byPackage := fork(t, byHand)
	council := councilOf(byHand)
	joinFed(t, byHand, "ana")
	joinFed(t, byPackage, "ana")
	apply := func(member string, op crdt.Op, minute int, args map[string]string) string {
		t.Helper()
		r := signedBy(byHand, member, op, at(minute), args)
		rec, err := crdt.ParseRecord(r.message())
		must(t, err)
		made, err := crdt.ApplyRecord(byHand, council, rec, at(minute))
		must(t, err)
		if got := lastMessage(t, byHand); got != rec.Message() {
			t.Fatalf("%s: the change carries %q, not the record", op, got)
		}
		return made
	}
	s := func(m string) crdt.Signer { return as(byPackage, m) }

	if id := apply("ana", crdt.OpJoin, 1, map[string]string{"member": "cai", "name": "Cai", "role": "worker", "key": pub("cai")}); id != "cai" {
		t.Errorf("join made %q", id)
	}
	must1[string](t)(crdt.Join(byPackage, s("ana"), crdt.MemberSpec{ID: "cai", Name: "Cai", Role: "worker", Key: pub("cai")}, at(1)))

	apply("ben", crdt.OpPropose, 2, map[string]string{"proposal": "p1", "kind": "general", "title": "Repair the well", "closes-at": "1714561200000"})
	must1[string](t)(crdt.Propose(byPackage, s("ben"), crdt.ProposalSpec{ID: "p1", Kind: crdt.ProposalGeneral, Title: "Repair the well", ClosesAt: at(60)}, at(2)))

	apply("cai", crdt.OpVote, 3, map[string]string{"proposal": "p1", "choice": "yes"})
	must(t, crdt.CastVote(byPackage, s("cai"), "p1", crdt.Yes, at(3)))

	apply("ana", crdt.OpProposeMandate, 4, map[string]string{"proposal": "pm1", "title": "Send Ben", "mandate": "m1", "task": "Sell rye", "body": federationID, "member": "ben"})
	_, _, err := crdt.ProposeMandate(byPackage, s("ana"), crdt.ProposalSpec{ID: "pm1", Title: "Send Ben"}, crdt.MandateSpec{ID: "m1", Task: "Sell rye", Body: federationID, Delegate: "ben"}, at(4))
	must(t, err)

	apply("ben", crdt.OpPostOffer, 5, map[string]string{"offer": "o1", "item": "rye", "quantity": "2.5", "unit": "t"})
	must1[string](t)(crdt.PostOffer(byPackage, s("ben"), crdt.ProduceSpec{ID: "o1", Item: "rye", Quantity: 2.5, Unit: "t"}, at(5)))

	apply("ben", crdt.OpAddKey, 6, map[string]string{"key": pub("ben-laptop"), "custodial": "true"})
	must(t, crdt.AddKey(byPackage, s("ben"), pub("ben-laptop"), true, at(6)))

	apply("cai", crdt.OpLeave, 7, map[string]string{})
	must(t, crdt.Leave(byPackage, s("cai"), at(7)))

	a, pa := readAny(byHand, at(8))
	b, pb := readAny(byPackage, at(8))
	if len(pa) > 0 || len(pb) > 0 || asJSON(t, a) != asJSON(t, b) {
		t.Fatalf("views differ:\n%s %v\n%s %v", asJSON(t, a), pa, asJSON(t, b), pb)
	}
	_, _, facts := logOf(byHand).Derive(council, at(8), nil)
	for _, f := range facts {
		if !f.Counted {
			t.Errorf("fact %+v not counted", f)
		}
	}
}

// TestApplyRecordRefuses: a record that is not exactly what the operation
// would make, signed with a key that does not count, for another council,
// dated in the future, or a founding record, is refused and changes
// nothing.
func TestApplyRecordRefuses(t *testing.T) {
	doc := newCouncil(t, majority, "ana", "ben")
	council := councilOf(doc)
	must1[string](t)(crdt.Propose(doc, as(doc, "ana"), crdt.ProposalSpec{ID: "p1", Kind: crdt.ProposalGeneral, Title: "x", ClosesAt: at(60)}, at(1)))
	try := func(want error, r record, now time.Time) {
		t.Helper()
		rec, err := crdt.ParseRecord(r.message())
		must(t, err)
		refused(t, doc, want, func() error { _, err := crdt.ApplyRecord(doc, council, rec, now); return err })
	}
	vote := func(args map[string]string) record { return signedBy(doc, "ben", crdt.OpVote, at(2), args) }
	try(crdt.ErrKeyNotCounted, record{council: council, op: crdt.OpVote, by: "ben", at: at(2), key: testKey("ana"), args: map[string]string{"proposal": "p1", "choice": "yes"}}, at(2))
	try(crdt.ErrInvalid, vote(map[string]string{"proposal": "p1", "choice": "yes", "extra": "x"}), at(2))
	try(crdt.ErrInvalid, vote(map[string]string{"proposal": "p1", "choice": "maybe"}), at(2))
	try(crdt.ErrNotFound, vote(map[string]string{"proposal": "p9", "choice": "yes"}), at(2))
	try(crdt.ErrInvalid, signedBy(doc, "ben", crdt.OpPostOffer, at(2), map[string]string{"offer": "o1", "item": "rye", "quantity": "2.50", "unit": "t"}), at(2))
	try(crdt.ErrInvalid, signedBy(doc, "ben", crdt.OpPostOffer, at(2), map[string]string{"item": "rye", "quantity": "2", "unit": "t"}), at(2))
	try(crdt.ErrInvalid, record{council: "2sXhOther", op: crdt.OpVote, by: "ben", at: at(2), key: testKey("ben"), args: map[string]string{"proposal": "p1", "choice": "yes"}}, at(2))
	try(crdt.ErrInvalid, vote(map[string]string{"proposal": "p1", "choice": "yes"}), at(2).Add(-crdt.MaxSkew-time.Minute))
	try(crdt.ErrInvalid, record{council: "", op: crdt.OpCreateCouncil, by: "ben", at: at(2), key: testKey("ben"), args: map[string]string{"name": "x"}}, at(2))
	try(crdt.ErrProposalClosed, signedBy(doc, "ben", crdt.OpVote, at(61), map[string]string{"proposal": "p1", "choice": "yes"}), at(61))
	if _, err := crdt.ApplyRecord(doc, council, nil, at(2)); !errorsIs(err, crdt.ErrInvalid) {
		t.Errorf("nil record: %v", err)
	}
	if _, err := crdt.ApplyRecord(doc, council, &crdt.Record{Op: crdt.OpVote, By: "ben", At: at(2)}, at(2)); !errorsIs(err, crdt.ErrInvalid) {
		t.Errorf("unsigned record: %v", err)
	}
}

// TestSignRecord: SignRecord signs what a hand-made record carries, byte
// for byte, so a client using the package signs records ApplyRecord takes.
func TestSignRecord(t *testing.T) {
	args := map[string]string{"proposal": "p1", "choice": "no"}
	rec, err := crdt.SignRecord(crdt.Signer{Member: "ben", Key: testKey("ben")}, "2sXhCouncil", crdt.OpVote, at(2).Add(1500*time.Microsecond), args)
	must(t, err)
	want := record{council: "2sXhCouncil", op: crdt.OpVote, by: "ben", at: at(2).Add(time.Millisecond), key: testKey("ben"), args: args}
	if rec.Line() != want.line() || rec.Message() != want.message() {
		t.Errorf("SignRecord:\n got %s\nwant %s", rec.Line(), want.line())
	}
	if _, err := crdt.SignRecord(crdt.Signer{Member: "ben"}, "2sXhCouncil", crdt.OpVote, at(2), args); err == nil {
		t.Error("signed without a key")
	}
}
