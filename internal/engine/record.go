package engine

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/bpftrail/bpftrail/internal/attach"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// loadRecord loads the dispatchers and one recording program per probe
// that is not dispatched.
func (s *Session) loadRecord() error {
	rp := s.rec
	if err := s.loadDispatchers(); err != nil {
		return err
	}
	for i, p := range rp.Probes {
		if rp.Dispatched[i] {
			continue
		}
		o := s.options(uint32(i))
		o.Filter = rp.Filters[i]
		spec, err := bpfgen.Program(p, rp.Layout(i), s.progMaps(p.Target), rp.MaxRecord, o)
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
		if rp.Entries[k] == nil {
			continue
		}
		tbl, err := s.newMap(&ebpf.MapSpec{Name: "bt_sysdisp", Type: ebpf.Array, KeySize: 4,
			ValueSize: bpfgen.DispatchEntrySize, MaxEntries: bpfgen.DispatchTableSize})
		if err != nil {
			return err
		}
		for nr, e := range rp.Entries[k] {
			if err := tbl.Put(uint32(nr), e.Marshal()); err != nil {
				return fmt.Errorf("fill syscall table: %w", err)
			}
		}
		o := s.options(0)
		o.Filter = rp.DispatchFilter
		name := []string{"sys_enter", "sys_exit"}[k]
		target := resolve.Target{Kind: resolve.TargetTracepoint, Category: "raw_syscalls", Event: name}
		spec, err := bpfgen.Dispatcher(enter, s.progMaps(target), tbl, rp.StringSize, rp.MaxRecord, o)
		if err != nil {
			return err
		}
		prog, err := s.loadProgram("raw_syscalls:"+name, spec, target)
		if err != nil {
			return attach.Permission(fmt.Errorf("load syscall dispatcher: %w", err))
		}
		s.recorders = append(s.recorders, prog)
	}
	return nil
}
