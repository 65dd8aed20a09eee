package interop

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server/wire"
)

// TestTwoAttackersAtOnce: under the default (--sandbox auto), two members
// send crashing changes to two documents at the same moment, and send
// them again when cut, as a client would. Both end suspended, the relay
// restarts once at most (the relay after the first crash has the sandbox
// in front), and no document is marked unavailable.
func TestTwoAttackersAtOnce(t *testing.T) {
	r := startRelay(t, vecheRelay(t), t.TempDir())
	council := foundCouncil(t, r, "North growers")
	var tokens []string
	for _, name := range []string{"Mallory", "Trudy"} {
		var invite api.InviteAnswer
		var m api.AcceptInviteAnswer
		rest(t, r, council.Token, "POST", "/api/councils/"+council.ID+"/invites", nil, &invite)
		rest(t, r, "", "POST", "/api/invites/accept", obj{"code": invite.Code, "name": name}, &m)
		tokens = append(tokens, m.Token)
	}
	var msgs [][]byte
	for _, glob := range []string{"*-762-64-8IfL_A.json", "*-op-tree-rs-434-9-*.json"} {
		files, _ := filepath.Glob(filepath.Join(rootDir, "server", "testdata", "crashers", glob))
		if len(files) == 0 {
			t.Fatalf("no %s crasher", glob)
		}
		var x struct {
			Message []byte `json:"message"`
		}
		b, _ := os.ReadFile(files[0])
		if err := json.Unmarshal(b, &x); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, x.Message)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := wire.NewDocumentID()
			<-start
			for try := 0; try < 3; try++ {
				if !sendAndWaitClose(r, tokens[i], fmt.Sprint("attacker-", i), id, msgs[i]) {
					return // suspended: refused at the handshake
				}
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					if resp, err := http.Get("http://" + r.addr + "/healthz"); err == nil {
						resp.Body.Close()
						break
					}
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, tok := range tokens {
		if s := status(t, r, tok, "GET", "/api/councils/"+council.ID); s != http.StatusForbidden {
			t.Errorf("attacker %d: REST answered %d", i, s)
		}
	}
	if s := status(t, r, council.Token, "GET", "/api/councils/"+council.ID); s != http.StatusOK {
		t.Fatalf("the founder: REST answered %d", s)
	}
	if n := strings.Count(r.logs.String(), "the relay process died"); n > 1 {
		t.Errorf("the relay restarted %d times", n)
	}
	if strings.Contains(r.logs.String(), "marked unavailable") {
		t.Error("a document was marked unavailable")
	}
	t.Logf("restarts: %d, incidents logged: %d", strings.Count(r.logs.String(), "the relay process died"), strings.Count(r.logs.String(), "quarantined a sync message"))
}

// sendAndWaitClose joins as token and sender, sends msg for id and reads until the
// relay closes the connection; false when the handshake was refused. Safe
// on any goroutine.
func sendAndWaitClose(r *relay, token, sender string, id wire.DocumentID, msg []byte) bool {
	ws, _, err := websocket.DefaultDialer.Dial(r.URL()+"?token="+token, nil)
	if err != nil {
		return false
	}
	defer ws.Close()
	for _, m := range []wire.Message{
		{Type: wire.TypeJoin, SenderID: sender, SupportedProtocolVersions: []string{"1"}, PeerMetadata: &wire.PeerMetadata{IsEphemeral: true}},
		{Type: wire.TypeSync, SenderID: sender, TargetID: "relay", DocumentID: id, Data: msg},
	} {
		b, err := wire.Encode(m)
		if err != nil || ws.WriteMessage(websocket.BinaryMessage, b) != nil {
			return true
		}
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return true
		}
	}
}
