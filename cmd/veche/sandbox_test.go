package main

import (
	"os"
	"testing"

	"github.com/veche-sync/veche/server/sandbox"
)

// TestMain lets this test binary serve as the sandbox workers of the
// relays the tests run in-process, as the veche binary does, and as the
// veche command itself (env VECHE_TEST_RUN_MAIN), for tests of what only
// a process can show: the supervisor restarting a relay that died.
func TestMain(m *testing.M) {
	sandbox.RunIfWorker()
	if os.Getenv("VECHE_TEST_RUN_MAIN") != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
