package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpuTime is the CPU time every thread of process pid has used, from
// /proc/<pid>/task/*/schedstat (nanoseconds).
func cpuTime(tb testing.TB, pid int) time.Duration {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		tb.Fatal(err)
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		v, _ := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		sum += v
	}
	return time.Duration(sum)
}

// benchPaced measures the CPU a request costs the parent and the worker
// when requests come a few milliseconds apart, as a busy relay's do (a
// tight loop hides the cost of waking a sleeping worker, most of what a
// request costs then). It reports microseconds per request for each side.
func benchPaced(b *testing.B, request func(p *Pool, msg []byte, state [][]byte) error) {
	benchPacedOn(b, benchDocument, request)
}

func benchPacedOn(b *testing.B, document func(*testing.B, int) ([]byte, [][]byte), request func(p *Pool, msg []byte, state [][]byte) error) {
	pool, err := Start(Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	const n = 1000
	saved, msgs := document(b, n)
	state := [][]byte{saved}
	worker := pool.workers[0].cmd.Process.Pid
	var parent, child time.Duration
	b.ResetTimer()
	for j := 0; j < b.N; j++ {
		p0, w0 := cpuTime(b, os.Getpid()), cpuTime(b, worker)
		for i := 0; i < n; i++ {
			time.Sleep(5 * time.Millisecond)
			if err := request(pool, msgs[i], state); err != nil {
				b.Fatal(err)
			}
		}
		parent += cpuTime(b, os.Getpid()) - p0
		child += cpuTime(b, worker) - w0
		pool.Forget("d")
	}
	b.ReportMetric(float64(parent.Microseconds())/float64(b.N*n), "parent-µs/op")
	b.ReportMetric(float64(child.Microseconds())/float64(b.N*n), "worker-µs/op")
}

// BenchmarkPacedPing is the round trip alone.
func BenchmarkPacedPing(b *testing.B) {
	benchPaced(b, func(p *Pool, _ []byte, _ [][]byte) error {
		w := p.workers[0]
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.request("ping", opPing, nil)
	})
}

// BenchmarkPacedCheck is a check of a message carrying one new change.
func BenchmarkPacedCheck(b *testing.B) {
	benchPaced(b, func(p *Pool, msg []byte, state [][]byte) error {
		return p.Check("d", "peer", msg, func() [][]byte { return state })
	})
}

// BenchmarkPacedCheckLarge is a check of a message carrying one new
// change to load.mjs's document at --preload 5000 (largeDocument): what
// probing that document after every message costs the worker.
func BenchmarkPacedCheckLarge(b *testing.B) {
	benchPacedOn(b, largeDocument, func(p *Pool, msg []byte, state [][]byte) error {
		return p.Check("d", "peer", msg, func() [][]byte { return state })
	})
}

// BenchmarkWorkerMemory reports a worker's resident memory after each of
// eight rounds of 2,000 checks by five peers (one leaving every seventh
// check), a local apply and the document forgotten: the C loop frees
// every result it gets, so the figure stays flat from round to round.
func BenchmarkWorkerMemory(b *testing.B) {
	pool, err := Start(Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	saved, msgs := benchDocument(b, 2000)
	state := func() [][]byte { return [][]byte{saved} }
	pid := pool.workers[0].cmd.Process.Pid
	for j := 0; j < b.N; j++ {
		var first, last int64
		for round := 0; round < 8; round++ {
			for i, m := range msgs {
				peer := fmt.Sprint("p", i%5)
				if err := pool.Check("d", peer, m, state); err != nil {
					b.Fatal(err)
				}
				if i%7 == 0 {
					pool.Leave("d", peer)
				}
			}
			pool.Forget("d")
			kib := residentKiB(b, pid)
			if round == 0 {
				first = kib
			}
			last = kib
		}
		b.ReportMetric(float64(first), "KiB-after-round-1")
		b.ReportMetric(float64(last), "KiB-after-round-8")
	}
}

// residentKiB is VmRSS of process pid.
func residentKiB(tb testing.TB, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	tb.Fatalf("no VmRSS for %d", pid)
	return 0
}
