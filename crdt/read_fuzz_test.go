package crdt_test

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

// fuzzKeys are the map keys fuzzed documents are built from: the schema's
// own, ids, and a stranger.
var fuzzKeys = []string{
	"schema", "council", "name", "kind", "region", "createdAt", "rule", "quorum", "majority",
	"members", "role", "joinedAt", "leftAt", "sentBy", "mandate",
	"proposals", "title", "body", "by", "at", "closesAt", "withdrawnAt", "subject", "votes", "choice",
	"mandates", "task", "delegate", "proposal", "issuedAt", "resignedAt", "completedAt", "reports", "text",
	"exchange", "offers", "needs", "pledges", "item", "quantity", "unit", "from", "until", "note", "need", "offer",
	"federation", "memberOf", "since", "minutes", "id", "notes",
	"m0", "m1", "p0", "n0", "a/b~", "",
}

// fuzzStrings are the string values fuzzed documents use.
var fuzzStrings = []string{
	"veche/council/1", "veche/council/2", "farmers", "federation", "general", "mandate", "recall",
	"yes", "no", "abstain", "maybe", "kg", "t", "m0", "m1", "p0", "n0", "2024-05-01T10:00:00Z", "", "\xff\xfe",
}

// fuzzBase is the council fuzzed documents start from: a founder, a
// member, a proposal with a vote; fuzzCouncil is its id.
var fuzzBase, fuzzCouncil = func() (*automerge.Doc, string) {
	doc, id, err := crdt.NewCouncil(crdt.CouncilSpec{Name: "Fuzz", Kind: crdt.KindFarmers, Rule: crdt.DefaultRule,
		Founder: crdt.MemberSpec{ID: "m0", Name: "M", Role: crdt.RoleWorker}}, crdt.Signer{Member: "m0", Key: testKey("m0")}, t0)
	if err != nil {
		panic(err)
	}
	m0 := crdt.Signer{Council: id, Member: "m0", Key: testKey("m0")}
	_, err1 := crdt.Join(doc, m0, memberSpec("m1"), t0)
	_, err2 := crdt.Propose(doc, m0, crdt.ProposalSpec{ID: "p0", Kind: crdt.ProposalGeneral, Title: "P", Body: "b"}, at(1))
	err3 := crdt.CastVote(doc, m0, "p0", crdt.Yes, at(2))
	if err := errors.Join(err1, err2, err3); err != nil {
		panic(err)
	}
	return doc, id
}()

// fuzzDoc builds a document from data: a small program of writes to paths
// made of fuzzKeys and list indexes, with values of every Automerge type,
// on two replicas that are merged at the end (so conflicts happen too).
func fuzzDoc(data []byte) *automerge.Doc {
	r := fuzzReader{data: data}
	var a *automerge.Doc
	if r.byte()%2 == 0 {
		a, _ = fuzzBase.Fork()
	}
	if a == nil {
		a = automerge.New()
	}
	b, err := a.Fork()
	if err != nil {
		panic(err)
	}
	docs := []*automerge.Doc{a, b}
	for !r.done() {
		doc := docs[r.byte()%2]
		depth := 1 + int(r.byte()%4)
		path := make([]any, depth)
		for i := range path {
			k := r.byte()
			if k >= 240 {
				path[i] = int(k - 240)
			} else {
				path[i] = fuzzKeys[int(k)%len(fuzzKeys)]
			}
		}
		p := doc.Path(path...)
		switch r.byte() % 14 {
		case 0:
			_ = p.Set(fuzzStrings[int(r.byte())%len(fuzzStrings)])
		case 1:
			_ = p.Set(automerge.NewText(fuzzStrings[int(r.byte())%len(fuzzStrings)]))
		case 2:
			_ = p.Set(int64(r.uint64()))
		case 3:
			_ = p.Set(r.uint64())
		case 4:
			_ = p.Set(math.Float64frombits(r.uint64()))
		case 5:
			_ = p.Set(time.UnixMilli(int64(r.uint64())))
		case 6:
			_ = p.Set(r.byte()%2 == 0)
		case 7:
			_ = p.Set(nil)
		case 8:
			_ = p.Set([]byte{r.byte()})
		case 9:
			_ = p.Set(automerge.NewMap())
		case 10:
			_ = p.Set(automerge.NewList())
		case 11:
			_ = p.Set(automerge.NewCounter(int64(r.uint64())))
		case 12:
			_ = p.Delete()
		case 13:
			_ = p.Set(at(int(r.byte())))
		}
		if r.byte()%4 == 0 {
			_, _ = doc.Commit("fuzz", automerge.CommitOptions{AllowEmpty: true})
		}
	}
	for _, d := range docs {
		_, _ = d.Commit("fuzz", automerge.CommitOptions{AllowEmpty: true})
	}
	if _, err := a.Merge(b); err != nil {
		panic(err)
	}
	return a
}

// fuzzReader hands out the fuzz input, then zeros.
type fuzzReader struct {
	data []byte
}

func (r *fuzzReader) done() bool { return len(r.data) == 0 }

func (r *fuzzReader) byte() byte {
	if len(r.data) == 0 {
		return 0
	}
	b := r.data[0]
	r.data = r.data[1:]
	return b
}

func (r *fuzzReader) uint64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = r.byte()
	}
	return binary.LittleEndian.Uint64(b[:])
}

// FuzzRead builds documents from random writes and checks that Read never
// panics (not even one it recovers from), always yields a view that encodes
// as JSON, and is deterministic.
func FuzzRead(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 0, 0, 0, 1})
	f.Add([]byte{0, 0, 2, 9, 52, 4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x7f})
	f.Add([]byte{0, 1, 3, 9, 52, 23, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0, 0, 3, 15, 52, 24, 0, 10, 0, 1, 1, 12, 0})
	f.Add([]byte{1, 0, 0, 9, 1, 0, 0, 1, 7, 13, 3, 0, 0, 1, 10, 0})
	f.Add([]byte("members proposals votes mandates exchange pledges minutes 0123456789"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc := fuzzDoc(data)
		now := at(int(int8(len(data))))
		v, problems := crdt.Read(doc, fuzzCouncil, now)
		for _, p := range problems {
			if strings.HasPrefix(p.Message, "reading stopped") {
				t.Fatalf("Read panicked: %v", p)
			}
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("view does not encode: %v", err)
		}
		if _, err := json.Marshal(problems); err != nil {
			t.Fatal(err)
		}
		v2, problems2 := crdt.Read(doc, fuzzCouncil, now)
		b2, _ := json.Marshal(v2)
		p1, _ := json.Marshal(problems)
		p2, _ := json.Marshal(problems2)
		if string(b) != string(b2) || string(p1) != string(p2) {
			t.Fatal("Read is not deterministic")
		}
	})
}

// FuzzParseChangeMessage checks that parsing never panics and that what
// parses formats back to something that parses the same.
func FuzzParseChangeMessage(f *testing.F) {
	f.Add("veche:vote by=m1 proposal=p1")
	f.Add("veche:create-council")
	f.Add("veche:x a=b c=d")
	f.Add("raw")
	f.Fuzz(func(t *testing.T, msg string) {
		info, ok := crdt.ParseChangeMessage(msg)
		if !ok {
			return
		}
		again, ok := crdt.ParseChangeMessage(info.String())
		if !ok || again.Op != info.Op || again.By != info.By || len(again.Args) != len(info.Args) {
			t.Fatalf("%q → %+v → %q → %+v", msg, info, info.String(), again)
		}
	})
}

// FuzzParseRecord checks that ParseRecord never panics, and that a record
// it accepts is the record line it was given (base64url is strict, the
// payload is kept byte for byte), carries a valid signature by its own key,
// passes the payload checks again and has a stable id.
func FuzzParseRecord(f *testing.F) {
	good := record{council: "2sXhCouncil", op: crdt.OpVote, by: "ben", at: t0, key: testKey("ben"), args: map[string]string{"proposal": "p1", "choice": "yes"}}
	f.Add(good.message())
	f.Add(good.line())
	f.Add("veche:vote by=ben proposal=p1")
	f.Add("veche-fact/1 e30 " + strings.Repeat("A", 86))
	f.Add("veche-fact/1 " + b64(`{"v":1,"council":"","op":"create-council","by":"a","at":0,"key":"","args":{}}`) + " x")
	f.Add(signedRaw(testKey("ana"), []byte(`{"v":1,"council":"c","op":"x","by":"a","at":1,"key":"`+pub("ana")+`","args":{"a":"b"}}`)))
	f.Add(good.line() + "\n" + good.line())
	f.Fuzz(func(t *testing.T, msg string) {
		rec, err := crdt.ParseRecord(msg)
		if err != nil {
			if rec != nil {
				t.Fatalf("a record and an error: %+v %v", rec, err)
			}
			return
		}
		line := ""
		for _, l := range strings.Split(msg, "\n") {
			if strings.HasPrefix(l, "veche-fact/1 ") {
				line = l
			}
		}
		if rec.Line() != line {
			t.Fatalf("record line %q re-encodes as %q", line, rec.Line())
		}
		pubKey, err := crdt.DecodeKey(rec.Key)
		if err != nil || !ed25519.Verify(pubKey, append([]byte("veche-fact/1\n"), rec.Payload...), rec.Sig) {
			t.Fatalf("accepted a record its key did not sign: %+v", rec)
		}
		if !crdt.ValidID(rec.By) || !crdt.ValidID(string(rec.Op)) || rec.Council != "" && !crdt.ValidID(rec.Council) || len(rec.Args) > 32 {
			t.Fatalf("accepted an invalid record: %+v", rec)
		}
		again, err := crdt.ParseRecord(rec.Message())
		if err != nil || again.ID() != rec.ID() || !again.At.Equal(rec.At) {
			t.Fatalf("Message does not parse back: %v", err)
		}
	})
}
