package ctf

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestDefaultClockIsWallClockWithOffset checks, on every system, that the
// default clock plus its measured offset is the wall-clock time.
func TestDefaultClockIsWallClockWithOffset(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "trace"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	before := time.Now().UnixNano()
	now := int64(MonotonicNow())
	after := time.Now().UnixNano()
	wall := now + w.Metadata().Clocks[0].Offset
	const slack = int64(50 * time.Millisecond)
	if wall < before-slack || wall > after+slack {
		t.Errorf("MonotonicNow %d + offset %d = %d, wall clock between %d and %d", now, w.Metadata().Clocks[0].Offset, wall, before, after)
	}
	if later := MonotonicNow(); later < uint64(now) {
		t.Errorf("MonotonicNow went back from %d to %d", now, later)
	}
	env := map[string]string{}
	for _, e := range w.Metadata().Env {
		env[e.Key] = e.Str
	}
	if env["sysname"] == "" {
		t.Errorf("empty sysname on %s: %v", runtime.GOOS, env)
	}
}
