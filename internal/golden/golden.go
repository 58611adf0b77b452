// Package golden compares what a test produced with a golden file under
// testdata/, or rewrites the file when the test runs with -update (the
// flag this package registers), as google/pprof's tests do. It is for
// tests only.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Updating reports whether the test runs with -update.
func Updating() bool { return *update }

// Check compares got with the file at path (testdata/NAME, say), or with
// -update writes got there.
func Check(tb testing.TB, path string, got []byte) {
	tb.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (go test -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		tb.Errorf("%s mismatch (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}
