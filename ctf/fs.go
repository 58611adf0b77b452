package ctf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// OpenFS is [Open] for a trace in a file system other than the operating
// system's: an [embed.FS], an [archive/zip.Reader], a
// [testing/fstest.MapFS]. dir is a slash-separated path in fsys ("." for
// its root), and the paths of the trace ([Trace.Dir], [Stream.Path]) and
// of its errors are paths in fsys.
//
// Streams are read at random offsets: a stream file that implements
// [io.ReaderAt] (as files of [os.DirFS] and [testing/fstest.MapFS] do) is
// read in place, opened again by each iteration; any other (a compressed
// zip member, for one) is read into memory when the trace is opened and
// kept there as long as the Trace is.
func OpenFS(fsys fs.FS, dir string) (*Trace, error) {
	if !fs.ValidPath(dir) {
		return nil, fmt.Errorf("ctf: %q is not a valid path in a file system (slash-separated, no leading slash, no ..)", dir)
	}
	return rdSource{fsys: fsys}.open(dir)
}

// rdSource is where a trace's files are read from: a file system and,
// for a trace opened by its path in the operating system's, that path,
// after which the trace's files are named.
type rdSource struct {
	fsys  fs.FS
	osDir string // the directory fsys is rooted at; "" for OpenFS
}

// rdOSSource reads from the operating system's directory dir.
func rdOSSource(dir string) rdSource {
	if dir == "" {
		dir = "."
	}
	return rdSource{fsys: os.DirFS(dir), osDir: dir}
}

// name returns the name of p (a path in src.fsys) for the Trace and its
// errors: the path in the operating system's file system when there is
// one.
func (src rdSource) name(p string) string {
	switch {
	case src.osDir == "":
		return p
	case p == ".":
		return src.osDir
	}
	return filepath.Join(src.osDir, filepath.FromSlash(p))
}

// err names the path of a file system error as name does.
func (src rdSource) err(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: src.name(pe.Path), Err: pe.Err}
	}
	return err
}

// open opens the trace in dir, or the traces below it.
func (src rdSource) open(dir string) (*Trace, error) {
	mp := path.Join(dir, "metadata")
	data, err := fs.ReadFile(src.fsys, mp)
	if errors.Is(err, fs.ErrNotExist) {
		return src.openTree(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("ctf: %w", src.err(err))
	}
	m, err := ParseMetadata(data)
	if err != nil {
		return nil, fmt.Errorf("ctf: %s: %w", src.name(mp), err)
	}
	return src.openWith(dir, m)
}

// stream opens stream file p for reading at random offsets. The closer is
// nil when the file was read into memory (it did not implement
// io.ReaderAt).
func (src rdSource) stream(p string) (io.ReaderAt, io.Closer, int64, error) {
	f, err := src.fsys.Open(p)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("ctf: %w", src.err(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, 0, fmt.Errorf("ctf: %w", src.err(err))
	}
	if ra, ok := f.(io.ReaderAt); ok {
		return ra, f, fi.Size(), nil
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("ctf: %s: %w", src.name(p), src.err(err))
	}
	return bytes.NewReader(b), nil, int64(len(b)), nil
}
