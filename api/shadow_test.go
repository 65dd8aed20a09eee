package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server/wire"
)

// TestShadowOverREST: what a member wrote over the websocket to a free id
// and to another council's id it may not read (a shadow, server/decoy.go)
// answers alike over REST — read, bundle out, bundle in, a refused write
// — and the other council reads its own document as it was.
func TestShadowOverREST(t *testing.T) {
	cc := newCouncilClient(t)
	north, ana := cc.create("North growers", "Ana")
	_, zed := cc.create("South growers", "Zed")
	zedToken := cc.tokens[zed]
	var northBefore api.CouncilView
	cc.must(http.StatusOK, "GET", "/api/councils/"+north, map[string]any{"by": ana}, &northBefore)

	ws, resp, err := websocket.DefaultDialer.Dial(wsURL(cc.ts)+"?token="+zedToken, nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	join(t, ws)

	type sighting struct {
		Read, BundleOut, BundleIn, Write int
		Heads, Applied                   bool
	}
	see := func(id string) sighting {
		t.Helper()
		doc := automerge.New()
		doc.RootMap().Set("note", "hello")
		doc.Commit("note")
		// Sync until the relay announces the document's heads: it holds
		// the change, durably.
		state := automerge.NewSyncState(doc)
		for synced := false; !synced; {
			if m, ok := state.GenerateMessage(); ok {
				writeMsg(t, ws, wire.Message{Type: wire.TypeSync, SenderID: "tester", TargetID: cc.relay.PeerID(), DocumentID: wire.DocumentID(id), Data: m.Bytes()})
			}
			got, err := readMsg(t, ws)
			if err != nil || got.Type != wire.TypeSync {
				t.Fatalf("%s: the relay answered %+v (%v)", id, got, err)
			}
			m, err := state.ReceiveMessage(got.Data)
			if err != nil {
				t.Fatal(err)
			}
			synced = sameStrings(hexes(m.Heads()), hexes(doc.Heads()))
		}
		var s sighting
		code, body := cc.callAs(zedToken, "GET", "/api/councils/"+id, nil)
		var view api.CouncilView
		s.Read = code
		s.Heads = json.Unmarshal(body, &view) == nil && sameStrings(view.Heads, hexes(doc.Heads()))
		s.BundleOut, _, _ = httpCall(t, cc.ts.URL, zedToken, "GET", "/api/councils/"+id+"/bundle", nil)
		code, ans, _ := cc.importBundle(zedToken, bundleOf(t, id, doc))
		s.BundleIn, s.Applied = code, ans.Applied == 1
		s.Write, _ = cc.callAs(zedToken, "POST", "/api/councils/"+id+"/minutes", map[string]any{"title": "t"})
		return s
	}
	free, taken := see(string(wire.NewDocumentID())), see(north)
	if free != taken {
		t.Fatalf("REST tells a free id from a taken one:\nfree  %+v\ntaken %+v", free, taken)
	}
	if free.Read != http.StatusOK || !free.Heads || free.BundleOut != http.StatusOK || free.BundleIn != http.StatusOK || !free.Applied {
		t.Fatalf("what zed wrote is not served back over REST: %+v", free)
	}
	var northAfter api.CouncilView
	cc.must(http.StatusOK, "GET", "/api/councils/"+north, map[string]any{"by": ana}, &northAfter)
	if !sameStrings(northAfter.Heads, northBefore.Heads) || northAfter.Council.Name != "North growers" {
		t.Fatalf("north moved: %v, was %v", northAfter.Heads, northBefore.Heads)
	}
}
