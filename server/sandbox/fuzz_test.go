package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/server/wire"
)

// The mutation fuzzer: real changes (made by automerge-go here, and the
// ones stock automerge-repo clients sent in the captured frames of
// server/wire/testdata) with a few bytes changed and the checksum made
// valid again, each in a sync message, run through a Pool so that a crash
// of the core is a finding, not a dead fuzzer. The normal test run makes a
// few hundred tries; a long run:
//
//	go test ./server/sandbox -run TestMutationFuzz -fuzz.tries 20000 -fuzz.out ../testdata/crashers
//
// prints every distinct crash site and writes one input per site.
var (
	fuzzTries = flag.Int("fuzz.tries", 300, "mutations TestMutationFuzz tries")
	fuzzSeed  = flag.Uint64("fuzz.seed", 0, "seed of TestMutationFuzz (0: from the clock)")
	fuzzOut   = flag.String("fuzz.out", "", "directory TestMutationFuzz writes one crashing input per new site to")
)

func TestMain(m *testing.M) {
	RunIfWorker()
	os.Exit(m.Run())
}

// Crasher is one input of the corpus: a document state the relay holds and
// a sync message that kills the core when applied to it.
type Crasher struct {
	// Site is where the core crashed when the input was found.
	Site string `json:"site"`
	// State is the document before the message (automerge.SaveChanges of
	// its changes), empty for a new document.
	State []byte `json:"state"`
	// Message is the sync message.
	Message []byte `json:"message"`
	// Generate is true for an input that crashes the core only when it
	// generates the answer (the relay refuses those in Go first).
	Generate bool `json:"generate,omitempty"`
}

func TestMutationFuzz(t *testing.T) {
	seeds := seedHistories(t)
	seed := *fuzzSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d, %d seed histories", seed, len(seeds))
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	pool, err := Start(Options{Workers: 1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	sites := map[string]int{}
	known := knownSites(t)
	crashes, rejected := 0, 0
	start := time.Now()
	for i := 0; i < *fuzzTries; i++ {
		h := seeds[rng.IntN(len(seeds))]
		at := rng.IntN(len(h))
		state := []byte(nil)
		if at > 0 {
			state = concat(h[:at])
		}
		var msg []byte
		if rng.IntN(5) == 0 && len(seedMessages) > 0 {
			// The envelope too: heads, needs, haves and bloom filters.
			state = nil
			msg = mutateMessage(rng, seedMessages[rng.IntN(len(seedMessages))])
		} else if rng.IntN(3) == 0 {
			// The history and the bad change in one message, to a new
			// document: what a first sync of a new document id carries.
			state = nil
			msg = syncMessage(append(append([][]byte(nil), h[:at]...), mutate(rng, h[at]))...)
		} else if rng.IntN(3) == 0 {
			// Bytes inserted or removed, the chunk's length and checksum
			// made right again.
			msg = syncMessage(reshape(rng, h[at]))
		} else {
			msg = syncMessage(mutate(rng, h[at]))
		}
		doc := fmt.Sprintf("fuzz-%d", i)
		err := probe(pool, doc, state, msg)
		pool.Forget(doc)
		switch e := err.(type) {
		case nil:
		case *Rejected:
			rejected++
		case *Crash:
			crashes++
			if e.Op != "check" {
				t.Fatalf("crash while loading an honest state: %v\n%s", e, e.Detail)
			}
			sites[e.Site]++
			// One input per site, and one more per site that crashes a
			// new document (the cheapest attack: no state needed).
			key := e.Site
			if len(state) == 0 {
				key += " (new document)"
			}
			if *fuzzOut != "" && !known[key] {
				known[key] = true
				gen, restarted := generateOnly(pool, doc, state, msg)
				if restarted {
					crashes++
				}
				writeCrasher(t, *fuzzOut, Crasher{Site: e.Site, State: state, Message: msg, Generate: gen})
			}
		default:
			t.Fatalf("try %d: %v", i, err)
		}
	}
	// Whatever happened, the pool still serves an honest message.
	h := seeds[0]
	if err := probe(pool, "after", nil, syncMessage(h[0])); err != nil {
		t.Fatalf("pool after fuzzing: %v", err)
	}
	names := make([]string, 0, len(sites))
	for s := range sites {
		names = append(names, s)
	}
	sort.Strings(names)
	t.Logf("%d tries in %s: %d crashes at %d distinct sites, %d rejected, %d restarts",
		*fuzzTries, time.Since(start).Round(time.Millisecond), crashes, len(sites), rejected, pool.Restarts())
	for _, s := range names {
		t.Logf("  %5d × %s", sites[s], s)
	}
	if int64(crashes) != pool.Restarts() {
		t.Fatalf("%d crashes but %d restarts", crashes, pool.Restarts())
	}
}

// probe runs msg as a peer's message to a document holding state, then
// the answer to it, as the relay does.
func probe(pool *Pool, doc string, state, msg []byte) error {
	return pool.Check(doc, "fuzz", msg, func() [][]byte { return [][]byte{nil, state} })
}

// generateOnly reports whether msg crashes the core only when the answer
// is generated: applying it alone survives. (A crash here is one more
// restart.)
func generateOnly(pool *Pool, doc string, state, msg []byte) (bool, bool) {
	err := pool.Receive(doc+"-apply", "", msg, func() [][]byte { return [][]byte{nil, state} })
	pool.Forget(doc + "-apply")
	_, crashed := err.(*Crash)
	return !crashed, crashed
}

// mutate changes 1 to 4 bytes of a change's body and makes its checksum
// valid again, so the core decodes it instead of refusing it at once.
func mutate(rng *rand.Rand, change []byte) []byte {
	c := append([]byte(nil), change...)
	body := bodyStart(c)
	if body >= len(c) {
		return c
	}
	for n := 1 + rng.IntN(4); n > 0; n-- {
		i := body + rng.IntN(len(c)-body)
		switch rng.IntN(3) {
		case 0:
			c[i] ^= 1 << rng.IntN(8)
		case 1:
			c[i] = byte(rng.IntN(256))
		default:
			c[i] = []byte{0, 1, 0x7f, 0x80, 0xff}[rng.IntN(5)]
		}
	}
	fixChecksum(c)
	return c
}

// mutateMessage changes 1 to 4 bytes anywhere in a sync message: a bit,
// or a whole byte to a value that makes a count or length small, zero or
// large.
func mutateMessage(rng *rand.Rand, msg []byte) []byte {
	m := append([]byte(nil), msg...)
	for n := 1 + rng.IntN(4); n > 0; n-- {
		i := 1 + rng.IntN(len(m)-1)
		if rng.IntN(2) == 0 {
			m[i] ^= 1 << rng.IntN(8)
		} else {
			m[i] = []byte{0, 1, 2, 7, 10, 0x7f, 0xff}[rng.IntN(7)]
		}
	}
	return m
}

// reshape inserts or removes up to 8 bytes in a change's body, then sets
// the chunk's length and checksum to fit: a body of another shape that
// still parses as a chunk.
func reshape(rng *rand.Rand, change []byte) []byte {
	start := bodyStart(change)
	if start >= len(change) || len(change) < 9 {
		return change
	}
	body := append([]byte(nil), change[start:]...)
	for n := 1 + rng.IntN(3); n > 0 && len(body) > 0; n-- {
		i := rng.IntN(len(body))
		k := 1 + rng.IntN(8)
		if rng.IntN(2) == 0 {
			ins := make([]byte, k)
			for j := range ins {
				ins[j] = byte(rng.IntN(256))
			}
			body = append(body[:i], append(ins, body[i:]...)...)
		} else {
			body = append(body[:i], body[min(i+k, len(body)):]...)
		}
	}
	c := append([]byte(nil), change[:9]...)
	c = binary.AppendUvarint(c, uint64(len(body)))
	c = append(c, body...)
	fixChecksum(c)
	return c
}

// seedMessages are the sync messages stock clients sent, whole.
var seedMessages [][]byte

// bodyStart is the offset of a change chunk's body: magic (4), checksum
// (4), type (1), then the body's length as a uvarint.
func bodyStart(c []byte) int {
	if len(c) < 10 {
		return len(c)
	}
	_, n := binary.Uvarint(c[9:])
	if n <= 0 {
		return len(c)
	}
	return 9 + n
}

// fixChecksum sets a chunk's checksum: the first 4 bytes of the SHA-256 of
// everything after it.
func fixChecksum(c []byte) {
	if len(c) < 9 {
		return
	}
	sum := sha256.Sum256(c[8:])
	copy(c[4:8], sum[:4])
}

// syncMessage wraps changes in a sync message with no heads, needs or
// haves: what a peer sends to push changes.
func syncMessage(changes ...[]byte) []byte {
	m := []byte{0x42, 0, 0, 0}
	m = binary.AppendUvarint(m, uint64(len(changes)))
	for _, c := range changes {
		m = binary.AppendUvarint(m, uint64(len(c)))
		m = append(m, c...)
	}
	return m
}

func concat(changes [][]byte) []byte {
	var out []byte
	for _, c := range changes {
		out = append(out, c...)
	}
	return out
}

// seedHistories returns histories of real changes, each in causal order:
// documents made here with every kind of object, and the changes stock
// clients sent in the captured frames.
func seedHistories(t *testing.T) [][][]byte {
	var out [][][]byte
	doc := automerge.New()
	list, text, count := automerge.NewList(), automerge.NewText("hello"), automerge.NewCounter(3)
	steps := []func() error{
		func() error { return doc.Path("name").Set("Riverside farmers") },
		func() error { return doc.Path("members", "m1", "name").Set("Ana") },
		func() error { return doc.Path("list").Set(list) },
		func() error { return list.Append("a", 1, 2.5, true) },
		func() error { return list.Insert(1, "b") },
		func() error { return list.Delete(0) },
		func() error { return doc.Path("text").Set(text) },
		func() error { return text.Insert(5, " world") },
		func() error { return text.Delete(0, 1) },
		func() error { return doc.Path("count").Set(count) },
		func() error { return count.Inc(4) },
		func() error { return doc.Path("members", "m1").Delete() },
	}
	var history [][]byte
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if _, err := doc.Commit(fmt.Sprintf("step %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	changes, err := doc.Changes()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		history = append(history, c.Save())
	}
	out = append(out, history)

	out = append(out, moreHistories(t)...)

	// Changes from stock clients, in the captured sync messages.
	files, _ := filepath.Glob("../wire/testdata/frames/*-c2s-sync.cbor")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := wire.Decode(raw, 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		seedMessages = append(seedMessages, msg.Data)
		cs, err := changesOf(msg.Data)
		if err == nil && len(cs) > 0 {
			out = append(out, cs)
		}
	}
	if len(out) < 2 {
		t.Fatalf("only %d seed histories: captured frames missing?", len(out))
	}
	return out
}

// changesOf returns the changes a sync message carries.
func changesOf(msg []byte) ([][]byte, error) {
	bad := fmt.Errorf("not a sync message")
	if len(msg) == 0 || (msg[0] != 0x42 && msg[0] != 0x43) {
		return nil, bad
	}
	b := msg[1:]
	next := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	skip := func(n uint64) {
		if n > uint64(len(b)) {
			b = nil
			return
		}
		b = b[n:]
	}
	skip(32 * next()) // heads
	skip(32 * next()) // need
	for haves := next(); haves > 0 && b != nil; haves-- {
		skip(32 * next())
		skip(next())
	}
	var out [][]byte
	for n := next(); n > 0 && b != nil; n-- {
		l := next()
		if l > uint64(len(b)) {
			return nil, bad
		}
		out = append(out, b[:l])
		b = b[l:]
	}
	if b == nil {
		return nil, bad
	}
	return out, nil // a v2 message (0x43) may go on with capabilities
}

var siteName = regexp.MustCompile(`[^A-Za-z0-9]+`)

func crashersDir() string { return filepath.Join("..", "testdata", "crashers") }

// knownSites are the sites the committed corpus has already.
func knownSites(t *testing.T) map[string]bool {
	known := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(crashersDir(), "*.json"))
	for _, f := range files {
		var c Crasher
		raw, err := os.ReadFile(f)
		if err != nil || json.Unmarshal(raw, &c) != nil {
			t.Fatalf("corpus file %s unreadable", f)
		}
		known[c.Site] = true
		if len(c.State) == 0 {
			known[c.Site+" (new document)"] = true
		}
	}
	return known
}

func writeCrasher(t *testing.T, dir string, c Crasher) {
	name := strings.Trim(siteName.ReplaceAllString(c.Site, "-"), "-")
	sum := sha256.Sum256(c.Message)
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.json", name, base64.RawURLEncoding.EncodeToString(sum[:4])))
	raw, _ := json.MarshalIndent(c, "", " ")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// TestCorpusCrashesTheCore: every committed input really crashes the core
// (so the relay's tests that replay them prove containment, not a no-op),
// and the pool serves on after each.
func TestCorpusCrashesTheCore(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(crashersDir(), "*.json"))
	if len(files) == 0 {
		t.Fatal("no corpus")
	}
	pool, err := Start(Options{Workers: 1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	extra := 0
	for i, f := range files {
		var c Crasher
		raw, _ := os.ReadFile(f)
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		doc := fmt.Sprint("corpus-", i)
		err := probe(pool, doc, c.State, c.Message)
		crash, ok := err.(*Crash)
		if !ok || crash.Site != c.Site || crash.External {
			t.Errorf("%s: %v, want a crash at %s, the input's fault", filepath.Base(f), err, c.Site)
		}
		if ok {
			gen, restarted := generateOnly(pool, doc, c.State, c.Message)
			if gen != c.Generate {
				t.Errorf("%s: crashes only when answering: %v; the corpus says %v", filepath.Base(f), gen, c.Generate)
			}
			if restarted {
				extra++
			}
		}
	}
	if int(pool.Restarts()) != len(files)+extra {
		t.Fatalf("%d restarts for %d inputs", pool.Restarts(), len(files))
	}
}

// moreHistories are documents of other shapes: long text edited in
// place, a list reordered, two actors editing at once and merging (changes
// with several dependencies), and counters; and the sync messages two
// diverged peers exchange (haves, needs, bloom filters) join seedMessages.
func moreHistories(t *testing.T) [][][]byte {
	t.Helper()
	save := func(doc *automerge.Doc) [][]byte {
		cs, err := doc.Changes()
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, c := range cs {
			out = append(out, c.Save())
		}
		return out
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	commit := func(doc *automerge.Doc) {
		t.Helper()
		_, err := doc.Commit("edit")
		must(err)
	}
	var out [][][]byte

	text := automerge.New()
	body := automerge.NewText("")
	must(text.Path("body").Set(body))
	commit(text)
	for i := range 12 {
		must(body.Insert(i*3%max(1, body.Len()+1), fmt.Sprintf("w%d ", i)))
		if i%4 == 3 {
			must(body.Delete(1, 2))
		}
		commit(text)
	}
	out = append(out, save(text))

	list := automerge.New()
	items := automerge.NewList()
	must(list.Path("items").Set(items))
	commit(list)
	for i := range 10 {
		must(items.Insert(i/2, int64(i), fmt.Sprint("s", i)))
		if i%3 == 2 {
			must(items.Delete(0))
		}
		nested := automerge.NewMap()
		must(items.Append(nested))
		must(nested.Set("n", int64(i)))
		commit(list)
	}
	out = append(out, save(list))

	a := automerge.New()
	counter := automerge.NewCounter(0)
	must(a.Path("count").Set(counter))
	must(a.Path("title").Set("shared"))
	commit(a)
	b, err := a.Fork()
	must(err)
	for i := range 6 {
		must(a.Path("title").Set(fmt.Sprint("a", i)))
		must(a.Path("count").Counter().Inc(1))
		commit(a)
		must(b.Path("title").Set(fmt.Sprint("b", i)))
		must(b.Path("count").Counter().Inc(2))
		commit(b)
		if i%2 == 1 {
			_, err := a.Merge(b)
			must(err)
		}
	}
	_, err = a.Merge(b)
	must(err)
	out = append(out, save(a))

	// Two peers that diverged sync: every message they exchange.
	p, q := automerge.New(), automerge.New()
	for i := range 30 {
		must(p.Path(fmt.Sprint("p", i%7)).Set(int64(i)))
		commit(p)
		must(q.Path(fmt.Sprint("q", i%5)).Set(int64(i)))
		commit(q)
	}
	sp, sq := automerge.NewSyncState(p), automerge.NewSyncState(q)
	for range 8 {
		for _, pair := range [][2]*automerge.SyncState{{sp, sq}, {sq, sp}} {
			if m, ok := pair[0].GenerateMessage(); ok {
				seedMessages = append(seedMessages, m.Bytes())
				_, err := pair[1].ReceiveMessage(m.Bytes())
				must(err)
			}
		}
	}
	return out
}
