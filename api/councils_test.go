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

func TestCreateCouncil(t *testing.T) {
	cc := newCouncilClient(t)
	status, raw := cc.call("POST", "/api/councils", `{"name":"Riverside growers","kind":"farmers","region":"Lower valley",
		"founder":{"name":"Ana","role":"small-farmer"}}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, raw)
	}
	ans := cc.found(map[string]any{
		"name": "Riverside growers", "kind": "farmers", "founder": map[string]any{"name": "Ana", "role": "small-farmer"},
	})
	if _, err := wire.ParseDocumentID(ans.ID); err != nil {
		t.Fatalf("id %q: %v", ans.ID, err)
	}
	if ans.URL != "automerge:"+ans.ID || !strings.HasPrefix(ans.Token, "vt_") || ans.Founder == "" {
		t.Fatalf("answer %+v", ans)
	}
	v := ans.View
	if v.ID != ans.ID || v.Council.Name != "Riverside growers" || v.Council.Rule != crdt.DefaultRule || len(v.Members) != 1 ||
		v.Members[0].ID != ans.Founder || v.Members[0].Name != "Ana" || !v.Members[0].Active || len(v.Problems) != 0 {
		t.Fatalf("view after create: %+v", v)
	}
	// The founder's key is the custodial key the relay keeps for them,
	// and the view says it is custodial.
	key, err := cc.custody.Signer(t.Context(), ans.ID, ans.Founder)
	if err != nil {
		t.Fatal(err)
	}
	if ks := v.Members[0].Keys; len(ks) != 1 || ks[0].Key != key.PublicKey() || !ks[0].Custodial || ks[0].RetiredAt != nil {
		t.Fatalf("founder's keys %+v, want the custodial key %s", ks, key.PublicKey())
	}

	// GET answers the same council, by id or by automerge URL.
	for _, id := range []string{ans.ID, ans.URL} {
		got := cc.view(id)
		if got.ID != ans.ID || got.Council.Name != "Riverside growers" || len(got.Members) != 1 || len(got.Heads) == 0 {
			t.Fatalf("GET %s: %+v", id, got)
		}
	}

	// The history says who founded it: one change, the founding record,
	// signed with the founder's custodial key.
	var h api.HistoryAnswer
	cc.must(http.StatusOK, "GET", "/api/councils/"+ans.ID+"/history", nil, &h)
	if len(h.Changes) != 1 {
		t.Fatalf("history %+v", h)
	}
	if c := h.Changes[0]; c.Op != crdt.OpCreateCouncil || c.By != ans.Founder || c.ByName != "Ana" || !c.Verified || !c.Custodial ||
		c.Problem != "" || c.Actor == "" || c.Time.IsZero() {
		t.Fatalf("founding change %+v", c)
	}
}

func TestMembersJoinAndLeave(t *testing.T) {
	cc := newCouncilClient(t)
	id, ana := cc.create("Mill workers", "Ana")
	ben := cc.join(id, "Ben")
	// A member adds a member without a token.
	ans := cc.write(http.StatusCreated, "POST", "/api/councils/"+id+"/members", map[string]any{"by": ben, "id": "cai", "name": "Cai", "role": "worker"})
	if ans.ID != "cai" || len(ans.View.Members) != 3 {
		t.Fatalf("join with an explicit id: %+v", ans)
	}
	// A retry with the same id makes no second member.
	cc.refused(id, http.StatusConflict, api.CodeExists, "POST", "/api/councils/"+id+"/members", map[string]any{"id": "cai", "name": "Cai", "role": "worker"})

	// Only the member leaves in their name.
	cc.refused(id, http.StatusForbidden, api.CodeForbidden, "POST", "/api/councils/"+id+"/members/"+ben+"/leave", map[string]any{"by": ana})
	cc.refused(id, http.StatusForbidden, api.CodeForbidden, "POST", "/api/councils/"+id+"/members/nobody/leave", "")
	ans = cc.write(http.StatusOK, "POST", "/api/councils/"+id+"/members/"+ben+"/leave", map[string]any{"by": ben})
	m, _ := ans.View.Member(ben)
	if m.Active || m.LeftAt == nil {
		t.Fatalf("Ben after leaving: %+v", m)
	}
	// Leaving revoked Ben's token.
	cc.refused(id, http.StatusUnauthorized, api.CodeUnauthenticated, "POST", "/api/councils/"+id+"/members/"+ben+"/leave", map[string]any{"by": ben})
	if m, _ := cc.view(id).Member(ana); !m.Active {
		t.Fatal("Ana left too")
	}
}

func TestProposalsAndVotes(t *testing.T) {
	cc := newCouncilClient(t)
	id, ana := cc.create("Riverside growers", "Ana")
	ben, cai := cc.join(id, "Ben"), cc.join(id, "Cai")
	base := "/api/councils/" + id + "/proposals"

	// Decided once everyone voted: two yes, one no passes.
	p := cc.write(http.StatusCreated, "POST", base, map[string]any{"by": ana, "title": "Share the seed store", "body": "All seed in one barn."})
	if p.ID == "" {
		t.Fatal("no proposal id")
	}
	if got, _ := p.View.Proposal(p.ID); got.Kind != crdt.ProposalGeneral || got.Outcome != crdt.OutcomeOpen || got.Body != "All seed in one barn." {
		t.Fatalf("new proposal %+v", got)
	}
	for member, choice := range map[string]string{ana: "yes", ben: "yes"} {
		cc.write(http.StatusCreated, "POST", base+"/"+p.ID+"/votes", map[string]any{"by": member, "choice": choice})
	}
	last := cc.write(http.StatusCreated, "POST", base+"/"+p.ID+"/votes", map[string]any{"by": cai, "choice": "no"})
	if got, _ := last.View.Proposal(p.ID); got.Outcome != crdt.OutcomePassed || got.Tally.Yes != 2 || got.Tally.No != 1 {
		t.Fatalf("after three votes: %+v", got)
	}

	// An open proposal's body is edited; its proposer withdraws it.
	closes := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	q := cc.write(http.StatusCreated, "POST", base, map[string]any{"by": ben, "kind": "exchange", "title": "Swap rye for salt", "body": "Ten sacks of rye.", "closesAt": closes})
	e := cc.write(http.StatusOK, "PATCH", base+"/"+q.ID, map[string]any{"by": cai, "body": "Twelve sacks of rye."})
	if got, _ := e.View.Proposal(q.ID); got.Body != "Twelve sacks of rye." || got.ClosesAt == nil {
		t.Fatalf("edited: %+v", got)
	}
	cc.refused(id, http.StatusForbidden, api.CodeNotProposer, "POST", base+"/"+q.ID+"/withdraw", map[string]any{"by": ana})
	w := cc.write(http.StatusOK, "POST", base+"/"+q.ID+"/withdraw", map[string]any{"by": ben})
	if got, _ := w.View.Proposal(q.ID); got.Outcome != crdt.OutcomeWithdrawn {
		t.Fatalf("withdrawn: %+v", got)
	}
	cc.refused(id, http.StatusConflict, api.CodeProposalClosed, "PATCH", base+"/"+q.ID, map[string]any{"by": cai, "body": "x"})
}

func TestMandateSentReportedRecalled(t *testing.T) {
	cc := newCouncilClient(t)
	id, ana := cc.create("Mill workers", "Ana")
	ben, cai := cc.join(id, "Ben"), cc.join(id, "Cai")
	federation, _ := cc.createFederation("District federation", "Dora")
	base := "/api/councils/" + id
	// A mandate's body must be a federation the council joined.
	cc.refused(id, http.StatusBadRequest, api.CodeInvalidArgument, "POST", base+"/proposals", map[string]any{
		"by": ana, "kind": "mandate", "title": "Too early",
		"mandate": map[string]any{"task": "t", "body": federation, "delegate": ben},
	})
	cc.write(http.StatusOK, "POST", base+"/federation/join", map[string]any{"by": ana, "federation": federation})

	send := func(delegate, task string) (proposal, mandate string) {
		p := cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{
			"by": ana, "kind": "mandate", "title": "Send a delegate",
			"mandate": map[string]any{"task": task, "body": "automerge:" + federation, "delegate": delegate},
		})
		if p.ID == "" || p.Mandate == "" {
			t.Fatalf("mandate proposal answer %+v", p.Created)
		}
		if m, _ := p.View.Mandate(p.Mandate); m.Status != crdt.MandatePending || m.Body != federation {
			t.Fatalf("new mandate %+v", m)
		}
		return p.ID, p.Mandate
	}
	voteAll := func(proposal string) api.WriteAnswer {
		var last api.WriteAnswer
		for _, m := range []string{ana, ben, cai} {
			last = cc.write(http.StatusCreated, "POST", base+"/proposals/"+proposal+"/votes", map[string]any{"by": m, "choice": "yes"})
		}
		return last
	}

	p, m := send(ben, "Negotiate the grain price")
	cc.refused(id, http.StatusConflict, api.CodeMandateNotActive, "POST", base+"/mandates/"+m+"/reports", map[string]any{"by": ben, "text": "early"})
	if got, _ := voteAll(p).View.Mandate(m); got.Status != crdt.MandateActive {
		t.Fatalf("after the vote: %+v", got)
	}
	cc.refused(id, http.StatusForbidden, api.CodeNotDelegate, "POST", base+"/mandates/"+m+"/reports", map[string]any{"by": cai, "text": "not mine"})
	r := cc.write(http.StatusCreated, "POST", base+"/mandates/"+m+"/reports", map[string]any{"by": ben, "text": "Price agreed at 210 per tonne."})
	if got, _ := r.View.Mandate(m); len(got.Reports) != 1 || got.Reports[0].By != ben {
		t.Fatalf("report: %+v", got)
	}
	recall := cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{"by": cai, "kind": "recall", "title": "Recall Ben", "subject": m})
	if got, _ := voteAll(recall.ID).View.Mandate(m); got.Status != crdt.MandateRecalled || got.RecalledBy != recall.ID {
		t.Fatalf("after the recall: %+v", got)
	}

	p2, m2 := send(cai, "Buy a mill")
	voteAll(p2)
	if got, _ := cc.write(http.StatusOK, "POST", base+"/mandates/"+m2+"/resign", map[string]any{"by": cai}).View.Mandate(m2); got.Status != crdt.MandateResigned {
		t.Fatalf("resigned: %+v", got)
	}
	p3, m3 := send(ana, "Sell flour")
	voteAll(p3)
	if got, _ := cc.write(http.StatusOK, "POST", base+"/mandates/"+m3+"/complete", map[string]any{"by": ana}).View.Mandate(m3); got.Status != crdt.MandateCompleted {
		t.Fatalf("completed: %+v", got)
	}
	cc.refused(id, http.StatusConflict, api.CodeMandateNotActive, "POST", base+"/mandates/"+m3+"/resign", map[string]any{"by": ana})
}

func TestExchange(t *testing.T) {
	cc := newCouncilClient(t)
	id, ana := cc.create("Town consumers", "Ana")
	ben := cc.join(id, "Ben")
	base := "/api/councils/" + id

	offer := cc.write(http.StatusCreated, "POST", base+"/offers", map[string]any{"by": ben, "item": "potatoes", "quantity": 40, "unit": "kg", "note": "washed"})
	need := cc.write(http.StatusCreated, "POST", base+"/needs", map[string]any{"by": ana, "item": "potatoes", "quantity": 100, "unit": "kg",
		"until": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)})
	cc.write(http.StatusCreated, "POST", base+"/pledges", map[string]any{"by": ben, "need": need.ID, "offer": offer.ID, "quantity": 30})
	// A token acts in its own council only: no pledges in another's name.
	other := string(wire.NewDocumentID())
	cc.refused(id, http.StatusForbidden, api.CodeForbidden, "POST", base+"/pledges", map[string]any{"by": ana, "council": other, "need": need.ID, "quantity": 50, "unit": "kg"})
	pl := cc.write(http.StatusCreated, "POST", base+"/pledges", map[string]any{"by": ana, "council": id, "need": need.ID, "quantity": 50, "unit": "kg"})
	n, _ := pl.View.Need(need.ID)
	if n.Pledged != 80 || n.Remaining != 20 || n.Met || len(pl.View.Exchange.Pledges) != 2 || pl.View.Exchange.Pledges[1].Council != "" {
		t.Fatalf("need after pledges: %+v", n)
	}
	// Only an offer's poster withdraws it.
	cc.refused(id, http.StatusForbidden, api.CodeNotProposer, "POST", base+"/offers/"+offer.ID+"/withdraw", map[string]any{"by": ana})
	cc.refused(id, http.StatusForbidden, api.CodeNotProposer, "POST", base+"/needs/"+need.ID+"/withdraw", map[string]any{"by": ben})
	w := cc.write(http.StatusOK, "POST", base+"/offers/"+offer.ID+"/withdraw", map[string]any{"by": ben})
	if o, _ := w.View.Offer(offer.ID); !o.Withdrawn {
		t.Fatalf("offer %+v", o)
	}
	w = cc.write(http.StatusOK, "POST", base+"/needs/"+need.ID+"/withdraw", map[string]any{"by": ana})
	if n, _ := w.View.Need(need.ID); !n.Withdrawn {
		t.Fatalf("need %+v", n)
	}
	cc.refused(id, http.StatusConflict, api.CodeWithdrawn, "POST", base+"/needs/"+need.ID+"/withdraw", map[string]any{"by": ana})
	cc.refused(id, http.StatusConflict, api.CodeWithdrawn, "POST", base+"/pledges", map[string]any{"by": ben, "need": need.ID, "quantity": 1})
}

func TestFederation(t *testing.T) {
	cc := newCouncilClient(t)
	council, ana := cc.create("Riverside growers", "Ana")
	fed := cc.found(map[string]any{
		"name": "District federation", "kind": "federation",
		"founder": map[string]any{"name": "Dora", "role": "delegate"},
	})
	// A founder is no delegate: a delegate takes their seat themself.
	cc.refused("", http.StatusBadRequest, api.CodeInvalidArgument, "POST", "/api/councils", map[string]any{
		"name": "Other federation", "kind": "federation",
		"founder": map[string]any{"name": "Ana", "role": "delegate", "sentBy": map[string]any{"council": council, "mandate": "m1"}},
	})

	j := cc.write(http.StatusOK, "POST", "/api/councils/"+council+"/federation/join", map[string]any{"by": ana, "federation": fed.ID})
	if l := j.View.Federation.MemberOf; len(l) != 1 || l[0].Council != fed.ID {
		t.Fatalf("memberOf %+v", l)
	}
	cc.refused(council, http.StatusConflict, api.CodeExists, "POST", "/api/councils/"+council+"/federation/join", map[string]any{"by": ana, "federation": fed.URL})
	a := cc.write(http.StatusOK, "POST", "/api/councils/"+fed.ID+"/federation/admit", map[string]any{"by": fed.Founder, "council": council})
	if l := a.View.Federation.Members; len(l) != 1 || l[0].Council != council {
		t.Fatalf("members %+v", l)
	}
	if l := cc.write(http.StatusOK, "POST", "/api/councils/"+fed.ID+"/federation/remove", map[string]any{"by": fed.Founder, "council": council}).View.Federation.Members; len(l) != 0 {
		t.Fatalf("members after remove %+v", l)
	}
	if l := cc.write(http.StatusOK, "POST", "/api/councils/"+council+"/federation/leave", map[string]any{"by": ana, "federation": fed.ID}).View.Federation.MemberOf; len(l) != 0 {
		t.Fatalf("memberOf after leave %+v", l)
	}
	cc.refused(council, http.StatusNotFound, api.CodeNotFound, "POST", "/api/councils/"+council+"/federation/leave", map[string]any{"by": ana, "federation": fed.ID})
	cc.refused(council, http.StatusBadRequest, api.CodeInvalidArgument, "POST", "/api/councils/"+council+"/federation/join", map[string]any{"by": ana, "federation": "not a council"})
}

func TestMinutes(t *testing.T) {
	cc := newCouncilClient(t)
	id, ana := cc.create("Riverside growers", "Ana")
	ben := cc.join(id, "Ben")
	m := cc.write(http.StatusCreated, "POST", "/api/councils/"+id+"/minutes", map[string]any{"by": ana, "title": "Spring meeting", "notes": "Present: Ana, Ben."})
	if len(m.View.Minutes) != 1 || m.View.Minutes[0].ID != m.ID || m.View.Minutes[0].Notes != "Present: Ana, Ben." {
		t.Fatalf("minutes %+v", m.View.Minutes)
	}
	e := cc.write(http.StatusOK, "PATCH", "/api/councils/"+id+"/minutes/"+m.ID, map[string]any{"by": ben, "notes": "Present: Ana, Ben. Seed store shared."})
	if e.View.Minutes[0].Notes != "Present: Ana, Ben. Seed store shared." {
		t.Fatalf("edited minutes %+v", e.View.Minutes)
	}
	cc.refused(id, http.StatusNotFound, api.CodeNotFound, "PATCH", "/api/councils/"+id+"/minutes/nope", map[string]any{"by": ben, "notes": "x"})
}

// TestBadInputChangesNothing sends the bad inputs the issue lists, and
// more: each gets its status and code, a message, and leaves the
// document's heads as they were.
func TestBadInputChangesNothing(t *testing.T) {
	cc := newCouncilClient(t)
	id, ana := cc.create("Riverside growers", "Ana")
	ben := cc.join(id, "Ben")
	base := "/api/councils/" + id
	decided := cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{"by": ana, "title": "Decided"}).ID
	cc.write(http.StatusCreated, "POST", base+"/proposals/"+decided+"/votes", map[string]any{"by": ana, "choice": "yes"})
	cc.write(http.StatusCreated, "POST", base+"/proposals/"+decided+"/votes", map[string]any{"by": ben, "choice": "yes"})
	open := cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{"by": ana, "title": "Open", "closesAt": time.Now().Add(time.Hour)}).ID
	need := cc.write(http.StatusCreated, "POST", base+"/needs", map[string]any{"by": ana, "item": "salt", "quantity": 5, "unit": "kg"}).ID
	unknown := string(wire.NewDocumentID())
	fed, _ := cc.createFederation("District federation", "Dora")
	cc.write(http.StatusOK, "POST", base+"/federation/join", map[string]any{"by": ana, "federation": fed})

	cases := []struct {
		name, method, path string
		body               any
		status             int
		code, message      string // message: a part of the answer's message
	}{
		{"acting member in the body", "POST", base + "/proposals", `{"by": "` + ben + `", "title": "x"}`, 400, api.CodeInvalidArgument, `"by"`},
		{"unknown delegate", "POST", base + "/proposals", map[string]any{"title": "x", "mandate": map[string]any{"task": "t", "body": fed, "delegate": "zed"}}, 422, api.CodeUnknownMember, "zed"},
		{"mandate to a federation not joined", "POST", base + "/proposals", map[string]any{"title": "x", "mandate": map[string]any{"task": "t", "body": unknown, "delegate": ben}}, 400, api.CodeInvalidArgument, unknown},
		{"rule kind without a rule", "POST", base + "/proposals", map[string]any{"by": ana, "kind": "rule", "title": "x"}, 400, api.CodeInvalidArgument, "rule"},
		{"rule on a general proposal", "POST", base + "/proposals", map[string]any{"by": ana, "title": "x", "rule": map[string]any{"quorum": 1, "majority": 0.5}}, 400, api.CodeInvalidArgument, "rule"},
		{"invalid rule", "POST", base + "/proposals", map[string]any{"by": ana, "kind": "rule", "title": "x", "rule": map[string]any{"quorum": 2, "majority": 0.5}}, 400, api.CodeInvalidArgument, "rule"},
		{"expel no member", "POST", base + "/proposals", map[string]any{"by": ana, "kind": "expel", "title": "x", "subject": "0123456789abcdef"}, 422, api.CodeUnknownMember, "0123456789abcdef"},
		{"unknown proposal kind", "POST", base + "/proposals", map[string]any{"by": ana, "kind": "coup", "title": "x"}, 400, api.CodeInvalidArgument, "coup"},
		{"vote on a closed proposal", "POST", base + "/proposals/" + decided + "/votes", map[string]any{"by": ben, "choice": "no"}, 409, api.CodeProposalClosed, "passed"},
		{"vote on no proposal", "POST", base + "/proposals/nope/votes", map[string]any{"by": ben, "choice": "no"}, 404, api.CodeNotFound, "nope"},
		{"unknown choice", "POST", base + "/proposals/" + open + "/votes", map[string]any{"by": ben, "choice": "maybe"}, 400, api.CodeInvalidArgument, "maybe"},
		{"negative quantity offered", "POST", base + "/offers", map[string]any{"by": ana, "item": "rye", "quantity": -3, "unit": "kg"}, 400, api.CodeInvalidArgument, "quantity"},
		{"negative pledge", "POST", base + "/pledges", map[string]any{"by": ana, "need": need, "quantity": -1}, 400, api.CodeInvalidArgument, "quantity"},
		{"missing quantity", "POST", base + "/needs", map[string]any{"by": ana, "item": "rye", "unit": "kg"}, 400, api.CodeInvalidArgument, "quantity"},
		{"closing time in the past", "POST", base + "/proposals", map[string]any{"by": ana, "title": "Late", "closesAt": "2001-01-01T00:00:00Z"}, 400, api.CodeInvalidArgument, "closing time"},
		{"mandate kind without a mandate", "POST", base + "/proposals", map[string]any{"by": ana, "kind": "mandate", "title": "x"}, 400, api.CodeInvalidArgument, "mandate"},
		{"mandate to no council", "POST", base + "/proposals", map[string]any{"by": ana, "title": "x", "mandate": map[string]any{"task": "t", "body": "district", "delegate": ben}}, 400, api.CodeInvalidArgument, "mandate.body"},
		{"malformed JSON", "POST", base + "/proposals", `{"title": }`, 400, api.CodeInvalidArgument, "malformed JSON"},
		{"truncated JSON", "POST", base + "/proposals", `{"title": "x"`, 400, api.CodeInvalidArgument, "malformed JSON"},
		{"trailing data", "POST", base + "/proposals", `{"title": "x"} {}`, 400, api.CodeInvalidArgument, "more data"},
		{"unknown field", "POST", base + "/proposals", map[string]any{"by": ana, "title": "x", "colour": "red"}, 400, api.CodeInvalidArgument, `"colour"`},
		{"wrong type", "POST", base + "/offers", map[string]any{"by": ana, "item": "rye", "quantity": "many", "unit": "kg"}, 400, api.CodeInvalidArgument, `field "quantity": want a number`},
		{"bad time", "POST", base + "/proposals", map[string]any{"by": ana, "title": "x", "closesAt": "tomorrow"}, 400, api.CodeInvalidArgument, "RFC 3339"},
		{"not an object", "POST", base + "/proposals", `["x"]`, 400, api.CodeInvalidArgument, "JSON object"},
		{"no body", "POST", base + "/proposals", nil, 400, api.CodeInvalidArgument, "JSON body"},
		{"body on leave", "POST", base + "/members/" + ben + "/leave", map[string]any{"by": ben, "why": "moving"}, 400, api.CodeInvalidArgument, `"why"`},
		{"empty member name", "POST", base + "/members", map[string]any{"name": "", "role": "worker"}, 400, api.CodeInvalidArgument, "name"},
		{"too large", "POST", base + "/minutes", map[string]any{"by": ana, "title": "big", "notes": strings.Repeat("x", api.MaxBodySize)}, 413, api.CodeTooLarge, "too large"},
		{"method not allowed", "DELETE", base + "/proposals/" + open, nil, 405, api.CodeMethodNotAllowed, "method"},
		{"no such route", "POST", base + "/elections", map[string]any{}, 404, api.CodeNotFound, "route"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cc := *cc
			cc.t = t
			e := cc.refused(id, tc.status, tc.code, tc.method, tc.path, tc.body)
			t.Logf("%d %s: %s", tc.status, e.Code, e.Message)
			if !strings.Contains(e.Message, tc.message) {
				t.Fatalf("message %q does not mention %q", e.Message, tc.message)
			}
		})
	}

	t.Run("unknown council", func(t *testing.T) {
		cc := *cc
		cc.t = t
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/councils/" + unknown},
			{"GET", "/api/councils/" + unknown + "/history"},
			{"POST", "/api/councils/" + unknown + "/proposals"},
			{"GET", "/api/councils/not-a-document-id"},
			{"POST", "/api/councils/0OIl/members"},
		} {
			var body any
			switch {
			case strings.HasSuffix(c.path, "/proposals"):
				body = map[string]any{"by": ana, "title": "x"}
			case strings.HasSuffix(c.path, "/members"):
				body = map[string]any{"name": "x", "role": "x"}
			}
			e := cc.refused("", http.StatusNotFound, api.CodeNotFound, c.method, c.path, body)
			if !strings.Contains(e.Message, "no council") {
				t.Fatalf("%s %s: message %q", c.method, c.path, e.Message)
			}
		}
		// Nothing was created by asking.
		if err := cc.relay.View(t.Context(), wire.DocumentID(unknown), func(*automerge.Doc) error { return nil }); err == nil {
			t.Fatal("the unknown council exists after the requests")
		}
	})

	t.Run("bad council", func(t *testing.T) {
		cc := *cc
		cc.t = t
		cc.refused("", http.StatusBadRequest, api.CodeInvalidArgument, "POST", "/api/councils", map[string]any{"name": "x", "kind": "bakers", "founder": map[string]any{"name": "A", "role": "baker"}})
		cc.refused("", http.StatusBadRequest, api.CodeInvalidArgument, "POST", "/api/councils", map[string]any{"name": "x", "kind": "farmers"})
		cc.refused("", http.StatusBadRequest, api.CodeInvalidArgument, "POST", "/api/councils", map[string]any{"name": "x", "kind": "farmers", "rule": map[string]any{"quorum": 2, "majority": 0.5}, "founder": map[string]any{"name": "A", "role": "r"}})
		cc.refused("", http.StatusBadRequest, api.CodeInvalidArgument, "POST", "/api/councils", map[string]any{"name": "x", "kind": "farmers", "founder": map[string]any{"name": "", "role": "r"}})
	})
}
