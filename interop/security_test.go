package interop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/api"
)

// TestAccessWithStockClients: what attackers will use — stock
// automerge-repo clients — against a relay with access control: no token,
// another council's token, a read-only member, and a delegate recalled in
// the middle of a live session.
func TestAccessWithStockClients(t *testing.T) {
	r := startRelay(t, vecheRelay(t), t.TempDir())
	raw, err := os.ReadFile(filepath.Join(r.dataDir, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	operator := strings.TrimSpace(string(raw))

	found := func(name string, c *client, url string) bool {
		t.Helper()
		ev := c.do(obj{"cmd": "find", "url": url, "timeoutMs": 5000})
		t.Logf("%s finds %s: %s", name, url, ev.Event)
		return ev.Event == "doc"
	}

	var fed, north, south api.CreateCouncilAnswer
	rest(t, r, operator, "POST", "/api/councils", obj{"name": "District federation", "kind": "federation", "founder": obj{"name": "Dora", "role": "delegate"}}, &fed)
	rest(t, r, operator, "POST", "/api/councils", obj{"name": "North growers", "kind": "farmers", "founder": obj{"name": "Ana", "role": "small-farmer"}}, &north)
	rest(t, r, operator, "POST", "/api/councils", obj{"name": "South growers", "kind": "farmers", "founder": obj{"name": "Cai", "role": "small-farmer"}}, &south)
	nb := "/api/councils/" + north.ID
	rest(t, r, north.Token, "POST", nb+"/federation/join", obj{"federation": fed.ID}, nil)
	rest(t, r, fed.Token, "POST", "/api/councils/"+fed.ID+"/federation/admit", obj{"council": north.ID}, nil)
	var invite api.InviteAnswer
	var ben api.AcceptInviteAnswer
	rest(t, r, north.Token, "POST", nb+"/invites", nil, &invite)
	rest(t, r, "", "POST", "/api/invites/accept", obj{"code": invite.Code, "name": "Ben"}, &ben)
	var sent api.WriteAnswer
	rest(t, r, north.Token, "POST", nb+"/proposals", obj{"kind": "mandate", "title": "Send Ben",
		"mandate": obj{"task": "grain price", "body": fed.ID, "delegate": ben.Member}}, &sent)
	rest(t, r, north.Token, "POST", nb+"/proposals/"+sent.ID+"/votes", obj{"choice": "yes"}, nil)
	rest(t, r, ben.Token, "POST", nb+"/proposals/"+sent.ID+"/votes", obj{"choice": "yes"}, nil)

	// No token: the upgrade is refused, nothing is served.
	if found("no token", newClient(t, "anon", r.URL()), north.URL) {
		t.Fatal("a client without a token got a council")
	}
	// Another council's member: unavailable, as if it did not exist.
	if found("south member", newClient(t, "cai", r.URL()+"?token="+south.Token), north.URL) {
		t.Fatal("a south member got the north council")
	}
	// The operator holds no grant to council content.
	if found("operator", newClient(t, "op", r.URL()+"?token="+operator), north.URL) {
		t.Fatal("the operator read a council")
	}

	// Dora (federation member) and Ben (delegate) write the federation.
	dora := newClient(t, "dora", r.URL()+"?token="+fed.Token)
	benC := newClient(t, "ben", r.URL()+"?token="+ben.Token)
	if !found("dora", dora, fed.URL) || !found("ben", benC, fed.URL) {
		t.Fatal("rightful members could not open the federation")
	}
	benC.do(obj{"cmd": "change", "url": fed.URL, "ops": []any{obj{"op": "set", "path": []any{"notes", "ben"}, "value": "price offer 200"}}})
	dora.do(obj{"cmd": "wait-for", "url": fed.URL, "path": []any{"notes", "ben"}, "equals": "price offer 200"})

	// Ana reads the federation (north belongs to it) but may not write it.
	ana := newClient(t, "ana", r.URL()+"?token="+north.Token)
	if !found("ana", ana, fed.URL) {
		t.Fatal("a member of a council in the federation cannot read it")
	}
	ana.do(obj{"cmd": "change", "url": fed.URL, "ops": []any{obj{"op": "set", "path": []any{"notes", "ana"}, "value": "graffiti"}}})

	// North recalls Ben while his session is live.
	var recall api.WriteAnswer
	rest(t, r, north.Token, "POST", nb+"/proposals", obj{"kind": "recall", "title": "Recall Ben", "subject": sent.Mandate}, &recall)
	rest(t, r, north.Token, "POST", nb+"/proposals/"+recall.ID+"/votes", obj{"choice": "yes"}, nil)
	rest(t, r, ben.Token, "POST", nb+"/proposals/"+recall.ID+"/votes", obj{"choice": "abstain"}, nil)
	var nv api.CouncilView
	rest(t, r, north.Token, "GET", nb, nil, &nv)
	if m, _ := nv.Mandate(sent.Mandate); m.Status != "recalled" {
		t.Fatalf("mandate is %s after the recall", m.Status)
	}
	// His session was cut; the stock client redials and his next write is refused.
	deadline := time.Now().Add(5 * time.Second)
	for len(benC.unsolicited("disconnected")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the recalled delegate's session was not cut")
		}
		time.Sleep(20 * time.Millisecond)
	}
	benC.do(obj{"cmd": "change", "url": fed.URL, "ops": []any{obj{"op": "set", "path": []any{"notes", "ben-after"}, "value": "after recall"}}})

	// Both refused writes reached the relay and were refused (its log says
	// so, per principal) before the lawful write below: had either been
	// applied, the commit that carries Dora's write would carry it too.
	for _, who := range []string{"member:" + north.ID + "/" + north.Founder, "member:" + north.ID + "/" + ben.Member} {
		deadline := time.Now().Add(10 * time.Second)
		for !refusedFor(r.logs.String(), who) {
			if time.Now().After(deadline) {
				t.Fatalf("the relay never refused the write of %s", who)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Others are unaffected: Dora still writes, and nothing refused arrived.
	dora.do(obj{"cmd": "change", "url": fed.URL, "ops": []any{obj{"op": "set", "path": []any{"notes", "dora"}, "value": "still here"}}})
	dora.do(obj{"cmd": "wait-ack", "url": fed.URL})
	fresh := newClient(t, "fresh", r.URL()+"?token="+fed.Token)
	ev := fresh.do(obj{"cmd": "find", "url": fed.URL, "timeoutMs": 5000})
	var doc struct {
		Notes map[string]string `json:"notes"`
	}
	if err := json.Unmarshal(ev.Value, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Notes["ben"] != "price offer 200" || doc.Notes["dora"] != "still here" {
		t.Fatalf("federation notes %v: lawful writes missing", doc.Notes)
	}
	if _, ok := doc.Notes["ana"]; ok {
		t.Fatal("a read-only member's write reached the federation")
	}
	if _, ok := doc.Notes["ben-after"]; ok {
		t.Fatal("the recalled delegate's write reached the federation")
	}
	if !strings.Contains(r.logs.String(), "no write access") {
		t.Fatal("the relay never refused a write: the refused writes were not even tried")
	}
	for _, secret := range []string{operator, north.Token, south.Token, fed.Token, ben.Token, invite.Code} {
		if strings.Contains(r.logs.String(), secret) {
			t.Fatal("the relay logged a secret")
		}
	}
}

// refusedFor reports whether the relay's log has refused a write of
// principal for want of write access.
func refusedFor(logs, principal string) bool {
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "no write access") && strings.Contains(line, "principal="+principal+" ") {
			return true
		}
	}
	return false
}
