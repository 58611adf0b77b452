package engine

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/collect"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// ProfileConfig describes a CPU profile: stacks sampled Freq times a
// second on every CPU by the software CPU clock, kept for the target.
type ProfileConfig struct {
	Target       bpfgen.Target
	PID          uint32
	Freq         int
	User, Kernel bool
	BufferSize   int
}

// ProfileSession is a loaded sampler.
type ProfileSession struct {
	cfg     ProfileConfig
	maps    bpfgen.Maps
	prog    *ebpf.Program
	helpers []*ebpf.Program
	pending *ebpf.Map
	links   []link.Link
	events  []int // perf event fds
}

// OpenProfile loads the sampler.
func OpenProfile(cfg ProfileConfig) (*ProfileSession, error) {
	if cfg.Freq <= 0 || cfg.Freq > 10000 {
		return nil, fmt.Errorf("-F %d: the sampling frequency must be between 1 and 10000 Hz", cfg.Freq)
	}
	if !cfg.User && !cfg.Kernel {
		cfg.User, cfg.Kernel = true, true
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, permission(fmt.Errorf("raise the memlock limit: %w", err))
	}
	p := &ProfileSession{cfg: cfg}
	if err := p.load(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *ProfileSession) load() error {
	var err error
	mk := func(spec *ebpf.MapSpec) *ebpf.Map {
		if err != nil {
			return nil
		}
		var m *ebpf.Map
		if m, err = ebpf.NewMap(spec); err != nil {
			err = permission(fmt.Errorf("create map %s: %w", spec.Name, err))
		}
		return m
	}
	p.maps.Events = mk(&ebpf.MapSpec{Name: "bt_events", Type: ebpf.RingBuf, MaxEntries: ringSize(p.cfg.BufferSize)})
	p.maps.Lost = mk(&ebpf.MapSpec{Name: "bt_lost", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	p.maps.Control = mk(&ebpf.MapSpec{Name: "bt_control", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if p.cfg.Target == bpfgen.TargetPids {
		p.maps.Pids = mk(&ebpf.MapSpec{Name: "bt_pids", Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: 65536})
		p.pending = mk(&ebpf.MapSpec{Name: "bt_pending", Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: 64})
	}
	if err != nil {
		return err
	}
	if p.cfg.Target == bpfgen.TargetPids {
		fsys, err := tracefs.Open()
		if err != nil {
			return err
		}
		if p.helpers, err = loadFollowers(fsys, p.maps.Pids, p.pending); err != nil {
			return err
		}
	}
	spec, err := bpfgen.ProfileProgram(p.maps, bpfgen.Options{Target: p.cfg.Target, PID: p.cfg.PID}, p.cfg.User, p.cfg.Kernel)
	if err != nil {
		return err
	}
	if p.prog, err = ebpf.NewProgram(spec); err != nil {
		return permission(fmt.Errorf("load the sampler: %w", err))
	}
	return nil
}

// Follow makes the process pid sampled from its next exec on, with its
// descendants.
func (p *ProfileSession) Follow(pid int) error {
	if p.pending == nil {
		return errors.New("engine: session does not follow processes")
	}
	return p.pending.Put(uint32(pid), uint8(1))
}

// Attach opens a CPU-clock perf event on every CPU and attaches the sampler.
func (p *ProfileSession) Attach() error {
	for i, h := range p.helpers {
		name := []string{"sched_process_fork", "sched_process_exec"}[i]
		l, err := link.Tracepoint("sched", name, h, nil)
		if err != nil {
			return permission(fmt.Errorf("attach sched:%s: %w", name, err))
		}
		p.links = append(p.links, l)
	}
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	for cpu := 0; cpu < n; cpu++ {
		attr := unix.PerfEventAttr{
			Type:   unix.PERF_TYPE_SOFTWARE,
			Config: unix.PERF_COUNT_SW_CPU_CLOCK,
			Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Sample: uint64(p.cfg.Freq),
			Bits:   unix.PerfBitFreq | unix.PerfBitDisabled,
		}
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) {
				continue // CPU offline
			}
			return permission(fmt.Errorf("perf_event_open on CPU %d: %w", cpu, err))
		}
		p.events = append(p.events, fd)
		l, err := link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: p.prog, Attach: ebpf.AttachPerfEvent})
		if err != nil {
			return permission(fmt.Errorf("attach the sampler on CPU %d: %w", cpu, err))
		}
		p.links = append(p.links, l)
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			return fmt.Errorf("enable sampling on CPU %d: %w", cpu, err)
		}
	}
	if len(p.events) == 0 {
		return errors.New("no CPU could be sampled")
	}
	return p.maps.Control.Put(uint32(0), uint32(1))
}

// Collector returns a collector of the samples into sink.
func (p *ProfileSession) Collector(sink collect.Sink) (*collect.Collector, error) {
	return collect.New(p.maps.Events, p.maps.Lost, sink, 0)
}

// Run collects until ctx is done, stops sampling and drains.
func (p *ProfileSession) Run(ctx context.Context, c *collect.Collector) error {
	err := c.Run(ctx)
	if serr := p.maps.Control.Put(uint32(0), uint32(0)); err == nil {
		err = serr
	}
	if derr := c.Drain(); err == nil {
		err = derr
	}
	return err
}

// Close releases everything.
func (p *ProfileSession) Close() {
	for _, l := range p.links {
		l.Close()
	}
	for _, fd := range p.events {
		unix.Close(fd)
	}
	for _, prog := range append([]*ebpf.Program{p.prog}, p.helpers...) {
		if prog != nil {
			prog.Close()
		}
	}
	for _, m := range []*ebpf.Map{p.maps.Events, p.maps.Lost, p.maps.Control, p.maps.Pids, p.pending} {
		if m != nil {
			m.Close()
		}
	}
}
