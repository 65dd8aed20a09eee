package interop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veche-sync/veche/api"
)

// jsRecord is what the JavaScript checker (client.mjs, records) says of
// one change carrying a record.
type jsRecord struct {
	Hash    string `json:"hash"`
	Op      string `json:"op"`
	By      string `json:"by"`
	Council string `json:"council"`
	Founds  string `json:"founds"`
	OK      bool   `json:"ok"`
	Reason  string `json:"reason"`
}

// TestRecordsVerifyInJavaScript: the fact log is verifiable outside Go,
// as the web app and peer relays must verify it. A stock automerge-repo
// client fetches a council the relay wrote, and checks every record with
// node:crypto's Ed25519 and its own SHA-256 and bs58check, following only
// crdt/doc.go: the founding record names the council's documentId, every
// signature the relay made verifies, and a record whose payload was
// tampered with (pasted into a raw change by a stock client) fails there
// exactly as it fails in Go, whose history calls it unverified.
func TestRecordsVerifyInJavaScript(t *testing.T) {
	r := startRelay(t, vecheRelay(t), t.TempDir())
	raw, err := os.ReadFile(filepath.Join(r.dataDir, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	operator := strings.TrimSpace(string(raw))
	var created api.CreateCouncilAnswer
	rest(t, r, operator, "POST", "/api/councils", obj{"name": "Riverside growers", "kind": "farmers", "founder": obj{"name": "Ana", "role": "small-farmer"}}, &created)
	base := "/api/councils/" + created.ID
	var invite api.InviteAnswer
	var ben api.AcceptInviteAnswer
	rest(t, r, created.Token, "POST", base+"/invites", nil, &invite)
	rest(t, r, "", "POST", "/api/invites/accept", obj{"code": invite.Code, "name": "Ben"}, &ben)
	var p api.WriteAnswer
	rest(t, r, created.Token, "POST", base+"/proposals", obj{"title": "Share the seed store"}, &p)
	rest(t, r, ben.Token, "POST", base+"/proposals/"+p.ID+"/votes", obj{"choice": "yes"}, nil)

	// A stock client pastes Ben's vote record, one payload byte changed,
	// into a change of its own.
	var history api.HistoryAnswer
	rest(t, r, created.Token, "GET", base+"/history", nil, &history)
	line := ""
	for _, c := range history.Changes {
		if c.Op == "vote" {
			_, line, _ = strings.Cut(c.Message, "\n")
		}
	}
	fields := strings.Split(line, " ")
	if len(fields) != 3 {
		t.Fatalf("no vote record in the history: %q", line)
	}
	b := []byte(fields[1])
	b[10] ^= 1 // still base64url, another payload
	tampered := fields[0] + " " + string(b) + " " + fields[2]
	c := newClient(t, "verifier", r.URL()+"?token="+ben.Token)
	if ev := c.do(obj{"cmd": "find", "url": created.URL}); ev.Event != "doc" {
		t.Fatalf("find: %s", ev.Event)
	}
	c.do(obj{"cmd": "change", "url": created.URL, "message": "veche:vote by=" + ben.Member + "\n" + tampered,
		"ops": []any{obj{"op": "set", "path": []any{"proposals", p.ID, "votes", ben.Member}, "value": obj{"choice": "no", "at": 1}}}})
	c.do(obj{"cmd": "wait-ack", "url": created.URL})

	ev := c.do(obj{"cmd": "records", "url": created.URL})
	var out struct {
		Records []jsRecord `json:"records"`
	}
	if err := json.Unmarshal([]byte(ev.String()), &out); err != nil {
		t.Fatalf("records: %s: %v", ev, err)
	}
	rest(t, r, created.Token, "GET", base+"/history", nil, &history)
	verified := map[string]bool{}
	for _, h := range history.Changes {
		verified[h.Hash] = h.Verified
	}
	founds, good, bad := "", 0, 0
	for _, rec := range out.Records {
		if rec.Op == "create-council" {
			founds = rec.Founds
		}
		if rec.OK != verified[rec.Hash] {
			t.Errorf("change %s (%s by %s): JavaScript says ok=%v (%s), Go says verified=%v", rec.Hash, rec.Op, rec.By, rec.OK, rec.Reason, verified[rec.Hash])
		}
		if rec.OK {
			good++
			if rec.Op != "create-council" && rec.Council != created.ID {
				t.Errorf("record %s names council %q", rec.Hash, rec.Council)
			}
		} else {
			bad++
		}
	}
	if founds != created.ID {
		t.Fatalf("JavaScript derives council id %q from the founding record; the relay stores it as %q", founds, created.ID)
	}
	// Founding, Ben's admission, the proposal, Ben's vote: four good; the paste: one bad.
	if good != 4 || bad != 1 {
		t.Fatalf("JavaScript verified %d records and refused %d, want 4 and 1: %+v", good, bad, out.Records)
	}
}
