// Package syscalls maps syscall names to their numbers on this
// architecture, so that many syscall tracepoints can be recorded through
// the two raw_syscalls tracepoints instead of one attachment each.
package syscalls

//go:generate ./mktable.sh

// Number returns the syscall number of name ("openat") on this machine's
// architecture, and whether it is known.
func Number(name string) (int, bool) {
	n, ok := table[name]
	return n, ok
}

// Max is one more than the largest known syscall number.
func Max() int {
	m := 0
	for _, n := range table {
		if n >= m {
			m = n + 1
		}
	}
	return m
}

// Name returns the name of syscall number nr, and whether it is known.
func Name(nr int) (string, bool) {
	for name, n := range table {
		if n == nr {
			return name, true
		}
	}
	return "", false
}
