package main

import (
	"os"
	"testing"

	"github.com/veche-sync/veche/server/sandbox"
)

// TestMain lets this test binary serve as the sandbox workers of the
// relays the tests run in-process, as the veche binary does.
func TestMain(m *testing.M) {
	sandbox.RunIfWorker()
	os.Exit(m.Run())
}
