// Package engine runs one recording session end to end: it resolves probe
// specs to schemas, compiles the filter, generates and loads one program per
// event, attaches them, and collects their records into a sink. It is the
// only place where the pipeline's stages are composed.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/collect"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/preset"
	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/syscalls"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// Config describes a session.
type Config struct {
	Specs      []string
	Filter     string
	Target     bpfgen.Target
	PID        uint32
	BufferSize int // ring buffer bytes; rounded up to a power of two ≥ one page
	StringSize int
	Preset     string // a kernel layout preset (package preset), added to Specs
	// Fields selects what uprobes record (argN, retval, str(...)); empty
	// means every argument at entry and the return value at return.
	Fields []resolve.FieldSpec
	// Stack adds the stack to every event: "user", "kernel" or "both".
	Stack string
	// TaskFields are added to every event: name → member path from the
	// current task_struct (e.g. "ppid" → "real_parent.tgid").
	TaskFields []TaskField
}

// TaskField names a value read from the current task.
type TaskField struct{ Name, Path string }

// DefaultBufferSize is the ring buffer size when none is given.
const DefaultBufferSize = 16 << 20

// Session is a set of loaded programs and their maps.
type Session struct {
	FS      tracefs.FS
	Schemas []*event.Schema
	maps    bpfgen.Maps
	progs   []*ebpf.Program
	helpers []*ebpf.Program
	links   []link.Link
	pending *ebpf.Map
	cfg     Config

	dispatchers [2]*ebpf.Program // raw_syscalls sys_enter, sys_exit
	tables      [2]*ebpf.Map
}

// ParseSpecs parses and expands probe specs.
func ParseSpecs(specs []string) ([]probe.Spec, error) {
	var out []probe.Spec
	for _, raw := range specs {
		sp, err := probe.Parse(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, sp.Expand()...)
	}
	return out, nil
}

// Resolve parses specs and reads the schemas of their tracepoints; it needs
// tracefs but no BPF.
func Resolve(cfg Config) (tracefs.FS, []*event.Schema, error) {
	var pre *preset.Preset
	if cfg.Preset != "" {
		p, err := preset.Lookup(cfg.Preset)
		if err != nil {
			return tracefs.FS{}, nil, err
		}
		pre = p
		cfg.Specs = append(append([]string(nil), p.Specs...), cfg.Specs...)
	}
	specs, err := ParseSpecs(cfg.Specs)
	if err != nil {
		return tracefs.FS{}, nil, err
	}
	if len(specs) == 0 {
		return tracefs.FS{}, nil, errors.New("no probe given (use -e SPEC, e.g. -e syscalls:sys_enter_openat)")
	}
	var tps, others []probe.Spec
	for _, sp := range specs {
		switch sp.Kind {
		case probe.Tracepoint:
			tps = append(tps, sp)
		case probe.Uprobe, probe.Uretprobe, probe.USDT:
			others = append(others, sp)
		case probe.Kprobe, probe.Kretprobe:
			if err := kprobeSupport(sp); err != nil {
				return tracefs.FS{}, nil, err
			}
			others = append(others, sp)
		default:
			return tracefs.FS{}, nil, fmt.Errorf("%s: %s probes cannot be recorded yet; use tracepoints (bpftrail list)", sp.Raw, sp.Kind)
		}
	}
	fsys, err := tracefs.Open()
	if err != nil {
		return tracefs.FS{}, nil, err
	}
	var schemas []*event.Schema
	if len(tps) > 0 {
		schemas, err = resolve.Tracepoints(fsys, tps, resolve.Options{StringSize: cfg.StringSize})
		if err != nil {
			return fsys, nil, err
		}
	}
	for _, sp := range others {
		var s *event.Schema
		switch sp.Kind {
		case probe.USDT:
			s, err = resolve.USDT(sp, int(cfg.PID))
		case probe.Kprobe, probe.Kretprobe:
			s, err = resolve.Kprobe(sp, cfg.Fields, resolve.Options{StringSize: cfg.StringSize})
		default:
			s, err = resolve.Uprobe(sp, cfg.Fields, int(cfg.PID), resolve.Options{StringSize: cfg.StringSize})
		}
		if err != nil {
			return fsys, nil, err
		}
		schemas = append(schemas, s)
	}
	if pre != nil {
		for _, s := range schemas {
			preset.Apply(s)
		}
	}
	if cfg.Stack != "" {
		var add []event.Field
		switch cfg.Stack {
		case "user":
			add = []event.Field{event.StackField(true)}
		case "kernel":
			add = []event.Field{event.StackField(false)}
		case "both":
			add = []event.Field{event.StackField(true), event.StackField(false)}
		default:
			return fsys, nil, fmt.Errorf("--stack %q: want user, kernel or both", cfg.Stack)
		}
		for _, s := range schemas {
			s.Fields = append(s.Fields, add...)
			s.Layout()
		}
	}
	for _, tf := range cfg.TaskFields {
		f, err := resolve.TaskField(tf.Name, tf.Path)
		if err != nil {
			return fsys, nil, err
		}
		for _, s := range schemas {
			s.Fields = append(s.Fields, f)
			s.Layout()
		}
	}
	return fsys, schemas, nil
}

// ErrNoKprobes is returned for kprobe specs on a kernel without kprobes.
var ErrNoKprobes = errors.New("this kernel has no kprobe support")

// kprobeSupport reports, as an error naming the alternatives, a kernel that
// cannot attach kprobes: neither the kprobe PMU nor tracefs's
// kprobe_events exists (cilium/ebpf would only report the missing file).
func kprobeSupport(sp probe.Spec) error {
	_, errPMU := os.Stat("/sys/bus/event_source/devices/kprobe/type")
	root, _ := tracefs.Root()
	_, errTFS := os.Stat(root + "/kprobe_events")
	if errPMU != nil && errTFS != nil {
		return fmt.Errorf("%s: %w (no kprobe PMU and no %s/kprobe_events: CONFIG_KPROBES is off); use tracepoints instead, e.g. syscalls:sys_enter_* or sched:* (bpftrail list)", sp.Raw, ErrNoKprobes, root)
	}
	return nil
}

// CompileFilters type-checks the filter against every schema.
func CompileFilters(src string, schemas []*event.Schema) ([]*filter.Expr, error) {
	out := make([]*filter.Expr, len(schemas))
	if strings.TrimSpace(src) == "" {
		return out, nil
	}
	for i, s := range schemas {
		e, err := filter.Parse(src, bpfgen.FilterFields(s))
		if err != nil {
			if len(schemas) > 1 {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// Open resolves, generates and loads the session's programs.
func Open(cfg Config) (*Session, error) {
	fsys, schemas, err := Resolve(cfg)
	if err != nil {
		return nil, err
	}
	filters, err := CompileFilters(cfg.Filter, schemas)
	if err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, permission(fmt.Errorf("raise the memlock limit: %w", err))
	}
	s := &Session{FS: fsys, Schemas: schemas, cfg: cfg}
	if err := s.load(filters); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// permission turns EPERM into a message that says what to do.
func permission(err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w: recording needs root (or CAP_BPF and CAP_PERFMON)", err)
	}
	return err
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

func (s *Session) load(filters []*filter.Expr) error {
	maxRec := event.HeaderSize
	for _, sc := range s.Schemas {
		if n := sc.RecordSize(); n > maxRec {
			maxRec = n
		}
	}
	if s.dispatchable(filters) {
		if n := bpfgen.DispatchRecordSize(s.stringSize()); n > maxRec {
			maxRec = n
		}
	}
	maxRec = (maxRec + 7) &^ 7
	var err error
	if s.maps.Events, err = ebpf.NewMap(&ebpf.MapSpec{Name: "bt_events", Type: ebpf.RingBuf, MaxEntries: ringSize(s.cfg.BufferSize)}); err != nil {
		return permission(fmt.Errorf("create ring buffer: %w", err))
	}
	if s.maps.Scratch, err = ebpf.NewMap(&ebpf.MapSpec{Name: "bt_scratch", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(maxRec), MaxEntries: 1}); err != nil {
		return permission(fmt.Errorf("create scratch map: %w", err))
	}
	if s.maps.Lost, err = ebpf.NewMap(&ebpf.MapSpec{Name: "bt_lost", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1}); err != nil {
		return permission(fmt.Errorf("create loss counters: %w", err))
	}
	if s.maps.Control, err = ebpf.NewMap(&ebpf.MapSpec{Name: "bt_control", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}); err != nil {
		return permission(fmt.Errorf("create control map: %w", err))
	}
	if s.cfg.Target == bpfgen.TargetPids {
		if s.maps.Pids, err = ebpf.NewMap(&ebpf.MapSpec{Name: "bt_pids", Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: 65536}); err != nil {
			return permission(fmt.Errorf("create pid map: %w", err))
		}
		if s.pending, err = ebpf.NewMap(&ebpf.MapSpec{Name: "bt_pending", Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: 64}); err != nil {
			return permission(fmt.Errorf("create pid map: %w", err))
		}
		if err := s.loadFollowers(); err != nil {
			return err
		}
	}
	if err := s.loadDispatchers(filters, maxRec); err != nil {
		return err
	}
	for i, sc := range s.Schemas {
		if sc.Dispatched {
			s.progs = append(s.progs, nil)
			continue
		}
		spec, err := bpfgen.Program(sc, s.maps, maxRec, bpfgen.Options{
			ClassID: uint32(i), Target: s.cfg.Target, PID: s.cfg.PID, Filter: filters[i], Type: progType(sc),
		})
		if err != nil {
			return err
		}
		prog, err := ebpf.NewProgram(spec)
		if err != nil {
			return permission(fmt.Errorf("load program for %s: %w", sc.Name, err))
		}
		s.progs = append(s.progs, prog)
	}
	return nil
}

// Attach attaches every program; the helpers that follow a command's
// descendants go first so that no fork is missed.
func (s *Session) Attach() error {
	for i, h := range s.helpers {
		name := []string{"sched_process_fork", "sched_process_exec"}[i]
		l, err := link.Tracepoint("sched", name, h, nil)
		if err != nil {
			return permission(fmt.Errorf("attach sched:%s: %w", name, err))
		}
		s.links = append(s.links, l)
	}
	for i, name := range []string{"sys_enter", "sys_exit"} {
		if s.dispatchers[i] == nil {
			continue
		}
		l, err := link.Tracepoint("raw_syscalls", name, s.dispatchers[i], nil)
		if err != nil {
			return permission(fmt.Errorf("attach raw_syscalls:%s: %w", name, err))
		}
		s.links = append(s.links, l)
	}
	for i, p := range s.progs {
		if p == nil {
			continue
		}
		ls, err := attach(s.Schemas[i], p, s.cfg)
		if err != nil {
			return err
		}
		s.links = append(s.links, ls...)
	}
	// Every probe starts recording at the same moment.
	return s.setEnabled(true)
}

func (s *Session) setEnabled(on bool) error {
	v := uint32(0)
	if on {
		v = 1
	}
	if err := s.maps.Control.Put(uint32(0), v); err != nil {
		return fmt.Errorf("engine: control map: %w", err)
	}
	return nil
}

// Stop makes every program return at once without recording; the probes
// stay attached until Detach.
func (s *Session) Stop() error {
	if s.maps.Control == nil {
		return nil
	}
	return s.setEnabled(false)
}

// Detach removes the programs from their probes. Links are closed in
// parallel: each close waits for an RCU grace period.
func (s *Session) Detach() {
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
}

// Follow makes the process pid recorded from its next exec on, with all the
// processes it forks (TargetPids sessions).
func (s *Session) Follow(pid int) error {
	if s.pending == nil {
		return errors.New("engine: session does not follow processes")
	}
	return s.pending.Put(uint32(pid), uint8(1))
}

// Collector returns a collector of the session's ring buffer into sink.
func (s *Session) Collector(sink collect.Sink) (*collect.Collector, error) {
	return collect.New(s.maps.Events, s.maps.Lost, sink, 0)
}

// Run collects until ctx is done, stops the programs, and drains what is
// left.
func (s *Session) Run(ctx context.Context, c *collect.Collector) error {
	err := c.Run(ctx)
	if serr := s.Stop(); err == nil {
		err = serr
	}
	if derr := c.Drain(); err == nil {
		err = derr
	}
	return err
}

// Close releases everything.
func (s *Session) Close() {
	s.Detach()
	for _, p := range append(append(s.progs, s.helpers...), s.dispatchers[:]...) {
		if p != nil {
			p.Close()
		}
	}
	for _, m := range s.tables {
		if m != nil {
			m.Close()
		}
	}
	for _, m := range []*ebpf.Map{s.maps.Events, s.maps.Scratch, s.maps.Lost, s.maps.Pids, s.maps.Control, s.pending} {
		if m != nil {
			m.Close()
		}
	}
}

// loadFollowers loads the programs that follow a command and its
// descendants.
func (s *Session) loadFollowers() error {
	h, err := loadFollowers(s.FS, s.maps.Pids, s.pending)
	s.helpers = h
	return err
}

// loadFollowers loads the fork and exec programs that keep pids up to date:
// a process in pending enters pids at its exec, and the children of
// processes in pids join it.
func loadFollowers(fs tracefs.FS, pids, pending *ebpf.Map) ([]*ebpf.Program, error) {
	f, err := fs.Format("sched", "sched_process_fork")
	if err != nil {
		return nil, err
	}
	child, ok := f.Field("child_pid")
	if !ok {
		return nil, errors.New("sched:sched_process_fork has no child_pid field")
	}
	var out []*ebpf.Program
	for _, spec := range []*ebpf.ProgramSpec{
		bpfgen.ForkFollower(pids, child.Offset),
		bpfgen.ExecPromoter(pending, pids),
	} {
		p, err := ebpf.NewProgram(spec)
		if err != nil {
			for _, q := range out {
				q.Close()
			}
			return nil, permission(fmt.Errorf("load %s: %w", spec.Name, err))
		}
		out = append(out, p)
	}
	return out, nil
}

// CPUs returns the number of possible CPUs, the streams a recording has.
func (s *Session) CPUs() int {
	n, err := ebpf.PossibleCPU()
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// dispatchThreshold is how many syscall tracepoints make the session record
// them through the raw_syscalls dispatcher rather than one program each.
const dispatchThreshold = 16

func (s *Session) stringSize() int {
	if s.cfg.StringSize > 0 {
		return s.cfg.StringSize
	}
	return resolve.DefaultStringSize
}

// dispatchable reports whether the session's syscall tracepoints go through
// the dispatcher: many of them, and a filter on builtins only.
func (s *Session) dispatchable(filters []*filter.Expr) bool {
	n := 0
	for i, sc := range s.Schemas {
		if sc.Category != "syscalls" {
			continue
		}
		if !bpfgen.BuiltinsOnly(filters[i]) {
			return false
		}
		if _, ok := syscalls.Number(strings.TrimPrefix(strings.TrimPrefix(sc.Event, "sys_enter_"), "sys_exit_")); ok {
			n++
		}
	}
	return n >= dispatchThreshold
}

// loadDispatchers moves the syscall schemas that can be dispatched to the
// two raw_syscalls programs and fills their tables.
func (s *Session) loadDispatchers(filters []*filter.Expr, maxRec int) error {
	if !s.dispatchable(filters) {
		return nil
	}
	var entries [2]map[int]bpfgen.DispatchEntry
	var filt *filter.Expr
	for i, sc := range s.Schemas {
		if sc.Category != "syscalls" {
			continue
		}
		enter := strings.HasPrefix(sc.Event, "sys_enter_")
		name := strings.TrimPrefix(strings.TrimPrefix(sc.Event, "sys_enter_"), "sys_exit_")
		nr, ok := syscalls.Number(name)
		if !ok || nr >= bpfgen.DispatchTableSize {
			continue
		}
		trial := *sc
		trial.Fields = append([]event.Field(nil), sc.Fields...)
		e, ok := bpfgen.DispatchLayout(&trial, enter, s.stringSize())
		if !ok {
			continue
		}
		*sc = trial
		e.ClassPlus1 = uint32(i + 1)
		k := 1
		if enter {
			k = 0
		}
		if entries[k] == nil {
			entries[k] = map[int]bpfgen.DispatchEntry{}
		}
		entries[k][nr] = e
		filt = filters[i]
	}
	for k, enter := range []bool{true, false} {
		if entries[k] == nil {
			continue
		}
		tbl, err := ebpf.NewMap(&ebpf.MapSpec{Name: "bt_sysdisp", Type: ebpf.Array, KeySize: 4,
			ValueSize: bpfgen.DispatchEntrySize, MaxEntries: bpfgen.DispatchTableSize})
		if err != nil {
			return permission(fmt.Errorf("create syscall table: %w", err))
		}
		s.tables[k] = tbl
		for nr, e := range entries[k] {
			if err := tbl.Put(uint32(nr), e.Marshal()); err != nil {
				return fmt.Errorf("fill syscall table: %w", err)
			}
		}
		spec, err := bpfgen.Dispatcher(enter, s.maps, tbl, s.stringSize(), maxRec, bpfgen.Options{
			Target: s.cfg.Target, PID: s.cfg.PID, Filter: filt,
		})
		if err != nil {
			return err
		}
		p, err := ebpf.NewProgram(spec)
		if err != nil {
			return permission(fmt.Errorf("load syscall dispatcher: %w", err))
		}
		s.dispatchers[k] = p
	}
	return nil
}

// Missed returns how many times the kernel skipped one of the session's
// programs because another BPF program was already running on that CPU
// (its recursion protection): events that happened but could not be seen.
func (s *Session) Missed() uint64 {
	var n uint64
	for _, p := range append(append([]*ebpf.Program(nil), s.progs...), s.dispatchers[:]...) {
		if p == nil {
			continue
		}
		if st, err := p.Stats(); err == nil {
			n += st.RecursionMisses
		}
	}
	return n
}

// progType is the program type of a schema's programs.
func progType(s *event.Schema) ebpf.ProgramType {
	if s.Uprobe() || s.Attach.Kind == "kprobe" || s.Attach.Kind == "kretprobe" {
		return ebpf.Kprobe
	}
	return ebpf.TracePoint
}

// attach attaches p where schema s says: a tracepoint, or a uprobe at each
// location of the probe.
func attach(s *event.Schema, p *ebpf.Program, cfg Config) ([]link.Link, error) {
	switch s.Attach.Kind {
	case "kprobe", "kretprobe":
		attachK := link.Kprobe
		if s.Attach.Kind == "kretprobe" {
			attachK = link.Kretprobe
		}
		l, err := attachK(s.Attach.Symbol, p, &link.KprobeOptions{Offset: s.Attach.Offset})
		if err != nil {
			return nil, permission(fmt.Errorf("attach %s: %w", s.Name, err))
		}
		return []link.Link{l}, nil
	}
	if !s.Uprobe() {
		l, err := link.Tracepoint(s.Category, s.Event, p, nil)
		if err != nil {
			return nil, permission(fmt.Errorf("attach %s: %w", s.Name, err))
		}
		return []link.Link{l}, nil
	}
	ex, err := link.OpenExecutable(s.Attach.Path)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", s.Name, err)
	}
	var out []link.Link
	addrs := []uint64{s.Attach.Address}
	if s.Attach.Kind == "usdt" {
		addrs = append(addrs, s.Attach.More...)
	}
	for _, addr := range addrs {
		opts := &link.UprobeOptions{Offset: s.Attach.Offset, Address: addr, RefCtrOffset: s.Attach.RefCtr}
		if cfg.Target == bpfgen.TargetPID {
			opts.PID = int(cfg.PID)
		}
		var l link.Link
		if s.Attach.Kind == "uretprobe" {
			l, err = ex.Uretprobe(s.Attach.Symbol, p, opts)
		} else {
			l, err = ex.Uprobe(s.Attach.Symbol, p, opts)
		}
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, permission(fmt.Errorf("attach %s: %w", s.Name, err))
		}
		out = append(out, l)
	}
	return out, nil
}
