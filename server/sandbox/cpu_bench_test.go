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
	pool, err := Start(Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	const n = 1000
	saved, msgs := benchDocument(b, n)
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
