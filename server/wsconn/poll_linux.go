package wsconn

import (
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller is one epoll set shared by the idle connections of the process.
// A connection waiting for its next frame is registered there, one-shot,
// and one goroutine waiting on the set for all of them wakes a connection
// when its socket has input, has ended or has failed: an idle connection
// holds no goroutine of its own (issue 11). The socket stays in the Go
// runtime's poller as well (a file may be in several epoll sets); the
// runtime's set serves reads and writes, this one only the wait between
// bursts of frames.
//
// Events carry a registration number, not the socket's descriptor: a
// descriptor is reused once closed, a number never is, so an event that
// was on its way when its connection closed wakes nothing.
type poller struct {
	epfd int
	file *os.File        // epfd, registered with the Go runtime's poller
	set  syscall.RawConn // file's descriptor, read through the runtime's poller

	mu    sync.Mutex       // guards the following, and Conn.pollID
	conns map[uint64]*Conn // registered connections by number
	last  uint64           // the last number given
}

var (
	pollerOnce   sync.Once
	sharedPoller *poller // nil where no epoll set could be made
)

// thePoller returns the process's poller, starting it on first use; nil
// when epoll is unavailable (the caller then waits on a goroutine).
func thePoller() *poller {
	pollerOnce.Do(func() {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			_ = unix.Close(fd)
			return
		}
		// An epoll set is itself pollable (readable while it holds a ready
		// event), so the runtime's poller can wait on it: no thread sits in
		// epoll_wait, and the runtime's system monitor is not kept awake
		// taking the processor back from a goroutine blocked in a system
		// call after every burst (it was half of the relay's context
		// switches under load).
		file := os.NewFile(uintptr(fd), "veche-idle-connections")
		set, err := file.SyscallConn()
		if err != nil {
			_ = file.Close()
			return
		}
		sharedPoller = &poller{epfd: fd, file: file, set: set, conns: make(map[uint64]*Conn)}
		go sharedPoller.run()
	})
	return sharedPoller
}

// run waits on the set for ever and wakes the connections whose sockets
// are ready. It runs on a goroutine of its own, parked in the runtime's
// poller while no socket is ready (one goroutine, no thread, for all idle
// connections).
func (p *poller) run() {
	events := make([]unix.EpollEvent, 128)
	ready := make([]*Conn, 0, len(events))
	for {
		var n int
		var err error
		// Read calls the function again each time the set turns readable,
		// until it reports done; epoll_wait does not block (timeout 0).
		if rerr := p.set.Read(func(uintptr) bool {
			n, err = unix.EpollWait(p.epfd, events, 0)
			return n > 0 || (err != nil && err != unix.EINTR)
		}); rerr != nil {
			err = rerr
		}
		if err != nil {
			panic("wsconn: epoll_wait: " + err.Error()) // a bad descriptor or buffer: a bug, not a condition
		}
		p.mu.Lock()
		for _, ev := range events[:n] {
			if c := p.conns[eventID(&ev)]; c != nil {
				ready = append(ready, c)
			}
		}
		p.mu.Unlock()
		for i, c := range ready {
			c.wake()
			ready[i] = nil
		}
		ready = ready[:0]
	}
}

// arm asks for one wake of c once its socket has input, has ended or has
// failed; one already waiting wakes it at once. It reports false when it
// could not (c is closed, or epoll refused the socket).
func (p *poller) arm(c *Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-c.done:
		return false
	default:
	}
	op := unix.EPOLL_CTL_MOD
	if c.pollID == 0 {
		p.last++
		c.pollID, op = p.last, unix.EPOLL_CTL_ADD
		p.conns[c.pollID] = c
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setEventID(&ev, c.pollID)
	var err error
	if cerr := c.raw.Control(func(fd uintptr) { err = unix.EpollCtl(p.epfd, op, int(fd), &ev) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		delete(p.conns, c.pollID)
		c.pollID = 0
		return false
	}
	return true
}

// remove takes c out of the set before its socket is closed. Called once,
// after c.done is closed, so that arm cannot put it back.
func (p *poller) remove(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.pollID == 0 {
		return
	}
	delete(p.conns, c.pollID)
	c.pollID = 0
	_ = c.raw.Control(func(fd uintptr) { _ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
}

// eventID and setEventID read and write the 64 bits of epoll_data, which
// x/sys/unix spells as two int32 fields on every architecture.
func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}
