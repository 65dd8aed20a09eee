package main

import "syscall"

// childAttr binds the relay process's life to its supervisor's: killed
// (SIGKILL), the supervisor takes the relay with it, as if it had been
// killed itself. A stop asked of the supervisor (SIGTERM, SIGINT) is
// passed on as SIGTERM, a graceful stop.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
