//go:build !linux

package interop

import "os/exec"

// orphanProof does nothing here: only Linux has a parent-death signal.
// Clients still exit when their stdin closes, or after their lifetime.
func orphanProof(*exec.Cmd) {}
