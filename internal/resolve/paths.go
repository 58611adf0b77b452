package resolve

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MappedPaths returns the files process pid has mapped: its executable
// first, then every other mapped file once, in the order of
// /proc/PID/maps. Each is spelled as bpftrace spells it, through the
// process's root (/proc/PID/root/usr/lib/libc.so.6), so that a file of
// another mount namespace is reachable from this one. Deleted files are
// left out.
func MappedPaths(pid int) ([]string, error) {
	root := fmt.Sprintf("/proc/%d/root", pid)
	var out []string
	seen := map[string]bool{}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && !strings.Contains(exe, "(deleted)") {
		out = append(out, root+exe)
		seen[root+exe] = true
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, fmt.Errorf("-p %d: %w", pid, err)
	}
	defer f.Close()
	for _, p := range mapsFiles(f) {
		if !seen[root+p] {
			seen[root+p] = true
			out = append(out, root+p)
		}
	}
	return out, nil
}

// mapsFiles returns the files a /proc/PID/maps listing maps, once each, in
// order: the paths (which may hold spaces) of the lines whose sixth field
// starts with '/', but for deleted files. [heap], [vdso] and anonymous
// mappings are left out.
func mapsFiles(r io.Reader) []string {
	var out []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		// address perms offset dev inode path
		rest := line
		for i := 0; i < 5; i++ {
			rest = strings.TrimLeft(rest, " \t")
			j := strings.IndexAny(rest, " \t")
			if j < 0 {
				rest = ""
				break
			}
			rest = rest[j:]
		}
		p := strings.TrimLeft(rest, " \t")
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "(deleted)") || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// HasWildcard reports whether s holds a glob character bpftrace expands.
func HasWildcard(s string) bool { return strings.ContainsAny(s, "*?[") }

// BinaryPaths returns the binaries a uprobe or USDT target names, as
// bpftrace resolves them: a glob (./testprogs/uprobe*) expands to the
// ELF executables and shared objects it matches, in name order; a path
// is taken as is if it exists (through the root of process pid when it
// is not found here: the process may live in another mount namespace);
// a bare name is searched as FindBinary does. An empty result is not an
// error.
func BinaryPaths(target string, pid int) ([]string, error) {
	if !HasWildcard(target) {
		p, err := FindBinary(target, pid)
		if err != nil {
			return nil, err
		}
		return []string{p}, nil
	}
	pattern := target
	if !strings.Contains(pattern, "/") {
		// A bare glob: the directories of $PATH.
		var out []string
		for _, d := range filepath.SplitList(os.Getenv("PATH")) {
			ms, _ := filepath.Glob(filepath.Join(d, pattern))
			for _, m := range ms {
				if isExecutableELF(m) {
					out = append(out, m)
				}
			}
		}
		return out, nil
	}
	ms, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	if len(ms) == 0 && pid > 0 && filepath.IsAbs(pattern) {
		root := fmt.Sprintf("/proc/%d/root", pid)
		ms, _ = filepath.Glob(root + pattern)
	}
	var out []string
	for _, m := range ms {
		if isExecutableELF(m) {
			// Keep the spelling of the pattern (./testprogs/x, not
			// testprogs/x): bpftrace prints what glob(3) returns.
			if strings.HasPrefix(target, "./") && !strings.HasPrefix(m, "./") {
				m = "./" + m
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// isExecutableELF reports whether path is an ELF shared object, or an ELF
// executable with an execute permission bit.
func isExecutableELF(path string) bool {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var hdr [18]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:4]) != "\x7fELF" {
		return false
	}
	// e_type, in the file's byte order.
	typ := uint16(hdr[16]) | uint16(hdr[17])<<8
	if hdr[5] == 2 {
		typ = uint16(hdr[16])<<8 | uint16(hdr[17])
	}
	switch typ {
	case 3: // ET_DYN
		return true
	case 2: // ET_EXEC
		return st.Mode()&0o111 != 0
	}
	return false
}
