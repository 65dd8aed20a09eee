package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// childAttr binds the relay process's life to its supervisor's: killed
// (SIGKILL), the supervisor takes the relay with it, as if it had been
// killed itself. A stop asked of the supervisor (SIGTERM, SIGINT) is
// passed on as SIGTERM, a graceful stop.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }

// orphans reaps the supervisor's adopted descendants. When a relay
// process dies, its sandbox workers lose their parent; they end on their
// own (their input closes), but a dead process stays a zombie until its
// parent waits for it. The kernel gives orphans to the nearest ancestor
// that asked for them (PR_SET_CHILD_SUBREAPER), else to PID 1 — and in a
// container without an init, veche serve is PID 1. So the supervisor asks
// for them and reaps every child but the current relay process, which its
// exec.Cmd waits for. mu keeps a relay process that ends at once from
// being reaped before its pid is known (start holds it across Start).
type orphans struct {
	mu    sync.Mutex
	relay int
}

// adopt makes this process the reaper of its descendants' orphans and
// reaps them until ctx ends.
func (o *orphans) adopt(ctx context.Context) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGCHLD)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				o.reap()
			}
		}
	}()
	return nil
}

// start starts the relay process and records its pid, with reaping held
// off.
func (o *orphans) start(start func() (int, error)) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	pid, err := start()
	o.relay = pid
	return err
}

// reap waits for every ended child but the relay process.
func (o *orphans) reap() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		var info unix.Siginfo
		// WNOWAIT: look without reaping, so the relay's exit is left to
		// its exec.Cmd.
		if err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
			return
		}
		pid := siginfoPid(&info)
		if pid <= 0 || pid == o.relay {
			return
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil {
			return
		}
	}
}

// siginfoPid is si_pid of a SIGCHLD siginfo: after three ints, at the
// union's start, 8-byte aligned (x/sys/unix keeps it unexported).
func siginfoPid(info *unix.Siginfo) int {
	b := (*[128]byte)(unsafe.Pointer(info))
	return int(*(*int32)(unsafe.Pointer(&b[16])))
}
