package ctf

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// fsEvents reads every event of tr twice (a second iteration must read
// the streams again) and returns them as lines naming the stream.
func fsEvents(t *testing.T, tr *Trace) []string {
	t.Helper()
	var runs [2][]string
	for i := range runs {
		_, err := tr.Each(func(e *Event) error {
			runs[i] = append(runs[i], fmt.Sprintf("%d %s %s cpu=%d %s", e.Ns, tr.StreamName(e.Stream), e.Class.Name, e.CPU, e.Payload.String()))
			return nil
		})
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
	}
	if strings.Join(runs[0], "\n") != strings.Join(runs[1], "\n") {
		t.Fatalf("a second iteration read other events:\n%s\n--\n%s", strings.Join(runs[0], "\n"), strings.Join(runs[1], "\n"))
	}
	return runs[0]
}

// fsMap copies the files below dir into a MapFS, under prefix.
func fsMap(t *testing.T, dir, prefix string) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		m[prefix+filepath.ToSlash(rel)] = &fstest.MapFile{Data: b, Mode: 0o644}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fsZip zips the files below dir, compressed, under prefix.
func fsZip(t *testing.T, dir, prefix string) *zip.Reader {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, f := range fsMap(t, dir, prefix) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

func TestOpenFS(t *testing.T) {
	root := t.TempDir()
	evs := sessWrite(t, root)
	single := filepath.Join(root, "kernel")
	tr, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	wantSession := fsEvents(t, tr)
	if len(wantSession) != len(evs) {
		t.Fatalf("Open read %d events, want %d", len(wantSession), len(evs))
	}
	tr, err = Open(single)
	if err != nil {
		t.Fatal(err)
	}
	wantSingle := fsEvents(t, tr)

	cases := []struct {
		name string
		fsys fs.FS
		dir  string
		want []string
		// inMemory: the files are no io.ReaderAt (zip members), so the
		// streams are read into memory.
		inMemory bool
	}{
		{"mapfs/session", fsMap(t, root, ""), ".", wantSession, false},
		{"mapfs/trace", fsMap(t, single, "a/b/"), "a/b", wantSingle, false},
		{"zip/session", fsZip(t, root, "session/"), "session", wantSession, true},
		{"zip/trace", fsZip(t, root, ""), "kernel", wantSingle, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := OpenFS(c.fsys, c.dir)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Dir != c.dir {
				t.Errorf("Dir = %q, want %q", tr.Dir, c.dir)
			}
			for _, s := range tr.Streams {
				if (s.ra != nil) != c.inMemory {
					t.Errorf("%s: in memory %v, want %v", s.Path, s.ra != nil, c.inMemory)
				}
			}
			got := fsEvents(t, tr)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("OpenFS read\n%s\nOpen read\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestOpenFSErrors(t *testing.T) {
	root := t.TempDir()
	sessWrite(t, root)
	m := fsMap(t, root, "")
	torn := fsMap(t, root, "")
	f := torn["kernel/stream_1"]
	f.Data = f.Data[:len(f.Data)-100]
	bad := fsMap(t, root, "")
	bad["kernel/metadata"] = &fstest.MapFile{Data: []byte("/* CTF 1.8 */\ntrace {"), Mode: 0o644}
	for _, c := range []struct {
		name string
		fsys fs.FS
		dir  string
		want string
	}{
		{"invalid path", m, "/kernel", `"/kernel" is not a valid path`},
		{"dot-dot", m, "../kernel", `"../kernel" is not a valid path`},
		{"missing", m, "nope", "nope"},
		{"file", m, "kernel/stream_0", "kernel/stream_0"},
		{"no trace", fstest.MapFS{"x/y": &fstest.MapFile{Data: []byte("z")}}, ".", "no CTF trace"},
		{"metadata", bad, ".", "kernel/metadata"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := OpenFS(c.fsys, c.dir)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v; want one line naming %q", err, c.want)
			}
		})
	}
	tr, err := OpenFS(torn, ".")
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Check(); err == nil || !strings.Contains(err.Error(), "kernel/stream_1") {
		t.Fatalf("Check of a torn stream in a MapFS: %v", err)
	}
}

// countFS counts the bytes read through the ReadAt of its files.
type countFS struct {
	fs.FS
	n *int64
}

type countFile struct {
	fs.File
	n *int64
}

func (c countFS) Open(name string) (fs.File, error) {
	f, err := c.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return countFile{f, c.n}, nil
}

func (c countFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(c.FS, name) }

func (c countFile) ReadAt(p []byte, off int64) (int, error) {
	k, err := c.File.(io.ReaderAt).ReadAt(p, off)
	*c.n += int64(k)
	return k, err
}

// TestReadLargePacketsOnce checks that reading the events of a trace of
// 1 MiB packets reads each packet once, not its header's chunk and then
// the whole packet again.
func TestReadLargePacketsOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	ns := uint64(0)
	w, err := Create(dir, Options{PacketSize: 1 << 20, Clock: func() uint64 { return ns }, ClockOffset: 1_700_000_000_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := w.AddEventClass("e", Struct(F("_n", Uint(64)), F("_s", String())))
	if err != nil {
		t.Fatal(err)
	}
	s, err := w.Stream(0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 16*(1<<20)/100; i++ {
		ns += 10
		if err := s.Write(ec, ns, uint64(i), strings.Repeat("x", 80)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "stream_0"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	tr, err := OpenFS(countFS{os.DirFS(dir), &n}, ".")
	if err != nil {
		t.Fatal(err)
	}
	opened := n
	if _, err := tr.Each(func(*Event) error { return nil }); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes of packets (%d), %d read to open, %d to read the events", fi.Size(), tr.Streams[0].Packets, opened, n-opened)
	// Each byte once at most; the header's chunk read again with the
	// packet would make it 1.25 times.
	if read := n - opened; read > fi.Size() {
		t.Errorf("reading the events of %d bytes of packets read %d bytes", fi.Size(), read)
	}
}
