package ctf

import (
	"math"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// hostKernel returns the uname(2) sysname, release and version for the
// env block.
func hostKernel() (sysname, release, version string) {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	return unix.ByteSliceToString(uts.Sysname[:]), unix.ByteSliceToString(uts.Release[:]), unix.ByteSliceToString(uts.Version[:])
}

// hostBootID returns the kernel's boot_id, the default clock UUID, as
// LTTng uses it; "" when it cannot be read.
func hostBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// MonotonicNow returns CLOCK_MONOTONIC in ns, the clock of
// bpf_ktime_get_ns.
func MonotonicNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// MonotonicOffset returns CLOCK_REALTIME minus CLOCK_MONOTONIC in ns,
// measured as the tightest of a few samples.
func MonotonicOffset() int64 {
	best, bestWidth := int64(0), int64(math.MaxInt64)
	for range 5 {
		var a, r, b unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &a)
		_ = unix.ClockGettime(unix.CLOCK_REALTIME, &r)
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
		if w := b.Nano() - a.Nano(); w < bestWidth {
			bestWidth = w
			best = r.Nano() - (a.Nano()+b.Nano())/2
		}
	}
	return best
}
