package crdt_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

// t0 is the base time of unit tests.
var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// at returns t0 plus n minutes.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// ptr returns a pointer to t.
func ptr(t time.Time) *time.Time { return &t }

// majority is a simple-majority rule with a half quorum.
var majority = crdt.Rule{Quorum: 0.5, Majority: 0.5}

// testKey returns the deterministic private key of a test member:
// Ed25519 from the seed SHA-256("veche-test:" + id). The shared vectors
// derive keys the same way (testdata/vectors/README.md).
func testKey(id string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("veche-test:" + id))
	return ed25519.NewKeyFromSeed(seed[:])
}

// pub returns the public key of testKey(id), encoded as records carry it.
func pub(id string) string {
	return crdt.EncodeKey(testKey(id).Public().(ed25519.PublicKey))
}

// councils caches the council id of documents by pointer (forks are new
// pointers and are looked up again).
var councils sync.Map

// councilOf returns the id of the council founded in doc: CouncilID of the
// first founding record in its history ("" if none).
func councilOf(doc *automerge.Doc) string {
	if doc == nil {
		return ""
	}
	if id, ok := councils.Load(doc); ok {
		return id.(string)
	}
	changes, err := doc.Changes()
	if err != nil {
		return ""
	}
	for _, c := range changes {
		rec, err := crdt.ParseRecord(c.Message())
		if err == nil && rec.Op == crdt.OpCreateCouncil {
			id := crdt.CouncilID(rec.Payload)
			councils.Store(doc, id)
			return id
		}
	}
	return ""
}

// as returns the signer for member acting on a council: where is the
// council's document (*automerge.Doc) or its id (string). The key is the
// member's test key.
func as(where any, member string) crdt.Signer {
	var council string
	switch w := where.(type) {
	case *automerge.Doc:
		council = councilOf(w)
	case string:
		council = w
	default:
		panic("as: want a document or a council id")
	}
	return crdt.Signer{Council: council, Member: member, Key: testKey(member)}
}

// memberSpec is the spec admitting member id with their test key.
func memberSpec(id string) crdt.MemberSpec {
	return crdt.MemberSpec{ID: id, Name: "Member " + id, Role: crdt.RoleSmallFarmer, Key: pub(id)}
}

// newCouncil creates a farmers' council at t0 with the given rule: the
// first member founds it, the others are admitted by the founder at t0
// (ids as given). It fails the test on error.
func newCouncil(t tb, rule crdt.Rule, members ...string) *automerge.Doc {
	t.Helper()
	return newCouncilOf(t, crdt.KindFarmers, rule, members...)
}

// newCouncilOf is newCouncil for a council of the given kind.
func newCouncilOf(t tb, kind crdt.CouncilKind, rule crdt.Rule, members ...string) *automerge.Doc {
	t.Helper()
	if len(members) == 0 {
		t.Fatal("newCouncil: a council needs a founder")
	}
	founder := members[0]
	doc, _, err := crdt.NewCouncil(crdt.CouncilSpec{
		Name: "Council of " + founder, Kind: kind, Region: "Lower valley", Rule: rule,
		Founder: crdt.MemberSpec{ID: founder, Name: "Member " + founder, Role: crdt.RoleSmallFarmer},
	}, crdt.Signer{Member: founder, Key: testKey(founder)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members[1:] {
		if _, err := crdt.Join(doc, as(doc, founder), memberSpec(m), t0); err != nil {
			t.Fatal(err)
		}
	}
	return doc
}

// must fails the test if err is not nil.
func must(t tb, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// must1 returns v, failing the test if err is not nil.
func must1[T any](t tb) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// read reads doc at now and fails the test on problems.
func read(t tb, doc *automerge.Doc, now time.Time) crdt.View {
	t.Helper()
	v, problems := readAny(doc, now)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	return v
}

// readAny reads doc at now, whatever the problems. It keeps a Log per
// document (by pointer), as a relay does, so signatures are checked once
// per change; TestReadLogIsRead checks that this is Read.
func readAny(doc *automerge.Doc, now time.Time) (crdt.View, []crdt.Problem) {
	if doc == nil {
		return crdt.Read(doc, "", now)
	}
	return crdt.ReadLog(doc, logOf(doc), councilOf(doc), now, nil)
}

// logs caches a Log per document.
var logs sync.Map

// logOf returns doc's cached Log, updated.
func logOf(doc *automerge.Doc) *crdt.Log {
	l, _ := logs.LoadOrStore(doc, crdt.NewLog())
	log := l.(*crdt.Log)
	if err := log.Update(doc); err != nil {
		panic(err)
	}
	return log
}

// readPast reads doc at a past moment now: records dated more than
// MaxSkew after it are reported as future-dated (and the state that they
// wrote as not in the log), which is expected; any other problem fails
// the test.
func readPast(t tb, doc *automerge.Doc, now time.Time) crdt.View {
	t.Helper()
	v, problems := readAny(doc, now)
	for _, p := range problems {
		if !strings.HasPrefix(p.Path, "/log/") || !strings.Contains(p.Message, "in the future") {
			if !strings.Contains(p.Message, "not in the signed log") && !strings.Contains(p.Message, "the signed log says") {
				t.Fatalf("problem reading the past: %v", p)
			}
		}
	}
	return v
}

// paths returns the distinct problem paths, in order.
func paths(problems []crdt.Problem) []string {
	out := []string{}
	for _, p := range problems {
		if len(out) == 0 || out[len(out)-1] != p.Path {
			out = append(out, p.Path)
		}
	}
	return out
}

// hasProblem reports whether a problem is at path (or under it, if prefix
// ends with "/").
func hasProblem(problems []crdt.Problem, path string) bool {
	for _, p := range problems {
		if p.Path == path || strings.HasSuffix(path, "/") && strings.HasPrefix(p.Path, path) {
			return true
		}
	}
	return false
}

// refused checks that err matches want and that doc did not change.
func refused(t tb, doc *automerge.Doc, want error, op func() error) {
	t.Helper()
	before := doc.Heads()
	saved := doc.Save()
	err := op()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	var e *crdt.Error
	if !errors.As(err, &e) || e.Op == "" || e.Message == "" {
		t.Fatalf("err = %#v, want an *Error with op and message", err)
	}
	after := doc.Heads()
	if len(before) != len(after) || (len(before) > 0 && before[0] != after[0]) {
		t.Fatalf("heads changed after refused operation: %v → %v", before, after)
	}
	if string(saved) != string(doc.Save()) {
		t.Fatal("document changed after refused operation")
	}
}

// proposal returns the proposal with the given id.
func proposal(t tb, v crdt.View, id string) crdt.Proposal {
	t.Helper()
	p, ok := v.Proposal(id)
	if !ok {
		t.Fatalf("no proposal %q", id)
	}
	return p
}

// mandate returns the mandate with the given id.
func mandate(t tb, v crdt.View, id string) crdt.Mandate {
	t.Helper()
	m, ok := v.Mandate(id)
	if !ok {
		t.Fatalf("no mandate %q", id)
	}
	return m
}

// asJSON encodes v, failing the test on error.
func asJSON(t tb, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fork returns an offline copy of doc with its own actor.
func fork(t tb, doc *automerge.Doc) *automerge.Doc {
	t.Helper()
	f, err := doc.Fork()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// merge merges src into dst.
func merge(t tb, dst, src *automerge.Doc) {
	t.Helper()
	if _, err := dst.Merge(src); err != nil {
		t.Fatal(err)
	}
}

// rawSet writes value at path as a non-validating client would, in one
// change with no record.
func rawSet(t tb, doc *automerge.Doc, value any, path ...any) {
	t.Helper()
	must(t, doc.Path(path...).Set(value))
	rawCommit(t, doc, "raw", t0)
}

// rawDelete deletes the value at path as a non-validating client would.
func rawDelete(t tb, doc *automerge.Doc, path ...any) {
	t.Helper()
	must(t, doc.Path(path...).Delete())
	rawCommit(t, doc, "raw", t0)
}

// rawCommit commits doc's pending edits (or nothing) with message msg.
func rawCommit(t tb, doc *automerge.Doc, msg string, when time.Time) {
	t.Helper()
	if _, err := doc.Commit(msg, automerge.CommitOptions{Time: &when, AllowEmpty: true}); err != nil {
		t.Fatal(err)
	}
}

// lastMessage returns the message of the last change of doc's history.
func lastMessage(t tb, doc *automerge.Doc) string {
	t.Helper()
	h := must1[[]crdt.HistoryEntry](t)(crdt.History(doc))
	return h[len(h)-1].Message
}

// federationID is the document id mandates in unit tests send delegates
// to; councils join it with joinFed before proposing mandates.
const federationID = "2sXhFederation"

// joinFed records, signed by member, that doc's council belongs to the
// federation federationID.
func joinFed(t tb, doc *automerge.Doc, member string) {
	t.Helper()
	must(t, crdt.JoinFederation(doc, as(doc, member), federationID, t0))
}

// approvedMandate adds a mandate for delegate "ben" proposed by "ana" at
// 10:05 and approved by every member of a-b-c at 11:00; ids pm1 and m1.
// The council joins federationID first (a mandate's body must be one).
func approvedMandate(t tb, doc *automerge.Doc) {
	t.Helper()
	joinFed(t, doc, "ana")
	_, _, err := crdt.ProposeMandate(doc, as(doc, "ana"),
		crdt.ProposalSpec{ID: "pm1", Title: "Send Ben", ClosesAt: at(60)},
		crdt.MandateSpec{ID: "m1", Task: "Sell the rye", Body: federationID, Delegate: "ben"}, at(5))
	must(t, err)
	for _, m := range []string{"ana", "ben", "cai"} {
		must(t, crdt.CastVote(doc, as(doc, m), "pm1", crdt.Yes, at(10)))
	}
}

// recall proposes recall r of m1 by cai at minute from, closing at minute
// to, and has ana and cai vote yes at minute from+1.
func recall(t tb, doc *automerge.Doc, r string, from, to int) {
	t.Helper()
	_, err := crdt.Propose(doc, as(doc, "cai"), crdt.ProposalSpec{ID: r, Kind: crdt.ProposalRecall, Title: "Recall Ben", Subject: "m1", ClosesAt: at(to)}, at(from))
	must(t, err)
	must(t, crdt.CastVote(doc, as(doc, "ana"), r, crdt.Yes, at(from+1)))
	must(t, crdt.CastVote(doc, as(doc, "cai"), r, crdt.Yes, at(from+1)))
}

// tb is the part of testing.TB the helpers need; *rapid.T has it too.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}
