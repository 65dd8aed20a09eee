package sandbox

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/veche-sync/veche/crdt"
)

// The after-check fuzzer: mutated changes that survive Check, then what
// the relay does with the document next in its own core — save and load,
// answer a new peer, read every value, look up and write every map key,
// edit lists and texts, read the council view — in a child process, so
// that a crash there is a finding: an input Check lets through that would
// take the relay down. A hostile trial found three such classes with it
// (a sequence number skipping ahead: the clock of the new heads; a list
// element's key in a map: every key search there; and saved forms that do
// not load), each now checked in the worker. The normal run makes a few
// hundred tries from a fixed seed; a long one, writing what it finds:
//
//	go test ./server/sandbox -run TestAfterCheckFuzz -after.tries 50000 -after.seed 0 -after.out /tmp/found
//
// A finding joins the corpus (../testdata/crashers) once the sandbox
// crashes on it (TestCorpusCrashesTheCore), at the site it names.
var (
	afterTries = flag.Int("after.tries", 300, "mutations TestAfterCheckFuzz tries")
	afterSeed  = flag.Uint64("after.seed", 1, "seed of TestAfterCheckFuzz (0: from the clock)")
	afterOut   = flag.String("after.out", "", "directory TestAfterCheckFuzz writes every input it finds to")
)

// afterChildEnv turns the test binary into the fuzzer's child.
const afterChildEnv = "VECHE_AFTER_CHECK_CHILD"

func TestAfterCheckFuzz(t *testing.T) {
	if os.Getenv(afterChildEnv) == "1" {
		afterChild()
		return
	}
	seeds := seedHistories(t)
	seed := *afterSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	pool, err := Start(Options{Workers: 1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	child := startAfterChild(t)
	defer func() { child.stop() }()
	survived := 0
	for i := 0; i < *afterTries; i++ {
		h := seeds[rng.IntN(len(seeds))]
		at := rng.IntN(len(h))
		var state, msg []byte
		if at > 0 {
			state = concat(h[:at])
		}
		switch rng.IntN(3) {
		case 0:
			state = nil
			msg = syncMessage(append(append([][]byte(nil), h[:at]...), mutate(rng, h[at]))...)
		case 1:
			msg = syncMessage(reshape(rng, h[at]))
		default:
			msg = syncMessage(mutate(rng, h[at]))
		}
		doc := fmt.Sprint("after-", i)
		err := probe(pool, doc, state, msg)
		pool.Forget(doc)
		if err != nil {
			continue // refused or contained: not the relay's concern
		}
		survived++
		if op, detail, ok := child.run(state, msg); !ok {
			t.Errorf("seed %d try %d: an input the sandbox let through crashed the core in %s at %s\n%s", seed, i, op, panicSite(detail), lastWords(detail))
			if *afterOut != "" {
				// It survived the check, so applying it alone does too.
				writeCrasher(t, *afterOut, Crasher{Site: panicSite(detail), State: state, Message: msg, Generate: true})
			}
			child.stop()
			child = startAfterChild(t)
		}
	}
	t.Logf("seed %d: %d tries, %d survived the sandbox and the relay's later calls", seed, *afterTries, survived)
}

type afterProcess struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *lockedBuffer
}

// lockedBuffer is the child's stderr: exec copies into it on a goroutine
// of its own while run resets it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startAfterChild(t *testing.T) *afterProcess {
	t.Helper()
	p := &afterProcess{stderr: &lockedBuffer{}}
	p.cmd = exec.Command(os.Args[0], "-test.run", "^TestAfterCheckFuzz$")
	p.cmd.Env = append(os.Environ(), afterChildEnv+"=1")
	p.cmd.Stderr = p.stderr
	var err error
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.out = bufio.NewReader(out)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// run has the child take state and msg through the relay's later calls;
// it reports the call it died in, and its last words, when it died.
func (p *afterProcess) run(state, msg []byte) (op, detail string, ok bool) {
	var frame []byte
	frame = binary.AppendUvarint(frame, uint64(len(state)))
	frame = append(frame, state...)
	frame = binary.AppendUvarint(frame, uint64(len(msg)))
	frame = append(frame, msg...)
	p.in.Write(binary.AppendUvarint(nil, uint64(len(frame))))
	p.in.Write(frame)
	if line, err := p.out.ReadString('\n'); err == nil && line == "ok\n" {
		p.stderr.Reset()
		return "", "", true
	}
	p.cmd.Wait()
	e := p.stderr.String()
	if k := strings.LastIndex(e, "CALL "); k >= 0 {
		op = strings.SplitN(e[k+5:], "\n", 2)[0]
	}
	return op, e, false
}

func (p *afterProcess) stop() {
	p.in.Close()
	p.cmd.Wait()
}

func afterChild() {
	r := bufio.NewReader(os.Stdin)
	for {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			os.Exit(0)
		}
		frame := make([]byte, n)
		if _, err := io.ReadFull(r, frame); err != nil {
			os.Exit(0)
		}
		sl, k := binary.Uvarint(frame)
		rest := frame[k+int(sl):]
		ml, k2 := binary.Uvarint(rest)
		afterCalls(frame[k:k+int(sl)], rest[k2:k2+int(ml)])
		os.Stdout.WriteString("ok\n")
	}
}

func call(name string) { fmt.Fprintf(os.Stderr, "CALL %s\n", name) }

// afterCalls is what the relay may do in its own core with a document
// once a message was applied: each call is named on stderr first.
func afterCalls(state, msg []byte) {
	doc := automerge.New()
	if len(state) > 0 && doc.LoadIncremental(state) != nil {
		return
	}
	ss := automerge.NewSyncState(doc)
	if _, err := ss.ReceiveMessage(msg); err != nil {
		return
	}
	ss.GenerateMessage()
	call("save")
	doc.SaveIncremental()
	if loaded, err := automerge.Load(doc.Save()); err == nil {
		loaded.Heads()
	}
	call("changes")
	if cs, err := doc.Changes(); err == nil {
		for _, c := range cs {
			c.Message()
		}
	}
	call("answer a new peer")
	peer := automerge.New()
	a, b := automerge.NewSyncState(doc), automerge.NewSyncState(peer)
	for range 10 {
		m1, ok1 := a.GenerateMessage()
		if ok1 {
			b.ReceiveMessage(m1.Bytes())
		}
		m2, ok2 := b.GenerateMessage()
		if ok2 {
			a.ReceiveMessage(m2.Bytes())
		}
		if !ok1 && !ok2 {
			break
		}
	}
	call("fork at earlier changes and save (a new phone's prefix image)")
	if cs, err := doc.Changes(); err == nil && len(cs) > 1 {
		for _, c := range []*automerge.Change{cs[0], cs[len(cs)/2], cs[len(cs)-2]} {
			if f, err := doc.Fork(c.Hash()); err == nil {
				f.Save()
			}
			call("changes since an earlier change (a bundle --since, a peer's lastSync)")
			doc.Changes(c.Hash())
		}
	}
	call("read every value and key")
	readAll(doc.Root(), 0)
	call("read the council view")
	crdt.Read(doc, "", time.Now())
	call("write every object")
	if f, err := doc.Fork(); err == nil {
		writeAll(f.Root(), 0)
		f.Commit("local")
		call("merge the writes")
		doc.Merge(f)
		doc.SaveIncremental()
	}
}

func readAll(v *automerge.Value, depth int) {
	if v == nil || depth > 30 {
		return
	}
	switch v.Kind() {
	case automerge.KindMap:
		m := v.Map()
		keys, _ := m.Keys()
		m.Get("")
		for _, k := range keys {
			x, _ := m.Get(k)
			m.Get(k + "\x00")
			readAll(x, depth+1)
		}
	case automerge.KindList:
		vals, _ := v.List().Values()
		for _, x := range vals {
			readAll(x, depth+1)
		}
	case automerge.KindText:
		v.Text().Get()
	case automerge.KindCounter:
		v.Counter().Get()
	}
}

func writeAll(v *automerge.Value, depth int) {
	if v == nil || depth > 30 {
		return
	}
	switch v.Kind() {
	case automerge.KindMap:
		m := v.Map()
		vals, _ := m.Values()
		m.Set("zz-local", int64(depth))
		for k, x := range vals {
			writeAll(x, depth+1)
			switch x.Kind() {
			case automerge.KindMap, automerge.KindList, automerge.KindText:
			default:
				m.Set(k, "overwritten")
			}
		}
		for k := range vals {
			m.Delete(k)
			break
		}
	case automerge.KindList:
		l := v.List()
		vals, _ := l.Values()
		for _, x := range vals {
			writeAll(x, depth+1)
		}
		l.Append("x")
		l.Insert(0, "y")
		if l.Len() > 2 {
			l.Set(1, "z")
			l.Delete(l.Len() - 1)
		}
	case automerge.KindText:
		t := v.Text()
		t.Insert(0, "a")
		if n := t.Len(); n > 2 {
			t.Insert(n/2, "mid")
			t.Delete(1, 1)
		}
		t.Append("end")
	case automerge.KindCounter:
		v.Counter().Inc(1)
	}
}
