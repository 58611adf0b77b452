package tracefs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Well-known tracefs locations.
const (
	// DefaultRoot is where tracefs is mounted on current systems, and where
	// [Root] mounts it.
	DefaultRoot = "/sys/kernel/tracing"
	// DebugfsRoot is the older location below debugfs.
	DebugfsRoot = "/sys/kernel/debug/tracing"
)

// Root returns the directory where tracefs is mounted. It looks for a tracefs
// mount in /proc/self/mountinfo (preferring [DefaultRoot]), then for
// [DebugfsRoot] with debugfs mounted, and when neither is found mounts tracefs
// on [DefaultRoot] itself, which needs CAP_SYS_ADMIN.
func Root() (string, error) {
	var mounts []mount
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		mounts, err = parseMountinfo(f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("tracefs: %w", err)
		}
	}
	if root, ok := findRoot(mounts, hasEvents); ok {
		return root, nil
	}
	// Mounted but not readable: a permission problem, not a missing mount.
	if root, ok := findRoot(mounts, func(string) bool { return true }); ok {
		if _, err := os.Stat(filepath.Join(root, "events")); os.IsPermission(err) {
			return "", fmt.Errorf("tracefs at %s is not readable: %w; run as root", root, err)
		}
	}
	if err := mountTracefs(DefaultRoot); err != nil {
		return "", fmt.Errorf("tracefs is not mounted and mounting it failed: %w; "+
			"run as root or mount -t tracefs nodev %s", err, DefaultRoot)
	}
	if !hasEvents(DefaultRoot) {
		return "", fmt.Errorf("tracefs: mounted tracefs on %s but it has no events directory; "+
			"is the kernel built with CONFIG_FTRACE / tracepoints?", DefaultRoot)
	}
	return DefaultRoot, nil
}

// hasEvents reports whether dir looks like a tracefs root.
func hasEvents(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "events"))
	return err == nil && fi.IsDir()
}

// mount is one line of /proc/self/mountinfo, reduced to what Root needs.
type mount struct {
	Point, FSType string
}

// parseMountinfo reads the mount point (field 5) and filesystem type (first
// field after " - ") of each line of a mountinfo file.
func parseMountinfo(r io.Reader) ([]mount, error) {
	var out []mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) {
			return nil, fmt.Errorf("mountinfo line %d: malformed %q", n, sc.Text())
		}
		out = append(out, mount{Point: unescapeMountinfo(fields[4]), FSType: fields[sep+1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMountinfo undoes the \ooo octal escapes (space, tab, newline,
// backslash) that the kernel uses in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// findRoot picks the tracefs root from the mounts: a tracefs mount at
// DefaultRoot first, then any other tracefs mount, then DebugfsRoot when
// debugfs is mounted on its parent. When mountinfo was unreadable (no
// mounts), the two well-known paths are probed directly. ok reports whether
// the candidate has an events directory.
func findRoot(mounts []mount, ok func(string) bool) (string, bool) {
	var cands []string
	for _, m := range mounts {
		if m.FSType == "tracefs" && m.Point == DefaultRoot {
			cands = append(cands, m.Point)
		}
	}
	for _, m := range mounts {
		if m.FSType == "tracefs" && m.Point != DefaultRoot {
			cands = append(cands, m.Point)
		}
	}
	for _, m := range mounts {
		if m.FSType == "debugfs" {
			cands = append(cands, filepath.Join(m.Point, "tracing"))
		}
	}
	if len(mounts) == 0 {
		cands = append(cands, DefaultRoot, DebugfsRoot)
	}
	for _, c := range cands {
		if ok(c) {
			return c, true
		}
	}
	return "", false
}
