package server

import (
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veche-sync/veche/server/wire"
)

// settableLoad is a CPUMeter reporting whatever load a test sets.
type settableLoad struct{ bits atomic.Uint64 }

func newLoad(cores float64) *settableLoad {
	l := &settableLoad{}
	l.set(cores)
	return l
}

func (l *settableLoad) set(cores float64)      { l.bits.Store(math.Float64bits(cores)) }
func (l *settableLoad) Load(time.Time) float64 { return math.Float64frombits(l.bits.Load()) }

// TestPacerFollowsLoad: a busy document's interval is the floor while the
// relay has CPU to spare and few changes reach the document, SyncInterval
// once either load is busy, and grows with the load in between.
func TestPacerFollowsLoad(t *testing.T) {
	load := newLoad(0)
	p := pacer{
		meter: load, cores: 2,
		min: 25 * time.Millisecond, max: 500 * time.Millisecond,
		load: scale{0.05, 0.25}, fanout: scale{500, 800},
	}
	at := func(cores, fanout float64) time.Duration {
		load.set(cores)
		return p.interval(time.Now(), fanout)
	}
	for _, c := range []struct {
		cores, fanout float64
		want          time.Duration
	}{
		{0, 0, 25 * time.Millisecond},
		{0.1, 500, 25 * time.Millisecond}, // 5% of two cores; the spare fan-out
		{0.5, 0, 500 * time.Millisecond},  // 25% of two cores
		{3, 0, 500 * time.Millisecond},
		{0, 800, 500 * time.Millisecond}, // a swamped document on an idle relay
		{0, 10000, 500 * time.Millisecond},
	} {
		if got := at(c.cores, c.fanout); got != c.want {
			t.Errorf("load %.2f cores, fan-out %.0f/s: interval %v, want %v", c.cores, c.fanout, got, c.want)
		}
	}
	// Halfway in load is halfway in ratio: sqrt(25 ms × 500 ms).
	half := time.Duration(math.Sqrt(25e6 * 500e6))
	for _, c := range []struct{ cores, fanout float64 }{{0.3, 0}, {0, 650}, {0.3, 600}, {0.2, 650}} {
		if got := at(c.cores, c.fanout); got < half-time.Millisecond || got > half+time.Millisecond {
			t.Errorf("load %.2f cores, fan-out %.0f/s: interval %v, want about %v", c.cores, c.fanout, got, half)
		}
	}
	prev := time.Duration(0)
	for cores := 0.0; cores <= 0.6; cores += 0.02 {
		got := at(cores, 0)
		if got < prev {
			t.Fatalf("load %.2f cores: interval %v, shorter than %v at a lower load", cores, got, prev)
		}
		prev = got
	}
	prev = 0
	for fanout := 0.0; fanout <= 1000; fanout += 20 {
		got := at(0, fanout)
		if got < prev {
			t.Fatalf("fan-out %.0f/s: interval %v, shorter than %v at a lower fan-out", fanout, got, prev)
		}
		prev = got
	}

	// A floor at or over the ceiling is a fixed pace.
	fixed := p
	fixed.min = fixed.max
	if got := at(0, 0); got != 25*time.Millisecond {
		t.Fatalf("adaptive pace at no load: %v", got)
	}
	if got := fixed.interval(time.Now(), 0); got != 500*time.Millisecond {
		t.Errorf("fixed pace at no load: interval %v, want 500ms", got)
	}
}

// TestChangeRate: a steady rate of changes reads as itself one window
// after it began, and as nothing a window after it stopped.
func TestChangeRate(t *testing.T) {
	var c changeRate
	t0 := time.Unix(1_700_000_000, 0)
	every := 20 * time.Millisecond // 50 a second
	at := t0
	for ; at.Before(t0.Add(rateWindow)); at = at.Add(every) {
		c.add(at, 1)
	}
	if r := c.per(at); r < 45 || r > 55 {
		t.Fatalf("50 changes/s for one window read as %.1f", r)
	}
	for ; at.Before(t0.Add(10 * time.Second)); at = at.Add(every) {
		c.add(at, 2) // 100 a second, two per message
	}
	if r := c.per(at); r < 90 || r > 110 {
		t.Fatalf("100 changes/s for 10 s read as %.1f", r)
	}
	if r := c.per(at.Add(rateWindow + bucketWidth)); r != 0 {
		t.Fatalf("a window after the last change: %.2f changes/s", r)
	}
}

// TestProcessCPUMeter: the default meter reports CPU time over wall time
// across its window, samples at most every cpuSampleEvery, and forgets
// what is older than its window.
func TestProcessCPUMeter(t *testing.T) {
	var cpu time.Duration
	reads := 0
	m := &processCPU{read: func() time.Duration { reads++; return cpu }}
	t0 := time.Now()
	step := cpuSampleEvery

	// 30 ms of CPU every 100 ms: 0.3 cores.
	var load float64
	for i := 0; i <= 10; i++ {
		load = m.Load(t0.Add(time.Duration(i) * step))
		cpu += 30 * time.Millisecond
	}
	if math.Abs(load-0.3) > 1e-9 {
		t.Fatalf("busy: load %.3f, want 0.3", load)
	}
	// Asked again within a sample period: the same answer, no new sample.
	before := reads
	if again := m.Load(t0.Add(10*step + step/2)); again != load || reads != before {
		t.Fatalf("within a sample period: load %.3f after %.3f, %d reads more", again, load, reads-before)
	}
	// Idle for longer than the window: the old work is forgotten.
	cpu -= 30 * time.Millisecond // the last increment never happened
	for i := 11; i <= 11+int(cpuWindow/step)+1; i++ {
		load = m.Load(t0.Add(time.Duration(i) * step))
	}
	if load != 0 {
		t.Fatalf("idle for a whole window: load %.3f, want 0", load)
	}
}

// TestProcessCPUTimeAdvances: the platform's reading of this process's
// CPU time moves when the process works.
func TestProcessCPUTimeAdvances(t *testing.T) {
	if processCPUTime == nil {
		t.Fatal("no process CPU time on this platform: pacing cannot follow the load")
	}
	start := processCPUTime()
	deadline := time.Now().Add(10 * time.Second)
	x := 0.0
	for processCPUTime()-start < 20*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("10 s of spinning used %v of CPU by getrusage", processCPUTime()-start)
		}
		for i := range 100000 {
			x += math.Sqrt(float64(i))
		}
	}
	if x == 0 {
		t.Fatal("unreachable")
	}
}

// TestSpareCPUFlushesBusyDocumentSoon: with CPU to spare, a busy
// document — its flush budget spent by a run of changes — still stores
// and forwards each change within MinSyncInterval, not once per
// SyncInterval (an hour here: a relay that paced by it would never get
// there within the test).
func TestSpareCPUFlushesBusyDocumentSoon(t *testing.T) {
	st := openStore(t)
	r := newTestRelay(t, st, Options{SyncInterval: time.Hour, IdleTimeout: time.Hour, CPU: newLoad(0)})
	writer := connect(t, r, "writer", nil)
	reader := connect(t, r, "reader", nil)
	id := wire.NewDocumentID()
	writer.change(id, "k0", int64(0))
	waitStored(t, r, writer, id)
	reader.find(id)
	reader.waitValue(id, "k0", int64(0))

	const n = 3 * flushBurst
	for i := 1; i < n; i++ {
		writer.change(id, fmt.Sprintf("k%d", i), int64(i))
		time.Sleep(2 * time.Millisecond) // one message each: past the flush budget
	}
	last := fmt.Sprintf("k%d", n-1)
	waitStored(t, r, writer, id)
	reader.waitValue(id, last, int64(n-1))
}

// TestBusyRelayCoalesces: a relay whose meter says it is busy paces a busy
// document at SyncInterval: changes past the flush budget wait for the
// paced flush. Once the load falls, the next change flushes them all at
// once, without waiting out the long interval.
func TestBusyRelayCoalesces(t *testing.T) {
	st := openStore(t)
	load := newLoad(1) // a whole core: busy
	r := newTestRelay(t, st, Options{SyncInterval: time.Hour, IdleTimeout: time.Hour, CPU: load})
	const n = 12
	p, id := pendingChanges(t, r, st, n) // checks the last change is not stored
	if wait := nextFlushIn(t, r, id); wait < 30*time.Minute {
		t.Fatalf("busy relay: the next flush is due in %v, want about SyncInterval (1h)", wait)
	}
	if got := storedKeys(t, st, id, n); got == n {
		t.Fatal("busy relay: every change is stored before the paced flush")
	}

	load.set(0)
	p.change(id, "after", int64(n))
	waitUntil(t, "the changes to be stored once the relay has CPU to spare", func() bool {
		return storedKeys(t, st, id, n) == n
	})
}

// TestSwampedDocumentCoalesces: on a relay with CPU to spare, a document
// whose fan-out (changes per second × peers) is over BusyFanout is paced
// at SyncInterval all the same.
func TestSwampedDocumentCoalesces(t *testing.T) {
	st := openStore(t)
	r := newTestRelay(t, st, Options{SyncInterval: time.Hour, IdleTimeout: time.Hour, CPU: newLoad(0), SpareFanout: 1, BusyFanout: 2})
	const n = 12
	_, id := pendingChanges(t, r, st, n) // checks the last change is not stored
	if wait := nextFlushIn(t, r, id); wait < 30*time.Minute {
		t.Fatalf("a document swamped with changes: the next flush is due in %v, want about SyncInterval (1h)", wait)
	}
}

// TestFanoutPeak: the fan-out paced by rises at once, is held for
// peakHold after a peak, then halves every peakHalfLife.
func TestFanoutPeak(t *testing.T) {
	var p fanoutPeak
	t0 := time.Unix(1_700_000_000, 0)
	if got := p.follow(t0, 400); got != 400 {
		t.Fatalf("first reading 400: paced by %.0f", got)
	}
	if got := p.follow(t0.Add(100*time.Millisecond), 2000); got != 2000 {
		t.Fatalf("a rise to 2000: paced by %.0f", got)
	}
	// Between bursts nothing arrives: the peak holds, then fades.
	peak := t0.Add(100 * time.Millisecond)
	if got := p.follow(peak.Add(peakHold), 0); got != 2000 {
		t.Fatalf("%v after the peak: paced by %.0f, want 2000 (held)", peakHold, got)
	}
	if got := p.follow(peak.Add(peakHold+peakHalfLife), 0); math.Abs(got-1000) > 1e-6 {
		t.Fatalf("one half-life after the hold: paced by %.1f, want 1000", got)
	}
	if got := p.follow(peak.Add(peakHold+10*peakHalfLife), 300); got != 300 {
		t.Fatalf("long after the peak, a reading of 300: paced by %.1f", got)
	}
}

// nextFlushIn asks document id's synchronizer to flush and returns how
// long until its pacing allows it (0: it flushed).
func nextFlushIn(t *testing.T, r *Relay, id wire.DocumentID) time.Duration {
	t.Helper()
	s := r.lookup(string(id))
	if s == nil {
		t.Fatal("the document is not loaded")
	}
	defer r.release(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flush()
}
