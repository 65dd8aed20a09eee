package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server/wire"
)

// A councilClient drives the REST API of one test relay. It keeps the
// token of every member it made (the founders of the councils it created,
// the members who joined by invite) and picks the token of a request the
// way a person picks whose phone to use:
//
//   - a body's "by" names the acting member: call sends that member's
//     token and drops "by" from the body (the relay takes the acting
//     member from the token, and refuses "by" as an unknown field);
//   - else, under /api/councils/<id>, the founder of <id> acts, or, for a
//     council it did not create, the founder of the first one;
//   - else (POST /api/councils) the operator.
type councilClient struct {
	t *testing.T
	*testRelay
	tokens   map[string]string // member id → token
	founders map[string]string // council id → the founder's token
	first    string            // the first founder's token
}

func newCouncilClient(t *testing.T) *councilClient {
	t.Helper()
	return &councilClient{t: t, testRelay: newTestRelay(t, api.Options{}), tokens: map[string]string{}, founders: map[string]string{}}
}

// tokenFor picks the token of a request, and drops "by" from its body.
func (cc *councilClient) tokenFor(path string, body any) (string, any) {
	cc.t.Helper()
	if m, ok := body.(map[string]any); ok {
		if by, ok := m["by"].(string); ok {
			token, known := cc.tokens[by]
			if !known {
				cc.t.Fatalf("no token for member %q", by)
			}
			m = maps.Clone(m)
			delete(m, "by")
			return token, m
		}
	}
	if rest, ok := strings.CutPrefix(path, "/api/councils/"); ok {
		council, _, _ := strings.Cut(rest, "/")
		if token, ok := cc.founders[strings.TrimPrefix(council, "automerge:")]; ok {
			return token, body
		}
		return cc.first, body
	}
	return cc.operator, body
}

// call sends body (a string is sent as is, anything else as JSON) with
// the token tokenFor picks, and returns the status and the raw answer.
func (cc *councilClient) call(method, path string, body any) (int, []byte) {
	cc.t.Helper()
	token, body := cc.tokenFor(path, body)
	return cc.callAs(token, method, path, body)
}

// callAs sends body with token ("": none).
func (cc *councilClient) callAs(token, method, path string, body any) (int, []byte) {
	cc.t.Helper()
	status, _, raw := httpCall(cc.t, cc.ts.URL, token, method, path, body)
	return status, raw
}

// httpCall sends body (a string as is, anything else as JSON) with token
// ("": none) and returns the status, the header and the raw answer.
func httpCall(t *testing.T, base, token, method, path string, body any) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

// must sends a request that must answer want, and decodes the answer into out.
func (cc *councilClient) must(want int, method, path string, body, out any) {
	cc.t.Helper()
	status, raw := cc.call(method, path, body)
	if status != want {
		cc.t.Fatalf("%s %s %v: status %d, want %d: %s", method, path, body, status, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			cc.t.Fatalf("%s %s: answer %s: %v", method, path, raw, err)
		}
	}
}

// write sends a write that must answer want and returns its answer.
func (cc *councilClient) write(want int, method, path string, body any) api.WriteAnswer {
	cc.t.Helper()
	var ans api.WriteAnswer
	cc.must(want, method, path, body, &ans)
	return ans
}

// found creates a council from body as the operator and keeps the
// founder's token.
func (cc *councilClient) found(body any) api.CreateCouncilAnswer {
	cc.t.Helper()
	var ans api.CreateCouncilAnswer
	cc.must(http.StatusCreated, "POST", "/api/councils", body, &ans)
	if ans.Token == "" {
		cc.t.Fatalf("create: no founder token: %+v", ans)
	}
	cc.tokens[ans.Founder] = ans.Token
	cc.founders[ans.ID] = ans.Token
	if cc.first == "" {
		cc.first = ans.Token
	}
	return ans
}

// create founds a council with the given founder name and returns its id
// and the founder's member id.
func (cc *councilClient) create(name, founder string) (id, founderID string) {
	cc.t.Helper()
	ans := cc.found(map[string]any{
		"name": name, "kind": "farmers", "region": "Upper valley",
		"rule":    map[string]any{"quorum": 0.5, "majority": 0.5},
		"founder": map[string]any{"name": founder, "role": "small-farmer"},
	})
	return ans.ID, ans.Founder
}

// createFederation founds a federation with the given founder name and
// returns its id and the founder's member id.
func (cc *councilClient) createFederation(name, founder string) (id, founderID string) {
	cc.t.Helper()
	ans := cc.found(map[string]any{
		"name": name, "kind": "federation",
		"founder": map[string]any{"name": founder, "role": "delegate"},
	})
	return ans.ID, ans.Founder
}

// seat seats member of council home as a delegate in federation, under
// mandate, and returns the seat's member id there. The REST API has no
// seat route yet: the delegate signs the seat themself with their key
// from home (here the custodial key the relay keeps for them), written
// straight through the relay; the relay then keeps that key for the seat
// too, so the seat's REST writes are signed with it.
func (cc *councilClient) seat(federation, home, member, mandate, name string) string {
	cc.t.Helper()
	ctx := cc.t.Context()
	as, err := cc.custody.Signer(ctx, home, member)
	if err != nil {
		cc.t.Fatal(err)
	}
	as.Council = federation
	var seat string
	err = cc.relay.Change(ctx, wire.DocumentID(federation), func(doc *automerge.Doc) error {
		var err error
		seat, err = crdt.TakeSeat(doc, as, crdt.SeatSpec{Name: name, Council: home, Mandate: mandate}, time.Now())
		return err
	})
	if err != nil {
		cc.t.Fatalf("seat %s of %s in %s: %v", member, home, federation, err)
	}
	as.Member = seat
	if err := cc.custody.Keep(ctx, as); err != nil {
		cc.t.Fatal(err)
	}
	return seat
}

// invite makes an invite to council as its founder and returns the code.
func (cc *councilClient) invite(council string) string {
	cc.t.Helper()
	var inv api.InviteAnswer
	cc.must(http.StatusCreated, "POST", "/api/councils/"+council+"/invites", nil, &inv)
	if inv.Code == "" || inv.Expires.IsZero() {
		cc.t.Fatalf("invite %+v", inv)
	}
	return inv.Code
}

// accept accepts an invite code as name and keeps the new member's token.
func (cc *councilClient) accept(code, name string) api.AcceptInviteAnswer {
	cc.t.Helper()
	var ans api.AcceptInviteAnswer
	status, raw := cc.callAs("", "POST", "/api/invites/accept", map[string]any{"code": code, "name": name})
	if status != http.StatusCreated {
		cc.t.Fatalf("accept: %d %s", status, raw)
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.Token == "" || ans.Member == "" {
		cc.t.Fatalf("accept: %s (%v)", raw, err)
	}
	cc.tokens[ans.Member] = ans.Token
	return ans
}

// join adds a member by invite and returns its id; the member's token is
// kept.
func (cc *councilClient) join(council, name string) string {
	cc.t.Helper()
	return cc.accept(cc.invite(council), name).Member
}

func (cc *councilClient) view(council string) api.CouncilView {
	cc.t.Helper()
	var v api.CouncilView
	cc.must(http.StatusOK, "GET", "/api/councils/"+council, nil, &v)
	return v
}

// heads returns the document's heads as the relay holds them.
func (cc *councilClient) heads(council string) []string {
	cc.t.Helper()
	var heads []string
	err := cc.relay.View(context.Background(), wire.DocumentID(council), func(doc *automerge.Doc) error {
		for _, h := range doc.Heads() {
			heads = append(heads, h.String())
		}
		return nil
	})
	if err != nil {
		cc.t.Fatal(err)
	}
	slices.Sort(heads)
	return heads
}

// refused sends a request that must be refused with status and code, and
// checks that the council's document did not change (council may be ""
// when there is none to check).
func (cc *councilClient) refused(council string, status int, code, method, path string, body any) api.Error {
	cc.t.Helper()
	var before []string
	if council != "" {
		before = cc.heads(council)
	}
	got, raw := cc.call(method, path, body)
	var ans struct {
		Error *api.Error `json:"error"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.Error == nil {
		cc.t.Fatalf("%s %s: answer %d %s is not an error body (%v)", method, path, got, raw, err)
	}
	if got != status || ans.Error.Code != code {
		cc.t.Fatalf("%s %s %v: got %d %s (%s), want %d %s", method, path, body, got, ans.Error.Code, ans.Error.Message, status, code)
	}
	if ans.Error.Message == "" {
		cc.t.Fatalf("%s %s: error without a message", method, path)
	}
	if council != "" {
		if after := cc.heads(council); !slices.Equal(before, after) {
			cc.t.Fatalf("%s %s was refused but the document changed: heads %v -> %v", method, path, before, after)
		}
	}
	return *ans.Error
}
