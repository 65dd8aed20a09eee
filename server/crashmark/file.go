package crashmark

import "os"

// unlinkedFile is a temporary file removed at once: only its descriptor
// names it.
func unlinkedFile() (*os.File, error) {
	f, err := os.CreateTemp("", "veche-crashmarks-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	return f, nil
}
