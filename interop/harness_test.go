package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The module root and what the tests need from it, found once per run.
var (
	setupOnce sync.Once
	setupErr  error
	rootDir   string // the module root, holding go.mod
	nodeBin   string // the node executable
	binDir    string // where the relay binary is built; removed by TestMain
	vecheBin  string // the relay binary, built on first use
	buildOnce sync.Once
	buildErr  error
)

// jsDir is the npm project of the interop clients and the benchmark,
// relative to the module root. It sits in a testdata folder so that the go
// tool never descends into its node_modules.
const jsDir = "interop/testdata"

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// setup finds the module root, node and the npm packages; it fails the test
// with what to do when one is missing.
func setup(t testing.TB) {
	t.Helper()
	setupOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			setupErr = fmt.Errorf("go env GOMOD: %v", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			setupErr = errors.New("not inside the veche module (go env GOMOD is empty)")
			return
		}
		rootDir = filepath.Dir(gomod)
		if nodeBin, err = exec.LookPath("node"); err != nil {
			setupErr = errors.New("node is not on PATH: the interop tests need Node.js 20+")
			return
		}
		pkg := filepath.Join(rootDir, jsDir, "node_modules", "@automerge", "automerge-repo", "package.json")
		if _, err := os.Stat(pkg); err != nil {
			setupErr = fmt.Errorf("%s/node_modules is missing (%v): run `make deps` (npm ci --prefix %s) in %s first", jsDir, err, jsDir, rootDir)
			return
		}
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
}

// buildVeche builds ./cmd/veche once per test binary run.
func buildVeche(t testing.TB) string {
	t.Helper()
	setup(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "veche-interop-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		bin := filepath.Join(dir, "veche")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/veche")
		cmd.Dir = rootDir
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/veche: %v\n%s", err, out)
			return
		}
		fmt.Fprintf(os.Stderr, "interop: built cmd/veche in %v\n", time.Since(start).Round(time.Millisecond))
		vecheBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return vecheBin
}

// A relayProgram says how to run one kind of relay.
type relayProgram struct {
	name string
	argv func(addr, dataDir string) []string
}

// target is the relay under test: the Go relay, or with
// VECHE_INTEROP_TARGET=reference the upstream sync server wiring, made
// durable before advertising so it meets the same contract.
func target(t testing.TB) relayProgram {
	t.Helper()
	switch v := os.Getenv("VECHE_INTEROP_TARGET"); v {
	case "", "veche":
		// The protocol tests sync documents of no council, as any stock
		// client may on a trusted network: that takes anonymous access.
		return vecheRelay(t, "--anonymous")
	case "reference":
		return referenceRelay(t, "--durable")
	default:
		t.Fatalf("VECHE_INTEROP_TARGET=%q: want veche or reference", v)
		return relayProgram{}
	}
}

// vecheRelay runs the veche binary built from this tree, with flags.
func vecheRelay(t testing.TB, flags ...string) relayProgram {
	t.Helper()
	bin := buildVeche(t)
	return relayProgram{name: "veche", argv: func(addr, dataDir string) []string {
		return append([]string{bin, "serve", "--addr", addr, "--data", dataDir}, flags...)
	}}
}

// referenceRelay runs interop/testdata/reference-server.mjs with extra flags.
func referenceRelay(t testing.TB, flags ...string) relayProgram {
	t.Helper()
	setup(t)
	script := filepath.Join(rootDir, jsDir, "reference-server.mjs")
	return relayProgram{name: "reference" + strings.Join(flags, ""), argv: func(addr, dataDir string) []string {
		return append([]string{nodeBin, script, "--addr", addr, "--data", dataDir}, flags...)
	}}
}

// A relay is one relay process at a time on a fixed address and data
// directory; it can be stopped, killed and started again on both.
type relay struct {
	t       testing.TB
	prog    relayProgram
	dataDir string
	addr    string
	cmd     *exec.Cmd
	exited  chan struct{}
	logs    *tailBuffer
	starts  int
}

// startRelay starts prog on a free loopback port with dataDir and waits
// until it is healthy. The relay is killed when the test ends.
func startRelay(t testing.TB, prog relayProgram, dataDir string) *relay {
	t.Helper()
	r := &relay{t: t, prog: prog, dataDir: dataDir, logs: newTailBuffer(64 << 10)}
	t.Cleanup(func() {
		if r.running() {
			r.signal(syscall.SIGKILL)
			<-r.exited
		}
		if t.Failed() {
			t.Logf("%s relay log (tail):\n%s", r.prog.name, r.logs.String())
		}
	})
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		r.addr = freeAddr(t)
		if err = r.launch(); err == nil {
			return r
		}
		t.Logf("relay on %s: %v; trying another port", r.addr, err)
	}
	t.Fatalf("starting the %s relay: %v", prog.name, err)
	return nil
}

// URL is the relay's websocket endpoint.
func (r *relay) URL() string { return "ws://" + r.addr + "/sync" }

func (r *relay) running() bool {
	if r.exited == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// launch starts the process and waits for GET /healthz to answer 200.
func (r *relay) launch() error {
	argv := r.prog.argv(r.addr, r.dataDir)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = rootDir
	orphanProof(cmd)
	r.starts++
	fmt.Fprintf(r.logs, "--- %s start #%d: %s\n", time.Now().Format("15:04:05.000"), r.starts, strings.Join(argv, " "))
	cmd.Stdout = r.logs
	cmd.Stderr = r.logs
	if err := cmd.Start(); err != nil {
		return err
	}
	r.cmd = cmd
	exited := make(chan struct{})
	r.exited = exited
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(r.logs, "--- %s exited: %v\n", time.Now().Format("15:04:05.000"), err)
		close(exited)
	}()
	deadline := time.Now().Add(20 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			return fmt.Errorf("exited before it was healthy: %v", cmd.ProcessState)
		default:
		}
		resp, err := hc.Get("http://" + r.addr + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Fprintf(r.logs, "--- %s healthy\n", time.Now().Format("15:04:05.000"))
				return nil
			}
		}
		if time.Now().After(deadline) {
			r.signal(syscall.SIGKILL)
			<-exited
			return fmt.Errorf("GET /healthz did not answer 200 within 20s (last error %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start starts the relay again on the same address and data directory.
func (r *relay) start() {
	r.t.Helper()
	if r.running() {
		r.t.Fatal("relay start: already running")
	}
	var err error
	for attempt := 0; attempt < 10; attempt++ { // the port may linger briefly
		if err = r.launch(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.t.Fatalf("restarting the %s relay on %s: %v", r.prog.name, r.addr, err)
}

func (r *relay) signal(sig syscall.Signal) {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Signal(sig)
	}
}

// stop sends SIGTERM and expects a clean exit within 10s.
func (r *relay) stop() {
	r.t.Helper()
	r.signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.signal(syscall.SIGKILL)
		<-r.exited
		r.t.Fatalf("the %s relay did not exit within 10s of SIGTERM", r.prog.name)
	}
	if !r.cmd.ProcessState.Success() {
		r.t.Errorf("the %s relay exited with %v after SIGTERM; want status 0", r.prog.name, r.cmd.ProcessState)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *relay) kill() {
	r.signal(syscall.SIGKILL)
	<-r.exited
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// An event is one JSON line a client printed.
type event struct {
	T          int64           `json:"t"`
	ID         int             `json:"id"`
	Event      string          `json:"event"`
	URL        string          `json:"url"`
	Value      json.RawMessage `json:"value"`
	Heads      []string        `json:"heads"`
	RelayHeads []string        `json:"relayHeads"`
	Hashes     []string        `json:"hashes"`
	Message    json.RawMessage `json:"message"`
	Error      string          `json:"error"`
	MS         float64         `json:"ms"`
	Written    map[string]int  `json:"written"`
	raw        string
}

func (e event) String() string { return e.raw }

// A client is one interop/testdata/client.mjs process: a stock automerge-repo
// Repo connected to one relay, driven by JSON commands.
type client struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	done   chan struct{} // closed once stdout is drained and the process exited

	mu      sync.Mutex
	nextID  int
	replies map[int]chan event
	events  []event // lines without an id, in order
	lines   []string
}

// newClient starts a client named name connected to relayURL. Extra
// arguments go to client.mjs (e.g. "--storage", dir). The process is killed
// when the test ends, and its output logged if the test failed.
func newClient(t testing.TB, name, relayURL string, args ...string) *client {
	t.Helper()
	setup(t)
	script := filepath.Join(rootDir, jsDir, "client.mjs")
	argv := append([]string{script, "--relay", relayURL, "--name", name, "--retry-ms", "200", "--lifetime-ms", "120000"}, args...)
	cmd := exec.Command(nodeBin, argv...)
	cmd.Dir = filepath.Join(rootDir, jsDir)
	orphanProof(cmd)
	c := &client{t: t, name: name, cmd: cmd, stderr: newTailBuffer(32 << 10), done: make(chan struct{}), replies: map[int]chan event{}}
	cmd.Stderr = c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting client %s: %v", name, err)
	}
	go c.read(stdout)
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			c.mu.Lock()
			lines := c.lines
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			c.mu.Unlock()
			t.Logf("client %s stdout (tail):\n%s\nclient %s stderr (tail):\n%s", name, strings.Join(lines, "\n"), name, c.stderr.String())
		}
	})
	return c
}

func (c *client) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		var e event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			e = event{Event: "garbage", Error: err.Error()}
		}
		e.raw = line
		c.mu.Lock()
		c.lines = append(c.lines, line)
		if ch, ok := c.replies[e.ID]; ok && e.ID != 0 {
			delete(c.replies, e.ID)
			ch <- e
		} else {
			c.events = append(c.events, e)
		}
		c.mu.Unlock()
	}
	c.cmd.Wait()
	close(c.done)
}

// send writes a command and returns the channel its reply arrives on.
func (c *client) send(cmd map[string]any) (int, chan event) {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan event, 1)
	c.replies[id] = ch
	c.mu.Unlock()
	msg := map[string]any{"id": id}
	for k, v := range cmd {
		msg[k] = v
	}
	b, err := json.Marshal(msg)
	if err != nil {
		panic(err)
	}
	c.stdin.Write(append(b, '\n')) // a dead client shows in do as an exit
	return id, ch
}

// try runs one command and returns its reply, which may be an "error"
// event; it fails the test only if no reply comes.
func (c *client) try(cmd map[string]any) event {
	c.t.Helper()
	wait := 15 * time.Second
	if ms, ok := cmd["timeoutMs"].(int); ok {
		wait = time.Duration(ms)*time.Millisecond + 5*time.Second
	}
	_, ch := c.send(cmd)
	select {
	case e := <-ch:
		return e
	case <-c.done:
		select { // the reply may have come just before the exit
		case e := <-ch:
			return e
		default:
		}
		c.t.Fatalf("client %s exited (%v) before answering %v", c.name, c.cmd.ProcessState, cmd)
	case <-time.After(wait):
		c.t.Fatalf("client %s did not answer %v within %v", c.name, cmd, wait)
	}
	return event{}
}

// do runs one command and fails the test if it reports an error.
func (c *client) do(cmd map[string]any) event {
	c.t.Helper()
	e := c.try(cmd)
	if e.Event == "error" {
		c.t.Fatalf("client %s: %v: %s", c.name, cmd["cmd"], e.Error)
	}
	return e
}

// exit asks the client to shut down and waits for it to exit 0.
func (c *client) exit() {
	c.t.Helper()
	c.send(map[string]any{"cmd": "exit"})
	c.waitExit()
}

// waitExit waits up to 10s for the client to exit, expecting status 0.
func (c *client) waitExit() {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
		c.t.Fatalf("client %s did not exit within 10s", c.name)
	}
	if !c.cmd.ProcessState.Success() {
		c.t.Fatalf("client %s exited with %v", c.name, c.cmd.ProcessState)
	}
}

// unsolicited returns the events printed without an id so far, optionally
// only those named kind.
func (c *client) unsolicited(kind string) []event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []event
	for _, e := range c.events {
		if kind == "" || e.Event == kind {
			out = append(out, e)
		}
	}
	return out
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// randomDocURL returns a well-formed automerge URL of a document nobody
// created: base58check of 16 random bytes, as automerge-repo makes them.
func randomDocURL(t testing.TB) string {
	t.Helper()
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	first := sha256.Sum256(id)
	second := sha256.Sum256(first[:])
	return "automerge:" + base58(append(id, second[:4]...))
}

func base58(b []byte) string {
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	n := new(big.Int).SetBytes(b)
	radix, mod := big.NewInt(58), new(big.Int)
	var out []byte
	for n.Sign() > 0 {
		n.DivMod(n, radix, mod)
		out = append(out, alphabet[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, alphabet[0])
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

// jsonEqual compares two JSON documents structurally.
func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("bad JSON %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("bad JSON %s: %v", b, err)
	}
	ca, _ := json.Marshal(va) // maps marshal with sorted keys
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb)
}

// enginePID is the process that runs the relay's engine: veche serve
// supervises it as a child process (cmd/veche/supervise.go), so figures of
// the relay's memory and CPU are read there; any other program's own.
func (r *relay) enginePID() int {
	pid := r.cmd.Process.Pid
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		kids, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(kids)) {
			cmdline, err := os.ReadFile("/proc/" + f + "/cmdline")
			if err == nil && strings.Contains(string(cmdline), "serve") {
				if child, err := strconv.Atoi(f); err == nil {
					return child
				}
			}
		}
	}
	return pid
}
