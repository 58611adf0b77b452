// Package engine runs bpftrail's sessions. A [Session] is the one place
// where the pipeline's stages are composed: it resolves probe specs
// (package resolve), compiles filters (filter), generates and loads the
// programs (bpfgen), creates the maps they share, follows a command and its
// descendants, attaches everything (attach), starts and stops the programs
// together, and releases it all. Every front end composes a session: record,
// count/hist/latency, the built-in tools, profile and metrics.
//
// A session records events into a ring buffer ([Config.Record]), computes
// aggregates in maps ([Config.Aggregates]), or both. [Session.Run] is the
// lifetime of a run: the command started, the probes attached, the records
// collected into sinks and a trace (package ctftrace), until Ctrl-C, a
// duration or the command's end.
package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/attach"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/collect"
	"github.com/bpftrail/bpftrail/internal/plan"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// Session is a set of loaded programs and their maps.
type Session struct {
	cfg Config

	fsOnce sync.Once
	fsys   tracefs.FS
	fsErr  error

	rec     *plan.Recording     // nil when nothing is recorded
	classes []*record.Class     // recorded classes, by id
	readers []*aggregate.Reader // one per aggregation

	maps      bpfgen.Maps
	pending   *ebpf.Map   // processes to follow from their next exec
	own       []*ebpf.Map // every map the session created
	followers []*ebpf.Program
	progs     []program
	recorders []*ebpf.Program // programs that write the ring (their misses count)
	// A script's maps (by index in its Maps) and begin/end programs.
	scriptMaps []*ebpf.Map
	specials   []special
	rings      *collect.CPURings // the recording's per-CPU rings, mapped
	// switches turn the session's perf-event probes on and off with it.
	switches []attach.Switch
	links    []io.Closer
}

// program is a loaded program and where it attaches.
type program struct {
	name   string
	prog   *ebpf.Program
	target resolve.Target
}

// Open resolves, checks, generates and loads a session. Nothing is
// attached until [Session.Attach].
func Open(cfg Config) (*Session, error) {
	s := &Session{cfg: cfg}
	if cfg.Record == nil && len(cfg.Aggregates) == 0 && cfg.Script == nil {
		return nil, resolve.ErrNoProbe
	}
	var err error
	po := plan.Options{FS: s.tracefs}
	if cfg.Target.Kind == Process {
		po.PID = cfg.Target.PID
	}
	if cfg.Record != nil {
		if s.rec, err = plan.Record(*cfg.Record, po); err != nil {
			return nil, err
		}
		s.classes = s.rec.Classes
	}
	if cfg.Script != nil {
		sc := cfg.Script.Classes()
		if len(sc) > 0 && int(sc[0].ID) != len(s.classes) {
			return nil, fmt.Errorf("engine: the script's events start at class %d, the recorded events take %d (see RecordedClasses)", sc[0].ID, len(s.classes))
		}
		s.classes = append(s.classes, sc...)
	}
	aggs := make([]*plan.Aggregate, len(cfg.Aggregates))
	for i, a := range cfg.Aggregates {
		if aggs[i], err = plan.NewAggregate(a, po); err != nil {
			return nil, &AggregationError{Index: i, Name: a.Name, Err: err}
		}
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, attach.Permission(fmt.Errorf("raise the memlock limit: %w", err))
	}
	if err := s.load(aggs); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// AggregationError is an error about one aggregation of a session's
// configuration.
type AggregationError struct {
	Index int // in Config.Aggregates
	Name  string
	Err   error
}

func (e *AggregationError) Error() string {
	if e.Name == "" {
		return e.Err.Error()
	}
	return e.Name + ": " + e.Err.Error()
}

func (e *AggregationError) Unwrap() error { return e.Err }

// tracefs opens tracefs once, when a stage first needs it.
func (s *Session) tracefs() (tracefs.FS, error) {
	s.fsOnce.Do(func() { s.fsys, s.fsErr = tracefs.Open() })
	return s.fsys, s.fsErr
}

// load creates the maps and loads every program.
func (s *Session) load(aggs []*plan.Aggregate) error {
	scratch := 0
	if s.rec != nil {
		scratch = s.rec.MaxRecord
	}
	for _, a := range aggs {
		scratch = max(scratch, a.ScratchSize())
	}
	if s.cfg.Script != nil {
		scratch = max(scratch, s.cfg.Script.Scratch(), 8)
	}
	if err := s.loadShared(scratch); err != nil {
		return err
	}
	if s.cfg.Target.Kind == Command {
		if err := s.loadFollowers(); err != nil {
			return err
		}
	}
	if s.rec != nil {
		if err := s.loadRecord(); err != nil {
			return err
		}
	}
	for _, a := range aggs {
		if err := s.loadAggregation(a); err != nil {
			return err
		}
	}
	if s.cfg.Script != nil {
		return s.loadScript()
	}
	return nil
}

// newMap creates a map the session owns.
func (s *Session) newMap(spec *ebpf.MapSpec) (*ebpf.Map, error) {
	m, err := ebpf.NewMap(spec)
	if err != nil {
		return nil, attach.Permission(fmt.Errorf("create map %s: %w", spec.Name, err))
	}
	s.own = append(s.own, m)
	return m, nil
}

// loadShared creates the maps every program of the session shares: the
// control switch, the scratch record, and for a recording the ring buffer
// and its loss counters, for a command the processes followed.
func (s *Session) loadShared(scratch int) error {
	var err error
	mk := func(spec *ebpf.MapSpec) *ebpf.Map {
		if err != nil {
			return nil
		}
		var m *ebpf.Map
		m, err = s.newMap(spec)
		return m
	}
	s.maps.Control = mk(&ebpf.MapSpec{Name: "bt_control", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	s.maps.Scratch = mk(&ebpf.MapSpec{Name: "bt_scratch", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(scratch), MaxEntries: 1})
	switch {
	case s.rec != nil && s.cfg.Script == nil:
		// A recording: a ring per CPU (see bpfgen's CPURing). A script's
		// output is ordered across CPUs, as its printf lines are: one ring.
		n := CPUs()
		size := cpuRingSize(s.cfg.BufferSize, n)
		s.maps.CPURing = mk(&ebpf.MapSpec{Name: "bt_cpurings", Type: ebpf.Array, KeySize: 4,
			ValueSize: uint32(bpfgen.CPURingValueSize(size, s.rec.MaxRecord)), MaxEntries: uint32(n), Flags: unix.BPF_F_MMAPABLE})
		s.maps.CPURingSize, s.maps.MaxRecord = size, s.rec.MaxRecord
		if err == nil {
			if s.rings, err = collect.NewCPURings(s.maps.CPURing, size); err != nil {
				return err
			}
		}
	case s.rec != nil || s.cfg.Script != nil:
		s.maps.Events = mk(&ebpf.MapSpec{Name: "bt_events", Type: ebpf.RingBuf, MaxEntries: ringSize(s.cfg.BufferSize)})
		s.maps.Lost = mk(&ebpf.MapSpec{Name: "bt_lost", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	}
	if s.cfg.Target.Kind == Command {
		// The followed processes: allocated as they are added, since
		// preallocating 64 Ki entries cost about 15 ms of CPU at every
		// start (a command usually has a handful of processes).
		s.maps.Pids = mk(&ebpf.MapSpec{Name: "bt_pids", Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: 65536, Flags: unix.BPF_F_NO_PREALLOC})
		s.pending = mk(&ebpf.MapSpec{Name: "bt_pending", Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: 64})
	}
	return err
}

// cpuRingSize is the data size of each of n per-CPU rings sharing a
// buffer of total bytes: a power of two of at least 64 KiB.
func cpuRingSize(total, n int) int {
	if total <= 0 {
		total = DefaultBufferSize
	}
	size := 64 << 10
	for size*2*n <= total {
		size <<= 1
	}
	return size
}

func ringSize(n int) uint32 {
	if n <= 0 {
		n = DefaultBufferSize
	}
	size := os.Getpagesize()
	for size < n {
		size <<= 1
	}
	return uint32(size)
}

// nests reports whether the recording's programs may nest on a CPU:
// uprobe programs run preemptible and outside the kernel's one-program-
// per-CPU rule, so per-CPU rings are taken before they are written.
func (s *Session) nests() bool {
	if s.rec == nil {
		return false
	}
	for _, p := range s.rec.Probes {
		switch p.Target.Kind {
		case resolve.TargetUprobe, resolve.TargetUretprobe, resolve.TargetUSDT:
			return true
		}
	}
	return false
}

// options are the bpfgen options every program of the session shares.
func (s *Session) options(classID uint32) bpfgen.Options {
	o := bpfgen.Options{ClassID: classID, Follow: s.cfg.Target.Kind == Command, Guard: s.nests()}
	if s.cfg.Target.Kind == Process {
		o.PID = uint32(s.cfg.Target.PID)
	}
	// Without kernel BTF, programs call bpf_get_current_comm.
	if off, err := resolve.TaskComm(); err == nil {
		o.TaskComm = off
	}
	return o
}

// loadProgram loads spec and keeps it to be attached at target.
func (s *Session) loadProgram(name string, spec *ebpf.ProgramSpec, target resolve.Target) (*ebpf.Program, error) {
	p, err := ebpf.NewProgram(spec)
	if err != nil {
		return nil, attach.Permission(fmt.Errorf("load program for %s: %w", name, err))
	}
	s.progs = append(s.progs, program{name: name, prog: p, target: target})
	return p, nil
}

// loadFollowers loads the programs that keep the followed processes up to
// date: a process in pending enters pids at its exec, and the children of
// processes in pids join it.
func (s *Session) loadFollowers() error {
	fsys, err := s.tracefs()
	if err != nil {
		return err
	}
	f, err := fsys.Format("sched", "sched_process_fork")
	if err != nil {
		return err
	}
	child, ok := f.Field("child_pid")
	if !ok {
		return errors.New("sched:sched_process_fork has no child_pid field")
	}
	for _, spec := range []*ebpf.ProgramSpec{
		bpfgen.ForkFollower(s.maps.Pids, child.Offset),
		bpfgen.ExecPromoter(s.pending, s.maps.Pids),
	} {
		p, err := ebpf.NewProgram(spec)
		if err != nil {
			return attach.Permission(fmt.Errorf("load %s: %w", spec.Name, err))
		}
		s.followers = append(s.followers, p)
	}
	return nil
}

// Classes returns the recorded event classes, indexed by class id.
func (s *Session) Classes() []*record.Class { return s.classes }

// Aggregates returns the readers of the aggregations, in the order of
// Config.Aggregates.
func (s *Session) Aggregates() []*aggregate.Reader { return s.readers }

// Follow makes the process pid seen from its next exec on, with all the
// processes it forks (Command targets).
func (s *Session) Follow(pid int) error {
	if s.pending == nil {
		return errors.New("engine: session does not follow processes")
	}
	return s.pending.Put(uint32(pid), uint8(1))
}

// Attach attaches every program and starts them all at once; the programs
// that follow a command's descendants go first so that no fork is missed.
func (s *Session) Attach() error {
	for i, p := range s.followers {
		name := []string{"sched_process_fork", "sched_process_exec"}[i]
		l, err := attach.Tracepoint("sched", name, p)
		if err != nil {
			return err
		}
		s.links = append(s.links, l)
	}
	o := attach.Options{Held: true}
	if s.cfg.Target.Kind == Process {
		o.PID = s.cfg.Target.PID
	}
	for _, p := range attachOrder(s.progs) {
		ls, err := attach.Probe(p.name, p.target, p.prog, o)
		if err != nil {
			return err
		}
		s.links = append(s.links, ls...)
		for _, l := range ls {
			if sw, ok := l.(attach.Switch); ok {
				s.switches = append(s.switches, sw)
			}
		}
	}
	return s.setEnabled(true)
}

// progMaps are the maps of a program attached to t: one attached as a
// switch (a perf event turned on and off with the session) is compiled
// without the control flag, a memory load on every run that costs more
// than the rest of a small program.
func (s *Session) progMaps(t resolve.Target) bpfgen.Maps {
	m := s.maps
	if attach.Switchable(t) {
		m.Control = nil
	}
	return m
}

// attachOrder is the order in which to attach progs so that probes on
// the same place fire in the order given: the kernel runs the consumers
// of a uprobe newest first, so user-space probes are attached last to
// first; the others (tracepoints run their programs oldest first) keep
// their order.
func attachOrder(progs []program) []program {
	out := make([]program, 0, len(progs))
	var user []program
	for _, p := range progs {
		if k := p.target.Kind; k == resolve.TargetUprobe || k == resolve.TargetUretprobe || k == resolve.TargetUSDT {
			user = append(user, p)
		} else {
			out = append(out, p)
		}
	}
	for i := len(user) - 1; i >= 0; i-- {
		out = append(out, user[i])
	}
	return out
}

// setEnabled turns the session's programs on or off. The control map is
// turned on last and off first: a session whose control map is on (what
// its tests and tools can see from outside) records everywhere.
func (s *Session) setEnabled(on bool) error {
	v := uint32(0)
	if on {
		v = 1
	}
	control := func() error {
		if err := s.maps.Control.Put(uint32(0), v); err != nil {
			return fmt.Errorf("engine: control map: %w", err)
		}
		return nil
	}
	if !on {
		if err := control(); err != nil {
			return err
		}
	}
	if s.rings != nil {
		s.rings.SetEnabled(on)
	}
	for _, sw := range s.switches {
		f := sw.Disable
		if on {
			f = sw.Enable
		}
		if err := f(); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
	}
	if on {
		return control()
	}
	return nil
}

// Stop makes every program return at once without recording or counting;
// the probes stay attached until Close.
func (s *Session) Stop() error {
	if s.maps.Control == nil {
		return nil
	}
	return s.setEnabled(false)
}

// Missed returns how many times the kernel skipped one of the session's
// recording programs because another BPF program was already running on
// that CPU (its recursion protection): events that happened but could not
// be seen.
func (s *Session) Missed() uint64 {
	var n uint64
	for _, p := range s.recorders {
		if st, err := p.Stats(); err == nil {
			n += st.RecursionMisses
		}
	}
	return n
}

// CPUs returns the number of possible CPUs, the streams a recording has.
func CPUs() int {
	n, err := ebpf.PossibleCPU()
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// Close detaches and releases everything. Links are closed in parallel:
// each close waits for an RCU grace period.
func (s *Session) Close() {
	var wg sync.WaitGroup
	for _, l := range s.links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Close()
		}()
	}
	wg.Wait()
	s.links = nil
	for _, p := range s.followers {
		p.Close()
	}
	for _, p := range s.progs {
		p.prog.Close()
	}
	for _, p := range s.specials {
		p.prog.Close()
	}
	s.specials = nil
	if s.rings != nil {
		s.rings.Close()
		s.rings = nil
	}
	for _, m := range s.own {
		m.Close()
	}
	s.followers, s.progs, s.own = nil, nil, nil
}
