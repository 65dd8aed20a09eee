package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server/bundle"
	"github.com/veche-sync/veche/server/wire"
)

// exportBundle gets a council's bundle as token, since heads.
func (cc *councilClient) exportBundle(token, council string, since ...string) []byte {
	cc.t.Helper()
	path := "/api/councils/" + council + "/bundle"
	if len(since) > 0 {
		path += "?since=" + strings.Join(since, ",")
	}
	status, h, raw := httpCall(cc.t, cc.ts.URL, token, "GET", path, nil)
	if status != http.StatusOK || h.Get("Content-Type") != bundle.ContentType {
		cc.t.Fatalf("export: %d %s %s", status, h.Get("Content-Type"), raw)
	}
	return raw
}

// importBundle posts raw as token and returns the status and the answer.
func (cc *councilClient) importBundle(token string, raw []byte) (int, api.BundleAnswer, api.Error) {
	cc.t.Helper()
	status, _, body := httpCall(cc.t, cc.ts.URL, token, "POST", "/api/bundles", string(raw))
	var ans api.BundleAnswer
	var refused struct{ Error api.Error }
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &ans); err != nil {
			cc.t.Fatalf("import answer %s: %v", body, err)
		}
	} else if err := json.Unmarshal(body, &refused); err != nil {
		cc.t.Fatalf("import error %s: %v", body, err)
	}
	return status, ans, refused.Error
}

func TestBundlesOverREST(t *testing.T) {
	cc := newCouncilClient(t)
	council, ana := cc.create("Riverside growers", "Ana")
	fed, dora := cc.createFederation("District federation", "Dora")
	_, zed := cc.create("Hill growers", "Zed")
	cc.write(http.StatusOK, "POST", "/api/councils/"+council+"/federation/join", map[string]any{"by": ana, "federation": fed})
	cc.write(http.StatusOK, "POST", "/api/councils/"+fed+"/federation/admit", map[string]any{"by": dora, "council": council})
	anaToken := cc.tokens[ana]

	// A copy of the council, as a village replica holds it, with work
	// done there: the relay's bundle, then a change of the village's own.
	village, err := automerge.Load(cc.relayDoc(council))
	if err != nil {
		t.Fatal(err)
	}
	mark := cc.heads(council)
	if err := village.RootMap().Set("villageNote", "carried by hand"); err != nil {
		t.Fatal(err)
	}
	if _, err := village.Commit("village note"); err != nil {
		t.Fatal(err)
	}
	heads, _ := bundle.ParseHeads(mark)
	b, err := bundle.Export(wire.DocumentID(council), village, heads, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()

	// Refused whole: no token, another council's member, a reader of the
	// council's federation bundle... and nothing changes.
	if status, _, e := cc.importBundle("", raw); status != http.StatusUnauthorized || e.Code != api.CodeUnauthenticated {
		t.Fatalf("no token: %d %+v", status, e)
	}
	if status, _, e := cc.importBundle(cc.tokens[zed], raw); status != http.StatusNotFound || e.Code != api.CodeNotFound {
		t.Fatalf("another council's member: %d %+v", status, e)
	}
	if status, _, e := cc.importBundle(cc.operator, raw); status != http.StatusNotFound {
		t.Fatalf("the operator: %d %+v", status, e)
	}
	fedBundle := cc.exportBundle(anaToken, fed) // a reader may export
	if status, _, e := cc.importBundle(anaToken, fedBundle); status != http.StatusForbidden || e.Code != api.CodeForbidden {
		t.Fatalf("a reader imports into the federation: %d %+v", status, e)
	}
	if got := cc.heads(council); !sameStrings(got, mark) {
		t.Fatalf("a refused bundle changed the council: %v → %v", mark, got)
	}

	// Damaged, out of order, foreign: clear codes, nothing changes.
	for name, c := range map[string]struct {
		raw    []byte
		status int
		code   string
	}{
		"truncated":    {raw[:len(raw)-5], 400, api.CodeBadBundle},
		"tampered":     {bytes.Replace(raw, []byte("carried by hand"), []byte("carried by HAND"), 1), 400, api.CodeBadBundle},
		"not a bundle": {[]byte("hello"), 400, api.CodeBadBundle},
		"foreign":      {bundleOf(t, council, automerge.New()), 409, api.CodeBundleForeign},
	} {
		if status, _, e := cc.importBundle(anaToken, c.raw); status != c.status || e.Code != c.code || e.Message == "" {
			t.Errorf("%s: %d %+v", name, status, e)
		}
	}
	// Out of order: only the second of two bundles.
	second := village.Heads()
	if err := village.RootMap().Set("later", "yes"); err != nil {
		t.Fatal(err)
	}
	village.Commit("later")
	later, _ := bundle.Export(wire.DocumentID(council), village, second, time.Now())
	if status, _, e := cc.importBundle(anaToken, later.Bytes()); status != http.StatusConflict || e.Code != api.CodeBundleOutOfOrder {
		t.Fatalf("out of order: %d %+v", status, e)
	}
	if got := cc.heads(council); !sameStrings(got, mark) {
		t.Fatalf("a refused bundle changed the council: %v → %v", mark, got)
	}

	// In order: applied; twice: a no-op.
	if status, ans, e := cc.importBundle(anaToken, raw); status != http.StatusOK || ans.Applied != 1 || ans.Count != 1 || ans.Council != council {
		t.Fatalf("import: %d %+v %+v", status, ans, e)
	}
	if status, ans, _ := cc.importBundle(anaToken, raw); status != http.StatusOK || ans.Applied != 0 {
		t.Fatalf("again: %d %+v", status, ans)
	}
	if status, ans, _ := cc.importBundle(anaToken, later.Bytes()); status != http.StatusOK || ans.Applied != 1 || !sameStrings(ans.Heads, hexes(village.Heads())) {
		t.Fatalf("the second bundle: %d %+v", status, ans)
	}
	// The relay's own bundle since the village's heads is empty.
	var back bytes.Buffer
	back.Write(cc.exportBundle(anaToken, council, hexes(village.Heads())...))
	if got, err := bundle.Read(&back, 0); err != nil || got.Count != 0 {
		t.Fatalf("bundle since the village's heads: %+v %v", got, err)
	}
}

// relayDoc is the council's whole history, from the relay's bundle.
func (cc *councilClient) relayDoc(council string) []byte {
	cc.t.Helper()
	b, err := bundle.Read(bytes.NewReader(cc.exportBundle(cc.founders[council], council)), 0)
	if err != nil {
		cc.t.Fatal(err)
	}
	doc := automerge.New()
	if _, err := b.Apply(doc); err != nil {
		cc.t.Fatal(err)
	}
	return doc.Save()
}

// bundleOf is a bundle naming council that carries doc's history after
// one change of its own.
func bundleOf(t *testing.T, council string, doc *automerge.Doc) []byte {
	t.Helper()
	doc.RootMap().Set("x", 1)
	doc.Commit("x")
	b, err := bundle.Export(wire.DocumentID(council), doc, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func hexes(hs []automerge.ChangeHash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

func sameStrings(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}
