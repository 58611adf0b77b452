package ctf

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// ErrNoTrace is returned (wrapped) by [Open] and [Find] for a directory
// that neither is a trace nor holds one.
var ErrNoTrace = errors.New("no CTF trace (no metadata file, here or in a sub-directory)")

// Find returns the trace directories in the tree at dir, as babeltrace2
// finds them: dir itself when it holds a metadata file, otherwise every
// sub-directory that does, searched recursively (a trace's own
// sub-directories and hidden directories are not searched). Directories
// are listed in natural order of their paths, so that the chunks of a
// rotated recording (archives/BEGIN-END-ID) come in time order.
func Find(dir string) ([]string, error) {
	src := rdOSSource(dir)
	dirs, err := src.find(".")
	for i, d := range dirs {
		dirs[i] = src.name(d)
	}
	return dirs, err
}

// find is Find in src: it returns paths in src.fsys.
func (src rdSource) find(dir string) ([]string, error) {
	st, err := fs.Stat(src.fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("ctf: %w", src.err(err))
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("ctf: %s is not a directory", src.name(dir))
	}
	var out []string
	var walk func(d string) error
	walk = func(d string) error {
		if fi, err := fs.Stat(src.fsys, path.Join(d, "metadata")); err == nil && fi.Mode().IsRegular() {
			out = append(out, d)
			return nil
		}
		ents, err := fs.ReadDir(src.fsys, d)
		if err != nil {
			return fmt.Errorf("ctf: %w", src.err(err))
		}
		var subs []string
		for _, e := range ents {
			n := e.Name()
			if n[0] == '.' {
				continue
			}
			if e.Type()&fs.ModeSymlink != 0 {
				if fi, err := fs.Stat(src.fsys, path.Join(d, n)); err != nil || !fi.IsDir() {
					continue
				}
			} else if !e.IsDir() {
				continue
			}
			subs = append(subs, n)
		}
		sort.SliceStable(subs, func(i, j int) bool { return rdNaturalLess(subs[i], subs[j]) })
		for _, n := range subs {
			if err := walk(path.Join(d, n)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(dir); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ctf: %s: %w", src.name(dir), ErrNoTrace)
	}
	return out, nil
}

// StreamName returns the path of stream s relative to the trace's
// directory, with forward slashes: "stream_0" for a single trace,
// "kernel/channel0_0" or "ust/uid/0/64-bit/channel0_0" in a directory of
// traces, where base names repeat from one trace to the next.
func (t *Trace) StreamName(s *Stream) string {
	if rel, err := filepath.Rel(t.Dir, s.Path); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return filepath.Base(s.Path)
}

// openTree opens every trace below dir and merges them into one.
func (src rdSource) openTree(dir string) (*Trace, error) {
	dirs, err := src.find(dir)
	if err != nil {
		return nil, err
	}
	m := &Trace{Dir: src.name(dir), src: src}
	canon := map[string]*EventClass{}
	for _, d := range dirs {
		t, err := src.open(d)
		if err != nil {
			return nil, err
		}
		if m.Metadata == nil {
			m.Metadata = t.Metadata
		}
		m.Parts = append(m.Parts, t)
		for _, s := range t.Streams {
			s.index = len(m.Streams)
			m.Streams = append(m.Streams, s)
		}
		t.canonicalClasses(canon)
	}
	return m, nil
}

// canonicalClasses makes the events of t that are declared as an earlier
// part declared them (same stream class, id, name, context and fields)
// share that part's *EventClass, so that readers which keep what they
// learn per class see one class across the chunks of a recording.
func (t *Trace) canonicalClasses(canon map[string]*EventClass) {
	for sc, c := range t.classes {
		evs := make([]*rdEvClass, 0, len(c.byID)+len(c.byMap))
		evs = append(evs, c.byID...)
		for _, e := range c.byMap {
			evs = append(evs, e)
		}
		for _, e := range evs {
			if e == nil {
				continue
			}
			key := strconv.FormatUint(sc.ID, 10) + "/" + strconv.FormatUint(e.ec.ID, 10) + "/" + e.ec.Name
			prev, ok := canon[key]
			switch {
			case !ok:
				canon[key] = e.ec
			case prev != e.ec && reflect.DeepEqual(prev.Fields, e.ec.Fields) && reflect.DeepEqual(prev.Context, e.ec.Context):
				e.ec = prev
			}
		}
	}
}
