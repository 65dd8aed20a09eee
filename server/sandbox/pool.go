package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configure a Pool. The zero value of every field selects the
// default documented on it.
type Options struct {
	// Workers is how many worker processes share the documents (each
	// document always goes to the same one). Default: the number of CPUs,
	// at most 4.
	Workers int
	// Timeout bounds one request; a worker that takes longer is killed and
	// the request counts as a crash (a core stuck in a loop is as fatal as
	// one that aborts). Default: 30s.
	Timeout time.Duration
	// Command returns the command that starts a worker. Default: this
	// program's own executable with the worker environment variable set;
	// the program must call RunIfWorker first thing.
	Command func() *exec.Cmd
	// Logger receives worker restarts. Default: slog.Default().
	Logger *slog.Logger
}

// Pool runs untrusted Automerge input through worker processes before the
// relay applies it. Each worker holds a mirror of the documents assigned
// to it; a worker that dies on a request is restarted at once and the
// request is answered with a *Crash. Safe for concurrent use.
type Pool struct {
	opts     Options
	workers  []*worker
	restarts atomic.Int64
	checks   atomic.Int64
	closed   atomic.Bool
}

// Errors of a Pool.
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("sandbox closed")
	// ErrStart means a worker could not be started or did not answer.
	ErrStart = errors.New("sandbox worker did not start")
)

// Crash is the error of a request during which the worker died: the input
// it carried (or the document state it loaded) kills the Automerge core.
type Crash struct {
	// Op is what the worker was doing: "load", "check" or "apply".
	Op string
	// Site is where the core gave up, from the worker's last words (the
	// source location of a Rust panic), or how it ended.
	Site string
	// Detail is the worker's last lines on stderr, for the log.
	Detail string
	// External: the worker was killed from outside (SIGKILL without a
	// panic and not by the pool's own timeout) — the kernel's
	// out-of-memory killer, an operator — so the input is not to blame.
	External bool
}

func (c *Crash) Error() string {
	return fmt.Sprintf("the Automerge core crashed during %s (%s)", c.Op, c.Site)
}

// Rejected is the error of input the core refused with an error, without
// crashing.
type Rejected struct {
	// Op is what the worker was doing: "load", "check" or "apply".
	Op     string
	Reason string
}

func (r *Rejected) Error() string { return r.Reason }

// Start starts the workers and waits until each answers.
func Start(opts Options) (*Pool, error) {
	if opts.Workers <= 0 {
		opts.Workers = min(runtime.NumCPU(), 4)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Command == nil {
		opts.Command = selfCommand
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &Pool{opts: opts}
	for i := 0; i < opts.Workers; i++ {
		w := &worker{pool: p, index: i}
		if err := w.start(); err != nil {
			p.Close()
			return nil, err
		}
		p.workers = append(p.workers, w)
	}
	return p, nil
}

func selfCommand() *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe)
	// A worker's last words are the core's panic message; the Go
	// runtime's goroutine dump after an abort says nothing more.
	// One request at a time: a worker needs one thread, and spinning
	// schedulers on idle threads would cost CPU at every wake-up.
	cmd.Env = append(os.Environ(), workerEnv+"=1", "GOTRACEBACK=none", "GOMAXPROCS=1", "GOGC=400")
	return cmd
}

// Checks reports how many sync messages were checked (Check and Receive).
func (p *Pool) Checks() int64 { return p.checks.Load() }

// Restarts reports how many times a worker died and was restarted.
func (p *Pool) Restarts() int64 { return p.restarts.Load() }

func (p *Pool) worker(doc string) *worker {
	h := fnv.New32a()
	h.Write([]byte(doc))
	return p.workers[int(h.Sum32()%uint32(len(p.workers)))]
}

// Load replaces the mirror of doc with the document rebuilt from parts (a
// snapshot, or nil, then chunks), as the relay is about to load it.
func (p *Pool) Load(doc string, parts [][]byte) error {
	w := p.worker(doc)
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.open, doc)
	if err := w.request("load", opOpen, append([][]byte{[]byte(doc)}, parts...)); err != nil {
		return err
	}
	w.open[doc] = true
	return nil
}

// Check applies a sync message from peer to the mirror of doc and
// generates the answer, as the relay is about to do. The worker keeps a
// sync state per peer of each document until Leave or Forget, fed the same
// messages as the relay's, so that the answers it generates carry, like
// the relay's, only what the peer has not been sent; a peer of "" gets a
// fresh state every time. state is called, with the worker held, when the
// worker does not hold doc (first use, or after a restart): it returns the
// document as the relay holds it, as Load takes it. A nil error means the
// message survived; a *Crash that it (or, when Op is "load", the state)
// kills the core; a *Rejected that the core refused it (or, when Op is
// "load", the state).
func (p *Pool) Check(doc, peer string, msg []byte, state func() [][]byte) error {
	return p.check(doc, peer, msg, state, opCheck)
}

// Receive is Check without generating the answer: the fuzzer tells with
// it whether a crash is in applying or in answering.
func (p *Pool) Receive(doc, peer string, msg []byte, state func() [][]byte) error {
	return p.check(doc, peer, msg, state, opReceive)
}

func (p *Pool) check(doc, peer string, msg []byte, state func() [][]byte, op byte) error {
	p.checks.Add(1)
	w := p.worker(doc)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.open[doc] {
		if err := w.request("load", opOpen, append([][]byte{[]byte(doc)}, state()...)); err != nil {
			return err
		}
		w.open[doc] = true
	}
	fields := [][]byte{[]byte(doc), []byte(peer), msg}
	if MapKeysOnly(msg) {
		fields = append(fields, []byte("map keys only"))
		if objs, ok := valueTargets(msg); ok {
			fields = append(fields, encodeTargets(objs))
		}
	}
	err := w.request("check", op, fields)
	if err != nil {
		delete(w.open, doc)
	}
	return err
}

// Leave drops the sync state of peer for doc: it stopped syncing it.
func (p *Pool) Leave(doc, peer string) {
	w := p.worker(doc)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.open[doc] || peer == "" {
		return
	}
	_ = w.request("leave", opLeave, [][]byte{[]byte(doc), []byte(peer)})
}

// Apply adds changes the relay made itself (a local write) to the mirror
// of doc, if the worker holds it.
func (p *Pool) Apply(doc string, changes []byte) error {
	w := p.worker(doc)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.open[doc] {
		return nil // loaded from the relay's state when next needed
	}
	err := w.request("apply", opApply, [][]byte{[]byte(doc), changes})
	if err != nil {
		delete(w.open, doc)
	}
	return err
}

// Forget drops the mirror of doc; the relay unloaded it, or its memory
// and the mirror may differ.
func (p *Pool) Forget(doc string) {
	w := p.worker(doc)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.open[doc] {
		return
	}
	delete(w.open, doc)
	_ = w.request("forget", opForget, [][]byte{[]byte(doc)})
}

// Close stops every worker.
func (p *Pool) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	for _, w := range p.workers {
		w.mu.Lock()
		w.stop()
		w.mu.Unlock()
	}
	return nil
}

// worker is one worker process.
type worker struct {
	pool  *Pool
	index int

	mu     sync.Mutex // one request at a time; guards the following
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	in     *bufio.Writer
	out    *bufio.Reader
	stderr *tail
	open   map[string]bool // documents the current process holds
}

// start runs a new worker process and waits for its first answer. Called
// with mu held (or before the worker is shared).
func (w *worker) start() error {
	cmd := w.pool.opts.Command()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	w.stderr = &tail{}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	w.cmd, w.stdin = cmd, stdin
	w.in = bufio.NewWriterSize(stdin, 64<<10)
	w.out = bufio.NewReaderSize(stdout, 64<<10)
	w.open = make(map[string]bool)
	if err := w.request("ping", opPing, nil); err != nil {
		w.stop()
		return fmt.Errorf("%w: %w (does the program call sandbox.RunIfWorker first?)", ErrStart, err)
	}
	return nil
}

// stop kills the worker process and reaps it. Called with mu held.
func (w *worker) stop() {
	if w.cmd == nil {
		return
	}
	_ = w.stdin.Close()
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
	w.cmd = nil
}

// request sends one request and waits for its answer. When the worker
// dies (or overruns the timeout) it is restarted and the request's answer
// is a *Crash. Called with mu held.
func (w *worker) request(what string, op byte, fields [][]byte) error {
	if w.pool.closed.Load() && op != opPing {
		return ErrClosed
	}
	if w.cmd == nil {
		if err := w.start(); err != nil {
			return err
		}
	}
	var timedOut atomic.Bool
	proc := w.cmd.Process
	timer := time.AfterFunc(w.pool.opts.Timeout, func() {
		timedOut.Store(true)
		_ = proc.Kill()
	})
	status, text, err := w.exchange(op, fields)
	timer.Stop()
	if err == nil {
		switch status {
		case replyOK:
			return nil
		case replyRejected:
			return &Rejected{Op: what, Reason: text}
		default:
			err = fmt.Errorf("unexpected reply %q", status)
		}
	}
	// The worker is dead or out of step: whatever it was doing killed it.
	_ = w.stdin.Close()
	waitErr := w.cmd.Wait()
	w.cmd = nil
	crash := &Crash{Op: what, Detail: lastWords(w.stderr.String())}
	switch {
	case timedOut.Load():
		crash.Site = fmt.Sprintf("no answer within %s", w.pool.opts.Timeout)
	case panicSite(crash.Detail) != "":
		crash.Site = panicSite(crash.Detail)
	case waitErr != nil:
		crash.Site = waitErr.Error()
		crash.External = killedFromOutside(waitErr)
	default:
		crash.Site = err.Error()
	}
	if op == opPing {
		return fmt.Errorf("worker ended: %s: %s", crash.Site, crash.Detail)
	}
	w.pool.restarts.Add(1)
	if w.pool.closed.Load() {
		return crash
	}
	if err := w.start(); err != nil {
		w.pool.opts.Logger.Error("sandbox worker could not be restarted", "worker", w.index, "err", err)
	}
	return crash
}

func (w *worker) exchange(op byte, fields [][]byte) (byte, string, error) {
	if err := writeFrame(w.in, op, fields...); err != nil {
		return 0, "", err
	}
	status, payload, err := readFrame(w.out)
	if err != nil {
		return 0, "", err
	}
	return status, string(payload), nil
}

// rustPanic finds the source location in a Rust panic message, in either
// of the formats Rust has used ("panicked at 'msg', src/x.rs:1:2" and
// "panicked at src/x.rs:1:2:").
var rustPanic = regexp.MustCompile(`panicked at .*?([\w./-]+\.rs:\d+:\d+)`)

// PanicSite returns the source location of the first Rust panic in what a
// process that embeds the core wrote to stderr ("" if none): for the
// supervisor of veche serve, which restarts a relay the core killed.
func PanicSite(stderr string) string { return panicSite(stderr) }

// panicSite returns the source location of the first panic in a worker's
// last words, with its message when Rust printed it on the next line.
func panicSite(stderr string) string {
	m := rustPanic.FindStringSubmatch(stderr)
	if m == nil {
		return ""
	}
	return m[1]
}

// lastWords cuts a worker's stderr before the stack dumps.
func lastWords(s string) string {
	for _, cut := range []string{"stack backtrace:", "note: run with", "SIGABRT", "goroutine "} {
		if i := strings.Index(s, cut); i > 0 {
			s = s[:i]
		}
	}
	return strings.TrimSpace(s)
}

// tail keeps the first bytes a worker writes to stderr: a Rust panic's
// message comes first, the Go runtime's dump of the abort after it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 2048

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := tailBytes - len(t.buf); room > 0 {
		t.buf = append(t.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// killedFromOutside reports whether a worker's exit error says SIGKILL:
// with no panic on its stderr and no timeout of ours, someone else killed
// it (the out-of-memory killer, say), not the input it was given.
func killedFromOutside(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
