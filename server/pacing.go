package server

import (
	"math"
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

// Pacing defaults (Options.MinSyncInterval, Options.SpareLoad,
// Options.BusyLoad).
const (
	// DefaultMinSyncInterval is the pause between two flushes of a busy
	// document while the relay has CPU to spare: short enough that live
	// typing reaches the others in about the time the automerge-repo
	// clients themselves take (their own sync throttle is 100 ms).
	DefaultMinSyncInterval = 25 * time.Millisecond
	// DefaultSpareLoad is the relay's load, in cores, up to which busy
	// documents flush every MinSyncInterval.
	DefaultSpareLoad = 0.05
	// DefaultBusyLoad is the relay's load, in cores, from which busy
	// documents flush once per SyncInterval.
	DefaultBusyLoad = 0.25
)

// pacer turns the relay's load into the interval between a busy
// document's flushes: min while the load is at most spare, max from busy
// on, and in between an interval growing geometrically with the load (each
// step of load multiplies it by the same factor), so that coalescing
// grows smoothly with the work the relay has. All documents share one.
type pacer struct {
	meter       CPUMeter
	min, max    time.Duration
	spare, busy float64
}

func newPacer(o Options) pacer {
	return pacer{meter: o.CPU, min: o.MinSyncInterval, max: o.SyncInterval, spare: o.SpareLoad, busy: o.BusyLoad}
}

// interval is how long a busy document waits between two flushes now.
func (p pacer) interval(now time.Time) time.Duration {
	if p.min >= p.max {
		return p.max
	}
	load := p.meter.Load(now)
	if load <= p.spare {
		return p.min
	}
	if load >= p.busy {
		return p.max
	}
	t := (load - p.spare) / (p.busy - p.spare)
	return time.Duration(float64(p.min) * math.Pow(float64(p.max)/float64(p.min), t))
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
