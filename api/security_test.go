package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server/wire"
)

// securityFixture is a council with what every route needs: Ana (the
// founder) and Ben (by invite); an open proposal, an active mandate of
// Ana's (to a federation the council joined), an offer, a need and
// minutes, all Ana's. Zed founded another
// council; Ana has a second token, revoked.
type securityFixture struct {
	cc                                         *councilClient
	council, ana, ben, zed                     string
	proposal, mandate, offer, need, minutes    string
	anaToken, zedToken, revoked, otherOperator string
}

func newSecurityFixture(t *testing.T) *securityFixture {
	t.Helper()
	cc := newCouncilClient(t)
	f := &securityFixture{cc: cc}
	f.council, f.ana = cc.create("Riverside growers", "Ana")
	f.ben = cc.join(f.council, "Ben")
	_, f.zed = cc.create("Hill growers", "Zed")
	f.anaToken, f.zedToken = cc.tokens[f.ana], cc.tokens[f.zed]
	base := "/api/councils/" + f.council
	f.proposal = cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{"by": f.ana, "title": "Open", "closesAt": time.Now().Add(time.Hour)}).ID
	fed := string(wire.NewDocumentID())
	cc.write(http.StatusOK, "POST", base+"/federation/join", map[string]any{"by": f.ana, "federation": fed})
	m := cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{"by": f.ana, "title": "Send Ana",
		"mandate": map[string]any{"task": "Sell rye", "body": fed, "delegate": f.ana}})
	f.mandate = m.Mandate
	for _, by := range []string{f.ana, f.ben} {
		cc.write(http.StatusCreated, "POST", base+"/proposals/"+m.ID+"/votes", map[string]any{"by": by, "choice": "yes"})
	}
	f.offer = cc.write(http.StatusCreated, "POST", base+"/offers", map[string]any{"by": f.ana, "item": "rye", "quantity": 5, "unit": "kg"}).ID
	f.need = cc.write(http.StatusCreated, "POST", base+"/needs", map[string]any{"by": f.ana, "item": "salt", "quantity": 5, "unit": "kg"}).ID
	f.minutes = cc.write(http.StatusCreated, "POST", base+"/minutes", map[string]any{"by": f.ana, "title": "Spring"}).ID

	var err error
	if f.revoked, err = cc.auth.IssueMemberToken(t.Context(), f.council, f.ana); err != nil {
		t.Fatal(err)
	}
	if status, raw := cc.callAs(f.revoked, "POST", "/api/tokens/revoke", nil); status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", status, raw)
	}
	if f.otherOperator, err = cc.auth.IssueOperatorToken(t.Context(), "second"); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestEveryRouteChecksItsPrincipal sends every REST route with no token,
// a malformed one, a member of another council's, a revoked one, the
// operator's and the rightful member's, and checks the answer; a refused
// request changes nothing, and no answer quotes the token.
func TestEveryRouteChecksItsPrincipal(t *testing.T) {
	type route struct {
		method, path string
		body         func(f *securityFixture) any
		ok           int // the rightful member's status
	}
	none := func(*securityFixture) any { return nil }
	routes := []route{
		{"GET", "", none, 200},
		{"GET", "/history", none, 200},
		{"POST", "/invites", none, 201},
		{"POST", "/members", func(*securityFixture) any { return map[string]any{"name": "Cai", "role": "small-farmer"} }, 201},
		{"POST", "/members/{ana}/leave", none, 200},
		{"POST", "/proposals", func(*securityFixture) any { return map[string]any{"title": "More seed"} }, 201},
		{"PATCH", "/proposals/{proposal}", func(*securityFixture) any { return map[string]any{"body": "Two barns."} }, 200},
		{"POST", "/proposals/{proposal}/votes", func(*securityFixture) any { return map[string]any{"choice": "yes"} }, 201},
		{"POST", "/proposals/{proposal}/withdraw", none, 200},
		{"POST", "/mandates/{mandate}/reports", func(*securityFixture) any { return map[string]any{"text": "Sold."} }, 201},
		{"POST", "/mandates/{mandate}/resign", none, 200},
		{"POST", "/mandates/{mandate}/complete", none, 200},
		{"POST", "/offers", func(*securityFixture) any { return map[string]any{"item": "oats", "quantity": 1, "unit": "kg"} }, 201},
		{"POST", "/offers/{offer}/withdraw", none, 200},
		{"POST", "/needs", func(*securityFixture) any { return map[string]any{"item": "oats", "quantity": 1, "unit": "kg"} }, 201},
		{"POST", "/needs/{need}/withdraw", none, 200},
		{"POST", "/pledges", func(f *securityFixture) any { return map[string]any{"need": f.need, "quantity": 1} }, 201},
		{"POST", "/federation/join", func(*securityFixture) any { return map[string]any{"federation": string(wire.NewDocumentID())} }, 200},
		{"POST", "/federation/leave", func(*securityFixture) any { return map[string]any{"federation": string(wire.NewDocumentID())} }, 404},
		{"POST", "/federation/admit", func(*securityFixture) any { return map[string]any{"council": string(wire.NewDocumentID())} }, 400}, // not a federation: past authorization
		{"POST", "/federation/remove", func(*securityFixture) any { return map[string]any{"council": string(wire.NewDocumentID())} }, 404},
		{"POST", "/minutes", func(*securityFixture) any { return map[string]any{"title": "Summer"} }, 201},
		{"PATCH", "/minutes/{minutes}", func(*securityFixture) any { return map[string]any{"notes": "All came."} }, 200},
	}
	for _, r := range routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			f := newSecurityFixture(t)
			path := strings.NewReplacer("{ana}", f.ana, "{proposal}", f.proposal, "{mandate}", f.mandate,
				"{offer}", f.offer, "{need}", f.need, "{minutes}", f.minutes).Replace("/api/councils/" + f.council + r.path)
			refusals := []struct {
				name, token string
				status      int
				code        string
			}{
				{"no token", "", 401, api.CodeUnauthenticated},
				{"malformed token", "not-a-token", 401, api.CodeUnauthenticated},
				{"another council's member", f.zedToken, 404, api.CodeNotFound},
				{"revoked token", f.revoked, 401, api.CodeUnauthenticated},
				{"operator", f.cc.operator, 404, api.CodeNotFound},
			}
			for _, c := range refusals {
				refuseAs(t, f, c.token, c.status, c.code, r.method, path, r.body(f))
			}
			status, raw := f.cc.callAs(f.anaToken, r.method, path, r.body(f))
			if status != r.ok {
				t.Fatalf("rightful member: %d %s, want %d", status, raw, r.ok)
			}
			noSecrets(t, f, string(raw))
		})
	}

	t.Run("POST /api/councils", func(t *testing.T) {
		f := newSecurityFixture(t)
		body := func() any {
			return map[string]any{"name": "New", "kind": "workers", "founder": map[string]any{"name": "Ivo", "role": "worker"}}
		}
		refuseAs(t, f, "", 401, api.CodeUnauthenticated, "POST", "/api/councils", body())
		refuseAs(t, f, "not-a-token", 401, api.CodeUnauthenticated, "POST", "/api/councils", body())
		refuseAs(t, f, f.revoked, 401, api.CodeUnauthenticated, "POST", "/api/councils", body())
		refuseAs(t, f, f.zedToken, 403, api.CodeForbidden, "POST", "/api/councils", body())
		refuseAs(t, f, f.anaToken, 403, api.CodeForbidden, "POST", "/api/councils", body())
		if status, raw := f.cc.callAs(f.cc.operator, "POST", "/api/councils", body()); status != 201 {
			t.Fatalf("operator: %d %s", status, raw)
		}
	})

	t.Run("POST /api/tokens/revoke", func(t *testing.T) {
		f := newSecurityFixture(t)
		refuseAs(t, f, "", 401, api.CodeUnauthenticated, "POST", "/api/tokens/revoke", nil)
		refuseAs(t, f, "not-a-token", 401, api.CodeUnauthenticated, "POST", "/api/tokens/revoke", nil)
		refuseAs(t, f, f.revoked, 401, api.CodeUnauthenticated, "POST", "/api/tokens/revoke", nil)
		for _, token := range []string{f.otherOperator, f.zedToken} {
			if status, raw := f.cc.callAs(token, "POST", "/api/tokens/revoke", nil); status != http.StatusNoContent {
				t.Fatalf("revoke: %d %s", status, raw)
			}
			refuseAs(t, f, token, 401, api.CodeUnauthenticated, "POST", "/api/tokens/revoke", nil)
		}
		// Others' tokens are untouched.
		if status, _ := f.cc.callAs(f.anaToken, "GET", "/api/councils/"+f.council, nil); status != 200 {
			t.Fatalf("Ana after others revoked theirs: %d", status)
		}
	})

	t.Run("token in the query string is for /sync only", func(t *testing.T) {
		f := newSecurityFixture(t)
		refuseAs(t, f, "", 401, api.CodeUnauthenticated, "GET", "/api/councils/"+f.council+"?token="+f.anaToken, nil)
	})
}

// refuseAs sends a request with token that must be refused with status
// and code, change nothing, and quote no token; a 401 says how to
// authenticate.
func refuseAs(t *testing.T, f *securityFixture, token string, status int, code, method, path string, body any) {
	t.Helper()
	before := f.cc.heads(f.council)
	got, header, raw := httpCall(t, f.cc.ts.URL, token, method, path, body)
	var ans struct {
		Error *api.Error `json:"error"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.Error == nil {
		t.Fatalf("%s %s: answer %d %s is not an error", method, path, got, raw)
	}
	if got != status || ans.Error.Code != code {
		t.Fatalf("%s %s with token %.6s…: %d %s (%s), want %d %s", method, path, token, got, ans.Error.Code, ans.Error.Message, status, code)
	}
	if status == 401 && !strings.HasPrefix(header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without WWW-Authenticate: Bearer: %v", header)
	}
	if after := f.cc.heads(f.council); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("%s %s was refused but changed the council", method, path)
	}
	noSecrets(t, f, string(raw))
	if token != "" && strings.Contains(string(raw), token) {
		t.Fatalf("the answer quotes the token: %s", raw)
	}
}

// noSecrets checks that text and the relay's logs hold none of the
// fixture's tokens.
func noSecrets(t *testing.T, f *securityFixture, text string) {
	t.Helper()
	logs := f.cc.logs.String()
	for _, secret := range []string{f.anaToken, f.zedToken, f.revoked, f.cc.operator, f.otherOperator} {
		if strings.Contains(text, secret) {
			t.Fatalf("an answer holds a token: %s", text)
		}
		if strings.Contains(logs, secret) {
			t.Fatalf("the logs hold a token:\n%s", logs)
		}
	}
}

func TestInvites(t *testing.T) {
	cc := newCouncilClient(t)
	council, ana := cc.create("Mill workers", "Ana")
	base := "/api/councils/" + council

	// An invite is good once; the new member acts with the token it gives.
	code := cc.invite(council)
	ben := cc.accept(code, "Ben")
	if ben.Council != council || ben.URL != "automerge:"+council || strings.Contains(cc.logs.String(), code) {
		t.Fatalf("accept: %+v", ben)
	}
	v := cc.view(council)
	if m, ok := v.Member(ben.Member); !ok || m.Name != "Ben" || m.Role != "small-farmer" || !m.Active {
		t.Fatalf("Ben in the council: %+v", m)
	}
	cc.write(http.StatusCreated, "POST", base+"/proposals", map[string]any{"by": ben.Member, "title": "Ben's first"})
	cc.refused(council, 401, api.CodeInviteInvalid, "POST", "/api/invites/accept", map[string]any{"code": code, "name": "Ben again"})

	// The invite's role wins; else the one asked for.
	var inv api.InviteAnswer
	cc.must(201, "POST", base+"/invites", map[string]any{"by": ben.Member, "role": "farm-labourer", "ttl": "1h"}, &inv)
	if d := time.Until(inv.Expires); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("expires in %v", d)
	}
	cai := cc.accept(inv.Code, "Cai")
	code = cc.invite(council)
	status, raw := cc.callAs("", "POST", "/api/invites/accept", map[string]any{"code": code, "name": "Dan", "role": "worker"})
	var dan api.AcceptInviteAnswer
	if status != 201 || json.Unmarshal(raw, &dan) != nil {
		t.Fatalf("accept: %d %s", status, raw)
	}
	v = cc.view(council)
	if m, _ := v.Member(cai.Member); m.Role != "farm-labourer" {
		t.Fatalf("Cai %+v", m)
	}
	if m, _ := v.Member(dan.Member); m.Role != "worker" {
		t.Fatalf("Dan %+v", m)
	}

	// An expired invite is refused, and so is a bad one; neither adds a member.
	cc.must(201, "POST", base+"/invites", map[string]any{"ttl": "1ms"}, &inv)
	time.Sleep(5 * time.Millisecond)
	cc.refused(council, 401, api.CodeInviteInvalid, "POST", "/api/invites/accept", map[string]any{"code": inv.Code, "name": "Eve"})
	cc.refused(council, 401, api.CodeInviteInvalid, "POST", "/api/invites/accept", map[string]any{"code": "vi_nope", "name": "Eve"})
	// Input that would fail after the code is spent is refused first.
	code = cc.invite(council)
	cc.refused(council, 400, api.CodeInvalidArgument, "POST", "/api/invites/accept", map[string]any{"code": code, "name": " "})
	cc.accept(code, "Eve")
	cc.refused(council, 400, api.CodeInvalidArgument, "POST", base+"/invites", map[string]any{"ttl": "forever"})
	cc.refused(council, 400, api.CodeInvalidArgument, "POST", base+"/invites", map[string]any{"ttl": "9000h"})

	// An invite whose maker left is refused; leaving revoked the maker's tokens.
	code = cc.invite(council)
	cc.write(200, "POST", base+"/members/"+ana+"/leave", map[string]any{"by": ana})
	cc.refused(council, 401, api.CodeInviteInvalid, "POST", "/api/invites/accept", map[string]any{"code": code, "name": "Fay"})
	cc.refused(council, 401, api.CodeUnauthenticated, "GET", base, map[string]any{"by": ana})
}

// TestLeftMemberReadsNothing: a member who left through sync, keeping a
// token, is answered like anyone who may not read the council.
func TestLeftMemberReadsNothing(t *testing.T) {
	cc := newCouncilClient(t)
	council, _ := cc.create("Mill workers", "Ana")
	ben := cc.join(council, "Ben")
	cc.write(200, "POST", "/api/councils/"+council+"/members/"+ben+"/leave", map[string]any{"by": ben})
	// A token the leave did not revoke, as if Ben had left through sync.
	token, err := cc.auth.IssueMemberToken(t.Context(), council, ben)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", ""}, {"GET", "/history"}, {"POST", "/invites"}, {"POST", "/proposals"}, {"POST", "/members"},
	} {
		var body any
		if c.path == "/members" || c.path == "/proposals" {
			body = map[string]any{"name": "x", "role": "x"}
			if c.path == "/proposals" {
				body = map[string]any{"title": "x"}
			}
		}
		if status, raw := cc.callAs(token, c.method, "/api/councils/"+council+c.path, body); status != 404 || !strings.Contains(string(raw), api.CodeNotFound) {
			t.Fatalf("%s %s: %d %s", c.method, c.path, status, raw)
		}
	}
}

// TestFailedAuthenticationsAreLimited: past the limit of failed
// authentications, an address's further bad tokens and invite codes get
// 429 instead of 401 — but a valid token from the same address (everyone
// behind one reverse proxy or village NAT) is still served, over REST and
// the websocket.
func TestFailedAuthenticationsAreLimited(t *testing.T) {
	tr := newTestRelay(t, api.Options{AuthFailuresPerMinute: 3})
	for i := 0; i < 3; i++ {
		if status, _, _ := httpCall(t, tr.ts.URL, "vt_guess", "POST", "/api/tokens/revoke", nil); status != 401 {
			t.Fatalf("guess %d: %d", i, status)
		}
	}
	for _, c := range []struct {
		method, path, token string
		body                any
	}{
		{"POST", "/api/tokens/revoke", "vt_guess", nil},
		{"POST", "/api/invites/accept", "", map[string]any{"code": "vi_guess", "name": "X"}},
	} {
		status, header, raw := httpCall(t, tr.ts.URL, c.token, c.method, c.path, c.body)
		if status != http.StatusTooManyRequests || !strings.Contains(string(raw), api.CodeTooManyRequests) || header.Get("Retry-After") == "" {
			t.Fatalf("%s %s after the limit: %d %s %v", c.method, c.path, status, raw, header)
		}
	}
	// The good token is not locked out.
	body := map[string]any{"name": "Mill workers", "kind": "workers", "founder": map[string]any{"name": "Ana", "role": "worker"}}
	if status, _, raw := httpCall(t, tr.ts.URL, tr.operator, "POST", "/api/councils", body); status != http.StatusCreated {
		t.Fatalf("valid token after the limit: %d %s", status, raw)
	}
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(tr.ts)+"?token="+tr.operator, nil)
	if err != nil {
		t.Fatalf("websocket with a valid token after the limit: %v", err)
	}
	ws.Close()
	if strings.Contains(tr.logs.String(), tr.operator) {
		t.Fatal("the logs hold the operator token")
	}
}

// TestValidInviteAfterBadOnesIsTaken: 25 bad invite codes from one address
// do not stop a valid one from the same address, nor a valid token.
func TestValidInviteAfterBadOnesIsTaken(t *testing.T) {
	tr := newTestRelay(t, api.Options{AuthFailuresPerMinute: 2})
	council := tr.createCouncil(t)
	var inv api.InviteAnswer
	if status, _, raw := httpCall(t, tr.ts.URL, council.Token, "POST", "/api/councils/"+council.ID+"/invites", map[string]any{}); status != 201 || json.Unmarshal(raw, &inv) != nil {
		t.Fatalf("invite: %d %s", status, raw)
	}
	for i := 0; i < 25; i++ {
		status, _, raw := httpCall(t, tr.ts.URL, "", "POST", "/api/invites/accept", map[string]any{"code": "vi_guess", "name": "X"})
		if want := map[bool]int{true: 401, false: 429}[i < 2]; status != want {
			t.Fatalf("guess %d: %d %s", i, status, raw)
		}
	}
	if status, _, raw := httpCall(t, tr.ts.URL, "", "POST", "/api/invites/accept", map[string]any{"code": inv.Code, "name": "Ben"}); status != 201 {
		t.Fatalf("valid invite after bad ones: %d %s", status, raw)
	}
	if status, _, raw := httpCall(t, tr.ts.URL, council.Token, "GET", "/api/councils/"+council.ID, nil); status != 200 {
		t.Fatalf("valid token after bad invites: %d %s", status, raw)
	}
}

func TestOpenRegistration(t *testing.T) {
	tr := newTestRelay(t, api.Options{OpenRegistration: true})
	body := map[string]any{"name": "New", "kind": "workers", "founder": map[string]any{"name": "Ivo", "role": "worker"}}
	status, _, raw := httpCall(t, tr.ts.URL, "", "POST", "/api/councils", body)
	var ans api.CreateCouncilAnswer
	if status != 201 || json.Unmarshal(raw, &ans) != nil || ans.Token == "" {
		t.Fatalf("open registration: %d %s", status, raw)
	}
	// The founder's token reads the council; a bad token is still refused.
	if status, _, raw := httpCall(t, tr.ts.URL, ans.Token, "GET", "/api/councils/"+ans.ID, nil); status != 200 {
		t.Fatalf("founder: %d %s", status, raw)
	}
	if status, _, _ := httpCall(t, tr.ts.URL, "vt_bad", "POST", "/api/councils", body); status != 401 {
		t.Fatalf("bad token with open registration: %d", status)
	}
}

func TestSyncUpgradeNeedsAToken(t *testing.T) {
	for _, anonymous := range []bool{false, true} {
		tr := newTestRelay(t, api.Options{AllowAnonymous: anonymous})
		cc := &councilClient{t: t, testRelay: tr, tokens: map[string]string{}, founders: map[string]string{}}
		_, ana := cc.create("Riverside growers", "Ana")
		token := cc.tokens[ana]

		refused := []struct {
			name   string
			url    string
			header http.Header
		}{
			{"bad token in the header", wsURL(tr.ts), http.Header{"Authorization": {"Bearer vt_bad"}}},
			{"bad token in the query", wsURL(tr.ts) + "?token=vt_bad", nil},
			{"not a bearer token", wsURL(tr.ts), http.Header{"Authorization": {"Basic " + token}}},
		}
		if !anonymous {
			refused = append(refused, struct {
				name   string
				url    string
				header http.Header
			}{"no token", wsURL(tr.ts), nil})
		}
		for _, c := range refused {
			_, resp, err := websocket.DefaultDialer.Dial(c.url, c.header)
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("anonymous %v, %s: %v, %v", anonymous, c.name, resp, err)
			}
		}
		for _, c := range []struct {
			url    string
			header http.Header
		}{
			{wsURL(tr.ts), http.Header{"Authorization": {"Bearer " + token}}},
			{wsURL(tr.ts) + "?token=" + token, nil},
		} {
			ws, resp, err := websocket.DefaultDialer.Dial(c.url, c.header)
			if err != nil {
				t.Fatalf("anonymous %v: dial with a token: %v %v", anonymous, resp, err)
			}
			join(t, ws)
			ws.Close()
		}
		if strings.Contains(tr.logs.String(), token) {
			t.Fatalf("the logs hold the token:\n%s", tr.logs)
		}
	}
}

// TestMembersReadTheirFederation: the REST API follows the same grants as
// the websocket: a member reads the federation their council belongs to —
// once both sides say so, the council's join and the federation's
// admission — and may not write it.
func TestMembersReadTheirFederation(t *testing.T) {
	cc := newCouncilClient(t)
	north, ana := cc.create("North growers", "Ana")
	fed, dora := cc.createFederation("District federation", "Dora")
	hill, zed := cc.create("Hill growers", "Zed")
	fedPath := "/api/councils/" + fed
	if status, _ := cc.callAs(cc.tokens[ana], "GET", fedPath, nil); status != http.StatusNotFound {
		t.Fatalf("before joining, north reads the federation: %d", status)
	}
	// The council's half alone grants nothing.
	cc.write(http.StatusOK, "POST", "/api/councils/"+north+"/federation/join", map[string]any{"by": ana, "federation": fed})
	if status, _ := cc.callAs(cc.tokens[ana], "GET", fedPath, nil); status != http.StatusNotFound {
		t.Fatalf("north reads the federation that never admitted it: %d", status)
	}
	// Nor does the federation's half alone: it admits Hill, which never joined.
	cc.write(http.StatusOK, "POST", fedPath+"/federation/admit", map[string]any{"by": dora, "council": hill})
	if status, _ := cc.callAs(cc.tokens[zed], "GET", fedPath, nil); status != http.StatusNotFound {
		t.Fatalf("hill reads a federation it never joined: %d", status)
	}
	cc.write(http.StatusOK, "POST", fedPath+"/federation/admit", map[string]any{"by": dora, "council": north})
	if status, raw := cc.callAs(cc.tokens[ana], "GET", fedPath, nil); status != http.StatusOK {
		t.Fatalf("a member of a council in the federation cannot read it: %d %s", status, raw)
	}
	if status, _ := cc.callAs(cc.tokens[ana], "POST", fedPath+"/proposals", map[string]any{"title": "x"}); status != http.StatusNotFound {
		t.Fatalf("a reader wrote the federation: %d", status)
	}
	if status, _ := cc.callAs(cc.tokens[zed], "GET", fedPath, nil); status != http.StatusNotFound {
		t.Fatalf("a council outside the federation reads it: %d", status)
	}
	// The federation removing north ends the grant.
	cc.write(http.StatusOK, "POST", fedPath+"/federation/remove", map[string]any{"by": dora, "council": north})
	if status, _ := cc.callAs(cc.tokens[ana], "GET", fedPath, nil); status != http.StatusNotFound {
		t.Fatalf("north reads the federation that removed it: %d", status)
	}
}

// TestRecalledDelegateSeatOverREST: a delegate seated in a federation
// (sentBy their council and mandate) loses the seat's REST access the
// moment their council recalls them.
func TestRecalledDelegateSeatOverREST(t *testing.T) {
	cc := newCouncilClient(t)
	north, ana := cc.create("North growers", "Ana")
	ben := cc.join(north, "Ben")
	fed := cc.found(map[string]any{"name": "District federation", "kind": "federation", "founder": map[string]any{"name": "Dora", "role": "delegate"}})
	nb, fb := "/api/councils/"+north, "/api/councils/"+fed.ID
	cc.write(http.StatusOK, "POST", nb+"/federation/join", map[string]any{"by": ana, "federation": fed.ID})
	cc.write(http.StatusOK, "POST", fb+"/federation/admit", map[string]any{"by": fed.Founder, "council": north})
	sent := cc.write(http.StatusCreated, "POST", nb+"/proposals", map[string]any{"by": ana, "kind": "mandate", "title": "Send Ben",
		"mandate": map[string]any{"task": "grain price", "body": fed.ID, "delegate": ben}})
	for _, by := range []string{ana, ben} {
		cc.write(http.StatusCreated, "POST", nb+"/proposals/"+sent.ID+"/votes", map[string]any{"by": by, "choice": "yes"})
	}
	seat := cc.seat(fed.ID, north, ben, sent.Mandate, "Ben (north)")
	token, err := cc.auth.IssueMemberToken(t.Context(), fed.ID, seat)
	if err != nil {
		t.Fatal(err)
	}
	// With the mandate active, the seat counts: the delegate reads the
	// federation, and its view shows them seated by north.
	// (Writing as the seat needs crdt operations that see the home
	// council's log; they do not yet, so the seat's writes are not tried.)
	status, _, raw := httpCall(t, cc.ts.URL, token, "GET", fb, nil)
	var v api.CouncilView
	if status != http.StatusOK || json.Unmarshal(raw, &v) != nil {
		t.Fatalf("a seated delegate with an active mandate cannot read the federation: %d %s", status, raw)
	}
	if m, ok := v.Member(seat); !ok || !m.Active || m.SentBy == nil || m.SentBy.Council != north || m.SentBy.Mandate != sent.Mandate {
		t.Fatalf("the seat in the federation's view: %+v", m)
	}
	recall := cc.write(http.StatusCreated, "POST", nb+"/proposals", map[string]any{"by": ana, "kind": "recall", "title": "Recall Ben", "subject": sent.Mandate})
	cc.write(http.StatusCreated, "POST", nb+"/proposals/"+recall.ID+"/votes", map[string]any{"by": ana, "choice": "yes"})
	cc.write(http.StatusCreated, "POST", nb+"/proposals/"+recall.ID+"/votes", map[string]any{"by": ben, "choice": "abstain"})
	before := cc.heads(fed.ID)
	for _, r := range []struct{ method, path string }{{"GET", fb}, {"POST", fb + "/proposals"}} {
		if status, _ := cc.callAs(token, r.method, r.path, map[string]any{"title": "after recall"}); status != http.StatusNotFound {
			t.Fatalf("%s %s by a recalled seat: %d, want 404", r.method, r.path, status)
		}
	}
	if after := cc.heads(fed.ID); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatal("the federation changed")
	}
}
