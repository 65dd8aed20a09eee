package interop

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/veche-sync/veche/api"
)

// TestShadowWithStockClients: the existence oracle the hostile trial
// found, tried with stock automerge-repo clients against veche serve: a
// south member writes a new document under a free id and under north's
// council id, which south may not read (repo.import with a docId, as any
// client can), then, after a relay restart, reads both back on a new
// connection of his own and on a fellow member's — and over REST — with
// veche check and veche compact run on the stopped relay's data. Both
// ids answer alike at every step and hold what he wrote; north's
// document is untouched and its members never see it
// (server/decoy.go).
func TestShadowWithStockClients(t *testing.T) {
	r := startRelay(t, vecheRelay(t), t.TempDir())
	raw, err := os.ReadFile(filepath.Join(r.dataDir, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	operator := strings.TrimSpace(string(raw))
	var north, south api.CreateCouncilAnswer
	rest(t, r, operator, "POST", "/api/councils", obj{"name": "North growers", "kind": "farmers", "founder": obj{"name": "Ana", "role": "small-farmer"}}, &north)
	rest(t, r, operator, "POST", "/api/councils", obj{"name": "South growers", "kind": "farmers", "founder": obj{"name": "Cai", "role": "small-farmer"}}, &south)
	var invite api.InviteAnswer
	var eve api.AcceptInviteAnswer
	rest(t, r, south.Token, "POST", "/api/councils/"+south.ID+"/invites", nil, &invite)
	rest(t, r, "", "POST", "/api/invites/accept", obj{"code": invite.Code, "name": "Eve"}, &eve)
	var northBefore api.CouncilView
	rest(t, r, north.Token, "GET", "/api/councils/"+north.ID, nil, &northBefore)

	free, taken := randomDocURL(t), north.URL
	urls := []string{free, taken}
	cai := newClient(t, "cai", r.URL()+"?token="+south.Token)
	written := map[string][]string{}
	for _, url := range urls {
		cai.do(obj{"cmd": "create-at", "url": url, "value": obj{"note": "seed prices"}})
		ack := cai.do(obj{"cmd": "wait-ack", "url": url, "timeoutMs": 5000})
		written[url] = ack.Heads
	}
	cai.exit()
	r.stop()
	// The operator's tools take the shadow as any document: veche check
	// loads all four (two councils, the new document, the shadow) and
	// finds no leftover; veche compact keeps them (read back below).
	bin := buildVeche(t)
	out, err := exec.Command(bin, "check", "--data", r.dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Documents:       4, each loads exactly as last written") || !strings.Contains(string(out), "All good") {
		t.Fatalf("veche check: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "compact", "--data", r.dataDir).CombinedOutput(); err != nil {
		t.Fatalf("veche compact: %v\n%s", err, out)
	}
	r.start()

	// What each reader gets for each id; the two must match.
	type sighting struct {
		event string
		note  any
		heads bool // the reader holds exactly the heads written
		rest  int  // GET /api/councils/{id} with the reader's token
		view  bool // ... answering the heads written
	}
	look := func(name, token, url string) sighting {
		t.Helper()
		c := newClient(t, name, r.URL()+"?token="+token)
		defer c.exit()
		ev := c.do(obj{"cmd": "find", "url": url, "timeoutMs": 5000})
		s := sighting{event: ev.Event, heads: slices.Equal(sorted(ev.Heads), sorted(written[url]))}
		var doc map[string]any
		if ev.Event == "doc" {
			if err := json.Unmarshal(ev.Value, &doc); err != nil {
				t.Fatal(err)
			}
			s.note = doc["note"]
		}
		id := strings.TrimPrefix(url, "automerge:")
		code, body := get(t, r, token, "/api/councils/"+id)
		s.rest = code
		var view api.CouncilView
		if code == http.StatusOK && json.Unmarshal(body, &view) == nil {
			s.view = slices.Equal(sorted(view.Heads), sorted(written[url]))
		}
		t.Logf("%s reads %s: %+v", name, url, s)
		return s
	}
	for _, reader := range []struct{ name, token string }{{"cai-again", south.Token}, {"eve", eve.Token}} {
		f, k := look(reader.name+"-free", reader.token, free), look(reader.name+"-taken", reader.token, taken)
		if f != k {
			t.Errorf("%s tells a free id from a taken one: %+v, %+v", reader.name, f, k)
		}
		if f.event != "doc" || f.note != "seed prices" || !f.heads || f.rest != http.StatusOK || !f.view {
			t.Errorf("%s does not read back what cai wrote: %+v", reader.name, f)
		}
	}

	// North is untouched: its members read it as it was.
	ana := newClient(t, "ana", r.URL()+"?token="+north.Token)
	ev := ana.do(obj{"cmd": "find", "url": north.URL, "timeoutMs": 5000})
	var doc map[string]any
	if err := json.Unmarshal(ev.Value, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["note"]; ok || !slices.Equal(sorted(ev.Heads), sorted(northBefore.Heads)) {
		t.Fatalf("north's member reads %v at %v, was at %v", doc, ev.Heads, northBefore.Heads)
	}
	var northAfter api.CouncilView
	rest(t, r, north.Token, "GET", "/api/councils/"+north.ID, nil, &northAfter)
	if !slices.Equal(sorted(northAfter.Heads), sorted(northBefore.Heads)) || northAfter.Council.Name != "North growers" {
		t.Fatalf("north over REST: %v, was %v", northAfter.Heads, northBefore.Heads)
	}
}

// get is a REST GET with token: its status and body.
func get(t *testing.T, r *relay, token, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
