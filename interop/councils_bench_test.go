package interop

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/server/store"
	"github.com/veche-sync/veche/server/wire"
)

// BenchmarkManyStoredCouncils measures a relay holding many councils it
// rarely serves (issue 11): VECHE_STORED_COUNCILS documents (default
// 10,000) of VECHE_COUNCIL_CHANGES changes each (default 1,000), written
// into a bbolt store (each document saved and compressed, as one chunk),
// then the veche binary started on it. It prints the start-up time (to
// GET /healthz), RSS after start, after VECHE_TOUCH_COUNCILS of them
// (default 1,000) were touched once (a client fetched each) and after they
// were left idle past the relay's idle unload, and the bbolt file's size
// against the sum of the compressed documents. A loaded council of 1,000
// changes costs the relay about a MiB (its Automerge document, and the
// sandbox's mirror in a worker): touching all 10,000 at once would need
// some 10 GiB, hence the bound:
//
//	go test -run '^$' -bench ManyStoredCouncils -benchtime 1x -timeout 30m ./interop/
//
// Documents are made from 16 distinct histories (every document its own
// id), so writing them costs little; each history is 1,000 changes of a
// council's kind of work: a member's key set, a proposal's text edited.
func BenchmarkManyStoredCouncils(b *testing.B) {
	n := envInt(b, "VECHE_STORED_COUNCILS", 10000)
	touch := min(n, envInt(b, "VECHE_TOUCH_COUNCILS", 1000))
	changes := envInt(b, "VECHE_COUNCIL_CHANGES", 1000)
	dir := b.TempDir()

	start := time.Now()
	templates := make([][]byte, 16)
	heads := make([][]string, len(templates))
	for i := range templates {
		templates[i], heads[i] = councilHistory(b, i, changes)
	}
	st, err := store.Open(dir, &store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]wire.DocumentID, n)
	var compressed int64
	for i := range ids {
		ids[i] = wire.NewDocumentID()
		t := i % len(templates)
		if _, err := st.Append(context.Background(), string(ids[i]), templates[t], heads[t]); err != nil {
			b.Fatal(err)
		}
		compressed += int64(len(templates[t]))
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, store.FileName))
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "councils: %d written in %.1f s\n", n, time.Since(start).Seconds())

	start = time.Now()
	metricsAddr := freeAddr(b)
	r := startRelay(b, vecheRelay(b, "--anonymous", "--max-connections-per-address", "1000000", "--metrics-addr", metricsAddr), dir)
	startup := time.Since(start)
	pid := r.enginePID()
	time.Sleep(2 * time.Second)
	base := residentBytes(b, pid)
	fmt.Fprintf(os.Stderr, "councils: relay healthy %.2f s after start, RSS %.0f MiB\n", startup.Seconds(), mib(base))

	// Touch every document once: a fresh client asks for it and waits for
	// the document, 16 clients at a time, 500 documents per connection.
	start = time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := next.Add(500) - 500
				if lo >= int64(touch) {
					return
				}
				if err := fetchAll(r.URL(), ids[lo:min(lo+500, int64(touch))]); err != nil {
					failed.Add(1)
					b.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	touched := time.Since(start)
	afterTouch := residentBytes(b, pid)
	time.Sleep(60 * time.Second) // past the idle unload (30 s) and the release after it (15 s)
	idle := residentBytes(b, pid)
	fmt.Fprintf(os.Stderr, "councils: %s\n", loadedMetric(b, metricsAddr))

	fmt.Printf("\n%d stored councils of %d changes, %d of them touched\n\n", n, changes, touch)
	fmt.Printf("| start-up | RSS after start | touch %d once | RSS after touching | RSS idle 60 s later | bbolt file | compressed documents |\n", touch)
	fmt.Printf("| --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Printf("| %.2f s | %.0f MiB | %.1f s | %.0f MiB | %.0f MiB | %.0f MiB | %.0f MiB (%.2f×) |\n\n",
		startup.Seconds(), mib(base), touched.Seconds(), mib(afterTouch), mib(idle), mib(fi.Size()), mib(compressed),
		float64(fi.Size())/float64(compressed))
}

// councilHistory makes a document of n changes: members' entries and a
// proposal's text typed a few characters at a time.
func councilHistory(t testing.TB, seed, n int) ([]byte, []string) {
	t.Helper()
	doc := automerge.New()
	text := automerge.NewText("")
	if err := doc.RootMap().Set("body", text); err != nil {
		t.Fatal(err)
	}
	body, err := automerge.As[*automerge.Text](doc.RootMap().Get("body"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if i%4 == 0 {
			err = doc.Path("members", fmt.Sprintf("m%d-%d", seed, i%40)).Set(fmt.Sprintf("member %d, seen at change %d", i%40, i))
		} else {
			err = body.Insert(body.Len(), fmt.Sprintf("word%d ", i))
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := doc.Commit(fmt.Sprintf("change %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var heads []string
	for _, h := range doc.Heads() {
		heads = append(heads, h.String())
	}
	return doc.Save(), heads
}

// fetchAll asks the relay for each document over one connection and waits
// until each has arrived.
func fetchAll(url string, ids []wire.DocumentID) error {
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return err
	}
	defer ws.Close()
	join, _ := wire.Encode(wire.Message{Type: wire.TypeJoin, SenderID: "toucher-" + string(ids[0]),
		PeerMetadata: &wire.PeerMetadata{IsEphemeral: true}, SupportedProtocolVersions: []string{"1"}})
	if err := ws.WriteMessage(websocket.BinaryMessage, join); err != nil {
		return err
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Minute))
	if _, _, err := ws.ReadMessage(); err != nil {
		return err
	}
	empty := automerge.New()
	for _, id := range ids {
		m, _ := automerge.NewSyncState(empty).GenerateMessage()
		f, _ := wire.Encode(wire.Message{Type: wire.TypeRequest, SenderID: "toucher", TargetID: "relay", DocumentID: id, Data: m.Bytes()})
		if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
			return err
		}
	}
	got := make(map[wire.DocumentID]bool)
	for len(got) < len(ids) {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("after %d of %d documents: %w", len(got), len(ids), err)
		}
		m, err := wire.Decode(frame, 0)
		if err != nil {
			return err
		}
		switch m.Type {
		case wire.TypeSync:
			got[m.DocumentID] = true
		case wire.TypeDocUnavailable, wire.TypeError:
			return fmt.Errorf("document %s: %s %s", m.DocumentID, m.Type, m.ErrorMessage)
		}
	}
	return nil
}

// loadedMetric is the relay's veche_documents_loaded line.
func loadedMetric(t testing.TB, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "veche_documents_loaded ") {
			return line
		}
	}
	return "no veche_documents_loaded"
}
