package interop

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/crdt"
)

// rest calls the relay's council REST API with token and decodes a 2xx
// answer into out.
func rest(t *testing.T, r *relay, token, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+r.addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, raw, err)
		}
	}
}

// councilJSON is the part of a council document the test reads from a
// stock client's JSON.
type councilJSON struct {
	Schema  string `json:"schema"`
	Council struct {
		Name string `json:"name"`
	} `json:"council"`
	Members map[string]struct {
		Name string `json:"name"`
	} `json:"members"`
	Proposals map[string]struct {
		Title string `json:"title"`
		By    string `json:"by"`
		Votes map[string]struct {
			Choice string `json:"choice"`
		} `json:"votes"`
	} `json:"proposals"`
}

// clientDoc waits until the client has heads (those a REST write
// answered) and returns its copy of the document.
func clientDoc(t *testing.T, c *client, url string, heads []string) councilJSON {
	t.Helper()
	e := c.do(obj{"cmd": "wait-for", "url": url, "heads": heads, "timeoutMs": 10000})
	var doc councilJSON
	if err := json.Unmarshal(e.Value, &doc); err != nil {
		t.Fatalf("client %s: %s: %v", c.name, e.Value, err)
	}
	return doc
}

// TestCouncilRESTAndStockClient proves that the REST API and stock
// automerge-repo clients work on the same council document, with the
// relay's default flags (tokens required): a client connecting with a
// member's token (?token=, as a browser does) edits the document
// directly, in the schema, and the REST view shows the edit (and the
// relay's operations accept what the client wrote); a REST write reaches
// the client through the normal sync path.
func TestCouncilRESTAndStockClient(t *testing.T) {
	// The REST API is veche's own, so this runs against veche whatever
	// VECHE_INTEROP_TARGET says.
	r := startRelay(t, vecheRelay(t), t.TempDir())
	raw, err := os.ReadFile(filepath.Join(r.dataDir, "operator.token"))
	if err != nil {
		t.Fatalf("the relay wrote no operator token: %v", err)
	}
	operator := strings.TrimSpace(string(raw))
	if strings.Contains(r.logs.String(), operator) {
		t.Fatal("the relay logged its operator token")
	}

	var created api.CreateCouncilAnswer
	rest(t, r, operator, "POST", "/api/councils", obj{
		"name": "Riverside growers", "kind": "farmers", "region": "Upper valley",
		"founder": obj{"name": "Ana", "role": "small-farmer"},
	}, &created)
	ana, anaToken := created.Founder, created.Token
	base := "/api/councils/" + created.ID

	// A stock client with Ana's token finds the council by its URL and
	// sees it as written.
	a := newClient(t, "A", r.URL()+"?token="+anaToken)
	found := a.do(obj{"cmd": "find", "url": created.URL, "timeoutMs": 10000})
	if found.Event != "doc" {
		t.Fatalf("find %s: %s", created.URL, found)
	}
	var doc councilJSON
	if err := json.Unmarshal(found.Value, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != crdt.Schema || doc.Council.Name != "Riverside growers" || doc.Members[ana].Name != "Ana" {
		t.Fatalf("the client sees %s", found.Value)
	}

	// The client adds a member with a plain document change, as a web
	// client might (a timestamp as a millisecond number). It merges, but
	// carries no signed admission: the REST view does not count it and
	// reports it as a problem (schema veche/council/2).
	joined := time.Now().Add(-time.Second).UnixMilli()
	a.do(obj{"cmd": "change", "url": created.URL, "ops": []any{
		obj{"op": "set", "path": []any{"members", "dora"}, "value": obj{"name": "Dora", "role": "farm-labourer", "joinedAt": joined}},
	}})
	a.do(obj{"cmd": "wait-ack", "url": created.URL})
	var view api.CouncilView
	rest(t, r, anaToken, "GET", base, nil, &view)
	if _, ok := view.Member("dora"); ok || len(view.Members) != 1 || len(view.Problems) != 1 || view.Problems[0].Path != "/members/dora" {
		t.Fatalf("REST view after the client's unsigned member: members %+v, problems %v", view.Members, view.Problems)
	}

	// Ana proposes through REST; the proposal reaches the client.
	var proposed api.WriteAnswer
	rest(t, r, anaToken, "POST", base+"/proposals", obj{"title": "Share the seed store", "closesAt": time.Now().Add(time.Hour)}, &proposed)
	seen := clientDoc(t, a, created.URL, proposed.View.Heads)
	if p := seen.Proposals[proposed.ID]; p.Title != "Share the seed store" || p.By != ana {
		t.Fatalf("the client sees proposal %+v", p)
	}

	// The client edits the proposal's body, collaborative text that is
	// content, not a fact: REST shows it.
	a.do(obj{"cmd": "change", "url": created.URL, "ops": []any{
		obj{"op": "set", "path": []any{"proposals", proposed.ID, "body"}, "value": "One barn for all seed."},
	}})
	a.do(obj{"cmd": "wait-ack", "url": created.URL})
	rest(t, r, anaToken, "GET", base, nil, &view)
	p, _ := view.Proposal(proposed.ID)
	if p.Body != "One barn for all seed." || p.Tally.Electorate != 1 {
		t.Fatalf("REST view of the client's body edit: %+v", p)
	}

	// Cai joins by invite and votes through REST: both writes reach the
	// connected client.
	var invite api.InviteAnswer
	var cai api.AcceptInviteAnswer
	var voted api.WriteAnswer
	rest(t, r, anaToken, "POST", base+"/invites", nil, &invite)
	rest(t, r, "", "POST", "/api/invites/accept", obj{"code": invite.Code, "name": "Cai"}, &cai)
	rest(t, r, cai.Token, "POST", base+"/proposals/"+proposed.ID+"/votes", obj{"choice": "no"}, &voted)
	seen = clientDoc(t, a, created.URL, voted.View.Heads)
	if m := seen.Members[cai.Member]; m.Name != "Cai" {
		t.Fatalf("the client sees member %+v", m)
	}
	if v := seen.Proposals[proposed.ID].Votes[cai.Member]; v.Choice != "no" {
		t.Fatalf("the client sees Cai's vote %+v", v)
	}

	// A client connecting later, with Cai's token, gets it all.
	b := newClient(t, "B", r.URL()+"?token="+cai.Token)
	late := b.do(obj{"cmd": "find", "url": created.URL, "timeoutMs": 10000})
	want := a.do(obj{"cmd": "get", "url": created.URL})
	if late.Event != "doc" || !sameHeads(late.Heads, want.Heads) {
		t.Fatalf("a client connecting later sees %v, want %v", late.Heads, want.Heads)
	}

	// The history names who made each change from its signed record; the
	// client's unsigned changes are "unverified".
	var history api.HistoryAnswer
	rest(t, r, cai.Token, "GET", base+"/history", nil, &history)
	ops := map[crdt.Op]string{}
	unverified := 0
	for _, c := range history.Changes {
		ops[c.Op] = c.ByName
		if c.By == api.Unverified {
			unverified++
		}
	}
	if ops[crdt.OpPropose] != "Ana" || ops[crdt.OpJoin] != "Ana" || unverified != 2 || len(history.Changes) < 6 {
		t.Fatalf("history %+v", history.Changes)
	}
	for _, secret := range []string{operator, anaToken, cai.Token, invite.Code} {
		if strings.Contains(r.logs.String(), secret) {
			t.Fatal("the relay logged a secret")
		}
	}
}

// operatorToken is the operator token the relay wrote to its data
// directory.
func operatorToken(t *testing.T, r *relay) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(r.dataDir, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(raw))
}

// foundCouncil founds a farmers' council named name on r, with the
// operator's token and a founder: the founder's answer.
func foundCouncil(t *testing.T, r *relay, name string) api.CreateCouncilAnswer {
	t.Helper()
	var council api.CreateCouncilAnswer
	rest(t, r, operatorToken(t, r), "POST", "/api/councils", obj{"name": name, "kind": "farmers", "founder": obj{"name": "founder", "role": "member"}}, &council)
	return council
}

// admit invites a member named name into council, by its founder, and
// accepts the invitation: the new member's answer.
func admit(t *testing.T, r *relay, council api.CreateCouncilAnswer, name string) api.AcceptInviteAnswer {
	t.Helper()
	var invite api.InviteAnswer
	var member api.AcceptInviteAnswer
	rest(t, r, council.Token, "POST", "/api/councils/"+council.ID+"/invites", nil, &invite)
	rest(t, r, "", "POST", "/api/invites/accept", obj{"code": invite.Code, "name": name}, &member)
	return member
}

// crasher is an input of the crash corpus (server/testdata/crashers): the
// document state it was found against, if any, and the sync message.
type crasher struct {
	State   []byte `json:"state"`
	Message []byte `json:"message"`
}

// crasherFile reads the first input of the corpus whose file name matches
// glob.
func crasherFile(t *testing.T, glob string) crasher {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(rootDir, "server", "testdata", "crashers", glob))
	if len(files) == 0 {
		t.Fatalf("no %s crasher in the corpus", glob)
	}
	var x crasher
	b, err := os.ReadFile(files[0])
	if err == nil {
		err = json.Unmarshal(b, &x)
	}
	if err != nil || len(x.Message) == 0 {
		t.Fatalf("%s: %v", files[0], err)
	}
	return x
}
