package server

import (
	"math"
	"runtime"
	"sync"
	"time"
)

// CPUMeter tells the relay how busy it is, so that a busy document's
// pacing can follow the relay's load (see Options.CPU): while the relay
// has CPU to spare a busy document flushes almost at once, and only as
// the relay's load grows do its flushes coalesce, up to one per
// SyncInterval. Implementations must be safe for concurrent use and
// cheap: every flush asks.
type CPUMeter interface {
	// Load returns the CPU the relay used recently, in cores: 0 idle, 1
	// one core busy all the time, more on several cores.
	Load(now time.Time) float64
}

// Pacing defaults (Options.MinSyncInterval, Options.SpareLoad and
// BusyLoad, Options.SpareFanout and BusyFanout).
const (
	// DefaultMinSyncInterval is the pause between two flushes of a busy
	// document while the relay has CPU to spare: short enough that live
	// typing reaches the others in less than the automerge-repo clients
	// themselves add (their own sync throttle is 100 ms), long enough that
	// a flush usually carries a few changes.
	DefaultMinSyncInterval = 50 * time.Millisecond
	// DefaultSpareLoad is the relay's load, as a share of the cores it may
	// use (GOMAXPROCS), up to which busy documents flush every
	// MinSyncInterval.
	DefaultSpareLoad = 0.1
	// DefaultBusyLoad is the relay's load, as a share of its cores, from
	// which busy documents flush once per SyncInterval.
	DefaultBusyLoad = 0.4
	// DefaultSpareFanout is a document's fan-out — changes per second
	// reaching it times the peers syncing it — up to which it flushes
	// every MinSyncInterval: eight people typing at once (a change every
	// 166 ms each) make about 380.
	DefaultSpareFanout = 500
	// DefaultBusyFanout is the fan-out from which a document flushes once
	// per SyncInterval whatever the relay's load: every flush costs a
	// message to each peer and the answer it draws, so a document whose
	// changes would go out to that many peers a second coalesces them (ten
	// peers each making ten changes a second make 1,000, sixteen people
	// typing 1,500).
	DefaultBusyFanout = 750
)

// pacer sets the interval between a busy document's flushes from two
// loads: the relay's (its CPU, shared by every document) and the
// document's own (its fan-out: the changes per second reaching it times
// its peers, each of which a flush sends a message that draws an answer). Each is placed on
// its scale, from spare (0) to busy (1); the higher decides. At 0 the
// interval is min, at 1 max, and in between it grows geometrically (each
// step of load multiplies it by the same factor), so that coalescing
// grows smoothly with the work. All documents share one pacer.
type pacer struct {
	meter    CPUMeter
	cores    float64 // what the relay may use: its load is a share of these
	min, max time.Duration
	load     scale // the relay's load, a share of cores
	fanout   scale // changes per second reaching the document × its peers
}

// scale places a load between spare (0) and busy (1).
type scale struct{ spare, busy float64 }

func (s scale) of(v float64) float64 {
	if v <= s.spare {
		return 0
	}
	if v >= s.busy {
		return 1
	}
	return (v - s.spare) / (s.busy - s.spare)
}

func newPacer(o Options) pacer {
	return pacer{
		meter:  o.CPU,
		cores:  float64(runtime.GOMAXPROCS(0)),
		min:    o.MinSyncInterval,
		max:    o.SyncInterval,
		load:   scale{o.SpareLoad, o.BusyLoad},
		fanout: scale{o.SpareFanout, o.BusyFanout},
	}
}

// interval is how long a busy document with the given fan-out waits
// between two flushes now.
func (p pacer) interval(now time.Time, fanout float64) time.Duration {
	if p.min >= p.max {
		return p.max
	}
	t := p.fanout.of(fanout)
	if t < 1 {
		t = max(t, p.load.of(p.meter.Load(now)/p.cores))
	}
	if t <= 0 {
		return p.min
	}
	if t >= 1 {
		return p.max
	}
	return time.Duration(float64(p.min) * math.Pow(float64(p.max)/float64(p.min), t))
}

// changeRate counts the changes reaching a document over the last
// rateWindow, in rateBuckets buckets: a steady rate reads as itself one
// window after it began, and nothing a window after the changes stopped.
type changeRate struct {
	buckets [rateBuckets]struct {
		slot int64 // which bucketWidth since the epoch
		n    int
	}
}

const (
	rateWindow  = 250 * time.Millisecond
	rateBuckets = 5
	bucketWidth = rateWindow / rateBuckets
)

// add counts n changes arriving at now.
func (c *changeRate) add(now time.Time, n int) {
	slot := now.UnixNano() / int64(bucketWidth)
	b := &c.buckets[slot%rateBuckets]
	if b.slot != slot {
		b.slot, b.n = slot, 0
	}
	b.n += n
}

// per returns the changes per second over the window ending at now.
func (c *changeRate) per(now time.Time) float64 {
	slot := now.UnixNano() / int64(bucketWidth)
	n := 0
	for _, b := range c.buckets {
		if b.slot > slot-rateBuckets && b.slot <= slot {
			n += b.n
		}
	}
	// The window: the current bucket so far and the ones before it.
	span := time.Duration(rateBuckets-1)*bucketWidth + time.Duration(now.UnixNano()%int64(bucketWidth))
	return float64(n) / span.Seconds()
}

// fanoutPeak follows a document's fan-out at once when it rises and lets
// it go slowly — held for peakHold, then halving every peakHalfLife — so
// that a document whose peers send their changes in bursts (phones too
// busy to keep time, the changes of a second in one message) is not taken
// for a quiet one between the bursts, and flushed promptly to peers that
// are already behind.
type fanoutPeak struct {
	peak float64
	at   time.Time
}

const (
	peakHold     = time.Second
	peakHalfLife = time.Second
)

// follow takes the fan-out measured at now and returns the one to pace by.
func (p *fanoutPeak) follow(now time.Time, fanout float64) float64 {
	if held := p.value(now); fanout < held {
		return held
	}
	p.peak, p.at = fanout, now
	return fanout
}

func (p *fanoutPeak) value(now time.Time) float64 {
	past := now.Sub(p.at) - peakHold
	if past <= 0 {
		return p.peak
	}
	return p.peak * math.Exp2(-past.Seconds()/peakHalfLife.Seconds())
}

// processCPU is the default CPUMeter: the CPU time this process used
// (user and system, all threads; getrusage RUSAGE_SELF) over the last
// cpuWindow, sampled at most every cpuSampleEvery when asked. The sandbox
// workers are other processes and not counted: the relay's own load
// rises and falls with theirs.
type processCPU struct {
	read func() time.Duration // the process's CPU time so far

	mu      sync.Mutex // guards the following
	samples [cpuSamples]cpuSample
	next    int     // where the next sample goes
	n       int     // samples held
	load    float64 // over the samples held, as last computed
}

type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

const (
	cpuWindow      = time.Second
	cpuSampleEvery = 100 * time.Millisecond
	cpuSamples     = int(cpuWindow/cpuSampleEvery) + 1
)

// newProcessCPU returns a meter of this process's CPU time, or nil when
// the platform cannot tell it.
func newProcessCPU() *processCPU {
	if processCPUTime == nil {
		return nil
	}
	return &processCPU{read: processCPUTime}
}

// Load implements CPUMeter.
func (m *processCPU) Load(now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n > 0 {
		last := m.samples[(m.next+cpuSamples-1)%cpuSamples]
		if now.Sub(last.at) < cpuSampleEvery {
			return m.load
		}
	}
	m.samples[m.next] = cpuSample{at: now, cpu: m.read()}
	m.next = (m.next + 1) % cpuSamples
	m.n = min(m.n+1, cpuSamples)
	// The oldest sample within the window (or the oldest held).
	newest := m.samples[(m.next+cpuSamples-1)%cpuSamples]
	oldest := newest
	for i := 2; i <= m.n; i++ {
		s := m.samples[(m.next+cpuSamples-i)%cpuSamples]
		if newest.at.Sub(s.at) > cpuWindow {
			break
		}
		oldest = s
	}
	if elapsed := newest.at.Sub(oldest.at); elapsed > 0 {
		m.load = float64(newest.cpu-oldest.cpu) / float64(elapsed)
	}
	return m.load
}
