package symbolize

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Table holds the frames of the stack addresses of a recording: kernel
// addresses, and user addresses per process. A recording with stacks keeps
// one beside its trace (resolved when the recording ends, from process
// snapshots taken while it ran), so that the trace can be read with names
// anywhere later.
type Table struct {
	Kernel map[uint64]Frame
	User   map[int]map[uint64]Frame // by process id
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{Kernel: map[uint64]Frame{}, User: map[int]map[uint64]Frame{}}
}

// Frame returns the frame of addr in the user stack of process pid (user)
// or in a kernel stack. An address the table does not know is returned as
// an unknown frame of module [unknown] (user) or [kernel].
func (t *Table) Frame(pid int, user bool, addr uint64) Frame {
	if t != nil {
		if user {
			if f, ok := t.User[pid][addr]; ok {
				return f
			}
		} else if f, ok := t.Kernel[addr]; ok {
			return f
		}
	}
	mod := ModuleUnknown
	if !user {
		mod = ModuleKernel
	}
	return Frame{Addr: addr, Module: mod, ModuleOffset: addr}
}

// Add records the frame of addr in a user stack of pid, or the kernel's.
func (t *Table) Add(pid int, user bool, addr uint64, f Frame) {
	if !user {
		t.Kernel[addr] = f
		return
	}
	m := t.User[pid]
	if m == nil {
		m = map[uint64]Frame{}
		t.User[pid] = m
	}
	m[addr] = f
}

// tableVersion is the layout of the table's JSON form.
const tableVersion = 2

// jsonFrame is a frame in the table's JSON form.
type jsonFrame struct {
	Function     string `json:"function,omitempty"`
	Offset       uint64 `json:"offset,omitempty"`
	Module       string `json:"module,omitempty"`
	ModuleOffset uint64 `json:"module_offset"`
	BuildID      string `json:"build_id,omitempty"`
}

type jsonTable struct {
	Version int                             `json:"version"`
	Kernel  map[string]jsonFrame            `json:"kernel"`
	User    map[string]map[string]jsonFrame `json:"user"`
}

func hexAddr(a uint64) string { return strconv.FormatUint(a, 16) }

func toJSON(f Frame) jsonFrame {
	return jsonFrame{f.Function, f.Offset, f.Module, f.ModuleOffset, f.BuildID}
}

func fromJSON(addr uint64, j jsonFrame) Frame {
	return Frame{Addr: addr, Function: j.Function, Offset: j.Offset, Module: j.Module, ModuleOffset: j.ModuleOffset, BuildID: j.BuildID}
}

// MarshalJSON encodes the table with addresses as hexadecimal keys.
func (t *Table) MarshalJSON() ([]byte, error) {
	out := jsonTable{Version: tableVersion, Kernel: map[string]jsonFrame{}, User: map[string]map[string]jsonFrame{}}
	for a, f := range t.Kernel {
		out.Kernel[hexAddr(a)] = toJSON(f)
	}
	for pid, m := range t.User {
		jm := map[string]jsonFrame{}
		for a, f := range m {
			jm[hexAddr(a)] = toJSON(f)
		}
		out.User[strconv.Itoa(pid)] = jm
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes what MarshalJSON encodes, and the first layout of
// the table (no version; each frame as its text, [Frame.String]), which
// earlier recordings kept.
func (t *Table) UnmarshalJSON(b []byte) error {
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v.Version == 0 {
		return t.unmarshalText(b)
	}
	var in jsonTable
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in.Version != tableVersion {
		return fmt.Errorf("symbol table version %d, want %d", in.Version, tableVersion)
	}
	*t = *NewTable()
	for k, f := range in.Kernel {
		a, err := strconv.ParseUint(k, 16, 64)
		if err != nil {
			return fmt.Errorf("symbol table: address %q: %w", k, err)
		}
		t.Kernel[a] = fromJSON(a, f)
	}
	for p, m := range in.User {
		pid, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("symbol table: pid %q: %w", p, err)
		}
		for k, f := range m {
			a, err := strconv.ParseUint(k, 16, 64)
			if err != nil {
				return fmt.Errorf("symbol table: address %q: %w", k, err)
			}
			t.Add(pid, true, a, fromJSON(a, f))
		}
	}
	return nil
}

// unmarshalText decodes the first layout of the table: frames as text.
func (t *Table) unmarshalText(b []byte) error {
	var in struct {
		Kernel map[string]string            `json:"kernel"`
		User   map[string]map[string]string `json:"user"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*t = *NewTable()
	add := func(pid int, user bool, k, text string) error {
		a, err := strconv.ParseUint(k, 16, 64)
		if err != nil {
			return fmt.Errorf("symbol table: address %q: %w", k, err)
		}
		f := ParseFrame(text)
		f.Addr = a
		t.Add(pid, user, a, f)
		return nil
	}
	for k, text := range in.Kernel {
		if err := add(0, false, k, text); err != nil {
			return err
		}
	}
	for p, m := range in.User {
		pid, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("symbol table: pid %q: %w", p, err)
		}
		for k, text := range m {
			if err := add(pid, true, k, text); err != nil {
				return err
			}
		}
	}
	return nil
}
