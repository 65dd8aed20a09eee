package crashmark

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Op is the kind of core call a mark covers.
type Op uint8

// The operations a relay marks.
const (
	OpReceive Op = 1 + iota // applying a peer's sync message (Mark.Message is set)
	OpAnswer                // generating a sync message for a peer
	OpLoad                  // loading a stored document
	OpSave                  // saving the changes applied since the last commit
	OpLocal                 // applying changes a local call brought (a bundle, a REST write)
	OpRead                  // reading the document's state (a REST view, the grants' fact log)
)

// String names the operation as logs and incidents show it.
func (o Op) String() string {
	switch o {
	case OpReceive:
		return "receive"
	case OpAnswer:
		return "answer"
	case OpLoad:
		return "load"
	case OpSave:
		return "save"
	case OpLocal:
		return "local"
	case OpRead:
		return "read"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Mark is what a slot says about one call into the core.
type Mark struct {
	Op            Op
	Document      string
	Principal     string // whose input it is; empty for the relay's own work
	PrincipalKind string
	// Message is the sync message being applied (OpReceive), or its first
	// bytes when Truncated.
	Message   []byte
	Truncated bool
}

// Slot layout: a 512-byte header, then the message.
const (
	headerSize   = 512
	offFlag      = 0   // uint32: 1 while the slot is in the core
	offOp        = 4   // uint8
	offTrunc     = 5   // uint8
	offDocLen    = 6   // uint16
	offPrinLen   = 8   // uint16
	offKindLen   = 10  // uint16
	offMsgLen    = 12  // uint32: bytes of the message held
	offDoc       = 16  // up to 128 bytes
	offKind      = 144 // up to 32 bytes
	offPrincipal = 176 // up to 336 bytes
	maxDoc       = offKind - offDoc
	maxKind      = offPrincipal - offKind
	maxPrincipal = headerSize - offPrincipal
)

// DefaultSlots is how many calls into the core can be marked at once; a
// further call waits for a slot.
const DefaultSlots = 16

// Board is a set of mark slots in shared memory.
type Board struct {
	file     *os.File
	mem      []byte
	slotSize int
	free     chan int
	held     []int // bytes of message each slot holds; its owner's alone
}

// keepBytes of a slot's message stay in memory after Leave; the pages of a
// larger message are given back (MADV_REMOVE), so a few large messages do
// not keep the board's memory resident for good.
const keepBytes = 64 << 10

// Size is the bytes a board of slots, each holding a message of up to
// maxMessage bytes, takes.
func Size(slots, maxMessage int) int { return slots * (headerSize + maxMessage) }

// Create makes the memory for a board: a file of Size(slots, maxMessage)
// bytes that lives in memory and has no name (a memfd on Linux), for a
// supervisor to hand to each relay process it starts (as an inherited
// descriptor) and to keep across their deaths.
func Create(slots, maxMessage int) (*os.File, error) {
	f, err := anonymousFile()
	if err != nil {
		return nil, fmt.Errorf("crash marks: %w", err)
	}
	if err := f.Truncate(int64(Size(slots, maxMessage))); err != nil {
		f.Close()
		return nil, fmt.Errorf("crash marks: %w", err)
	}
	return f, nil
}

// Open maps f (made by Create with the same slots and maxMessage) as a
// board. Marks a dead process left stay until Clear.
func Open(f *os.File, slots, maxMessage int) (*Board, error) {
	if slots <= 0 || maxMessage <= 0 {
		return nil, errors.New("crash marks: slots and message size must be positive")
	}
	size := Size(slots, maxMessage)
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("crash marks: %w", err)
	}
	if st.Size() != int64(size) {
		return nil, fmt.Errorf("crash marks: the shared memory holds %d bytes, want %d (%d slots of %d-byte messages)", st.Size(), size, slots, maxMessage)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("crash marks: %w", err)
	}
	b := &Board{file: f, mem: mem, slotSize: headerSize + maxMessage, free: make(chan int, slots), held: make([]int, slots)}
	for i := range slots {
		b.free <- i
	}
	return b, nil
}

// Close unmaps the board.
func (b *Board) Close() error {
	if b == nil {
		return nil
	}
	return unix.Munmap(b.mem)
}

func (b *Board) slot(i int) []byte { return b.mem[i*b.slotSize : (i+1)*b.slotSize] }

func (b *Board) flag(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&b.slot(i)[offFlag]))
}

// Enter marks a call into the core and returns the slot to pass to
// Leave. On a nil board it marks nothing and returns -1.
func (b *Board) Enter(m *Mark) int {
	if b == nil {
		return -1
	}
	i := <-b.free
	s := b.slot(i)
	s[offOp] = byte(m.Op)
	doc, kind, prin := clip(m.Document, maxDoc), clip(m.PrincipalKind, maxKind), clip(m.Principal, maxPrincipal)
	binary.LittleEndian.PutUint16(s[offDocLen:], uint16(copy(s[offDoc:], doc)))
	binary.LittleEndian.PutUint16(s[offKindLen:], uint16(copy(s[offKind:], kind)))
	binary.LittleEndian.PutUint16(s[offPrinLen:], uint16(copy(s[offPrincipal:], prin)))
	n := copy(s[headerSize:], m.Message)
	b.held[i] = n
	binary.LittleEndian.PutUint32(s[offMsgLen:], uint32(n))
	s[offTrunc] = 0
	if n < len(m.Message) {
		s[offTrunc] = 1
	}
	atomic.StoreUint32(b.flag(i), 1)
	return i
}

// Leave clears the mark Enter made in slot i.
func (b *Board) Leave(i int) {
	if b == nil || i < 0 {
		return
	}
	atomic.StoreUint32(b.flag(i), 0)
	if n := b.held[i]; n > keepBytes {
		page := os.Getpagesize()
		from := i*b.slotSize + headerSize + keepBytes
		from += (page - from%page) % page
		to := i*b.slotSize + headerSize + n
		to -= to % page // whole pages of this slot only: the next slot's header may share the last
		if to > from {
			_ = unix.Madvise(b.mem[from:to], unix.MADV_REMOVE)
		}
	}
	b.free <- i
}

// Left returns the marks of calls that were in the core when the process
// that made them died. Call it before the first Enter.
func (b *Board) Left() []Mark {
	if b == nil {
		return nil
	}
	var out []Mark
	for i := range cap(b.free) {
		if atomic.LoadUint32(b.flag(i)) != 1 {
			continue
		}
		s := b.slot(i)
		m := Mark{
			Op:            Op(s[offOp]),
			Document:      string(s[offDoc : offDoc+min(int(binary.LittleEndian.Uint16(s[offDocLen:])), maxDoc)]),
			PrincipalKind: string(s[offKind : offKind+min(int(binary.LittleEndian.Uint16(s[offKindLen:])), maxKind)]),
			Principal:     string(s[offPrincipal : offPrincipal+min(int(binary.LittleEndian.Uint16(s[offPrinLen:])), maxPrincipal)]),
			Truncated:     s[offTrunc] == 1,
		}
		if n := min(int(binary.LittleEndian.Uint32(s[offMsgLen:])), b.slotSize-headerSize); n > 0 {
			m.Message = append([]byte(nil), s[headerSize:headerSize+n]...)
		}
		out = append(out, m)
	}
	return out
}

// Clear forgets every mark left: after the new process recorded them.
func (b *Board) Clear() {
	if b == nil {
		return
	}
	for i := range cap(b.free) {
		atomic.StoreUint32(b.flag(i), 0)
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
