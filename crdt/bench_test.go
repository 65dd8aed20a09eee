package crdt_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

// Benchmarks of verification: what a relay pays per incoming change
// (Log.Update on one new change: parse and check one signature), per
// derived view (Log.Derive: replay of already checked records, no
// cryptography), and what Read and an operation pay, which read the whole
// history every time (signatures already verified in the process are
// remembered). Run with
//
//	go test -run '^$' -bench . ./crdt/
//
// Each prints ns/op and, where it means something, facts/s.

// benchSizes are the numbers of facts in the benchmarked documents.
var benchSizes = []int{100, 1000, 10000}

// benchMembers is the number of members of benchmarked councils.
const benchMembers = 20

// benchDocs caches one document per size: building 10,000 facts takes
// seconds.
var benchDocs sync.Map

// benchDoc returns a council with n facts: a founder, benchMembers-1
// members, then proposals (one in ten records) with every member's vote,
// and offers — records written by hand and signed by their members, so
// building does not verify the history once per fact as operations do.
// The caller must not modify it (fork it).
func benchDoc(b *testing.B, n int) *automerge.Doc {
	b.Helper()
	if d, ok := benchDocs.Load(n); ok {
		return d.(*automerge.Doc)
	}
	members := make([]string, benchMembers)
	for i := range members {
		members[i] = fmt.Sprintf("m%02d", i)
	}
	doc := newCouncil(b, crdt.Rule{Quorum: 0.5, Majority: 0.5}, members...)
	council := councilOf(doc)
	facts := benchMembers // the founding and the admissions
	proposal := ""
	for i := 0; facts < n; i++ {
		when := t0.Add(time.Duration(i+1) * time.Second)
		by := members[i%benchMembers]
		var r record
		var state func(d *automerge.Doc) error
		switch {
		case i%10 == 0:
			proposal = "p" + strconv.Itoa(i)
			r = record{council: council, op: crdt.OpPropose, by: by, at: when, key: testKey(by),
				args: map[string]string{"proposal": proposal, "kind": "general", "title": "Proposal " + proposal}}
			state = setAt(map[string]any{"kind": "general", "title": "Proposal " + proposal, "body": automerge.NewText(""), "by": by, "at": when, "votes": map[string]any{}}, "proposals", proposal)
		case i%10 < 8:
			r = record{council: council, op: crdt.OpVote, by: by, at: when, key: testKey(by),
				args: map[string]string{"proposal": proposal, "choice": "yes"}}
			state = setAt(map[string]any{"choice": "yes", "at": when}, "proposals", proposal, "votes", by)
		default:
			offer := "o" + strconv.Itoa(i)
			r = record{council: council, op: crdt.OpPostOffer, by: by, at: when, key: testKey(by),
				args: map[string]string{"offer": offer, "item": "rye", "quantity": "3", "unit": "t"}}
			state = setAt(map[string]any{"by": by, "item": "rye", "quantity": 3.0, "unit": "t", "at": when}, "exchange", "offers", offer)
		}
		commitRecord(b, doc, r.message(), when, state)
		facts++
	}
	benchDocs.Store(n, doc)
	return doc
}

// benchNow is after every fact of every benchmarked document.
var benchNow = t0.Add(24 * time.Hour)

// BenchmarkLogUpdateOneChange: the verification cost of one new change on
// a document of n facts, as a relay pays it for every change it receives:
// Log.Update reads the changes since its last heads and checks their
// signatures (one here).
func BenchmarkLogUpdateOneChange(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("facts=%d", n), func(b *testing.B) {
			base := benchDoc(b, n)
			council := councilOf(base)
			var doc *automerge.Doc
			var log *crdt.Log
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if i%100 == 0 {
					// Start again from n facts, so the document stays
					// between n and n+100 facts whatever b.N.
					doc, log = fork(b, base), crdt.NewLog()
					must(b, log.Update(doc))
				}
				when := benchNow.Add(time.Duration(i) * time.Millisecond)
				r := record{council: council, op: crdt.OpPostNeed, by: "m01", at: when, key: testKey("m01"),
					args: map[string]string{"need": "n" + strconv.Itoa(i), "item": "hay", "quantity": "1", "unit": "t"}}
				commitRecord(b, doc, r.message(), when, nil)
				b.StartTimer()
				must(b, log.Update(doc))
			}
			b.StopTimer()
			if want := n + (b.N-1)%100 + 1; log.Len() != want {
				b.Fatalf("log has %d changes, want %d", log.Len(), want)
			}
		})
	}
}

// BenchmarkLogDerive: deriving the view of a document of n facts from its
// verified log (no cryptography), as a relay does for grants and REST
// views.
func BenchmarkLogDerive(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("facts=%d", n), func(b *testing.B) {
			doc := benchDoc(b, n)
			log := crdt.NewLog()
			must(b, log.Update(doc))
			council := councilOf(doc)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v, problems, _ := log.Derive(council, benchNow, nil)
				if len(problems) > 0 || len(v.Members) != benchMembers {
					b.Fatalf("problems %v", problems)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "facts/s")
		})
	}
}

// BenchmarkParseRecord: parsing and verifying one record never seen
// before (ParseRecord remembers signatures it verified, so each iteration
// signs a new one, untimed): the cold verification cost of one change.
func BenchmarkParseRecord(b *testing.B) {
	key := testKey("m01")
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := record{council: "2sXhBench", op: crdt.OpVote, by: "m01", at: benchNow.Add(time.Duration(i) * time.Millisecond), key: key,
			args: map[string]string{"proposal": "p1", "choice": "yes"}}
		msg := r.message()
		b.StartTimer()
		if _, err := crdt.ParseRecord(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogLoad: reading every change of a document of n facts into a
// fresh Log, as a relay loading a document or Read does. Signatures
// verified before in this process are remembered (ParseRecord), so after
// the first iteration this is the warm cost: the cold cost adds n times
// BenchmarkParseRecord.
func BenchmarkLogLoad(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("facts=%d", n), func(b *testing.B) {
			doc := benchDoc(b, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				must(b, crdt.NewLog().Update(doc))
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "facts/s")
		})
	}
}

// BenchmarkRead: Read of a document of n facts: every signature, the
// replay and the comparison with the state.
func BenchmarkRead(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("facts=%d", n), func(b *testing.B) {
			doc := benchDoc(b, n)
			council := councilOf(doc)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if v, problems := crdt.Read(doc, council, benchNow); len(problems) > 0 || v.ID != council {
					b.Fatalf("problems %v", problems)
				}
			}
		})
	}
}

// BenchmarkCastVote: one operation on a document of n facts. Operations
// validate against the view at their time, which they derive with Read:
// their cost grows with the history.
func BenchmarkCastVote(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("facts=%d", n), func(b *testing.B) {
			var doc *automerge.Doc
			id := "bench"
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%100 == 0 {
					// Start again from n facts, so the document stays
					// between n and n+100 facts whatever b.N.
					b.StopTimer()
					doc = fork(b, benchDoc(b, n))
					must1[string](b)(crdt.Propose(doc, as(doc, "m00"), crdt.ProposalSpec{ID: id, Kind: crdt.ProposalGeneral, Title: "Bench", ClosesAt: benchNow.Add(time.Hour)}, benchNow))
					b.StartTimer()
				}
				choice := []crdt.Choice{crdt.Yes, crdt.No}[i%2]
				must(b, crdt.CastVote(doc, as(doc, "m01"), id, choice, benchNow.Add(time.Duration(i+1)*time.Millisecond)))
			}
		})
	}
}

// BenchmarkLogDeriveOpenRuleProposals: Log.Derive on 10,000 facts with
// open rule proposals that have no closing time (any member can make
// them): rule and expel proposals are checked as the log is replayed, and
// that must not cost a decision per proposal per millisecond of the log.
func BenchmarkLogDeriveOpenRuleProposals(b *testing.B) {
	for _, open := range []int{0, 10, 100} {
		b.Run(fmt.Sprintf("open=%d", open), func(b *testing.B) {
			doc := fork(b, benchDoc(b, 10000))
			council := councilOf(doc)
			for i := 0; i < open; i++ {
				when := t0.Add(time.Duration(i+1) * time.Millisecond)
				r := record{council: council, op: crdt.OpPropose, by: "m00", at: when, key: testKey("m00"),
					args: map[string]string{"proposal": "rule" + strconv.Itoa(i), "kind": "rule", "title": "A rule", "quorum": "0.5", "majority": "0.5"}}
				commitRecord(b, doc, r.message(), when, nil)
			}
			log := crdt.NewLog()
			must(b, log.Update(doc))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v, _, _ := log.Derive(council, benchNow, nil)
				if len(v.Proposals) < open {
					b.Fatalf("%d proposals", len(v.Proposals))
				}
			}
		})
	}
}
