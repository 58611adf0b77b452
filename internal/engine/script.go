package engine

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/cilium/ebpf"

	"github.com/bpftrail/bpftrail/internal/attach"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/plan"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/scriptout"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// Script is a script planned for this kernel (see package plan).
type Script = plan.Scripted

// ScriptOptions say how a script is planned (see package plan).
type ScriptOptions = plan.ScriptOptions

// PlanScript resolves the attach points of a parsed script and compiles
// it; nothing is loaded.
func PlanScript(prog *lang.Program, o ScriptOptions) (*Script, error) {
	if o.FS == nil {
		o.FS = tracefs.Open
	}
	return plan.Script(prog, o)
}

// RecordedClasses is the number of record classes the kernel events of p
// take in a session of target t: a script recorded beside them numbers
// its events from there (ScriptOptions.FirstClass).
func RecordedClasses(p Probes, t Target) (int, error) {
	po := plan.Options{FS: tracefs.Open}
	if t.Kind == Process {
		po.PID = t.PID
	}
	rp, err := plan.Record(p, po)
	if err != nil {
		return 0, err
	}
	return len(rp.Classes), nil
}

// ScriptEvent is one of a script's events (see package bpfgen).
type ScriptEvent = bpfgen.ScriptEvent

// special is a begin or end program, run by user space.
type special struct {
	which bpfgen.Special
	prog  *ebpf.Program
}

// loadScript creates the script's maps and loads one program per attach
// point.
func (s *Session) loadScript() error {
	sc := s.cfg.Script
	o := s.options(0)
	if s.cfg.ScriptTarget {
		sc.Target = bpfgen.Options{PID: o.PID, Follow: o.Follow}
	}
	sc.Target.TaskComm = o.TaskComm
	var err error
	if s.maps.Globals, err = s.newMap(&ebpf.MapSpec{Name: "bt_globals", Type: ebpf.Array, KeySize: 4, ValueSize: 24, MaxEntries: 1}); err != nil {
		return err
	}
	for _, spec := range sc.MapSpecs() {
		bm, err := s.newMap(spec)
		if err != nil {
			return err
		}
		s.scriptMaps = append(s.scriptMaps, bm)
	}
	for i, sp := range sc.Probes {
		m := s.maps
		if sp.Probe != nil {
			m = s.progMaps(sp.Probe.Target)
		}
		spec, err := sc.Program(i, s.scriptMaps, m)
		if err != nil {
			return err
		}
		if sp.Special != bpfgen.NotSpecial {
			p, err := ebpf.NewProgram(spec)
			if err != nil {
				return attach.Permission(fmt.Errorf("load program for %s: %w", sp.Name, err))
			}
			s.specials = append(s.specials, special{which: sp.Special, prog: p})
			continue
		}
		p, err := s.loadProgram(sp.Name, spec, sp.Probe.Target)
		if err != nil {
			return err
		}
		s.recorders = append(s.recorders, p)
	}
	return s.setGlobals()
}

// setGlobals stores what scripts read from user space: the start time
// (elapsed) and the number of CPUs.
func (s *Session) setGlobals() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return err
	}
	v := make([]byte, 24)
	le.PutUint64(v, uint64(ts.Nano()))
	le.PutUint64(v[8:], uint64(CPUs()))
	return s.maps.Globals.Put(uint32(0), v)
}

// AttachedProbes is the number of probes a script attaches, begin and end
// included, as bpftrace counts them.
func (s *Session) AttachedProbes() int {
	if s.cfg.Script == nil {
		return 0
	}
	return len(s.cfg.Script.Probes)
}

// OnlySpecial reports whether a script has only begin and end probes.
func (s *Session) OnlySpecial() bool {
	return s.cfg.Script != nil && len(s.specials) == len(s.cfg.Script.Probes)
}

// RunSpecial runs the script's begin (or end) programs, in order.
func (s *Session) RunSpecial(which bpfgen.Special) error {
	for _, sp := range s.specials {
		if sp.which != which {
			continue
		}
		if _, err := sp.prog.Run(&ebpf.RunOptions{}); err != nil {
			return fmt.Errorf("run the %s probe: %w", map[bpfgen.Special]string{bpfgen.Begin: "begin", bpfgen.End: "end"}[which], err)
		}
	}
	return nil
}

// ScriptMap reads the whole content of the script's map i.
func (s *Session) ScriptMap(i int) (*scriptout.Map, error) {
	return s.cfg.Script.Maps[i].Dump(s.scriptMaps, i, s.cfg.Script.Decoder)
}

// ClearMap deletes every key of the script's map i; ZeroMap keeps the
// keys and zeroes their values.
func (s *Session) ClearMap(i int) error { return s.cfg.Script.Maps[i].Clear(s.scriptMaps, i) }

// ZeroMap sets every value of the script's map i to zero.
func (s *Session) ZeroMap(i int) error { return s.cfg.Script.Maps[i].Zero(s.scriptMaps, i) }

// ScriptEventOf decodes the record of a script event.
func (s *Session) ScriptEventOf(r record.Record) (*ScriptEvent, []scriptout.Value, error) {
	if s.cfg.Script == nil {
		return nil, nil, errors.New("engine: the session runs no script")
	}
	return s.cfg.Script.Event(r)
}

var le = binary.LittleEndian

// PerfEventInfo is a software or hardware event a probe can name.
type PerfEventInfo = plan.PerfEventInfo

// SoftwareEvents and HardwareEvents are the events software: and
// hardware: probes name.
var (
	SoftwareEvents = plan.SoftwareEvents
	HardwareEvents = plan.HardwareEvents
)

// setChildPID tells a script the pid of the command it runs (cpid).
func (s *Session) setChildPID(pid int) error {
	if s.maps.Globals == nil {
		return nil
	}
	v, err := s.maps.Globals.LookupBytes(uint32(0))
	if err != nil {
		return err
	}
	le.PutUint64(v[16:], uint64(pid))
	return s.maps.Globals.Put(uint32(0), v)
}
