// Package attach attaches loaded BPF programs where resolved probes say:
// tracepoints, uprobes and uretprobes (every location of a USDT probe),
// kprobes and kretprobes, and sampling perf events on every CPU. What it
// returns is closed with Close; closing a link waits for an RCU grace
// period, so callers close many in parallel.
//
// Errors name the probe; a refusal for lack of privileges says what is
// needed (see [Permission]).
package attach

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/internal/resolve"
)

// Options say which processes a uprobe fires for.
type Options struct {
	PID int // uprobes fire only in this process when not 0
	// Held attaches sampling events disabled: their programs do not run
	// until the returned Switch is enabled. A session opens all its
	// sampling probes at once that way, with no test of a flag in every
	// program run (a memory load that costs about 20 ns here).
	// Tracepoints cannot be held so: the kernel runs a tracepoint's
	// programs from the moment they are attached, whether their perf
	// event is enabled or not.
	Held bool
}

// Switch is an attachment whose programs can be turned on and off: a
// perf event (tracepoint or sampling).
type Switch interface {
	Enable() error
	Disable() error
}

// Switchable reports whether a probe on t is attached as a Switch with
// Options.Held, so that its programs need no run-time gate.
func Switchable(t resolve.Target) bool {
	return t.Kind == resolve.TargetPerfEvent
}

// Probe attaches prog, named name in errors, to target t.
func Probe(name string, t resolve.Target, prog *ebpf.Program, o Options) ([]io.Closer, error) {
	switch t.Kind {
	case resolve.TargetTracepoint:
		l, err := Tracepoint(t.Category, t.Event, prog)
		if err != nil {
			return nil, err
		}
		return []io.Closer{l}, nil
	case resolve.TargetKprobe, resolve.TargetKretprobe:
		attachK := link.Kprobe
		if t.Kind == resolve.TargetKretprobe {
			attachK = link.Kretprobe
		}
		l, err := attachK(t.Symbol, prog, &link.KprobeOptions{Offset: t.Offset})
		if err != nil {
			return nil, Permission(fmt.Errorf("attach %s: %w", name, err))
		}
		return []io.Closer{l}, nil
	case resolve.TargetUprobe, resolve.TargetUretprobe, resolve.TargetUSDT:
		return uprobes(name, t, prog, o)
	case resolve.TargetPerfEvent:
		return perfEvents(t, prog, o.Held)
	}
	return nil, fmt.Errorf("attach %s: unknown target kind %v", name, t.Kind)
}

// Tracepoint attaches prog to the tracepoint category:name.
func Tracepoint(category, name string, prog *ebpf.Program) (link.Link, error) {
	l, err := link.Tracepoint(category, name, prog, nil)
	if err != nil {
		return nil, Permission(fmt.Errorf("attach %s:%s: %w", category, name, err))
	}
	return l, nil
}

// uprobes attaches prog at each location of a uprobe or USDT probe.
func uprobes(name string, t resolve.Target, prog *ebpf.Program, o Options) ([]io.Closer, error) {
	ex, err := link.OpenExecutable(t.Path)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", name, err)
	}
	// Addresses are file offsets, resolved already (Offset is then what
	// the probe was written with); without them, the symbol and the offset
	// are resolved here.
	addrs, off := t.Addresses, uint64(0)
	if len(addrs) == 0 {
		addrs, off = []uint64{0}, t.Offset
	}
	var out []io.Closer
	for _, addr := range addrs {
		opts := &link.UprobeOptions{Offset: off, Address: addr, RefCtrOffset: t.RefCtr, PID: o.PID}
		var l link.Link
		if t.Kind == resolve.TargetUretprobe {
			l, err = ex.Uretprobe(t.Symbol, prog, opts)
		} else {
			l, err = ex.Uprobe(t.Symbol, prog, opts)
		}
		if err != nil {
			closeAll(out)
			return nil, Permission(fmt.Errorf("attach %s: %w", name, err))
		}
		out = append(out, l)
	}
	return out, nil
}

// perfEvent is a sampling perf event and the link of its program; closing
// it detaches the program, then closes the event.
type perfEvent struct {
	fd   int
	link link.Link
}

// Enable turns the event on.
func (p *perfEvent) Enable() error {
	if err := unix.IoctlSetInt(p.fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
		return fmt.Errorf("enable a perf event: %w", err)
	}
	return nil
}

// Disable turns the event off: its program no longer runs.
func (p *perfEvent) Disable() error {
	if err := unix.IoctlSetInt(p.fd, unix.PERF_EVENT_IOC_DISABLE, 0); err != nil {
		return fmt.Errorf("disable a perf event: %w", err)
	}
	return nil
}

func (p *perfEvent) Close() error {
	var err error
	if p.link != nil {
		err = p.link.Close()
	}
	if cerr := unix.Close(p.fd); err == nil {
		err = cerr
	}
	return err
}

// perfEvents opens a CPU-clock sampling event on every online CPU and
// attaches prog to each, enabled unless held.
func perfEvents(t resolve.Target, prog *ebpf.Program, held bool) ([]io.Closer, error) {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Sample: t.Period,
		Bits:   unix.PerfBitDisabled,
	}
	if t.Perf != nil {
		attr.Type, attr.Config = t.Perf.Type, t.Perf.Config
	}
	if t.Frequency != 0 {
		attr.Sample, attr.Bits = t.Frequency, attr.Bits|unix.PerfBitFreq
	}
	if t.OneCPU {
		n = 1
	}
	var out []io.Closer
	for cpu := 0; cpu < n; cpu++ {
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) {
				continue // CPU offline
			}
			closeAll(out)
			return nil, Permission(fmt.Errorf("perf_event_open on CPU %d: %w", cpu, err))
		}
		pe := &perfEvent{fd: fd}
		out = append(out, pe)
		if pe.link, err = link.AttachRawLink(link.RawLinkOptions{Target: fd, Program: prog, Attach: ebpf.AttachPerfEvent}); err != nil {
			closeAll(out)
			return nil, Permission(fmt.Errorf("attach the sampler on CPU %d: %w", cpu, err))
		}
		if held {
			continue
		}
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			closeAll(out)
			return nil, fmt.Errorf("enable sampling on CPU %d: %w", cpu, err)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no CPU could be sampled")
	}
	return out, nil
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}

// Permission turns EPERM into a message that says what to do.
func Permission(err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w: recording needs root (or CAP_BPF and CAP_PERFMON)", err)
	}
	return err
}
