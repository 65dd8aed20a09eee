package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/server/syncmsg"
	"github.com/veche-sync/veche/server/wire"
)

// rawSync is a hostile member's connection: a websocket speaking the wire
// protocol by hand, so it can send any bytes a stock client could be made
// to send.
type rawSync struct {
	t    *testing.T
	ws   *websocket.Conn
	peer string
}

func dialRaw(t *testing.T, r *relay, token, name string) (*rawSync, *http.Response, error) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(r.URL()+"?token="+token, nil)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { ws.Close() })
	c := &rawSync{t: t, ws: ws, peer: name}
	c.send(wire.Message{Type: wire.TypeJoin, SenderID: name, SupportedProtocolVersions: []string{"1"}, PeerMetadata: &wire.PeerMetadata{IsEphemeral: true}})
	if m := c.recv(); m.Type != wire.TypePeer {
		t.Fatalf("%s: handshake answered %+v", name, m)
	}
	return c, resp, nil
}

func (c *rawSync) send(m wire.Message) {
	b, err := wire.Encode(m)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.peer, err)
	}
}

// recv returns the next message, or one of type "closed" when the relay
// ended the connection.
func (c *rawSync) recv() wire.Message {
	_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		return wire.Message{Type: "closed", ErrorMessage: err.Error()}
	}
	m, err := wire.Decode(b, 0)
	if err != nil {
		c.t.Fatalf("%s: undecodable frame: %v", c.peer, err)
	}
	return m
}

// expectError reads until an error holding want arrives.
func (c *rawSync) expectError(want string) wire.Message {
	for {
		m := c.recv()
		if m.Type == "closed" {
			c.t.Fatalf("%s: closed before an error holding %q: %s", c.peer, want, m.ErrorMessage)
		}
		if m.Type == wire.TypeError && strings.Contains(m.ErrorMessage, want) {
			return m
		}
	}
}

// status is the HTTP status of a REST call with token.
func status(t *testing.T, r *relay, token, method, path string) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+r.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPoisonedChangeWithStockClients: three councils' members sync
// through one relay with stock clients; a member of one of them sends a
// change that crashes the Automerge core. The relay stays up, every
// honest client's edits still converge, nothing acknowledged is lost, the
// change is refused from anyone, the sender's tokens answer 403 until
// `veche quarantine release`.
func TestPoisonedChangeWithStockClients(t *testing.T) {
	poisonedChange(t, "always")
}

// TestPoisonedChangeUnsandboxed: the same with --sandbox never, where the
// relay's own core meets the change and dies of it. Its supervisor starts
// it again at once; the new relay process quarantines what the dead one
// was applying (crash marks) and suspends its sender. Every connection
// drops, and the stock clients reconnect on their own and converge.
func TestPoisonedChangeUnsandboxed(t *testing.T) {
	poisonedChange(t, "never")
}

// TestPoisonedChangeAuto: --sandbox auto. The first crash
// goes as with --sandbox never; the relay the supervisor starts after it
// checks in the sandbox, so a second attacker's crashing change (another
// member, another council, another crash) costs that message only: no
// second restart, no connection of anyone else drops.
func TestPoisonedChangeAuto(t *testing.T) {
	poisonedChange(t, "auto")
}

func poisonedChange(t *testing.T, mode string) {
	sandboxed := mode == "always"
	flags := []string{"--public-metrics", "--sandbox", mode}
	r := startRelay(t, vecheRelay(t, flags...), t.TempDir())
	raw, err := os.ReadFile(filepath.Join(r.dataDir, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	operator := strings.TrimSpace(string(raw))
	var councils [3]api.CreateCouncilAnswer
	for i, name := range []string{"North growers", "South growers", "East workshop"} {
		rest(t, r, operator, "POST", "/api/councils", obj{"name": name, "kind": "farmers", "founder": obj{"name": "founder", "role": "member"}}, &councils[i])
	}
	// The attacker is a member of the south council beside its founder.
	var invite api.InviteAnswer
	var mallory api.AcceptInviteAnswer
	rest(t, r, councils[1].Token, "POST", "/api/councils/"+councils[1].ID+"/invites", nil, &invite)
	rest(t, r, "", "POST", "/api/invites/accept", obj{"code": invite.Code, "name": "Mallory"}, &mallory)

	var clients [3]*client
	for i, c := range councils {
		clients[i] = newClient(t, []string{"ana", "cai", "eve"}[i], r.URL()+"?token="+c.Token)
		if ev := clients[i].do(obj{"cmd": "find", "url": c.URL}); ev.Event != "doc" {
			t.Fatalf("%s: %s", c.ID, ev)
		}
		clients[i].do(obj{"cmd": "change", "url": c.URL, "ops": []any{obj{"op": "set", "path": []any{"notes", "before"}, "value": "acked before"}}})
		clients[i].do(obj{"cmd": "wait-ack", "url": c.URL})
	}

	// The poisoned change, from the corpus, to a new document id.
	var crash struct {
		State    []byte `json:"state"`
		Message  []byte `json:"message"`
		Generate bool   `json:"generate"`
	}
	files, _ := filepath.Glob(filepath.Join(rootDir, "server", "testdata", "crashers", "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		crash.Generate = false
		if json.Unmarshal(b, &crash) == nil && len(crash.State) == 0 && !crash.Generate {
			break
		}
	}
	if len(crash.Message) == 0 || len(crash.State) != 0 || crash.Generate {
		t.Fatal("no corpus input that crashes a new document")
	}
	bad, _, err := dialRaw(t, r, mallory.Token, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	poisoned := wire.Message{Type: wire.TypeSync, SenderID: "mallory", TargetID: "relay", DocumentID: wire.NewDocumentID(), Data: crash.Message}
	bad.send(poisoned)
	if sandboxed {
		bad.expectError("quarantined")
	}
	if m := bad.recv(); m.Type != "closed" {
		// The relay may say more before closing; it must close.
		for m.Type != "closed" {
			m = bad.recv()
		}
	}
	if !sandboxed {
		// The relay process died of it: serving again is the supervisor's
		// work and the next relay process's.
		died := time.Now()
		hc := &http.Client{Timeout: time.Second}
		for {
			resp, err := hc.Get("http://" + r.addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Since(died) > 30*time.Second {
				t.Fatalf("the relay did not serve again within 30 s: %v", err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("the relay served again %v after the poisoned change killed it", time.Since(died).Round(time.Millisecond))
		if !strings.Contains(r.logs.String(), "the relay process died; starting it again") {
			t.Fatal("the supervisor did not say it restarted the relay")
		}
	}
	if !r.running() {
		t.Fatal("the relay died")
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(r.logs.String(), "quarantined a sync message"); {
		if time.Now().After(deadline) {
			t.Fatal("the incident was not logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(r.logs.String(), mallory.Token) {
		t.Fatal("the relay's log holds a token")
	}
	// The operator sees it in the metrics: one quarantine, and the worker
	// the change crashed restarted (the relay may crash a worker again
	// while it finds which change of the message is to blame).
	scraped := scrapeMetrics(t, r, operator)
	if !strings.Contains(scraped, "\nveche_quarantines_total 1\n") {
		t.Errorf("the metrics after one poisoned change:\n%s", grepLines(scraped, "veche_quarantines_total"))
	}
	if sandboxed && (strings.Contains(scraped, "\nveche_sandbox_restarts_total 0\n") || !strings.Contains(scraped, "\nveche_sandbox_restarts_total ")) {
		t.Errorf("the metrics after one poisoned change:\n%s", grepLines(scraped, "veche_sandbox_restarts_total"))
	}

	// Honest clients go on and converge; what was acked is still there.
	for i, c := range councils {
		clients[i].do(obj{"cmd": "change", "url": c.URL, "ops": []any{obj{"op": "set", "path": []any{"notes", "after"}, "value": "acked after"}}})
		clients[i].do(obj{"cmd": "wait-ack", "url": c.URL})
		fresh := newClient(t, "fresh", r.URL()+"?token="+c.Token)
		fresh.do(obj{"cmd": "find", "url": c.URL})
		fresh.do(obj{"cmd": "wait-for", "url": c.URL, "path": []any{"notes"}, "equals": obj{"before": "acked before", "after": "acked after"}})
	}

	// Re-sent by anyone else: an error for it, and nothing else changes.
	eve, _, err := dialRaw(t, r, councils[2].Token, "eve-raw")
	if err != nil {
		t.Fatal(err)
	}
	eve.send(poisoned)
	eve.expectError("quarantined change")
	clients[2].do(obj{"cmd": "change", "url": councils[2].URL, "ops": []any{obj{"op": "set", "path": []any{"notes", "later"}, "value": "still served"}}})
	clients[2].do(obj{"cmd": "wait-ack", "url": councils[2].URL})

	// The sender's tokens are refused, over REST and the websocket.
	south := "/api/councils/" + councils[1].ID
	if s := status(t, r, mallory.Token, "GET", south); s != http.StatusForbidden {
		t.Fatalf("suspended token: REST answered %d", s)
	}
	if _, resp, err := dialRaw(t, r, mallory.Token, "mallory-again"); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("suspended token: websocket upgrade %v", err)
	}
	if s := status(t, r, councils[1].Token, "GET", south); s != http.StatusOK {
		t.Fatalf("the south founder is refused too: %d", s)
	}

	// The operator lists and releases the incident with the CLI.
	veche := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, buildVeche(t), append(args, "--relay", "http://"+r.addr, "--data", r.dataDir)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("veche %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	list := veche("quarantine", "list")
	t.Logf("veche quarantine list:\n%s", list)
	var incident string
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, mallory.Member) && strings.Contains(line, "in force") {
			incident = strings.Fields(line)[0]
		}
	}
	if incident == "" {
		t.Fatalf("no incident in force for %s", mallory.Member)
	}
	veche("quarantine", "release", incident)
	if s := status(t, r, mallory.Token, "GET", south); s != http.StatusOK {
		t.Fatalf("released token: REST answered %d", s)
	}
	again, _, err := dialRaw(t, r, mallory.Token, "mallory-released")
	if err != nil {
		t.Fatalf("released token: %v", err)
	}
	again.send(poisoned)
	again.expectError("quarantined change")

	if mode != "auto" {
		return
	}
	// After the crash the relay runs with its sandbox: a second attacker,
	// in the east council, with another crashing change.
	if !strings.Contains(r.logs.String(), "sandbox on") {
		t.Fatal("after a crash, --sandbox auto did not turn the sandbox on")
	}
	var invite2 api.InviteAnswer
	var trudy api.AcceptInviteAnswer
	rest(t, r, councils[2].Token, "POST", "/api/councils/"+councils[2].ID+"/invites", nil, &invite2)
	rest(t, r, "", "POST", "/api/invites/accept", obj{"code": invite2.Code, "name": "Trudy"}, &trudy)
	second := crasherForANewDocument(t, 1)
	if bytes.Equal(second, crash.Message) {
		t.Fatal("the corpus has one state-less crasher only")
	}
	eveNow := newClient(t, "eve-now", r.URL()+"?token="+councils[2].Token)
	eveNow.do(obj{"cmd": "find", "url": councils[2].URL})
	bad2, _, err := dialRaw(t, r, trudy.Token, "trudy")
	if err != nil {
		t.Fatal(err)
	}
	bad2.send(wire.Message{Type: wire.TypeSync, SenderID: "trudy", TargetID: "relay", DocumentID: wire.NewDocumentID(), Data: second})
	bad2.expectError("quarantined")
	for m := bad2.recv(); m.Type != "closed"; m = bad2.recv() {
	}
	if n := strings.Count(r.logs.String(), "the relay process died; starting it again"); n != 1 {
		t.Fatalf("the relay restarted %d times; the sandbox should have contained the second crash", n)
	}
	// The east council's client, connected all along, is still served.
	eveNow.do(obj{"cmd": "change", "url": councils[2].URL, "ops": []any{obj{"op": "set", "path": []any{"notes", "second"}, "value": "served through the second attack"}}})
	eveNow.do(obj{"cmd": "wait-ack", "url": councils[2].URL})
	if s := status(t, r, trudy.Token, "GET", "/api/councils/"+councils[2].ID); s != http.StatusForbidden {
		t.Fatalf("the second attacker's token: REST answered %d", s)
	}
}

// crasherForANewDocument returns the k-th input of the corpus that
// crashes the core on a new document (no state, no answer needed).
func crasherForANewDocument(t *testing.T, k int) []byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(rootDir, "server", "testdata", "crashers", "*.json"))
	for _, f := range files {
		var x struct {
			State    []byte `json:"state"`
			Message  []byte `json:"message"`
			Generate bool   `json:"generate"`
		}
		b, _ := os.ReadFile(f)
		if json.Unmarshal(b, &x) == nil && len(x.State) == 0 && !x.Generate && len(x.Message) > 0 {
			if k == 0 {
				return x.Message
			}
			k--
		}
	}
	t.Fatal("the corpus lacks state-less crashers")
	return nil
}

// scrapeMetrics reads the relay's GET /metrics with the operator token
// (the relay runs with --public-metrics).
func scrapeMetrics(t *testing.T, r *relay, operator string) string {
	t.Helper()
	code, body := get(t, r, operator, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	return string(body)
}

// grepLines returns the lines of text that start with one of prefixes.
func grepLines(text string, prefixes ...string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestHolderCrashBlamesItsSender: without a sandbox, two classes of
// change apply, and are answered to their sender, without harm, and
// crash the core only later, after they were committed, when the crash
// could only be blamed on the document:
//   - holder: a change whose sequence number skips ahead of its actor's
//     crashes the core answering a peer that holds the new heads;
//   - mapkey: a change that puts a list element's key into a map crashes
//     it at the next search of that map — the grants read the council
//     right after every commit, and the council's REST reads and writes
//     search it too.
//
// The relay probes what a sandbox worker would (sandbox.Probe) right
// after applying a message with changes, so the crash comes while the
// message's own crash mark is set: its sender is suspended and the
// change quarantined, no document incident is recorded, and the document
// is served again after the restart.
func TestHolderCrashBlamesItsSender(t *testing.T) {
	for _, tc := range []struct {
		name, glob string
		heldBack   bool
	}{
		{"holder", "*-holder-*.json", false},
		{"newpeer", "*-newpeer-*.json", false},
		{"mapkey", "*-mapkey-root-*.json", false},
		{"mapkey-held-back", "*-mapkey-root-*.json", true},
	} {
		t.Run(tc.name, func(t *testing.T) { laterCrashBlamesItsSender(t, tc.glob, tc.heldBack, nil) })
	}
	// A byte after the changes, which the core skips but the relay's own
	// reader of sync messages (syncmsg.Decode) refused: the probe must
	// still run (it ran only for messages Go could read).
	for _, tc := range []struct{ name, glob string }{
		{"holder-trailing-byte", "*-holder-*.json"},
		{"mapkey-trailing-byte", "*-mapkey-root-*.json"},
	} {
		t.Run(tc.name, func(t *testing.T) { laterCrashBlamesItsSender(t, tc.glob, false, []byte{0x05}) })
	}
}

// laterCrashBlamesItsSender runs one case of TestHolderCrashBlamesItsSender.
// heldBack: the honest member first writes the document without its last
// change; the crashing change, which depends on that change, is then held
// back by the core, and the honest member's next message, bringing the
// last change (it keys ops by map keys only), releases it. The crash must
// still blame the change's sender, not the honest member.
func laterCrashBlamesItsSender(t *testing.T, glob string, heldBack bool, tail []byte) {
	r := startRelay(t, vecheRelay(t, "--sandbox", "never"), t.TempDir())
	council := foundCouncil(t, r, "North growers")
	mallory := admit(t, r, council, "Mallory")

	x := crasherFile(t, glob)
	x.Message = append(x.Message, tail...)
	id := wire.NewDocumentID()
	var honest *rawSync
	var heads []syncmsg.Hash
	var release []byte
	var full []syncmsg.Hash // the heads once the release is in
	if len(x.State) > 0 {
		// The document the crasher was found against, written first by
		// an honest member and committed (the relay's answer announces
		// its heads only after the commit).
		doc := automerge.New()
		if err := doc.LoadIncremental(x.State); err != nil {
			t.Fatal(err)
		}
		changes, err := doc.Changes()
		if err != nil {
			t.Fatal(err)
		}
		var chunks [][]byte
		for _, c := range changes {
			chunks = append(chunks, c.Save())
		}
		for _, h := range doc.Heads() {
			heads = append(heads, syncmsg.Hash(h))
		}
		full = append(full, heads...)
		if honest, _, err = dialRaw(t, r, council.Token, "founder"); err != nil {
			t.Fatal(err)
		}
		if heldBack {
			last := changes[len(changes)-1]
			chunks = chunks[:len(chunks)-1]
			heads = nil
			for _, h := range last.Dependencies() {
				heads = append(heads, syncmsg.Hash(h))
			}
			release = syncmsg.Message{Type: syncmsg.V1, Changes: [][]byte{last.Save()}}.Encode()
		}
		honest.send(wire.Message{Type: wire.TypeSync, SenderID: "founder", TargetID: "relay", DocumentID: id, Data: syncmsg.Message{Type: syncmsg.V1, Changes: chunks}.Encode()})
		awaitHeads(t, honest, heads)
	}
	bad, _, err := dialRaw(t, r, mallory.Token, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	bad.send(wire.Message{Type: wire.TypeSync, SenderID: "mallory", TargetID: "relay", DocumentID: id, Data: x.Message})
	if release != nil {
		// The crashing change waits for its dependency: the relay answers
		// (it still lacks that change) and lives on, until the honest
		// member's next message brings it.
		if m := bad.recv(); m.Type != wire.TypeSync {
			t.Fatalf("the held-back change was answered %s (%s)", m.Type, m.ErrorMessage)
		}
		honest.send(wire.Message{Type: wire.TypeSync, SenderID: "founder", TargetID: "relay", DocumentID: id, Data: release})
		// The relay drops the held-back change before the honest
		// message meets the core (dropHeldFor) and cuts its sender, whose
		// client reconnects and sends it again: now it crashes the core
		// under its own sender's message.
		for m := bad.recv(); m.Type != "closed"; m = bad.recv() {
		}
		heads = full
		awaitHeads(t, honest, heads) // the honest change is in, not refused
		if bad, _, err = dialRaw(t, r, mallory.Token, "mallory"); err != nil {
			t.Fatal(err)
		}
		bad.send(wire.Message{Type: wire.TypeSync, SenderID: "mallory", TargetID: "relay", DocumentID: id, Data: x.Message})
	}
	for m := bad.recv(); m.Type != "closed"; m = bad.recv() {
	}
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(r.logs.String(), "quarantined a sync message"); {
		if time.Now().After(deadline) {
			t.Fatal("no incident was logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(r.logs.String(), `op=receive`) {
		t.Fatalf("the core did not die while the message was being received")
	}
	if strings.Contains(r.logs.String(), "marked unavailable") {
		t.Fatal("a document was blamed for the sender's change")
	}
	if s := status(t, r, mallory.Token, "GET", "/api/councils/"+council.ID); s != http.StatusForbidden {
		t.Fatalf("the sender's token: REST answered %d", s)
	}
	if s := status(t, r, council.Token, "GET", "/api/councils/"+council.ID); s != http.StatusOK {
		t.Fatalf("the council after the restart: REST answered %d", s)
	}
	if heads != nil {
		// The honest member's document is served as it was committed.
		again, _, err := dialRaw(t, r, council.Token, "founder-again")
		if err != nil {
			t.Fatal(err)
		}
		again.send(wire.Message{Type: wire.TypeSync, SenderID: "founder-again", TargetID: "relay", DocumentID: id, Data: syncmsg.Message{Type: syncmsg.V1, Heads: heads, Have: []syncmsg.Have{{LastSync: heads}}}.Encode()})
		awaitHeads(t, again, heads)
	}
}

// awaitHeads reads the relay's messages to c until a sync message
// announces heads.
func awaitHeads(t *testing.T, c *rawSync, heads []syncmsg.Hash) {
	t.Helper()
	for {
		m := c.recv()
		switch m.Type {
		case "closed", wire.TypeError, wire.TypeDocUnavailable:
			t.Fatalf("%s: the relay answered %s (%s) before announcing the document's heads", c.peer, m.Type, m.ErrorMessage)
		case wire.TypeSync:
			if sm, err := syncmsg.Decode(m.Data); err == nil && sameHashes(sm.Heads, heads) {
				return
			}
		}
	}
}

func sameHashes(a, b []syncmsg.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	syncmsg.SortHashes(a)
	syncmsg.SortHashes(b)
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
