package crashmark_test

import (
	"bytes"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/veche-sync/veche/server/crashmark"
)

const (
	testSlots   = 4
	testMessage = 1 << 10
)

// TestMain lets the test binary play the relay process that dies in the
// core (env CRASHMARK_CHILD, the board on descriptor 3).
func TestMain(m *testing.M) {
	if os.Getenv("CRASHMARK_CHILD") != "" {
		dieInTheCore()
	}
	os.Exit(m.Run())
}

func dieInTheCore() {
	b, err := crashmark.Open(os.NewFile(3, "marks"), testSlots, testMessage)
	if err != nil {
		os.Exit(3)
	}
	// A call that came back, then one that does not.
	b.Leave(b.Enter(&crashmark.Mark{Op: crashmark.OpAnswer, Document: "done"}))
	b.Enter(&crashmark.Mark{Op: crashmark.OpLoad, Document: "other-doc"})
	b.Enter(&crashmark.Mark{Op: crashmark.OpReceive, Document: "doc-1", Principal: "member:ana", PrincipalKind: "member",
		Message: bytes.Repeat([]byte{7}, testMessage+10)})
	syscall.Kill(os.Getpid(), syscall.SIGABRT) // as the Rust core's abort does
	select {}
}

// TestMarksOutliveTheProcess: a process that dies by SIGABRT while in
// the core leaves its marks in the memory its parent made, and only
// those; a message larger than a slot is kept truncated.
func TestMarksOutliveTheProcess(t *testing.T) {
	f, err := crashmark.Create(testSlots, testMessage)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CRASHMARK_CHILD=1")
	cmd.ExtraFiles = []*os.File{f}
	err = cmd.Run()
	// Go's runtime turns SIGABRT on its threads into exit status 2.
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); err == nil || !ok || !(ws.Signaled() || ws.ExitStatus() == 2) {
		t.Fatalf("the child should have died of its SIGABRT: %v", err)
	}
	b, err := crashmark.Open(f, testSlots, testMessage)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	left := b.Left()
	if len(left) != 2 {
		t.Fatalf("left %d marks, want 2: %+v", len(left), left)
	}
	var recv, load *crashmark.Mark
	for i := range left {
		switch left[i].Op {
		case crashmark.OpReceive:
			recv = &left[i]
		case crashmark.OpLoad:
			load = &left[i]
		}
	}
	if load == nil || load.Document != "other-doc" || load.Principal != "" || len(load.Message) != 0 {
		t.Errorf("load mark: %+v", load)
	}
	if recv == nil || recv.Document != "doc-1" || recv.Principal != "member:ana" || recv.PrincipalKind != "member" ||
		!recv.Truncated || !bytes.Equal(recv.Message, bytes.Repeat([]byte{7}, testMessage)) {
		t.Errorf("receive mark: %+v", recv)
	}
	b.Clear()
	if left := b.Left(); len(left) != 0 {
		t.Errorf("after Clear, %d marks left", len(left))
	}
}

// TestNilBoardMarksNothing: a relay without a supervisor passes a nil
// board.
func TestNilBoardMarksNothing(t *testing.T) {
	var b *crashmark.Board
	b.Leave(b.Enter(&crashmark.Mark{Op: crashmark.OpReceive}))
	if b.Left() != nil {
		t.Fatal("a nil board left marks")
	}
}

// TestOpenRefusesAnotherShape: a board opened with other sizes than it
// was made with would read garbage.
func TestOpenRefusesAnotherShape(t *testing.T) {
	f, err := crashmark.Create(testSlots, testMessage)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := crashmark.Open(f, testSlots, 2*testMessage); err == nil {
		t.Fatal("opened with the wrong message size")
	}
}

// TestLargeMessagesGiveTheirMemoryBack: a slot that held a message far
// larger than keepBytes gives the pages back after Leave, and the board
// still records and reads marks in it.
func TestLargeMessagesGiveTheirMemoryBack(t *testing.T) {
	const big = 4 << 20
	f, err := crashmark.Create(2, big)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := crashmark.Open(f, 2, big)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	resident := func() int64 {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	for range 3 {
		b.Leave(b.Enter(&crashmark.Mark{Op: crashmark.OpReceive, Document: "d", Message: bytes.Repeat([]byte{1}, big)}))
	}
	if r := resident(); r > 1<<20 {
		t.Fatalf("after three 4 MiB messages came and went, the board holds %d bytes", r)
	}
	i := b.Enter(&crashmark.Mark{Op: crashmark.OpReceive, Document: "d", Message: bytes.Repeat([]byte{2}, big)})
	left := b.Left()
	if len(left) != 1 || !bytes.Equal(left[0].Message, bytes.Repeat([]byte{2}, big)) {
		t.Fatal("a slot that gave its pages back does not hold the next message")
	}
	b.Leave(i)
}
