//go:build !linux

package crashmark

import "os"

// anonymousFile is a temporary file removed at once: only its
// descriptor names it.
func anonymousFile() (*os.File, error) { return unlinkedFile() }
