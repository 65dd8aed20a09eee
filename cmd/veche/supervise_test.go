package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"github.com/veche-sync/veche/server/syncmsg"
	"github.com/veche-sync/veche/server/wire"
)

// vecheProcess runs this test binary as the veche command.
func vecheProcess(t *testing.T, out *lockedBuffer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "VECHE_TEST_RUN_MAIN=1")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// freeAddr is a loopback address no one listens on (the supervised relay
// binds it again after each restart, so it must be fixed, not :0).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// relayChild is the relay process the supervisor pid runs (a child of
// any of its threads; not a sandbox worker it adopted from a dead relay).
func relayChild(pid int) int {
	for _, kid := range children(pid) {
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", kid))
		if !bytes.Contains(env, []byte("VECHE_SANDBOX_WORKER=1")) {
			return kid
		}
	}
	return 0
}

// children are the child processes of pid (of any of its threads).
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		kids, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(kids)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// waitServing waits until addr answers GET /healthz 200 from a relay
// process other than not, and returns that process.
func waitServing(t *testing.T, supervisor int, addr string, not int, out *lockedBuffer) int {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if child := relayChild(supervisor); child != 0 && child != not {
			if resp, err := hc.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return child
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no relay served on %s within 30 s; output:\n%s", addr, out)
	return 0
}

// TestSupervisorRestartsTheRelay: veche serve runs the relay as a child
// process; when the child dies the way the Automerge core kills it
// (SIGABRT), the supervisor starts a new one at once, on the same address
// and data; SIGTERM to the supervisor stops both, cleanly.
func TestSupervisorRestartsTheRelay(t *testing.T) {
	var out lockedBuffer
	addr := freeAddr(t)
	cmd := vecheProcess(t, &out, "serve", "--anonymous", "--sandbox=false", "--addr", addr, "--data", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	first := waitServing(t, cmd.Process.Pid, addr, 0, &out)
	if first == cmd.Process.Pid {
		t.Fatal("the relay runs in the supervisor's process")
	}
	for i := range 3 {
		if err := syscall.Kill(first, syscall.SIGABRT); err != nil {
			t.Fatal(err)
		}
		died := time.Now()
		next := waitServing(t, cmd.Process.Pid, addr, first, &out)
		t.Logf("restart %d: a new relay process served %v after SIGABRT", i+1, time.Since(died).Round(time.Millisecond))
		first = next
	}
	if n := strings.Count(out.String(), "the relay process died; starting it again"); n != 3 {
		t.Fatalf("the supervisor reported %d restarts, want 3; output:\n%s", n, out.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("veche serve stopped with %v; output:\n%s", err, out.String())
	}
	if err := syscall.Kill(first, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("the relay process outlived its supervisor (%v)", err)
	}
	if !strings.Contains(out.String(), "relay stopped") {
		t.Fatalf("the relay did not stop gracefully; output:\n%s", out.String())
	}
}

// TestAbortWithoutMarksTurnsTheSandboxOn: under the default --sandbox
// auto, a relay that died of an abort (as the core's panics end) with no
// call marked — a crash no mark covers, so nothing is blamed and no
// incident is recorded — is followed by one with the sandbox on: the
// input that did it meets a worker first when it comes again, instead of
// restarting the relay in a loop.
func TestAbortWithoutMarksTurnsTheSandboxOn(t *testing.T) {
	var out lockedBuffer
	addr := freeAddr(t)
	cmd := vecheProcess(t, &out, "serve", "--anonymous", "--addr", addr, "--data", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	first := waitServing(t, cmd.Process.Pid, addr, 0, &out)
	if !strings.Contains(out.String(), "sandbox off") {
		t.Fatalf("the first relay process started with the sandbox on; output:\n%s", out.String())
	}
	if err := syscall.Kill(first, syscall.SIGABRT); err != nil {
		t.Fatal(err)
	}
	waitServing(t, cmd.Process.Pid, addr, first, &out)
	_, after, _ := strings.Cut(out.String(), "the relay process died; starting it again")
	if !strings.Contains(after, "sandbox on") {
		t.Fatalf("the relay after an abort with nothing marked started without the sandbox; output:\n%s", out.String())
	}
}

// TestSupervisorDoesNotRestartARelayThatNeverStarted: a relay that fails
// before it listens (here its data directory is a file) is not started
// again and again; veche serve ends with its status and its words.
func TestSupervisorDoesNotRestartARelayThatNeverStarted(t *testing.T) {
	var out lockedBuffer
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := vecheProcess(t, &out, "serve", "--addr", freeAddr(t), "--data", notADir)
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		cmd.Process.Kill()
		t.Fatalf("veche serve did not give up; output:\n%s", out.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("veche serve ended with %v, want exit status 1; output:\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "starting it again") || !strings.Contains(out.String(), notADir) {
		t.Fatalf("output:\n%s", out.String())
	}
}

// wsPeer speaks the automerge-repo protocol to a relay over a real
// websocket, as a stock client would.
type wsPeer struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialPeer(t *testing.T, addr, name string) (*wsPeer, error) {
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/sync", nil)
	if err != nil {
		return nil, err
	}
	p := &wsPeer{t: t, ws: ws}
	p.send(wire.Message{Type: wire.TypeJoin, SenderID: name, SupportedProtocolVersions: []string{"1"}, PeerMetadata: &wire.PeerMetadata{IsEphemeral: true}})
	if m, err := p.recv(); err != nil || m.Type != wire.TypePeer {
		ws.Close()
		return nil, fmt.Errorf("handshake: %v %+v", err, m)
	}
	return p, nil
}

func (p *wsPeer) send(m wire.Message) {
	b, err := wire.Encode(m)
	if err != nil {
		p.t.Fatal(err)
	}
	_ = p.ws.WriteMessage(websocket.BinaryMessage, b)
}

func (p *wsPeer) recv() (wire.Message, error) {
	_ = p.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := p.ws.ReadMessage()
	if err != nil {
		return wire.Message{}, err
	}
	return wire.Decode(b, 8<<20)
}

// TestSupervisedRecoveryWithOpenDocuments measures what the issue asks of
// the supervised engine: with 100 documents open, the time from the
// relay's death in the core (SIGABRT) to every one of them served again
// to a client that reconnects and asks for it.
func TestSupervisedRecoveryWithOpenDocuments(t *testing.T) {
	var out lockedBuffer
	addr := freeAddr(t)
	cmd := vecheProcess(t, &out, "serve", "--anonymous", "--sandbox", "never", "--addr", addr, "--data", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	first := waitServing(t, cmd.Process.Pid, addr, 0, &out)
	p, err := dialPeer(t, addr, "phone")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]wire.DocumentID, 100)
	for i := range ids {
		doc := automerge.New()
		if err := doc.Path("n").Set(int64(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := doc.Commit("x"); err != nil {
			t.Fatal(err)
		}
		// The change itself, in one sync message, as a client pushes it.
		changes, err := doc.Changes()
		if err != nil {
			t.Fatal(err)
		}
		push := syncmsg.Message{Type: syncmsg.V1, Heads: []syncmsg.Hash{syncmsg.Hash(changes[0].Hash())}, Changes: [][]byte{changes[0].Save()}}
		ids[i] = wire.NewDocumentID()
		p.send(wire.Message{Type: wire.TypeSync, SenderID: "phone", TargetID: "relay", DocumentID: ids[i], Data: push.Encode()})
	}
	// Every document answered: applied, committed, open.
	for answered := map[wire.DocumentID]bool{}; len(answered) < len(ids); {
		m, err := p.recv()
		if err != nil {
			t.Fatalf("after %d answers: %v", len(answered), err)
		}
		if m.Type == wire.TypeSync {
			answered[m.DocumentID] = true
		}
	}
	p.ws.Close()

	if err := syscall.Kill(first, syscall.SIGABRT); err != nil {
		t.Fatal(err)
	}
	died := time.Now()
	waitServing(t, cmd.Process.Pid, addr, first, &out)
	listening := time.Since(died)
	q, err := dialPeer(t, addr, "phone-again")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		empty, _ := automerge.NewSyncState(automerge.New()).GenerateMessage()
		q.send(wire.Message{Type: wire.TypeRequest, SenderID: "phone-again", TargetID: "relay", DocumentID: id, Data: empty.Bytes()})
	}
	for served := map[wire.DocumentID]bool{}; len(served) < len(ids); {
		m, err := q.recv()
		if err != nil {
			t.Fatalf("after %d documents served again: %v", len(served), err)
		}
		switch m.Type {
		case wire.TypeSync:
			served[m.DocumentID] = true
		case wire.TypeDocUnavailable:
			t.Fatalf("document %s is unavailable after the restart; output:\n%s", m.DocumentID, out.String())
		}
	}
	t.Logf("the relay died in the core with 100 documents open: listening again after %v, all 100 served again after %v",
		listening.Round(time.Millisecond), time.Since(died).Round(time.Millisecond))
}

// TestDiedOfAbort: only a death by SIGABRT — the signal itself, or Go's
// exit status 2 after it reported the signal — blames what was in the
// core; SIGKILL (the out-of-memory killer) and other exits do not.
func TestDiedOfAbort(t *testing.T) {
	for _, c := range []struct {
		script   string
		reported bool
		want     bool
	}{
		{"kill -ABRT $$", false, true},
		{"kill -KILL $$", false, false},
		{"exit 2", true, true},
		{"exit 2", false, false}, // a Go panic also exits 2, without SIGABRT
		{"exit 1", true, false},
		{"exit 0", true, false},
	} {
		err := exec.Command("sh", "-c", c.script).Run()
		if got := diedOfAbort(err, c.reported); got != c.want {
			t.Errorf("%q (SIGABRT reported %v): diedOfAbort %v, want %v", c.script, c.reported, got, c.want)
		}
	}
}

// TestCrashLoopBackoff: deaths soon after a start slow the restarts from
// the fifth within a minute, doubling to 30 s; a relay that served for a
// while before it died (crashes spread out by hostile senders, each then
// quarantined) restarts at once however often.
func TestCrashLoopBackoff(t *testing.T) {
	var quick crashLoop
	now := time.Unix(0, 0)
	var waits []time.Duration
	for range 12 {
		now = now.Add(time.Second)
		waits = append(waits, quick.died(now, time.Second))
	}
	want := []time.Duration{0, 0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	if !slices.Equal(waits, want) {
		t.Errorf("quick deaths waited %v, want %v", waits, want)
	}
	if w := quick.died(now.Add(2*time.Minute), time.Second); w != 0 {
		t.Errorf("a quick death after a quiet minute waited %v", w)
	}
	var served crashLoop
	for i := range 20 {
		if w := served.died(now.Add(time.Duration(i)*time.Second), time.Minute); w != 0 {
			t.Fatalf("death %d of a relay that served a minute waited %v", i+1, w)
		}
	}
}

// TestSupervisorReapsOrphanedWorkers: when a relay process dies, its
// sandbox workers lose their parent and end; the supervisor adopts and
// reaps them, so none stays a zombie — in a container without an init,
// veche serve is PID 1 and no one else would. The test process makes
// itself a subreaper too, as PID 1 would be: orphans the supervisor did
// not adopt would become its zombies, and the test would see them.
func TestSupervisorReapsOrphanedWorkers(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	addr := freeAddr(t)
	cmd := vecheProcess(t, &out, "serve", "--anonymous", "--sandbox", "always", "--sandbox-workers", "2", "--addr", addr, "--data", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	relay := waitServing(t, cmd.Process.Pid, addr, 0, &out)
	var workers []int
	for deadline := time.Now().Add(10 * time.Second); len(workers) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the relay runs %d sandbox workers, want 2; output:\n%s", len(workers), out.String())
		}
		workers = children(relay)
	}
	if err := syscall.Kill(relay, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitServing(t, cmd.Process.Pid, addr, relay, &out)
	for _, w := range workers {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", w))
			if err != nil {
				break // gone, reaped
			}
			if time.Now().After(deadline) {
				t.Fatalf("worker %d of the dead relay is still there 10 s later: %s", w, stat)
			}
		}
	}
}
