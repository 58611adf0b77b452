package resolve_test

// Regression tests of bugs the stage tests found in the resolver.

import (
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// TestProfilePeriodOverflow: Rate*1e9 (s), *1e6 (ms) and *1e3 (us) can
// wrap around in uint64; the wrapped period was used as is
// (profile:s:18446744074 sampled every 0.29 s) and is now refused.
func TestProfilePeriodOverflow(t *testing.T) {
	for _, spec := range []string{"profile:s:18446744074", "profile:ms:18446744073710", "profile:us:18446744073709552"} {
		t.Run(spec, func(t *testing.T) {
			sp, err := probe.Parse(spec)
			if err != nil {
				t.Fatal(err)
			}
			p, err := resolve.Profile(sp)
			if err == nil {
				t.Errorf("Profile(%s) = a period of %d ns, want an out-of-range error", spec, p.Target.Period)
			}
		})
	}
}

// TestTaskFieldErrorNamesTheStruct: a member missing from a struct
// reached through a pointer was reported as missing from task_struct.
func TestTaskFieldErrorNamesTheStruct(t *testing.T) {
	kernelBTF(t)
	_, _, err := resolve.TaskField("x", "mm.nosuch")
	if err == nil || !strings.Contains(err.Error(), "mm_struct has no member nosuch") {
		t.Errorf("TaskField(mm.nosuch) = %v, want it to name mm_struct", err)
	}
}
