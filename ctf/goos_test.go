package ctf

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildsForOtherSystems builds the package for systems other than
// Linux, where the host probing of host_linux.go is replaced by the
// defaults of host_other.go: the package is public and must not tie its
// users to Linux.
func TestBuildsForOtherSystems(t *testing.T) {
	goTool := goCommand(t)
	for _, goos := range []string{"windows", "darwin", "freebsd"} {
		cmd := exec.Command(goTool, "build", ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=%s go build: %v\n%s", goos, err, out)
		}
	}
}

// goCommand returns the go command of the toolchain that runs the tests:
// the one in GOROOT/bin, GOROOT as "go env GOROOT" reports it (go test
// puts that directory first in PATH).
func goCommand(t *testing.T) string {
	t.Helper()
	inPath, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("go command not found: %v", err)
		}
		t.Skipf("go command not found: %v", err)
	}
	out, err := exec.Command(inPath, "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "bin", "go")
}
