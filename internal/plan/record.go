package plan

import (
	"strings"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/syscalls"
)

// Recording is what a session records into its ring buffer: one class
// per probe, and the syscalls that go through the raw_syscalls dispatcher.
type Recording struct {
	Probes     []*resolve.Probe
	Filters    []*filter.Expr
	Classes    []*record.Class // by class id: probe i is class i
	Dispatched []bool          // probe i is recorded by the dispatcher
	// Entries are the dispatcher's table entries, by syscall number, of
	// the enter [0] and exit [1] dispatchers; nil when not dispatching.
	Entries        [2]map[int]bpfgen.DispatchEntry
	DispatchFilter *filter.Expr
	StringSize     int
	MaxRecord      int // the largest record, rounded up to 8 bytes
	layouts        []record.Layout
}

// dispatchThreshold is how many syscall tracepoints make the session record
// them through the raw_syscalls dispatcher rather than one program each.
const dispatchThreshold = 16

// Record resolves the recorded probes, compiles their filter and lays
// out their records.
func Record(p Probes, opts Options) (*Recording, error) {
	o, err := opts.resolveOptions(p)
	if err != nil {
		return nil, err
	}
	probes, err := resolve.Specs(opts.FS, p.Specs, o)
	if err != nil {
		return nil, err
	}
	filters, err := compileFilters(p.Filter, probes)
	if err != nil {
		return nil, err
	}
	rp := &Recording{Probes: probes, Filters: filters, StringSize: o.StringSize,
		layouts: make([]record.Layout, len(probes)), Dispatched: make([]bool, len(probes))}
	if rp.StringSize <= 0 {
		rp.StringSize = resolve.DefaultStringSize
	}
	for i, pr := range probes {
		rp.layouts[i] = record.Sequential(pr.Event)
	}
	if rp.dispatchable() {
		rp.planDispatch()
	}
	rp.MaxRecord = record.HeaderSize
	for _, l := range rp.layouts {
		rp.MaxRecord = max(rp.MaxRecord, l.Size)
	}
	if rp.Dispatching() {
		rp.MaxRecord = max(rp.MaxRecord, bpfgen.DispatchRecordSize(rp.StringSize))
	}
	rp.MaxRecord = (rp.MaxRecord + 7) &^ 7
	for i, pr := range probes {
		rp.Classes = append(rp.Classes, &record.Class{ID: uint32(i), Schema: pr.Event, Layout: rp.layouts[i]})
	}
	return rp, nil
}

// Dispatching reports whether syscalls go through the dispatcher.
func (rp *Recording) Dispatching() bool { return rp.Entries[0] != nil || rp.Entries[1] != nil }

// Layout is where class i's records put its fields.
func (rp *Recording) Layout(i int) record.Layout {
	return rp.layouts[i]
}

// syscallOf returns the syscall a syscalls:sys_enter_X or sys_exit_X
// tracepoint probe is for, and whether it is the entry.
func syscallOf(p *resolve.Probe) (name string, enter, ok bool) {
	t := p.Target
	if t.Kind != resolve.TargetTracepoint || t.Category != "syscalls" {
		return "", false, false
	}
	if n, found := strings.CutPrefix(t.Event, "sys_enter_"); found {
		return n, true, true
	}
	if n, found := strings.CutPrefix(t.Event, "sys_exit_"); found {
		return n, false, true
	}
	return "", false, false
}

// dispatchable reports whether the syscall tracepoints go through the
// dispatcher: many of them, and a filter on builtins only.
func (rp *Recording) dispatchable() bool {
	n := 0
	for i, p := range rp.Probes {
		name, _, ok := syscallOf(p)
		if !ok {
			continue
		}
		if !bpfgen.BuiltinsOnly(rp.Filters[i], p.Event) {
			return false
		}
		if _, ok := syscalls.Number(name); ok {
			n++
		}
	}
	return n >= dispatchThreshold
}

// planDispatch moves the syscall probes that can be dispatched to the two
// raw_syscalls programs: their classes get the dispatcher's layout.
func (rp *Recording) planDispatch() {
	for i, p := range rp.Probes {
		name, enter, ok := syscallOf(p)
		if !ok {
			continue
		}
		nr, ok := syscalls.Number(name)
		if !ok || nr >= bpfgen.DispatchTableSize {
			continue
		}
		l, e, ok := bpfgen.DispatchLayout(p, enter, rp.StringSize)
		if !ok {
			continue
		}
		e.ClassPlus1 = uint32(i + 1)
		k := 1
		if enter {
			k = 0
		}
		if rp.Entries[k] == nil {
			rp.Entries[k] = map[int]bpfgen.DispatchEntry{}
		}
		rp.Entries[k][nr] = e
		rp.layouts[i], rp.Dispatched[i] = l, true
		rp.DispatchFilter = rp.Filters[i]
	}
}
