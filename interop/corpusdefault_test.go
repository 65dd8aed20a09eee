package interop

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/syncmsg"
	"github.com/veche-sync/veche/server/wire"
)

// TestCorpusUnderTheDefault: every crasher of the corpus, sent by a member
// to a document an honest member wrote (the crasher's state) through a
// relay run with the default flags (--sandbox auto: the supervisor alone
// until a first crash), ends with its sender suspended and the honest
// member's document served: never marked unavailable.
func TestCorpusUnderTheDefault(t *testing.T) {
	setup(t)
	files, _ := filepath.Glob(filepath.Join(rootDir, "server", "testdata", "crashers", "*.json"))
	if len(files) == 0 {
		t.Fatal("no crashers")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			// A relay of its own: after a first crash the sandbox stands
			// in front, and it is the supervisor alone that is tried here.
			r := startRelay(t, vecheRelay(t), t.TempDir())
			council := foundCouncil(t, r, "North growers")
			mallory := admit(t, r, council, "Mallory")
			var x struct {
				State   []byte `json:"state"`
				Message []byte `json:"message"`
			}
			b, _ := os.ReadFile(f)
			if err := json.Unmarshal(b, &x); err != nil {
				t.Fatal(err)
			}
			id := wire.NewDocumentID()
			var heads []syncmsg.Hash
			if len(x.State) > 0 {
				doc := automerge.New()
				if err := doc.LoadIncremental(x.State); err != nil {
					t.Fatal(err)
				}
				changes, _ := doc.Changes()
				var chunks [][]byte
				for _, c := range changes {
					chunks = append(chunks, c.Save())
				}
				for _, h := range doc.Heads() {
					heads = append(heads, syncmsg.Hash(h))
				}
				honest, _, err := dialRaw(t, r, council.Token, "founder")
				if err != nil {
					t.Fatal(err)
				}
				honest.send(wire.Message{Type: wire.TypeSync, SenderID: "founder", TargetID: "relay", DocumentID: id, Data: syncmsg.Message{Type: syncmsg.V1, Changes: chunks}.Encode()})
				awaitHeads(t, honest, heads)
				honest.ws.Close()
			}
			before := strings.Count(r.logs.String(), "quarantined a sync message")
			bad, _, err := dialRaw(t, r, mallory.Token, "mallory")
			if err != nil {
				t.Fatal(err)
			}
			bad.send(wire.Message{Type: wire.TypeSync, SenderID: "mallory", TargetID: "relay", DocumentID: id, Data: x.Message})
			for m := bad.recv(); m.Type != "closed"; m = bad.recv() {
			}
			// The relay closed the connection: it refused the message or
			// died. Once it serves again, the supervisor has said which.
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if resp, err := http.Get("http://" + r.addr + "/healthz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatal("the relay does not serve again")
				}
			}
			if strings.Contains(r.logs.String(), "the relay process died") {
				for deadline := time.Now().Add(20 * time.Second); strings.Count(r.logs.String(), "quarantined a sync message") == before; {
					if time.Now().After(deadline) {
						t.Fatal("the relay died and no incident was logged")
					}
					time.Sleep(10 * time.Millisecond)
				}
				if s := status(t, r, mallory.Token, "GET", "/api/councils/"+council.ID); s != http.StatusForbidden {
					t.Fatalf("the sender's token: REST answered %d", s)
				}
			} else {
				t.Logf("refused before the core crashed: %s", lastLine(r.logs.String(), "rejected"))
			}
			if strings.Contains(r.logs.String(), "marked unavailable") {
				t.Fatal("a document was marked unavailable")
			}
			if heads != nil {
				again, _, err := dialRaw(t, r, council.Token, "founder-again")
				if err != nil {
					t.Fatal(err)
				}
				again.send(wire.Message{Type: wire.TypeSync, SenderID: "founder-again", TargetID: "relay", DocumentID: id, Data: syncmsg.Message{Type: syncmsg.V1, Heads: heads, Have: []syncmsg.Have{{LastSync: heads}}}.Encode()})
				awaitHeads(t, again, heads)
				again.ws.Close()
			}
			if s := status(t, r, council.Token, "GET", "/api/councils/"+council.ID); s != http.StatusOK {
				t.Fatalf("the founder: REST answered %d", s)
			}
		})
	}
}

// lastLine is the last line of logs holding word.
func lastLine(logs, word string) string {
	lines := strings.Split(logs, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], word) {
			return lines[i]
		}
	}
	return ""
}
