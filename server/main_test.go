package server

import (
	"os"
	"testing"

	"github.com/veche-sync/veche/server/sandbox"
)

// TestMain lets this test binary serve as a sandbox worker: a Pool starts
// its workers by running its own executable again.
func TestMain(m *testing.M) {
	sandbox.RunIfWorker()
	os.Exit(m.Run())
}
