package interop

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veche-sync/veche/server/wire"
)

// BenchmarkIdleConnections prints the bytes of resident memory a relay
// grows by per idle joined connection, for veche and for the reference
// wiring of the upstream sync server (interop/testdata/bench/
// reference-server.mjs) in the same run (issue 11):
//
//	go test -run '^$' -bench IdleConnections -benchtime 1x -timeout 10m ./interop/
//
// Each raw client opens a websocket, completes the v1 handshake (join,
// then the relay's peer answer) and stays idle, answering the relay's
// pings as every stock client does (the reference pings every 5 s and
// drops a client that does not answer; veche runs with --keepalive 5s
// here to match). Per relay: a warm-up of 200 connections, a pause, VmRSS;
// then VECHE_IDLE_CONNS more (default 3,000), a pause long enough for
// every connection to be pinged twice, VmRSS again; the figure is the
// difference divided by the count. Connections the relay dropped before
// the measurement are printed (there should be none). Bounded: every dial
// and handshake has a 10 s deadline, and the whole run a few seconds per
// thousand connections.
func BenchmarkIdleConnections(b *testing.B) {
	n := 3000
	if v := os.Getenv("VECHE_IDLE_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("VECHE_IDLE_CONNS=%q: want a positive count", v)
		}
	}
	programs := []relayProgram{
		vecheRelay(b, "--anonymous", "--max-connections-per-address", "1000000", "--keepalive", "5s"),
		benchReferenceRelay(b),
	}
	type row struct {
		name        string
		base, after int64
		perConn     float64
		refused     int64
		dropped     int64
	}
	var rows []row
	for _, prog := range programs {
		r := startRelay(b, prog, b.TempDir())
		pid := r.enginePID()
		warm := openIdle(b, r.URL(), 200)
		time.Sleep(3 * time.Second)
		base := residentBytes(b, pid)
		conns := openIdle(b, r.URL(), n)
		time.Sleep(12 * time.Second)
		after := residentBytes(b, pid)
		rw := row{name: prog.name, base: base, after: after, refused: conns.refused + warm.refused,
			dropped: conns.ended.Load() + warm.ended.Load()}
		if ok := int64(len(conns.conns)); ok > 0 {
			rw.perConn = float64(after-base) / float64(ok)
		}
		fmt.Fprintf(os.Stderr, "%s: %d idle connections (%d refused, %d dropped): RSS %.1f → %.1f MiB, %.1f KiB each\n",
			prog.name, len(conns.conns), rw.refused, rw.dropped, mib(base), mib(after), rw.perConn/1024)
		rows = append(rows, rw)
		conns.close()
		warm.close()
		r.kill()
	}
	fmt.Printf("\nidle joined connections: %d per relay, after 200 warm-up\n\n", n)
	fmt.Printf("| relay | RSS before | RSS after | per idle connection | refused | dropped |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, rw := range rows {
		fmt.Printf("| %s | %.1f MiB | %.1f MiB | **%.1f KiB** | %d | %d |\n", rw.name, mib(rw.base), mib(rw.after), rw.perConn/1024, rw.refused, rw.dropped)
	}
	if len(rows) == 2 && rows[1].perConn > 0 {
		fmt.Printf("\nveche / reference: %.2f (target ≤ 0.67)\n\n", rows[0].perConn/rows[1].perConn)
	}
}

// benchReferenceRelay runs interop/testdata/bench/reference-server.mjs, the
// plain wiring of automerge-repo-sync-server the load benchmark uses.
func benchReferenceRelay(t testing.TB) relayProgram {
	t.Helper()
	setup(t)
	script := filepath.Join(rootDir, jsDir, "bench", "reference-server.mjs")
	return relayProgram{name: "reference", argv: func(addr, dataDir string) []string {
		host, port, _ := strings.Cut(addr, ":")
		return []string{nodeBin, script, "--host", host, "--port", port, "--data", dataDir}
	}}
}

// idleSet is a set of raw websocket clients that joined and stay idle.
type idleSet struct {
	mu      sync.Mutex
	conns   []*websocket.Conn
	refused int64
	ended   atomic.Int64 // connections that ended before close
	closing atomic.Bool
}

func (s *idleSet) close() {
	s.closing.Store(true)
	for _, c := range s.conns {
		c.Close()
	}
}

// openIdle opens n raw connections to url, 32 at a time, each completing
// the v1 handshake. Connections that fail are counted, not fatal.
func openIdle(t testing.TB, url string, n int) *idleSet {
	t.Helper()
	s := &idleSet{}
	var next atomic.Int64
	var wg sync.WaitGroup
	// Offering compression, as stock Node and browser clients do.
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512, EnableCompression: true}
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				c, err := joinIdle(dialer, url, i)
				s.mu.Lock()
				if err != nil {
					s.refused++
				} else {
					s.conns = append(s.conns, c)
					go s.answerPings(c)
				}
				s.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if s.refused > 0 {
		t.Logf("%d of %d connections failed", s.refused, n)
	}
	return s
}

// answerPings reads c until it ends: gorilla answers pings while reading,
// as a stock client's websocket does on its own. A connection that ends
// before the set is closed is counted.
func (s *idleSet) answerPings(c *websocket.Conn) {
	for {
		if _, _, err := c.NextReader(); err != nil {
			if !s.closing.Load() {
				s.ended.Add(1)
			}
			return
		}
	}
}

var idleSeq atomic.Int64

// joinIdle dials url and does the handshake as a stock client would.
func joinIdle(dialer websocket.Dialer, url string, i int64) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := dialer.DialContext(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	// Stock clients (ws) compress only frames from 1 KiB: a join goes as
	// it is.
	c.EnableWriteCompression(false)
	id := fmt.Sprintf("idle-%d-%d", idleSeq.Add(1), i)
	join, _ := wire.Encode(wire.Message{Type: wire.TypeJoin, SenderID: id,
		PeerMetadata:              &wire.PeerMetadata{StorageID: id, IsEphemeral: false},
		SupportedProtocolVersions: []string{"1"}})
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteMessage(websocket.BinaryMessage, join); err != nil {
		c.Close()
		return nil, err
	}
	_, frame, err := c.ReadMessage()
	if err != nil {
		c.Close()
		return nil, err
	}
	msg, err := wire.Decode(frame, 1<<20)
	if err != nil || msg.Type != wire.TypePeer {
		c.Close()
		return nil, fmt.Errorf("handshake answer %q: %v", msg.Type, err)
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}

// residentBytes is a process's VmRSS.
func residentBytes(t testing.TB, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
