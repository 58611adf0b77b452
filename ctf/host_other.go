//go:build !linux

package ctf

import (
	"runtime"
	"time"
)

// hostKernel returns the operating system's name for the env block's
// sysname; the kernel release and version are left empty (set them
// through Options.Env).
func hostKernel() (sysname, release, version string) {
	return runtime.GOOS, "", ""
}

// hostBootID returns "": there is no boot_id to name the clock by (set
// Options.ClockUUID).
func hostBootID() string { return "" }

// clockOrigin is the start of the clock of MonotonicNow.
var clockOrigin = time.Now()

// MonotonicNow returns the ns elapsed on Go's monotonic clock since the
// package was initialized. Outside Linux it is not the clock of
// bpf_ktime_get_ns: a caller timing events with another clock sets
// Options.Clock and Options.ClockOffset.
func MonotonicNow() uint64 {
	return uint64(time.Since(clockOrigin))
}

// MonotonicOffset returns the wall-clock time, in ns since the Unix epoch,
// at which MonotonicNow was zero.
func MonotonicOffset() int64 {
	return clockOrigin.UnixNano()
}
