package interop

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/api"
)

// TestBundleCrasherBlamesItsSender: under the default (--sandbox auto,
// the supervisor alone until a first crash) a member posts a bundle
// (POST /api/bundles) whose one change, written on top of the council
// with a stock Automerge and then given a sequence number that skips
// ahead of its actor's (the automerge.rs:916 class: it applies, and
// crashes the core at the clock of any heads that hold it), kills the
// relay's core. The relay is back at once; the member who posted it is
// suspended, the change is refused, the council is not marked
// unavailable, and its founder reads and writes it as before.
func TestBundleCrasherBlamesItsSender(t *testing.T) {
	r := startRelay(t, vecheRelay(t), t.TempDir())
	council := foundCouncil(t, r, "North growers")
	mallory := admit(t, r, council, "Mallory")

	code, whole := get(t, r, mallory.Token, "/api/councils/"+council.ID+"/bundle")
	if code != http.StatusOK {
		t.Fatalf("export: %d %s", code, whole)
	}
	_, payload, _ := bytes.Cut(whole, []byte("\n"))
	doc := automerge.New()
	if err := doc.LoadIncremental(payload); err != nil {
		t.Fatal(err)
	}
	before := doc.Heads()
	if err := doc.Path("hostile2").Set("a value"); err != nil {
		t.Fatal(err)
	}
	if _, err := doc.Commit("mallory"); err != nil {
		t.Fatal(err)
	}
	added, err := doc.Changes(before...)
	if err != nil || len(added) != 1 {
		t.Fatalf("the new change: %v (%d)", err, len(added))
	}
	bad, hash := skipSequence(t, added[0].Save())
	postBundle(t, r, mallory.Token, council.ID, before, bad, hash)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(r.logs.String(), "quarantined"); {
		if time.Now().After(deadline) {
			t.Fatalf("no incident was logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(r.logs.String(), "op=local") {
		t.Fatal("the core did not die on the bundle")
	}
	if strings.Contains(r.logs.String(), "marked unavailable") {
		t.Fatal("the council was blamed for the bundle")
	}
	if s := status(t, r, mallory.Token, "GET", "/api/councils/"+council.ID); s != http.StatusForbidden {
		t.Fatalf("the sender's token: REST answered %d", s)
	}
	if s := status(t, r, council.Token, "GET", "/api/councils/"+council.ID); s != http.StatusOK {
		t.Fatalf("the founder: REST answered %d", s)
	}
	var again api.InviteAnswer
	rest(t, r, council.Token, "POST", "/api/councils/"+council.ID+"/invites", nil, &again) // a write
	code, whole = get(t, r, council.Token, "/api/councils/"+council.ID+"/bundle")
	if code != http.StatusOK || bytes.Contains(whole, []byte(hash)) {
		t.Fatalf("the council after the crash: %d, holds the change: %v", code, bytes.Contains(whole, []byte(hash)))
	}
}

// skipSequence returns an Automerge change chunk with its sequence number
// one higher (skipping ahead of its actor's), its checksum made right,
// and its hash.
func skipSequence(t *testing.T, chunk []byte) ([]byte, string) {
	t.Helper()
	if chunk[8] != 1 {
		t.Fatalf("not an uncompressed change chunk (type %d)", chunk[8])
	}
	n, k := binary.Uvarint(chunk[9:])
	body := chunk[9+k : 9+k+int(n)]
	at := 0
	deps, m := binary.Uvarint(body)
	at += m + 32*int(deps)
	alen, m := binary.Uvarint(body[at:])
	at += m + int(alen)
	seq, m := binary.Uvarint(body[at:])
	out := append([]byte(nil), body[:at]...)
	out = binary.AppendUvarint(out, seq+1)
	out = append(out, body[at+m:]...)
	hashed := append([]byte{1}, binary.AppendUvarint(nil, uint64(len(out)))...)
	hashed = append(hashed, out...)
	sum := sha256.Sum256(hashed)
	res := append(append([]byte(nil), chunk[:4]...), sum[:4]...)
	return append(res, hashed...), hex.EncodeToString(sum[:])
}

// TestLargeBundleCrasherBlamesItsSender: the same with a bundle larger
// than a crash mark holds (the mark keeps as much of the input as the
// largest frame, --max-frame-bytes, 8 MiB): its one change carries 9 MiB
// of values. The next relay process cannot read the changes back from
// the mark, but it knows whose they were: the member is suspended, and
// the council, whose own state did not crash anything, is not marked
// unavailable.
func TestLargeBundleCrasherBlamesItsSender(t *testing.T) {
	r := startRelay(t, vecheRelay(t), t.TempDir())
	council := foundCouncil(t, r, "North growers")
	mallory := admit(t, r, council, "Mallory")

	code, whole := get(t, r, mallory.Token, "/api/councils/"+council.ID+"/bundle")
	if code != http.StatusOK {
		t.Fatalf("export: %d %s", code, whole)
	}
	_, payload, _ := bytes.Cut(whole, []byte("\n"))
	doc := automerge.New()
	if err := doc.LoadIncremental(payload); err != nil {
		t.Fatal(err)
	}
	before := doc.Heads()
	noise := make([]byte, 9<<20/2)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	if err := doc.Path("hostile2").Set(hex.EncodeToString(noise)); err != nil {
		t.Fatal(err)
	}
	if _, err := doc.Commit("mallory"); err != nil {
		t.Fatal(err)
	}
	added, err := doc.Changes(before...)
	if err != nil || len(added) != 1 {
		t.Fatalf("the new change: %v (%d)", err, len(added))
	}
	bad, hash := skipSequence(t, added[0].Save())
	if len(bad) <= 8<<20 {
		t.Fatalf("the change is %d bytes: not larger than a crash mark", len(bad))
	}
	postBundle(t, r, mallory.Token, council.ID, before, bad, hash)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(r.logs.String(), "larger than its crash mark"); {
		if time.Now().After(deadline) {
			t.Fatalf("no incident was logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(r.logs.String(), "marked unavailable") {
		t.Fatal("the council was blamed for the bundle")
	}
	if s := status(t, r, mallory.Token, "GET", "/api/councils/"+council.ID); s != http.StatusForbidden {
		t.Fatalf("the sender's token: REST answered %d", s)
	}
	if s := status(t, r, council.Token, "GET", "/api/councils/"+council.ID); s != http.StatusOK {
		t.Fatalf("the founder: REST answered %d", s)
	}
}

// postBundle posts a bundle of one change chunk on top of before, whose
// hash is hash; the relay may die of it.
func postBundle(t *testing.T, r *relay, token, council string, before []automerge.ChangeHash, chunk []byte, hash string) {
	t.Helper()
	var hexBefore []string
	for _, h := range before {
		hexBefore = append(hexBefore, h.String())
	}
	sum := sha256.Sum256(chunk)
	head, _ := json.Marshal(obj{"format": "veche-bundle/1", "council": council, "before": hexBefore, "after": []string{hash},
		"count": 1, "size": len(chunk), "sha256": hex.EncodeToString(sum[:]), "created": time.Now().UTC().Format(time.RFC3339)})
	req, _ := http.NewRequest("POST", "http://"+r.addr+"/api/bundles", bytes.NewReader(append(append(head, '\n'), chunk...)))
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the crashing bundle was taken in")
		}
	}
}
