package crashmark

import (
	"os"

	"golang.org/x/sys/unix"
)

// anonymousFile is a memfd: memory with a descriptor, never on disk.
func anonymousFile() (*os.File, error) {
	fd, err := unix.MemfdCreate("veche-crashmarks", 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "veche-crashmarks"), nil
}
