package interop

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCrashSafety checks "durable before advertised" (DESIGN.md §1.3) from
// the outside. Two stock clients write continuously to one document and
// record the heads of every sync message the relay sends them; the relay is
// SIGKILLed at a random moment and restarted on the same data directory;
// a fresh client then fetches the document, and every change the relay had
// advertised (each advertised head, hence its whole history) must be in it.
//
// The veche relay runs with a slow disk (VECHE_TEST_COMMIT_DELAY), so the
// kills often land while a commit is under way: the moment a relay that
// sent before committing would lose an advertised change.
//
// The writers are stopped before the relay comes back, so nothing but the
// relay's own store can supply the document after the crash. Before each
// restart of the veche relay, veche check must find its data sound.
func TestCrashSafety(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("VECHE_INTEROP_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("VECHE_INTEROP_SEED=%q: %v", s, err)
		}
	}
	iterations := 15
	if s := os.Getenv("VECHE_INTEROP_CRASH_ITERATIONS"); s != "" {
		var err error
		if iterations, err = strconv.Atoi(s); err != nil || iterations < 1 {
			t.Fatalf("VECHE_INTEROP_CRASH_ITERATIONS=%q: want a positive number", s)
		}
	}
	t.Logf("seed %d (VECHE_INTEROP_SEED=%d reproduces the kill moments)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x7665636865))

	// Every commit of the veche relay takes 200 ms longer, as on a slow
	// disk: a kill then lands inside a commit about a third of the time,
	// so a relay that advertised before it committed (the bug this test is
	// for) would be caught within a few iterations, not by luck.
	t.Setenv("VECHE_TEST_COMMIT_DELAY", "200ms")
	const budget = 45 * time.Second
	r := startRelay(t, target(t), t.TempDir())
	start := time.Now()
	var totalAdvertised, totalRecovered, totalWritten int
	done := 0
	var writers []*client
	for i := 0; i < iterations; i++ {
		if time.Since(start) > budget {
			t.Logf("time budget of %v used up after %d iterations", budget, done)
			break
		}
		more := i+1 < iterations && time.Since(start) < budget
		res, next := crashOnce(t, r, rng, fmt.Sprintf("crash %d/%d", i+1, iterations), writers, more, false)
		if t.Failed() {
			return
		}
		writers = next
		done++
		totalAdvertised += res.advertisedHeads
		totalRecovered += res.recovered
		totalWritten += res.written
	}
	if done < 3 {
		t.Fatalf("only %d crash iterations fit in %v; want at least 3", done, budget)
	}
	t.Logf("%d crashes in %v: %d writes, %d advertised heads checked, %d changes recovered",
		done, time.Since(start).Round(time.Millisecond), totalWritten, totalAdvertised, totalRecovered)
}

// TestCrashDetector makes sure TestCrashSafety can fail: the stock
// reference server saves on a debounce timer after it has advertised new
// heads, so crashing it loses advertised changes, and the same check must
// notice within a few crashes.
func TestCrashDetector(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	r := startRelay(t, referenceRelay(t, "--save-debounce-ms", "1000"), t.TempDir())
	var writers []*client
	for i := 1; i <= 5; i++ {
		res, next := crashOnce(t, r, rng, fmt.Sprintf("lazy reference crash %d", i), writers, i < 5, true)
		if t.Failed() {
			return
		}
		writers = next
		if res.lost != "" {
			t.Logf("detected after %d crashes, as it should: %s", i, res.lost)
			return
		}
	}
	t.Fatal("5 crashes of a relay that advertises before it saves lost nothing the check could see: the crash test is blind")
}

type crashResult struct {
	written, advertisedHeads, recovered int
	lost                                string // why the check failed, if it did
}

// startWriters starts the two writer processes of a crash round; they
// dial r (and redial until it is up).
func startWriters(t *testing.T, r *relay) []*client {
	return []*client{newClient(t, "W1", r.URL()), newClient(t, "W2", r.URL())}
}

// crashOnce runs one write-kill-restart-check round against r, which is
// running on entry and on return, with writers from the previous round (or
// new ones if nil). If more, it starts the next round's writers while this
// round's relay restarts, and returns them. A loss fails t unless
// expectLoss (the detector's self-test wants one).
func crashOnce(t *testing.T, r *relay, rng *rand.Rand, label string, writers []*client, more, expectLoss bool) (crashResult, []*client) {
	t.Helper()
	t0 := time.Now()
	var phases []string
	phase := func(name string) {
		phases = append(phases, fmt.Sprintf("%s %v", name, time.Since(t0).Round(10*time.Millisecond)))
		t0 = time.Now()
	}
	if writers == nil {
		writers = startWriters(t, r)
	}
	w1, w2 := writers[0], writers[1]
	url := createShared(t, w1, map[string]any{"round": label})
	if e := w2.do(obj{"cmd": "find", "url": url}); e.Event != "doc" {
		t.Fatalf("%s: W2: find: %s", label, e)
	}
	for _, w := range writers {
		w.do(obj{"cmd": "write-loop", "url": url, "key": w.name, "intervalMs": 2 + rng.IntN(10)})
	}
	phase("setup")
	// Kill somewhere in the first second of writing: early, mid-stream, and
	// (with the relay's own timers) around commits and compactions.
	time.Sleep(time.Duration(20+rng.IntN(980)) * time.Millisecond)
	r.kill()
	phase("write")

	// Start the checker now so its start-up overlaps the restart; it has
	// never seen the document, and dials until the relay is back.
	checker := newClient(t, "C", r.URL())

	// Stop the writers and collect every head the relay advertised before it
	// died. They must be gone before the relay is back, or they would
	// resend what it lost.
	written := 0
	for _, w := range writers {
		written += w.do(obj{"cmd": "stop-writes"}).Written[w.name]
		w.send(obj{"cmd": "exit"})
	}
	advertised := map[string]bool{}
	for _, w := range writers {
		w.waitExit()
		for _, e := range w.unsolicited("relay-heads") {
			if e.URL != url {
				continue
			}
			for _, h := range e.Heads {
				advertised[h] = true
			}
		}
	}
	phase("stop")
	if r.prog.name == "veche" {
		// After the power cut, before the restart: the data must be sound.
		checkDataDir(t, label, r.dataDir)
		phase("veche check")
	}
	var next []*client
	if more {
		next = startWriters(t, r)
	}
	r.start()
	phase("restart")

	heads := make([]string, 0, len(advertised))
	for h := range advertised {
		heads = append(heads, h)
	}
	checker.do(obj{"cmd": "wait-connected", "timeoutMs": 10000})
	res := crashResult{written: written, advertisedHeads: len(advertised)}
	got := checker.do(obj{"cmd": "find", "url": url, "timeoutMs": 10000})
	if got.Event != "doc" {
		res.lost = fmt.Sprintf("%s: after the crash the document is %s, but the relay had advertised %d heads of it", label, got.Event, len(advertised))
	} else {
		// find may resolve before the relay has sent all it has: wait for
		// the advertised heads (the full timeout only when one is missing).
		checker.try(obj{"cmd": "wait-for", "url": url, "heads": heads, "timeoutMs": 8000})
		got = checker.do(obj{"cmd": "get", "url": url, "hashes": true})
		have := map[string]bool{}
		for _, h := range got.Hashes {
			have[h] = true
		}
		res.recovered = len(got.Hashes)
		var missing []string
		for _, h := range heads {
			if !have[h] {
				missing = append(missing, h)
			}
		}
		if len(missing) > 0 {
			res.lost = fmt.Sprintf("%s: %d of %d advertised heads are missing after the crash (recovered %d changes of %d written), e.g. %s",
				label, len(missing), len(advertised), len(got.Hashes), written+1, missing[0])
		} else {
			checkWriterLists(t, label, got.Value)
		}
	}
	checker.exit()
	phase("check")
	if res.lost != "" && !expectLoss {
		t.Errorf("relay advertised changes it had not persisted: %s", res.lost)
	}
	status := ""
	if res.lost != "" {
		status = " — LOST: " + res.lost
	}
	t.Logf("%s: %d writes, %d heads advertised, %d changes recovered (%s)%s",
		label, written, len(advertised), res.recovered, strings.Join(phases, ", "), status)
	return res, next
}

// checkWriterLists checks that each writer's surviving appends are a gapless
// prefix of what it wrote: a change can only survive with its history.
func checkWriterLists(t *testing.T, label string, value json.RawMessage) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(value, &doc); err != nil {
		t.Fatalf("%s: recovered document is not an object: %s", label, value)
	}
	for _, name := range []string{"W1", "W2"} {
		list, _ := doc[name].([]any)
		for i, v := range list {
			if want := fmt.Sprintf("%s-%d", name, i+1); v != want {
				t.Errorf("%s: recovered %s[%d] = %v, want %s", label, name, i, v, want)
				break
			}
		}
	}
}
