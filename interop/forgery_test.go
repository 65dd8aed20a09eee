package interop

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/crdt"
)

// counted is what counts of a council: outcomes, tallies, who is a member,
// the rule, mandates and federation links. Problems are left out: an
// attack adds problems, and changes nothing else.
func counted(v api.CouncilView) string {
	type proposal struct {
		ID      string
		Outcome crdt.Outcome
		Tally   crdt.Tally
	}
	type member struct {
		ID     string
		Active bool
	}
	type mandate struct {
		ID     string
		Status crdt.MandateStatus
	}
	out := struct {
		Rule      crdt.Rule
		Members   []member
		Proposals []proposal
		Mandates  []mandate
		Fed       crdt.Federation
	}{Rule: v.Council.Rule, Fed: v.Federation}
	for _, m := range v.Members {
		out.Members = append(out.Members, member{m.ID, m.Active})
	}
	for _, p := range v.Proposals {
		out.Proposals = append(out.Proposals, proposal{p.ID, p.Outcome, p.Tally})
	}
	for _, m := range v.Mandates {
		out.Mandates = append(out.Mandates, mandate{m.ID, m.Status})
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// hasProblem reports whether the view reports a problem at path.
func hasProblem(v api.CouncilView, path string) bool {
	for _, p := range v.Problems {
		if p.Path == path {
			return true
		}
	}
	return false
}

// getStatus returns the HTTP status of an authenticated GET.
func getStatus(t *testing.T, r *relay, token, path string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+r.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestForgeriesWithStockClients is the hostile member's trial: members
// with stock automerge-repo clients write the raw council document,
// bypassing REST, in every way the trial found harmful. After each attack
// nothing that counts changes — outcomes, tallies, members, the rule,
// mandates, federation links, grants, the history's authors — and the
// forged state is reported in the view's problems.
func TestForgeriesWithStockClients(t *testing.T) {
	r := startRelay(t, vecheRelay(t), t.TempDir())
	raw, err := os.ReadFile(filepath.Join(r.dataDir, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	operator := strings.TrimSpace(string(raw))

	var fed, north, south api.CreateCouncilAnswer
	rest(t, r, operator, "POST", "/api/councils", obj{"name": "District federation", "kind": "federation", "founder": obj{"name": "Dora", "role": "delegate"}}, &fed)
	rest(t, r, operator, "POST", "/api/councils", obj{"name": "North growers", "kind": "farmers", "founder": obj{"name": "Ana", "role": "small-farmer"}}, &north)
	rest(t, r, operator, "POST", "/api/councils", obj{"name": "South growers", "kind": "farmers", "founder": obj{"name": "Eve", "role": "small-farmer"}}, &south)
	nb, fb, sb := "/api/councils/"+north.ID, "/api/councils/"+fed.ID, "/api/councils/"+south.ID
	invite := func(name string) api.AcceptInviteAnswer {
		var inv api.InviteAnswer
		var m api.AcceptInviteAnswer
		rest(t, r, north.Token, "POST", nb+"/invites", nil, &inv)
		rest(t, r, "", "POST", "/api/invites/accept", obj{"code": inv.Code, "name": name}, &m)
		return m
	}
	ben, cai := invite("Ben"), invite("Cai")
	ana := north.Founder
	rest(t, r, north.Token, "POST", nb+"/federation/join", obj{"federation": fed.ID}, nil)
	rest(t, r, fed.Token, "POST", fb+"/federation/admit", obj{"council": north.ID}, nil)

	// A proposal with a closing time: Ana yes, Cai no, Ben not yet.
	var p1 api.WriteAnswer
	rest(t, r, north.Token, "POST", nb+"/proposals", obj{"title": "Share the seed store", "closesAt": time.Now().Add(time.Hour)}, &p1)
	rest(t, r, north.Token, "POST", nb+"/proposals/"+p1.ID+"/votes", obj{"choice": "yes"}, nil)
	rest(t, r, cai.Token, "POST", nb+"/proposals/"+p1.ID+"/votes", obj{"choice": "no"}, nil)
	// A closed proposal: rejected (Ana yes, Ben no, Cai no).
	var p2 api.WriteAnswer
	rest(t, r, north.Token, "POST", nb+"/proposals", obj{"title": "Sell the tractor"}, &p2)
	rest(t, r, north.Token, "POST", nb+"/proposals/"+p2.ID+"/votes", obj{"choice": "yes"}, nil)
	rest(t, r, ben.Token, "POST", nb+"/proposals/"+p2.ID+"/votes", obj{"choice": "no"}, nil)
	rest(t, r, cai.Token, "POST", nb+"/proposals/"+p2.ID+"/votes", obj{"choice": "no"}, nil)
	// Ben is sent to the federation, then recalled.
	var sent, recall api.WriteAnswer
	rest(t, r, north.Token, "POST", nb+"/proposals", obj{"kind": "mandate", "title": "Send Ben",
		"mandate": obj{"task": "grain price", "body": fed.ID, "delegate": ben.Member}}, &sent)
	for _, tok := range []string{north.Token, ben.Token, cai.Token} {
		rest(t, r, tok, "POST", nb+"/proposals/"+sent.ID+"/votes", obj{"choice": "yes"}, nil)
	}
	rest(t, r, north.Token, "POST", nb+"/proposals", obj{"kind": "recall", "title": "Recall Ben", "subject": sent.Mandate}, &recall)
	for _, tok := range []string{north.Token, cai.Token} {
		rest(t, r, tok, "POST", nb+"/proposals/"+recall.ID+"/votes", obj{"choice": "yes"}, nil)
	}
	rest(t, r, ben.Token, "POST", nb+"/proposals/"+recall.ID+"/votes", obj{"choice": "no"}, nil)

	var before api.CouncilView
	rest(t, r, north.Token, "GET", nb, nil, &before)
	if m, _ := before.Mandate(sent.Mandate); m.Status != crdt.MandateRecalled {
		t.Fatalf("setup: mandate %s", m.Status)
	}
	if p, _ := before.Proposal(p2.ID); p.Outcome != crdt.OutcomeRejected {
		t.Fatalf("setup: proposal %s", p.Outcome)
	}

	// Cai, with a stock client, rewrites north's document.
	caiC := newClient(t, "cai", r.URL()+"?token="+cai.Token)
	if ev := caiC.do(obj{"cmd": "find", "url": north.URL}); ev.Event != "doc" {
		t.Fatalf("cai cannot open north: %s", ev.Event)
	}
	now := time.Now().UnixMilli()
	closedLongAgo := time.Now().Add(-time.Hour).UnixMilli()
	caiC.do(obj{"cmd": "change", "url": north.URL, "message": "veche:vote by=" + ana + " proposal=" + p1.ID, "ops": []any{
		// Votes in others' names; Ana's yes overwritten; a back-dated vote flipping the closed proposal.
		obj{"op": "set", "path": []any{"proposals", p1.ID, "votes", ben.Member}, "value": obj{"choice": "no", "at": now}},
		obj{"op": "set", "path": []any{"proposals", p1.ID, "votes", ana}, "value": obj{"choice": "no", "at": now}},
		obj{"op": "set", "path": []any{"proposals", p2.ID, "votes", ben.Member}, "value": obj{"choice": "yes", "at": closedLongAgo}},
	}})
	caiC.do(obj{"cmd": "change", "url": north.URL, "ops": []any{
		// Another member's vote deleted; the rule rewritten to quorum 0.
		obj{"op": "del", "path": []any{"proposals", p2.ID, "votes", ana}},
		obj{"op": "set", "path": []any{"council", "rule", "quorum"}, "value": 0},
		// Ana marked as left, Ben's entry deleted.
		obj{"op": "set", "path": []any{"members", ana, "leftAt"}, "value": now},
		obj{"op": "del", "path": []any{"members", ben.Member}},
		// An invented mandate for Cai to the federation, with a forged "passed" proposal.
		obj{"op": "set", "path": []any{"proposals", "forged"}, "value": obj{"kind": "mandate", "title": "Send Cai", "by": ana, "at": closedLongAgo, "subject": "m-forged",
			"votes": obj{ana: obj{"choice": "yes", "at": closedLongAgo}, ben.Member: obj{"choice": "yes", "at": closedLongAgo}, cai.Member: obj{"choice": "yes", "at": closedLongAgo}}}},
		obj{"op": "set", "path": []any{"mandates", "m-forged"}, "value": obj{"task": "anything", "body": fed.ID, "delegate": cai.Member, "proposal": "forged", "issuedAt": closedLongAgo, "reports": []any{}}},
	}})
	caiC.do(obj{"cmd": "wait-ack", "url": north.URL})

	// Ben, recalled, deletes the recall proposal with his own stock client.
	benC := newClient(t, "ben", r.URL()+"?token="+ben.Token)
	if ev := benC.do(obj{"cmd": "find", "url": north.URL}); ev.Event != "doc" {
		t.Fatalf("ben cannot open north: %s", ev.Event)
	}
	benC.do(obj{"cmd": "change", "url": north.URL, "ops": []any{obj{"op": "del", "path": []any{"proposals", recall.ID}}}})
	benC.do(obj{"cmd": "wait-ack", "url": north.URL})

	var after api.CouncilView
	rest(t, r, north.Token, "GET", nb, nil, &after)
	if counted(after) != counted(before) {
		t.Fatalf("the forgeries changed what counts:\nbefore %s\nafter  %s", counted(before), counted(after))
	}
	for _, path := range []string{
		"/proposals/" + p1.ID + "/votes/" + ben.Member, // forged vote
		"/proposals/" + p1.ID + "/votes/" + ana,        // overwritten vote
		"/proposals/" + p2.ID + "/votes/" + ben.Member, // back-dated vote change
		"/proposals/" + p2.ID + "/votes/" + ana,        // deleted vote
		"/council/rule",                                // quorum 0
		"/members/" + ana + "/leftAt",                  // forged departure
		"/members/" + ben.Member,                       // deleted member
		"/proposals/forged",                            // invented proposal
		"/mandates/m-forged",                           // invented mandate
		"/proposals/" + recall.ID,                      // deleted recall
	} {
		if !hasProblem(after, path) {
			t.Errorf("no problem reported at %s; problems: %v", path, after.Problems)
		}
	}

	// Ana still reads her council; the history names no forged author.
	if code := getStatus(t, r, north.Token, nb); code != http.StatusOK {
		t.Fatalf("Ana, marked as left by a forgery, gets %d", code)
	}
	var history api.HistoryAnswer
	rest(t, r, north.Token, "GET", nb+"/history", nil, &history)
	forgedMessage := false
	for _, c := range history.Changes {
		if c.Message == "veche:vote by="+ana+" proposal="+p1.ID { // the forgery: no record line
			forgedMessage = true
			if c.By != api.Unverified || c.Verified {
				t.Fatalf("the history attributes a forged message to %q: %+v", c.By, c)
			}
		}
	}
	if !forgedMessage {
		t.Fatal("the forged change is missing from the history")
	}

	// Grants: Cai's invented mandate gives no write to the federation;
	// Ben, recalled, cannot write it either, whatever he deleted.
	for _, who := range []struct {
		name string
		c    *client
	}{{"cai", caiC}, {"ben", benC}} {
		if ev := who.c.do(obj{"cmd": "find", "url": fed.URL, "timeoutMs": 5000}); ev.Event != "doc" {
			t.Fatalf("%s cannot read the federation north belongs to: %s", who.name, ev.Event)
		}
		who.c.do(obj{"cmd": "change", "url": fed.URL, "ops": []any{obj{"op": "set", "path": []any{"notes", who.name}, "value": "forged"}}})
	}
	dora := newClient(t, "dora", r.URL()+"?token="+fed.Token)
	if ev := dora.do(obj{"cmd": "find", "url": fed.URL}); ev.Event != "doc" {
		t.Fatal("dora cannot open the federation")
	}
	dora.do(obj{"cmd": "change", "url": fed.URL, "ops": []any{obj{"op": "set", "path": []any{"notes", "dora"}, "value": "lawful"}}})
	dora.do(obj{"cmd": "wait-ack", "url": fed.URL})
	// A lawful write after the refused ones, seen by a fresh client, proves the refusals are refusals.
	fresh := newClient(t, "fresh", r.URL()+"?token="+fed.Token)
	fresh.do(obj{"cmd": "find", "url": fed.URL})
	ev := fresh.do(obj{"cmd": "wait-for", "url": fed.URL, "path": []any{"notes", "dora"}, "equals": "lawful"})
	var fdoc struct {
		Notes map[string]string `json:"notes"`
	}
	if err := json.Unmarshal(ev.Value, &fdoc); err != nil {
		t.Fatal(err)
	}
	if fdoc.Notes["cai"] != "" || fdoc.Notes["ben"] != "" {
		t.Fatalf("a forged or recalled delegate wrote the federation: %v", fdoc.Notes)
	}

	// Federation membership needs both sides: south joins the federation
	// on its own side (REST, and a raw memberOf write); the federation
	// never admitted it, so south's members do not read it.
	rest(t, r, south.Token, "POST", sb+"/federation/join", obj{"federation": fed.ID}, nil)
	eve := newClient(t, "eve", r.URL()+"?token="+south.Token)
	if ev := eve.do(obj{"cmd": "find", "url": south.URL}); ev.Event != "doc" {
		t.Fatal("eve cannot open south")
	}
	eve.do(obj{"cmd": "change", "url": south.URL, "ops": []any{obj{"op": "set", "path": []any{"federation", "memberOf", fed.ID}, "value": obj{"since": now}}}})
	eve.do(obj{"cmd": "wait-ack", "url": south.URL})
	if code := getStatus(t, r, south.Token, fb); code != http.StatusNotFound {
		t.Fatalf("a council the federation never admitted reads it over REST: %d", code)
	}
	if ev := eve.do(obj{"cmd": "find", "url": fed.URL, "timeoutMs": 3000}); ev.Event == "doc" {
		t.Fatal("a council the federation never admitted reads it over the websocket")
	}
	// Once the federation admits south, its members read it.
	rest(t, r, fed.Token, "POST", fb+"/federation/admit", obj{"council": south.ID}, nil)
	if code := getStatus(t, r, south.Token, fb); code != http.StatusOK {
		t.Fatalf("south, admitted, cannot read the federation: %d", code)
	}
}
