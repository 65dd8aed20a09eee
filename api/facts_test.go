package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server/wire"
)

// The REST view, history and grants derive from the verified signed fact
// log (schema veche/council/2): these tests drive the new proposal kinds
// and the log's verdicts through the REST API.

// TestRuleChangesOnlyByPassedProposal: a proposal of kind rule puts its
// rule in force once it passes, and not before, nor if it fails; the rule
// in force then decides later proposals.
func TestRuleChangesOnlyByPassedProposal(t *testing.T) {
	cc := newCouncilClient(t)
	id, ana := cc.create("Riverside growers", "Ana")
	ben, cai := cc.join(id, "Ben"), cc.join(id, "Cai")
	base := "/api/councils/" + id
	initial := crdt.Rule{Quorum: 0.5, Majority: 0.5}
	strict := crdt.Rule{Quorum: 1, Majority: 0.7}
	vote := func(proposal string, choices map[string]string) api.WriteAnswer {
		return cc.vote(id, proposal, []string{ana, ben, cai}, choices)
	}
	propose := func(by string) api.WriteAnswer {
		p := cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{"by": by, "kind": "rule", "title": "Stricter decisions",
			"rule": map[string]any{"quorum": strict.Quorum, "majority": strict.Majority}})
		got, _ := p.View.Proposal(p.ID)
		if got.Kind != crdt.ProposalRule || got.NewRule == nil || *got.NewRule != strict || got.Outcome != crdt.OutcomeOpen {
			t.Fatalf("new rule proposal %+v", got)
		}
		if p.View.Council.Rule != initial {
			t.Fatalf("an open rule proposal changed the rule: %+v", p.View.Council.Rule)
		}
		return p
	}

	// Rejected: the rule stays.
	p := propose(ana)
	after := vote(p.ID, map[string]string{ana: "yes", ben: "no", cai: "no"})
	if got, _ := after.View.Proposal(p.ID); got.Outcome != crdt.OutcomeRejected {
		t.Fatalf("rule proposal %+v", got)
	}
	if r := after.View.Council.Rule; r != initial {
		t.Fatalf("a rejected rule proposal changed the rule to %+v", r)
	}

	// Under the old rule, two yes against one no pass.
	g := cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{"by": ben, "title": "Share the seed store"})
	if got, _ := vote(g.ID, map[string]string{ana: "yes", ben: "yes", cai: "no"}).View.Proposal(g.ID); got.Outcome != crdt.OutcomePassed {
		t.Fatalf("under the old rule: %+v", got)
	}

	// Passed: the new rule is in force, for the view and for the next decision.
	p = propose(ben)
	after = vote(p.ID, map[string]string{ana: "yes", ben: "yes", cai: "yes"})
	if got, _ := after.View.Proposal(p.ID); got.Outcome != crdt.OutcomePassed {
		t.Fatalf("rule proposal %+v", got)
	}
	if r := after.View.Council.Rule; r != strict {
		t.Fatalf("after the rule proposal passed the rule is %+v, want %+v", r, strict)
	}
	if v := cc.view(id); v.Council.Rule != strict || len(v.Problems) != 0 {
		t.Fatalf("GET after the rule proposal passed: rule %+v, problems %v (an honest document keeps its founding rule in the state)", v.Council.Rule, v.Problems)
	}
	g = cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{"by": ben, "title": "Share the tools"})
	if got, _ := vote(g.ID, map[string]string{ana: "yes", ben: "yes", cai: "no"}).View.Proposal(g.ID); got.Outcome != crdt.OutcomeRejected {
		t.Fatalf("two thirds yes under majority 0.7: %+v", got)
	}

	// Rewriting the rule in the document, as any member's stock client
	// could, changes nothing that counts, and is reported.
	heads := cc.heads(id)
	err := cc.relay.Change(t.Context(), wire.DocumentID(id), func(doc *automerge.Doc) error {
		if err := doc.Path("council", "rule", "quorum").Set(0.0); err != nil {
			return err
		}
		if err := doc.Path("council", "rule", "majority").Set(0.0); err != nil {
			return err
		}
		_, err := doc.Commit("veche:propose by=" + ana)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := cc.heads(id); strings.Join(after, ",") == strings.Join(heads, ",") {
		t.Fatal("the raw write changed nothing")
	}
	v := cc.view(id)
	if v.Council.Rule != strict {
		t.Fatalf("a raw write of the document's rule changed the rule to %+v", v.Council.Rule)
	}
	if !hasProblem(v.Problems, "/council/rule") {
		t.Fatalf("the rewritten rule is not reported: %+v", v.Problems)
	}
}

// TestExpelOnlyByPassedProposal: an expel proposal ends the membership
// of its subject once it passes, and not before, nor if it fails; the
// expelled member's token reads and writes nothing more.
func TestExpelOnlyByPassedProposal(t *testing.T) {
	cc := newCouncilClient(t)
	id, ana := cc.create("Mill workers", "Ana")
	ben, cai := cc.join(id, "Ben"), cc.join(id, "Cai")
	base := "/api/councils/" + id
	vote := func(proposal string, choices map[string]string) api.WriteAnswer {
		return cc.vote(id, proposal, []string{ana, ben, cai}, choices)
	}
	expel := func() api.WriteAnswer {
		p := cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{"by": ana, "kind": "expel", "title": "Expel Cai", "subject": cai})
		if got, _ := p.View.Proposal(p.ID); got.Kind != crdt.ProposalExpel || got.Subject != cai || got.Outcome != crdt.OutcomeOpen {
			t.Fatalf("new expel proposal %+v", got)
		}
		if m, _ := p.View.Member(cai); !m.Active || m.LeftAt != nil || m.ExpelledBy != "" {
			t.Fatalf("an open expel proposal removed Cai: %+v", m)
		}
		return p
	}

	// Rejected: Cai stays, and still acts.
	p := expel()
	after := vote(p.ID, map[string]string{ana: "yes", ben: "no", cai: "no"})
	if got, _ := after.View.Proposal(p.ID); got.Outcome != crdt.OutcomeRejected {
		t.Fatalf("expel proposal %+v", got)
	}
	if m, _ := after.View.Member(cai); !m.Active || m.ExpelledBy != "" {
		t.Fatalf("a rejected expel proposal removed Cai: %+v", m)
	}
	cc.write(http.StatusCreated, "POST", base+"/offers", map[string]any{"by": cai, "item": "flour", "quantity": 3, "unit": "kg"})

	// Passed: Cai is no longer a member, from the moment it passed.
	p = expel()
	after = vote(p.ID, map[string]string{ana: "yes", ben: "yes", cai: "no"})
	got, _ := after.View.Proposal(p.ID)
	if got.Outcome != crdt.OutcomePassed || got.ClosedAt == nil {
		t.Fatalf("expel proposal %+v", got)
	}
	m, _ := after.View.Member(cai)
	if m.Active || m.ExpelledBy != p.ID || m.LeftAt == nil || !m.LeftAt.Equal(*got.ClosedAt) {
		t.Fatalf("Cai after a passed expel proposal: %+v", m)
	}
	for _, k := range m.Keys {
		if k.RetiredAt == nil {
			t.Fatalf("an expelled member's key still counts: %+v", k)
		}
	}
	for _, other := range []string{ana, ben} {
		if m, _ := after.View.Member(other); !m.Active {
			t.Fatalf("member %s left with Cai: %+v", other, m)
		}
	}
	// Cai's token is answered like anyone's who may not read the council.
	heads := cc.heads(id)
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"GET", base, nil},
		{"POST", base + "/proposals", map[string]any{"title": "Come back"}},
		{"POST", base + "/offers", map[string]any{"item": "flour", "quantity": 1, "unit": "kg"}},
	} {
		if status, raw := cc.callAs(cc.tokens[cai], r.method, r.path, r.body); status != http.StatusNotFound {
			t.Fatalf("%s %s by an expelled member: %d %s, want 404", r.method, r.path, status, raw)
		}
	}
	if after := cc.heads(id); strings.Join(after, ",") != strings.Join(heads, ",") {
		t.Fatal("an expelled member changed the council")
	}
	// No one expels a member who is gone.
	cc.refused(id, http.StatusUnprocessableEntity, api.CodeMemberLeft, "POST", base+"/proposals", map[string]any{"by": ana, "kind": "expel", "title": "Again", "subject": cai})
}

// TestHistoryNamesOnlyVerifiedAuthors: the history names a change's
// author only from a valid signed record; a change with no record, or
// with a record that does not count, is "unverified", whatever its
// message says.
func TestHistoryNamesOnlyVerifiedAuthors(t *testing.T) {
	cc := newCouncilClient(t)
	id, ana := cc.create("Riverside growers", "Ana")
	ben := cc.join(id, "Ben")
	other, zed := cc.create("Hill growers", "Zed")
	base := "/api/councils/" + id
	p := cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{"by": ben, "title": "Share the seed store", "closesAt": time.Now().Add(time.Hour)})
	zp := cc.write(http.StatusCreated, "POST", "/api/councils/"+other+"/proposals", map[string]any{"by": zed, "title": "Hill matters"})

	// A vote in Ana's name with no signed record, its message claiming her.
	raw := func(council, message string, write func(doc *automerge.Doc) error) string {
		var hash string
		err := cc.relay.Change(t.Context(), wire.DocumentID(council), func(doc *automerge.Doc) error {
			if err := write(doc); err != nil {
				return err
			}
			h, err := doc.Commit(message)
			hash = h.String()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return hash
	}
	forged := raw(id, "veche:vote by="+ana+" proposal="+p.ID, func(doc *automerge.Doc) error {
		return doc.Path("proposals", p.ID, "votes", ana).Set(map[string]any{"choice": "yes", "at": time.Now()})
	})
	// A valid record of another council, replayed here.
	zh := history(cc, other)
	replayed := raw(id, zh.Changes[len(zh.Changes)-1].Message, func(doc *automerge.Doc) error {
		return doc.Path("proposals", zp.ID).Set(map[string]any{"kind": "general", "title": "Hill matters", "by": zed, "at": time.Now(), "votes": map[string]any{}})
	})

	h := history(cc, id)
	byHash := map[string]api.HistoryEntry{}
	for _, c := range h.Changes {
		byHash[c.Hash] = c
	}
	if len(h.Changes) != 5 {
		t.Fatalf("history of %d changes, want 5: %+v", len(h.Changes), h.Changes)
	}
	// The REST writes are signed, with the members' custodial keys.
	for i, want := range []struct {
		op     crdt.Op
		by     string
		byName string
	}{{crdt.OpCreateCouncil, ana, "Ana"}, {crdt.OpJoin, ana, "Ana"}, {crdt.OpPropose, ben, "Ben"}} {
		var c api.HistoryEntry
		for _, x := range h.Changes {
			if x.Op == want.op && x.Verified {
				c = x
			}
		}
		if c.By != want.by || c.ByName != want.byName || !c.Verified || !c.Custodial || c.Problem != "" {
			t.Fatalf("change %d (%s): %+v, want by %s (%s), verified and custodial", i, want.op, c, want.by, want.byName)
		}
	}
	f, ok := byHash[forged]
	if !ok {
		t.Fatalf("the raw change %s is not in the history", forged)
	}
	if f.By != api.Unverified || f.Verified || f.Custodial || f.ByName != "" {
		t.Fatalf("a change with no signed record is attributed: %+v", f)
	}
	r, ok := byHash[replayed]
	if !ok {
		t.Fatalf("the replayed change %s is not in the history", replayed)
	}
	if r.By != api.Unverified || r.Verified || r.ByName != "" || r.Problem == "" {
		t.Fatalf("a replayed record of another council: %+v", r)
	}
	t.Logf("replayed record: %s", r.Problem)

	// Neither counts: no vote of Ana's, no proposal of Zed's here.
	v := cc.view(id)
	if got, _ := v.Proposal(p.ID); len(got.Votes) != 0 || got.Tally.Yes != 0 {
		t.Fatalf("the forged vote counts: %+v", got)
	}
	if _, ok := v.Proposal(zp.ID); ok {
		t.Fatal("the replayed proposal counts")
	}
	if len(v.Problems) == 0 {
		t.Fatal("no problem reported for the forged changes")
	}
}

// TestMembersCarryTheirCustodialKeys: every member the relay admits — by
// invite or added by a member — carries the custodial key the relay
// keeps for them, marked custodial, and their REST writes are marked as
// resting on the relay's word.
func TestMembersCarryTheirCustodialKeys(t *testing.T) {
	cc := newCouncilClient(t)
	id, ana := cc.create("Town consumers", "Ana")
	ben := cc.join(id, "Ben")
	cai := cc.write(http.StatusCreated, "POST", "/api/councils/"+id+"/members", map[string]any{"by": ben, "name": "Cai", "role": "consumer"}).ID
	p := cc.write(http.StatusCreated, "POST", "/api/councils/"+id+"/proposals", map[string]any{"by": ben, "title": "Buy salt", "closesAt": time.Now().Add(time.Hour)})
	o := cc.write(http.StatusCreated, "POST", "/api/councils/"+id+"/offers", map[string]any{"by": ana, "item": "salt", "quantity": 2, "unit": "kg"})
	after := cc.write(http.StatusCreated, "POST", "/api/councils/"+id+"/proposals/"+p.ID+"/votes", map[string]any{"by": ana, "choice": "yes"})

	v := cc.view(id)
	keys := map[string]bool{}
	for _, member := range []struct{ id, admittedBy string }{{ana, ana}, {ben, ana}, {cai, ben}} {
		m, ok := v.Member(member.id)
		if !ok {
			t.Fatalf("no member %s", member.id)
		}
		key, err := cc.custody.Signer(t.Context(), id, member.id)
		if err != nil {
			t.Fatalf("the relay keeps no key for %s: %v", m.Name, err)
		}
		if len(m.Keys) != 1 || !m.Keys[0].Custodial || m.Keys[0].Key != key.PublicKey() || m.Keys[0].RetiredAt != nil {
			t.Fatalf("%s's keys %+v, want the custodial key %s", m.Name, m.Keys, key.PublicKey())
		}
		if m.AdmittedBy != member.admittedBy {
			t.Fatalf("%s admitted by %q, want %q", m.Name, m.AdmittedBy, member.admittedBy)
		}
		if keys[m.Keys[0].Key] {
			t.Fatalf("two members share key %s", m.Keys[0].Key)
		}
		keys[m.Keys[0].Key] = true
	}
	if got, _ := after.View.Proposal(p.ID); !got.Custodial || len(got.Votes) != 1 || !got.Votes[0].Custodial {
		t.Fatalf("a proposal and vote signed with custodial keys: %+v", got)
	}
	if got, _ := after.View.Offer(o.ID); !got.Custodial {
		t.Fatalf("an offer signed with a custodial key: %+v", got)
	}
}

// vote casts the votes of members, in order, on a proposal of council
// and returns the answer to the last.
func (cc *councilClient) vote(council, proposal string, members []string, choices map[string]string) api.WriteAnswer {
	cc.t.Helper()
	var last api.WriteAnswer
	for _, m := range members {
		last = cc.write(http.StatusCreated, "POST", "/api/councils/"+council+"/proposals/"+proposal+"/votes", map[string]any{"by": m, "choice": choices[m]})
	}
	return last
}

// TestRetiredCustodialKeySignsNothing: a member who holds a device key
// of their own and retired the custodial key the relay kept for them is
// refused REST writes (the relay has nothing that counts to sign with),
// and nothing changes; they still read the council.
func TestRetiredCustodialKeySignsNothing(t *testing.T) {
	cc := newCouncilClient(t)
	id, _ := cc.create("Riverside growers", "Ana")
	ben := cc.join(id, "Ben")
	custodial, err := cc.custody.Signer(t.Context(), id, ben)
	if err != nil {
		t.Fatal(err)
	}
	device := crdt.Signer{Council: id, Member: ben, Key: crdt.NewKey()}
	err = cc.relay.Change(t.Context(), wire.DocumentID(id), func(doc *automerge.Doc) error {
		now := time.Now()
		if err := crdt.AddKey(doc, custodial, device.PublicKey(), false, now); err != nil {
			return err
		}
		return crdt.RetireKey(doc, device, custodial.PublicKey(), now.Add(time.Millisecond))
	})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := cc.view(id).Member(ben)
	if !m.Active || len(m.Keys) != 2 || m.Keys[0].RetiredAt == nil || m.Keys[1].Custodial || m.Keys[1].RetiredAt != nil {
		t.Fatalf("Ben's keys after retiring the custodial one: %+v", m)
	}
	e := cc.refused(id, http.StatusForbidden, api.CodeForbidden, "POST", "/api/councils/"+id+"/proposals", map[string]any{"by": ben, "title": "x"})
	if !strings.Contains(e.Message, "key") {
		t.Fatalf("message %q does not say the key is the matter", e.Message)
	}
	if status, raw := cc.callAs(cc.tokens[ben], "GET", "/api/councils/"+id, nil); status != http.StatusOK {
		t.Fatalf("Ben reads his council: %d %s", status, raw)
	}
}

// history returns a council's history, read by its founder.
func history(cc *councilClient, council string) api.HistoryAnswer {
	cc.t.Helper()
	var h api.HistoryAnswer
	cc.must(http.StatusOK, "GET", "/api/councils/"+council+"/history", nil, &h)
	return h
}

// hasProblem reports whether a problem is reported at path or below it.
func hasProblem(problems []crdt.Problem, path string) bool {
	for _, p := range problems {
		if p.Path == path || strings.HasPrefix(p.Path, path+"/") {
			return true
		}
	}
	return false
}
