package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/veche-sync/veche/server/crashmark"
	"github.com/veche-sync/veche/server/sandbox"
)

// The supervisor hands the relay process it starts these, in its
// environment and as inherited descriptors 3 (the crash marks) and 4 (the
// pipe the relay says "ready" on once it listens).
const (
	envChild     = "VECHE_SUPERVISED" // set: this process is the supervised relay
	envMarks     = "VECHE_CRASH_MARKS"
	envCrashSite = "VECHE_CRASH_SITE"
	envAborted   = "VECHE_CRASH_ABORTED" // "1": the last relay died of an abort, which the core's panics are
	marksFD      = 3
	readyFD      = 4
)

// Crash loops: after crashLoopCount deaths within crashLoopWindow, each
// soon after its start (within crashLoopUptime: the relay dies of
// something in its own start-up or its first messages), the supervisor
// waits before each restart, doubling up to maxRestartWait. A relay that
// served for a while before it died restarts at once: crashes spread out
// by hostile senders, each quarantined, must not keep it down.
const (
	crashLoopUptime = 10 * time.Second
	crashLoopCount  = 5
	crashLoopWindow = time.Minute
	maxRestartWait  = 30 * time.Second
)

// supervised reports whether this process is a relay its supervisor
// started.
func supervised() bool { return os.Getenv(envChild) != "" }

// markSlots and markMessageBytes size the crash marks: a mark holds a
// whole sync message up to the largest frame the relay accepts.
func (m *Main) markMessageBytes() int { return int(m.Limits.MaxFrameBytes) }

// openMarks maps the crash marks the supervisor made; unsupervised there
// are none (m.marks stays nil, which marks nothing).
func (m *Main) openMarks() error {
	if !supervised() {
		return nil
	}
	// The supervisor's descriptors are this process's alone: the sandbox
	// workers it starts must not inherit them.
	syscall.CloseOnExec(marksFD)
	syscall.CloseOnExec(readyFD)
	b, err := crashmark.Open(os.NewFile(marksFD, "crash-marks"), crashmark.DefaultSlots, m.markMessageBytes())
	if err != nil {
		return fmt.Errorf("supervised relay: %w", err)
	}
	m.marks = b
	m.crashSite = os.Getenv(envCrashSite)
	return nil
}

// tellSupervisorReady says the relay listens, once Run returned.
func tellSupervisorReady() {
	if !supervised() {
		return
	}
	f := os.NewFile(readyFD, "ready")
	_, _ = f.Write([]byte{1})
	_ = f.Close()
}

// supervise runs the relay (veche serve with args) as a child process and
// starts it again at once whenever it dies without being asked to stop:
// the Automerge core aborts the process on a panic (DESIGN §8), and a
// change the sandbox did not predict would otherwise end the relay for
// everyone. The memory of the crash marks (package crashmark) lives here,
// across the children: the next child reads what the dead one was doing
// in the core and quarantines it (server.Relay.Recover), so the same
// input does not kill it again. A relay that fails before it ever
// listened (a bad flag, a locked data directory) is not restarted: its
// exit status is this command's.
func supervise(ctx context.Context, m *Main, args []string) error {
	var level slog.Level
	_ = level.UnmarshalText([]byte(m.LogLevel)) // checked by ParseFlags
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("component", "supervisor")
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	marks, err := crashmark.Create(crashmark.DefaultSlots, m.markMessageBytes())
	if err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	defer marks.Close()
	var orphaned orphans
	if err := orphaned.adopt(ctx); err != nil {
		log.Warn("cannot adopt the relay's orphaned workers; a container without an init may collect zombies", "err", err)
	}

	var loop crashLoop
	var last childEnd
	everReady := false
	for {
		died, ready, err := runChild(ctx, exe, args, marks, last, &orphaned)
		orphaned.reap() // workers that ended before the relay was waited for
		everReady = everReady || ready
		if ctx.Err() != nil || err == nil {
			return err // asked to stop, or the relay stopped on its own accord
		}
		if !everReady {
			var exit *exec.ExitError
			if errors.As(err, &exit) && exit.ExitCode() > 0 {
				return exitCode(exit.ExitCode()) // it said why on stderr
			}
			return fmt.Errorf("supervisor: the relay did not start: %w", err)
		}
		last = died
		wait := loop.died(time.Now(), died.uptime)
		log.Error("the relay process died; starting it again", "err", err, "site", died.site, "aborted", died.aborted, "uptime", died.uptime.Round(time.Millisecond),
			"quick_deaths_last_minute", len(loop.deaths), "wait", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// crashLoop keeps the recent deaths that came soon after a start.
type crashLoop struct{ deaths []time.Time }

// died records a death at now of a relay that ran for uptime and says how
// long to wait before the next start.
func (c *crashLoop) died(now time.Time, uptime time.Duration) time.Duration {
	if uptime < crashLoopUptime {
		c.deaths = append(c.deaths, now)
	}
	for len(c.deaths) > 0 && now.Sub(c.deaths[0]) > crashLoopWindow {
		c.deaths = c.deaths[1:]
	}
	if n := len(c.deaths) - crashLoopCount; n >= 0 {
		return min(maxRestartWait, time.Second<<min(n, 5))
	}
	return 0
}

// childEnd is how a relay process ended.
type childEnd struct {
	site    string        // where the Automerge core panicked, if it said
	aborted bool          // it died of SIGABRT (a panic of the core ends so), not killed from outside or a Go panic
	uptime  time.Duration // from start to death
}

// runChild runs one relay process until it ends, or until ctx is done
// (then it is asked to stop with SIGTERM and waited for), and says
// whether it listened before it ended.
func runChild(ctx context.Context, exe string, args []string, marks *os.File, last childEnd, orphaned *orphans) (_ childEnd, ready bool, err error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return childEnd{}, false, err
	}
	defer readyR.Close()
	stderr := &panicWatch{out: os.Stderr}
	cmd := exec.Command(exe, append([]string{"serve"}, args...)...)
	aborted := "0"
	if last.aborted {
		aborted = "1"
	}
	cmd.Env = append(os.Environ(), envChild+"=1", envCrashSite+"="+last.site, envAborted+"="+aborted, envMarks+"="+strconv.Itoa(marksFD))
	cmd.ExtraFiles = []*os.File{marks, readyW} // descriptors 3 and 4
	cmd.Stdout = os.Stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = childAttr()
	start := time.Now()
	if err := orphaned.start(func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	}); err != nil {
		readyW.Close()
		return childEnd{}, false, err
	}
	readyW.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err = <-done
	}
	// The child held the pipe's only write end (close-on-exec in it, so
	// its workers do not): it is closed now, and the read says at once
	// whether the child wrote its byte first.
	var b [1]byte
	n, _ := readyR.Read(b[:])
	ready = n == 1
	return childEnd{site: stderr.site(), aborted: diedOfAbort(err, stderr.sawAbort()), uptime: time.Since(start)}, ready, err
}

// panicWatch passes a relay's stderr on and remembers where the last Rust
// panic in it happened: the panic's line comes before the Go runtime's
// dump of every goroutine, which can be long.
type panicWatch struct {
	out     io.Writer
	mu      sync.Mutex
	partial []byte
	last    string
	abort   bool // Go's runtime reported SIGABRT
}

func (p *panicWatch) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		line := p.partial[:i]
		if site := sandbox.PanicSite(string(line)); site != "" {
			p.last = site
		}
		if bytes.HasPrefix(line, []byte("SIGABRT: abort")) {
			p.abort = true
		}
		p.partial = p.partial[i+1:]
	}
	if len(p.partial) > 4096 {
		p.partial = nil // a line that long is no panic message
	}
	p.mu.Unlock()
	return p.out.Write(b)
}

func (p *panicWatch) site() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func (p *panicWatch) sawAbort() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.abort
}

// diedOfAbort reports whether a relay process that ended with err died of
// SIGABRT, as a panic of the Automerge core ends it (Rust aborts; Go's
// runtime reports the signal on stderr and exits with status 2, or the
// process dies of the signal itself). A process killed from outside (the
// out-of-memory killer's SIGKILL) or ended by a Go panic did not: what it
// was doing in the core is not to blame.
func diedOfAbort(err error, reportedAbort bool) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	if !ok {
		return false
	}
	return (ws.Signaled() && ws.Signal() == syscall.SIGABRT) || (ws.Exited() && ws.ExitStatus() == 2 && reportedAbort)
}
