package engine

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/bpftrail/bpftrail/internal/attach"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/syscalls"
)

// recordPlan is what a session records into its ring buffer: one class per
// probe, and the syscalls that go through the raw_syscalls dispatcher.
type recordPlan struct {
	probes     []*resolve.Probe
	filters    []*filter.Expr
	layouts    []record.Layout
	dispatched []bool
	// entries are the dispatcher's table entries, by syscall number, of
	// the enter [0] and exit [1] dispatchers; nil when not dispatching.
	entries    [2]map[int]bpfgen.DispatchEntry
	dispFilter *filter.Expr
	stringSize int
	maxRecord  int
}

// dispatchThreshold is how many syscall tracepoints make the session record
// them through the raw_syscalls dispatcher rather than one program each.
const dispatchThreshold = 16

// planRecord resolves the recorded probes, compiles their filter and lays
// out their records.
func (s *Session) planRecord(p Probes) (*recordPlan, error) {
	o, err := s.resolveOptions(p)
	if err != nil {
		return nil, err
	}
	probes, err := resolve.Specs(s.tracefs, p.Specs, o)
	if err != nil {
		return nil, err
	}
	filters, err := compileFilters(p.Filter, probes)
	if err != nil {
		return nil, err
	}
	rp := &recordPlan{probes: probes, filters: filters, stringSize: o.StringSize,
		layouts: make([]record.Layout, len(probes)), dispatched: make([]bool, len(probes))}
	if rp.stringSize <= 0 {
		rp.stringSize = resolve.DefaultStringSize
	}
	for i, pr := range probes {
		rp.layouts[i] = record.Sequential(pr.Event)
	}
	if rp.dispatchable() {
		rp.planDispatch()
	}
	rp.maxRecord = record.HeaderSize
	for _, l := range rp.layouts {
		rp.maxRecord = max(rp.maxRecord, l.Size)
	}
	if rp.entries[0] != nil || rp.entries[1] != nil {
		rp.maxRecord = max(rp.maxRecord, bpfgen.DispatchRecordSize(rp.stringSize))
	}
	rp.maxRecord = (rp.maxRecord + 7) &^ 7
	for i, pr := range probes {
		s.classes = append(s.classes, &record.Class{ID: uint32(i), Schema: pr.Event, Layout: rp.layouts[i]})
	}
	return rp, nil
}

// compileFilters type-checks the filter src against every probe.
func compileFilters(src string, probes []*resolve.Probe) ([]*filter.Expr, error) {
	out := make([]*filter.Expr, len(probes))
	if strings.TrimSpace(src) == "" {
		return out, nil
	}
	for i, p := range probes {
		e, err := filter.Parse(src, bpfgen.FilterFields(p.Event))
		if err != nil {
			if len(probes) > 1 {
				return nil, fmt.Errorf("%s: %w", p.Event.Name, err)
			}
			return nil, err
		}
		out[i] = e
	}
	return out, nil
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
func (rp *recordPlan) dispatchable() bool {
	n := 0
	for i, p := range rp.probes {
		name, _, ok := syscallOf(p)
		if !ok {
			continue
		}
		if !bpfgen.BuiltinsOnly(rp.filters[i]) {
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
func (rp *recordPlan) planDispatch() {
	for i, p := range rp.probes {
		name, enter, ok := syscallOf(p)
		if !ok {
			continue
		}
		nr, ok := syscalls.Number(name)
		if !ok || nr >= bpfgen.DispatchTableSize {
			continue
		}
		l, e, ok := bpfgen.DispatchLayout(p, enter, rp.stringSize)
		if !ok {
			continue
		}
		e.ClassPlus1 = uint32(i + 1)
		k := 1
		if enter {
			k = 0
		}
		if rp.entries[k] == nil {
			rp.entries[k] = map[int]bpfgen.DispatchEntry{}
		}
		rp.entries[k][nr] = e
		rp.layouts[i], rp.dispatched[i] = l, true
		rp.dispFilter = rp.filters[i]
	}
}

// loadRecord loads the dispatchers and one recording program per probe
// that is not dispatched.
func (s *Session) loadRecord() error {
	rp := s.rec
	if err := s.loadDispatchers(); err != nil {
		return err
	}
	for i, p := range rp.probes {
		if rp.dispatched[i] {
			continue
		}
		o := s.options(uint32(i))
		o.Filter = rp.filters[i]
		spec, err := bpfgen.Program(p, rp.layouts[i], s.maps, rp.maxRecord, o)
		if err != nil {
			return err
		}
		prog, err := s.loadProgram(p.Event.Name, spec, p.Target)
		if err != nil {
			return err
		}
		s.recorders = append(s.recorders, prog)
	}
	return nil
}

// loadDispatchers fills the dispatchers' tables and loads them.
func (s *Session) loadDispatchers() error {
	rp := s.rec
	for k, enter := range []bool{true, false} {
		if rp.entries[k] == nil {
			continue
		}
		tbl, err := s.newMap(&ebpf.MapSpec{Name: "bt_sysdisp", Type: ebpf.Array, KeySize: 4,
			ValueSize: bpfgen.DispatchEntrySize, MaxEntries: bpfgen.DispatchTableSize})
		if err != nil {
			return err
		}
		for nr, e := range rp.entries[k] {
			if err := tbl.Put(uint32(nr), e.Marshal()); err != nil {
				return fmt.Errorf("fill syscall table: %w", err)
			}
		}
		o := s.options(0)
		o.Filter = rp.dispFilter
		spec, err := bpfgen.Dispatcher(enter, s.maps, tbl, rp.stringSize, rp.maxRecord, o)
		if err != nil {
			return err
		}
		name := []string{"sys_enter", "sys_exit"}[k]
		prog, err := s.loadProgram("raw_syscalls:"+name, spec, resolve.Target{Kind: resolve.TargetTracepoint, Category: "raw_syscalls", Event: name})
		if err != nil {
			return attach.Permission(fmt.Errorf("load syscall dispatcher: %w", err))
		}
		s.recorders = append(s.recorders, prog)
	}
	return nil
}
