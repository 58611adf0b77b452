package ctf

import (
	"math"
	"os"
	"strings"
	"syscall"
	"unsafe"
)

// hostKernel returns the uname(2) sysname, release and version for the
// env block.
func hostKernel() (sysname, release, version string) {
	var uts syscall.Utsname
	_ = syscall.Uname(&uts)
	return cstring(uts.Sysname[:]), cstring(uts.Release[:]), cstring(uts.Version[:])
}

// cstring returns the text of a NUL-terminated C char array (int8 or
// uint8, as the architecture declares utsname's).
func cstring[T int8 | uint8](b []T) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
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

// Clock ids of clock_gettime(2).
const (
	clockRealtime  = 0
	clockMonotonic = 1
)

// clockNow reads clock id through clock_gettime(2), in ns.
func clockNow(id uintptr) int64 {
	var ts syscall.Timespec
	_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

// MonotonicNow returns CLOCK_MONOTONIC in ns, the clock of
// bpf_ktime_get_ns.
func MonotonicNow() uint64 { return uint64(clockNow(clockMonotonic)) }

// MonotonicOffset returns CLOCK_REALTIME minus CLOCK_MONOTONIC in ns,
// measured as the tightest of a few samples.
func MonotonicOffset() int64 {
	best, bestWidth := int64(0), int64(math.MaxInt64)
	for range 5 {
		a := clockNow(clockMonotonic)
		r := clockNow(clockRealtime)
		b := clockNow(clockMonotonic)
		if w := b - a; w < bestWidth {
			bestWidth = w
			best = r - (a+b)/2
		}
	}
	return best
}
