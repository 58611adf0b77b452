package scriptrun_test

import (
	"os"
	"testing"

	"github.com/bpftrail/bpftrail/internal/command"
)

// TestMain lets this test binary be the held child of a run's command
// (Options.Command): command.Start re-executes it, and Init then waits and
// execs the command.
func TestMain(m *testing.M) {
	command.Init()
	os.Exit(m.Run())
}
