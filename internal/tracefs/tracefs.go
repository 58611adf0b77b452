// Package tracefs locates (or mounts) the kernel's tracefs and reads the
// tracepoints it describes: [FS.List] lists the events under events/, and
// [FS.Format] parses an event's format file into a [Format] whose fields say
// where each value sits in the raw tracepoint record and how to decode it
// ([FieldKind]).
//
// The package never loads BPF programs. All access goes through [FS], whose
// Root can point at a fixture tree in tests.
//
// Error contract: an event that does not exist is reported as a
// [*NotFoundError] carrying close names; a format file that cannot be parsed
// is reported as a [*FormatError] naming the file and line; I/O errors are
// wrapped with %w and short context, so errors.Is(err, fs.ErrPermission)
// works.
package tracefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Event names one tracepoint, e.g. {Category: "sched", Name: "sched_switch"}.
type Event struct {
	Category, Name string
}

// String returns "category:name".
func (e Event) String() string { return e.Category + ":" + e.Name }

// FS reads tracefs below Root, e.g. "/sys/kernel/tracing" or a fixture
// directory that has the same events/CATEGORY/NAME/format layout.
type FS struct {
	Root string
}

// Open locates tracefs with [Root] (mounting it when needed) and returns an
// [FS] for it.
func Open() (FS, error) {
	root, err := Root()
	if err != nil {
		return FS{}, err
	}
	return FS{Root: root}, nil
}

// List returns the events whose "category:name" matches pattern, sorted by
// category then name. The pattern uses [path.Match] syntax ("sched:*",
// "syscalls:sys_enter_*", "*:*open*"); an empty pattern matches every event.
// A pattern that matches nothing is not an error: List returns an empty slice.
func (fsys FS) List(pattern string) ([]Event, error) {
	if pattern != "" {
		if _, err := path.Match(pattern, ""); err != nil {
			return nil, fmt.Errorf("tracefs: invalid event pattern %q: %w", pattern, err)
		}
	}
	if cat, name, ok := strings.Cut(pattern, ":"); ok && !strings.ContainsAny(pattern, "*?[\\") && validComponent(cat) && validComponent(name) {
		// One event by its name: its format file says whether it exists,
		// with no walk of the thousands of others.
		if _, err := os.Stat(filepath.Join(fsys.Root, "events", cat, name, "format")); err != nil {
			return nil, nil
		}
		return []Event{{Category: cat, Name: name}}, nil
	}
	all, err := fsys.all()
	if err != nil {
		return nil, err
	}
	if pattern == "" {
		return all, nil
	}
	var out []Event
	for _, e := range all {
		if ok, _ := path.Match(pattern, e.String()); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// allCache keeps the event list of each root: the events of a run's
// tracefs do not change, and listing them stats thousands of files.
var allCache sync.Map // root → []Event

// all lists every events/*/*/format below the root, sorted.
func (fsys FS) all() ([]Event, error) {
	if evs, ok := allCache.Load(fsys.Root); ok {
		return evs.([]Event), nil
	}
	evs, err := fsys.list()
	if err != nil {
		return nil, err
	}
	allCache.Store(fsys.Root, evs)
	return evs, nil
}

// list walks events/*/*/format below the root.
func (fsys FS) list() ([]Event, error) {
	eventsDir := filepath.Join(fsys.Root, "events")
	cats, err := os.ReadDir(eventsDir)
	if err != nil {
		return nil, fmt.Errorf("tracefs: list events: %w", err)
	}
	var out []Event
	for _, c := range cats {
		if !c.IsDir() {
			continue // enable, header_page, header_event, ...
		}
		names, err := os.ReadDir(filepath.Join(eventsDir, c.Name()))
		if err != nil {
			return nil, fmt.Errorf("tracefs: list events of %s: %w", c.Name(), err)
		}
		for _, n := range names {
			if !n.IsDir() {
				continue
			}
			if _, err := os.Stat(filepath.Join(eventsDir, c.Name(), n.Name(), "format")); err != nil {
				continue
			}
			out = append(out, Event{Category: c.Name(), Name: n.Name()})
		}
	}
	slices.SortFunc(out, func(a, b Event) int {
		if c := strings.Compare(a.Category, b.Category); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// Format reads and parses events/CATEGORY/NAME/format. An event that does not
// exist yields a [*NotFoundError] with suggestions.
func (fsys FS) Format(category, name string) (*Format, error) {
	if !validComponent(category) || !validComponent(name) {
		return nil, fsys.notFound(category, name)
	}
	file := filepath.Join(fsys.Root, "events", category, name, "format")
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(fsys.Root, "events")); serr != nil {
			return nil, fmt.Errorf("tracefs: read format of %s:%s: %w", category, name, serr)
		}
		return nil, fsys.notFound(category, name)
	}
	if err != nil {
		return nil, fmt.Errorf("tracefs: read format of %s:%s: %w", category, name, err)
	}
	f, err := ParseFormat(category, data)
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			fe.File = file
		}
		return nil, err
	}
	if f.Name == "" {
		f.Name = name
	}
	return f, nil
}

// validComponent rejects names that would escape the events directory.
func validComponent(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00")
}

// NotFoundError reports a tracepoint that tracefs does not have. Suggestions
// holds close "category:name" pairs, best first (possibly none).
type NotFoundError struct {
	Category, Name string
	Suggestions    []string
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("tracepoint %s:%s not found", e.Category, e.Name)
	switch n := len(e.Suggestions); n {
	case 0:
		return msg + `; run "bpftrail list" to see the available tracepoints`
	case 1:
		return msg + "; did you mean " + e.Suggestions[0] + "?"
	default:
		return msg + "; did you mean " + strings.Join(e.Suggestions[:n-1], ", ") + " or " + e.Suggestions[n-1] + "?"
	}
}

// Is makes errors.Is(err, fs.ErrNotExist) true for a *NotFoundError.
func (e *NotFoundError) Is(target error) bool { return target == fs.ErrNotExist }

func (fsys FS) notFound(category, name string) *NotFoundError {
	e := &NotFoundError{Category: category, Name: name}
	all, err := fsys.all()
	if err == nil {
		e.Suggestions = suggestions(category, name, all)
	}
	return e
}
