// Package tracedir owns the files bpftrail keeps beside a CTF trace. They
// live in the trace directory's sub-directory bpftrail/, which babeltrace2
// and Trace Compass do not read (they take every regular file of the trace
// directory itself for a stream), so the trace stays a valid CTF trace and
// its summaries travel with it.
//
// Two kinds of sidecar exist:
//
//   - recorded ones, written while the trace is recorded: the symbols of its
//     stack addresses ([Symbols]) and the log of its in-kernel aggregates
//     ([Aggregates]);
//   - derived ones, computed from the trace and kept to avoid reading it
//     again: the analyses ([Analysis]) and the view data ([ViewData]).
//
// A derived sidecar is fresh when it was made by the same version of its
// producer from the trace files as they are now. Freshness has one rule
// ([Fresh]): the trace's [Signature] (name, size and modification time of
// the metadata, every stream file and the recorded sidecars) and the
// producer's version are kept in the manifest bpftrail/derived.json when the
// sidecar is written ([WriteDerived]), and compared when it is read.
//
// Every file is written atomically: into a temporary file of the same
// directory, then renamed into place.
package tracedir

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/bpftrail/bpftrail/ctf"
)

// SubDir is the trace directory's sub-directory for bpftrail's own files.
const SubDir = "bpftrail"

// Names of the sidecars, in SubDir.
const (
	Symbols    = "symbols.json"     // recorded: names of the stack addresses
	Aggregates = "aggregates.jsonl" // recorded: snapshots of record --aggregate
	Script     = "script.json"      // recorded: the script of run --trace and its event classes
	Analysis   = "analysis.json"    // derived: the analyses of the trace
	ViewData   = "view-data.json"   // derived: the web viewer's data
	manifest   = "derived.json"     // derived sidecars' signatures and versions
)

// recorded are the sidecars written with the trace; they count in its
// signature (the view shows the aggregates, for one).
var recorded = []string{Symbols, Aggregates, Script}

// Path returns the path of sidecar name of the trace in dir.
func Path(dir, name string) string { return filepath.Join(dir, SubDir, name) }

// Signature describes the trace's files as a short hash: the name, size and
// modification time of every regular file of dir (metadata and streams)
// and of the recorded sidecars. It changes when any of them does.
func Signature(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	add := func(name, path string) {
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			return
		}
		fmt.Fprintf(h, "%q %d %d\n", name, fi.Size(), fi.ModTime().UnixNano())
	}
	for _, e := range ents {
		if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
			add(e.Name(), filepath.Join(dir, e.Name()))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "metadata")); err != nil {
		// A directory of traces (rotated chunks, snapshots): the files of
		// each.
		subs, _ := ctf.Find(dir)
		for _, sub := range subs {
			rel, _ := filepath.Rel(dir, sub)
			files, _ := os.ReadDir(sub)
			for _, e := range files {
				if e.Type().IsRegular() {
					add(rel+"/"+e.Name(), filepath.Join(sub, e.Name()))
				}
			}
		}
	}
	for _, name := range recorded {
		add(SubDir+"/"+name, Path(dir, name))
	}
	return hex.EncodeToString(h.Sum(nil)[:12]), nil
}

// stamp is what the manifest keeps of a derived sidecar.
type stamp struct {
	Source  string `json:"source"`
	Version int    `json:"version"`
}

func readManifest(dir string) map[string]stamp {
	m := map[string]stamp{}
	b, err := os.ReadFile(Path(dir, manifest))
	if err == nil {
		_ = json.Unmarshal(b, &m) // a damaged manifest makes every sidecar stale
	}
	return m
}

// Fresh reports whether the derived sidecar name of the trace in dir exists
// and was written by version from the trace as it is now.
func Fresh(dir, name string, version int) bool {
	if _, err := os.Stat(Path(dir, name)); err != nil {
		return false
	}
	sig, err := Signature(dir)
	if err != nil {
		return false
	}
	st, ok := readManifest(dir)[name]
	return ok && st.Source == sig && st.Version == version
}

// Write writes the sidecar name of the trace in dir atomically with write,
// creating the sub-directory if needed.
func Write(dir, name string, write func(io.Writer) error) error {
	sub := filepath.Join(dir, SubDir)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(sub, name), write)
}

// WriteJSON writes v as the JSON sidecar name of the trace in dir.
func WriteJSON(dir, name string, v any) error {
	return Write(dir, name, func(w io.Writer) error { return json.NewEncoder(w).Encode(v) })
}

// ErrNotWritable is returned by [WriteDerived] when the trace directory
// cannot take the sidecar; the caller may keep the data elsewhere.
var ErrNotWritable = errors.New("the trace directory is not writable")

// WriteDerived writes the derived sidecar name (made by version of its
// producer) of the trace in dir, and records the trace's signature taken
// before it was read, sig, so that [Fresh] knows what it was made from.
// When the directory cannot be written it returns an error wrapping
// [ErrNotWritable].
func WriteDerived(dir, name string, version int, sig string, write func(io.Writer) error) error {
	if err := Write(dir, name, write); err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) || isReadOnly(err) {
			return fmt.Errorf("%s: %w: %v", name, ErrNotWritable, err)
		}
		return err
	}
	m := readManifest(dir)
	m[name] = stamp{Source: sig, Version: version}
	// Keys in order, so that the manifest is stable.
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return Write(dir, manifest, func(w io.Writer) error {
		ordered := make(map[string]stamp, len(m))
		for _, k := range keys {
			ordered[k] = m[k]
		}
		return json.NewEncoder(w).Encode(ordered)
	})
}

// Create creates (or truncates) the recorded sidecar name of the trace in
// dir for writing as it grows, as the aggregates log is.
func Create(dir, name string) (*os.File, error) {
	sub := filepath.Join(dir, SubDir)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return nil, err
	}
	return os.Create(filepath.Join(sub, name))
}

// Open opens the sidecar name of the trace in dir; an error satisfying
// errors.Is(err, fs.ErrNotExist) means the trace has none.
func Open(dir, name string) (*os.File, error) { return os.Open(Path(dir, name)) }

// ReadJSON decodes the JSON sidecar name of the trace in dir into v. It
// returns false, and no error, when the trace has no such sidecar.
func ReadJSON(dir, name string, v any) (bool, error) {
	b, err := os.ReadFile(Path(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s/%s: %w", SubDir, name, err)
	}
	return true, nil
}

// writeAtomic writes path through a temporary file of its directory.
func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// isReadOnly reports a write refused by a read-only file system.
func isReadOnly(err error) bool { return errors.Is(err, syscall.EROFS) }
