package interop

import (
	"os/exec"
	"syscall"
)

// orphanProof makes the kernel kill cmd if the test binary dies first, so
// a crashed or killed test run leaves no relay or client behind.
func orphanProof(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
