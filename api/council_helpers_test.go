package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server"
	"github.com/veche-sync/veche/server/wire"
)

// A councilClient drives the REST API of one test relay.
type councilClient struct {
	t     *testing.T
	ts    *httptest.Server
	relay *server.Relay
}

func newCouncilClient(t *testing.T) *councilClient {
	t.Helper()
	ts, relay := startServer(t, api.Options{AllowAnonymous: true})
	return &councilClient{t: t, ts: ts, relay: relay}
}

// call sends body (a string is sent as is, anything else as JSON) and
// returns the status and the raw answer.
func (cc *councilClient) call(method, path string, body any) (int, []byte) {
	cc.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			cc.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, cc.ts.URL+path, r)
	if err != nil {
		cc.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		cc.t.Fatal(err)
	}
	return resp.StatusCode, raw
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

// create founds a council with the given founder name and returns its id
// and the founder's member id.
func (cc *councilClient) create(name, founder string) (id, founderID string) {
	cc.t.Helper()
	var ans api.CreateCouncilAnswer
	cc.must(http.StatusCreated, "POST", "/api/councils", map[string]any{
		"name": name, "kind": "farmers", "region": "Upper valley",
		"rule":    map[string]any{"quorum": 0.5, "majority": 0.5},
		"founder": map[string]any{"name": founder, "role": "small-farmer"},
	}, &ans)
	return ans.ID, ans.Founder
}

// join adds a member and returns its id.
func (cc *councilClient) join(council, name string) string {
	cc.t.Helper()
	ans := cc.write(http.StatusCreated, "POST", "/api/councils/"+council+"/members", map[string]any{"name": name, "role": "small-farmer"})
	if ans.ID == "" {
		cc.t.Fatalf("join %s: no member id", name)
	}
	return ans.ID
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
