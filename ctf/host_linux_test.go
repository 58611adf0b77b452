package ctf

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHostProbingLinux checks the env block and the clock UUID of a trace
// with default options against uname(1) and the kernel's boot_id.
func TestHostProbingLinux(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "trace"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	env := map[string]string{}
	for _, e := range w.Metadata().Env {
		env[e.Key] = e.Str
	}
	for key, flag := range map[string]string{"sysname": "-s", "kernel_release": "-r", "kernel_version": "-v"} {
		out, err := exec.Command("uname", flag).Output()
		if err != nil {
			t.Fatalf("uname %s: %v", flag, err)
		}
		if want := strings.TrimSpace(string(out)); env[key] != want {
			t.Errorf("env %s = %q, uname %s says %q", key, env[key], flag, want)
		}
	}
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	boot := strings.TrimSpace(string(b))
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(boot) {
		t.Fatalf("boot_id %q is not a UUID", boot)
	}
	if got := w.Metadata().Clocks[0].UUID; got != boot {
		t.Errorf("clock UUID %q, boot_id %q", got, boot)
	}
}
