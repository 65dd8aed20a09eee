package crashmark

import (
	"os"

	"golang.org/x/sys/unix"
)

// anonymousFile is a memfd: memory with a descriptor, never on disk. Where
// a system call filter refuses memfd_create, an unlinked temporary file
// does the same work.
func anonymousFile() (*os.File, error) {
	fd, err := unix.MemfdCreate("veche-crashmarks", 0)
	if err != nil {
		return unlinkedFile()
	}
	return os.NewFile(uintptr(fd), "veche-crashmarks"), nil
}
