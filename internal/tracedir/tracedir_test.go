package tracedir_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/internal/tracedir"
)

// trace makes a directory shaped like a trace: metadata and two streams.
func trace(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "trace")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"metadata", "stream_0", "stream_1"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// derive writes the derived sidecar name of the trace in dir, as version,
// from the trace as it is now.
func derive(t *testing.T, dir, name string, version int, text string) {
	t.Helper()
	sig, err := tracedir.Signature(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = tracedir.WriteDerived(dir, name, version, sig, func(w io.Writer) error {
		_, err := io.WriteString(w, text)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFresh(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, dir string)
		fresh  bool
	}{
		{"unchanged", func(*testing.T, string) {}, true},
		{"stream rewritten", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "stream_1"), []byte("stream_1 and more"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"stream touched", func(t *testing.T, dir string) {
			future := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(dir, "stream_0"), future, future); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"stream added", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "stream_2"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"recorded sidecar added", func(t *testing.T, dir string) {
			if err := tracedir.WriteJSON(dir, tracedir.Symbols, map[string]int{}); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"other derived sidecar written", func(t *testing.T, dir string) {
			derive(t, dir, tracedir.Analysis, 1, "{}")
		}, true},
		{"sidecar removed", func(t *testing.T, dir string) {
			if err := os.Remove(tracedir.Path(dir, tracedir.ViewData)); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"manifest damaged", func(t *testing.T, dir string) {
			if err := os.WriteFile(tracedir.Path(dir, "derived.json"), []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := trace(t)
			if tracedir.Fresh(dir, tracedir.ViewData, 3) {
				t.Fatal("fresh before it was written")
			}
			derive(t, dir, tracedir.ViewData, 3, "view")
			if !tracedir.Fresh(dir, tracedir.ViewData, 3) {
				t.Fatal("not fresh after WriteDerived")
			}
			tt.change(t, dir)
			if got := tracedir.Fresh(dir, tracedir.ViewData, 3); got != tt.fresh {
				t.Errorf("Fresh = %v, want %v", got, tt.fresh)
			}
		})
	}
}

func TestFreshVersion(t *testing.T) {
	dir := trace(t)
	derive(t, dir, tracedir.Analysis, 1, "{}")
	if tracedir.Fresh(dir, tracedir.Analysis, 2) {
		t.Error("a sidecar of version 1 is fresh for version 2")
	}
	if !tracedir.Fresh(dir, tracedir.Analysis, 1) {
		t.Error("a sidecar of version 1 is stale for version 1")
	}
	derive(t, dir, tracedir.Analysis, 2, "{}")
	if !tracedir.Fresh(dir, tracedir.Analysis, 2) || tracedir.Fresh(dir, tracedir.Analysis, 1) {
		t.Error("rewritten as version 2: not fresh for 2 only")
	}
}

// TestWriteDerivedSignature: the signature recorded is the one taken before
// the trace was read, so that a trace that changed while it was read stays
// stale.
func TestWriteDerivedSignature(t *testing.T) {
	dir := trace(t)
	sig, err := tracedir.Signature(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stream_0"), []byte("grown while read"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tracedir.WriteDerived(dir, tracedir.ViewData, 1, sig, func(w io.Writer) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if tracedir.Fresh(dir, tracedir.ViewData, 1) {
		t.Error("fresh though made from the trace before it changed")
	}
}

func TestAtomicWrite(t *testing.T) {
	dir := trace(t)
	if err := tracedir.WriteJSON(dir, tracedir.Symbols, map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	// A failed write keeps the old file and leaves nothing behind.
	boom := errors.New("boom")
	err := tracedir.Write(dir, tracedir.Symbols, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	b, err := os.ReadFile(tracedir.Path(dir, tracedir.Symbols))
	if err != nil || string(b) != "{\"a\":\"b\"}\n" {
		t.Errorf("after a failed write: %q, %v", b, err)
	}
	derive(t, dir, tracedir.ViewData, 1, "view")
	ents, err := os.ReadDir(filepath.Join(dir, tracedir.SubDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		if strings.HasSuffix(e.Name(), ".tmp") || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
		if fi, err := e.Info(); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v", e.Name(), fi.Mode())
		}
	}
	if strings.Join(names, " ") != "derived.json symbols.json view-data.json" {
		t.Errorf("sidecars %q", names)
	}
	// Nothing is added to the trace directory itself but the sub-directory.
	ents, _ = os.ReadDir(dir)
	if len(ents) != 4 {
		t.Errorf("trace directory has %d entries, want metadata, 2 streams and %s", len(ents), tracedir.SubDir)
	}
}

func TestReadJSON(t *testing.T) {
	dir := trace(t)
	var v map[string]int
	ok, err := tracedir.ReadJSON(dir, tracedir.Symbols, &v)
	if ok || err != nil || v != nil {
		t.Errorf("missing sidecar: ok %v, err %v, v %v", ok, err, v)
	}
	if err := tracedir.WriteJSON(dir, tracedir.Symbols, map[string]int{"x": 1}); err != nil {
		t.Fatal(err)
	}
	if ok, err := tracedir.ReadJSON(dir, tracedir.Symbols, &v); !ok || err != nil || v["x"] != 1 {
		t.Errorf("written sidecar: ok %v, err %v, v %v", ok, err, v)
	}
	if err := os.WriteFile(tracedir.Path(dir, tracedir.Symbols), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ok, err := tracedir.ReadJSON(dir, tracedir.Symbols, &v); ok || err == nil || !strings.Contains(err.Error(), "bpftrail/symbols.json") {
		t.Errorf("damaged sidecar: ok %v, err %v", ok, err)
	}
	if _, err := tracedir.Open(dir, tracedir.Aggregates); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing sidecar: %v", err)
	}
}

// readOnly mounts dir over itself read-only until the end of the test; it
// skips the test where mounting is not allowed.
func readOnly(t *testing.T, dir string) {
	t.Helper()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mount %s: %v (needs root)", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
}

func TestNotWritable(t *testing.T) {
	dir := trace(t)
	readOnly(t, dir)
	sig, err := tracedir.Signature(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = tracedir.WriteDerived(dir, tracedir.ViewData, 1, sig, func(w io.Writer) error { return nil })
	if !errors.Is(err, tracedir.ErrNotWritable) {
		t.Errorf("WriteDerived into a read-only trace: %v, want ErrNotWritable", err)
	}
	if tracedir.Fresh(dir, tracedir.ViewData, 1) {
		t.Error("fresh though never written")
	}
}
