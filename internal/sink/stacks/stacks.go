// Package stacks is the one model of stack samples and its two writers:
// folded stacks (flamegraph.pl, speedscope) and pprof profiles (go tool
// pprof). "bpftrail convert --to folded|pprof", "bpftrail profile" and the
// web viewer's flame graph all build a [Profile] from a trace with [Read]
// (or a [Builder] fed by analyze.Walk), so their outputs agree.
//
// A sample is an event that carries a stack (see analyze.Sample): the
// payload members _kstack and _ustack, sequences of addresses, leaf first,
// whose frames are in the trace's symbol table (symbolize.Table, the
// sidecar bpftrail/symbols.json; addresses it lacks are unknown frames); or,
// in traces of earlier versions, the symbolized frames of a
// "profile:sample" event. Samples of a timed profile probe
// ("profile:hz:99") stand for a period of CPU time; others only count.
//
// Identical stacks of one process are merged as they are read, so memory
// follows the number of distinct stacks, not of samples.
package stacks

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/symbolize"
)

// Stack is one distinct stack of one process, with its samples.
type Stack struct {
	PID    int
	Comm   string
	Frames []symbolize.Frame // leaf first: the kernel's frames, then the user's
	Kernel int               // the first Kernel frames are the kernel's
	// PeriodNs is the time each sample stands for, 0 for samples that only
	// count (see analyze.Class.PeriodNs).
	PeriodNs int64
	Count    int64
}

// Profile is the merged stack samples of a trace.
type Profile struct {
	Stacks         []*Stack // in order of first appearance
	Samples        int64
	StartNs, EndNs int64 // first and last sample, ns since the clock's origin
	// PeriodNs is the period of the timed samples (of the first one when
	// they differ), 0 when no sample is timed.
	PeriodNs int64
}

// Builder merges samples into a [Profile]. It is an analyze.Consumer, so
// that a walk that computes other things builds the profile too.
type Builder struct {
	syms  *symbolize.Table
	p     Profile
	index map[string]*Stack
	key   []byte
}

// NewBuilder returns a builder that names addresses with syms (nil: every
// address is an unknown frame).
func NewBuilder(syms *symbolize.Table) *Builder {
	return &Builder{syms: syms, index: map[string]*Stack{}}
}

// Event adds the sample e carries, if any.
func (b *Builder) Event(e *analyze.Event) {
	if e.Sample != nil {
		b.Add(e.Ns, e.Sample)
	}
}

// Interval does nothing: a profile has no scheduling.
func (b *Builder) Interval(analyze.Interval) {}

// Syscall does nothing: a profile has no syscalls.
func (b *Builder) Syscall(*analyze.SyscallPair) {}

// Add adds sample s taken at ns.
func (b *Builder) Add(ns int64, s *analyze.Sample) {
	if b.p.Samples == 0 {
		b.p.StartNs = ns
	}
	b.p.Samples++
	b.p.EndNs = ns
	if b.p.PeriodNs == 0 {
		b.p.PeriodNs = s.PeriodNs
	}
	k := b.keyOf(s)
	if st, ok := b.index[string(k)]; ok {
		st.Count++
		return
	}
	st := &Stack{PID: s.PID, Comm: string(s.Comm), PeriodNs: s.PeriodNs, Count: 1}
	b.frames(st, s)
	b.index[string(k)] = st
	b.p.Stacks = append(b.p.Stacks, st)
}

// keyOf identifies the stack of s: its process, comm, period and frames.
func (b *Builder) keyOf(s *analyze.Sample) []byte {
	k := binary.AppendVarint(b.key[:0], int64(s.PID))
	k = binary.AppendVarint(k, s.PeriodNs)
	k = binary.AppendUvarint(k, uint64(len(s.Comm)))
	k = append(k, s.Comm...)
	k = binary.AppendUvarint(k, uint64(len(s.Kernel)))
	for _, a := range s.Kernel {
		k = binary.LittleEndian.AppendUint64(k, a)
	}
	k = binary.AppendUvarint(k, uint64(len(s.User)))
	for _, a := range s.User {
		k = binary.LittleEndian.AppendUint64(k, a)
	}
	k = binary.AppendUvarint(k, uint64(len(s.Frames)))
	for _, f := range s.Frames {
		k = binary.AppendUvarint(k, uint64(len(f)))
		k = append(k, f...)
	}
	b.key = k
	return k
}

// frames names the frames of a new stack.
func (b *Builder) frames(st *Stack, s *analyze.Sample) {
	if len(s.Frames) > 0 {
		st.Frames = make([]symbolize.Frame, len(s.Frames))
		for i, f := range s.Frames {
			st.Frames[i] = symbolize.ParseFrame(string(f))
		}
		for st.Kernel < len(st.Frames) && kernelModule(st.Frames[st.Kernel].Module) {
			st.Kernel++
		}
		return
	}
	st.Frames = make([]symbolize.Frame, 0, len(s.Kernel)+len(s.User))
	for _, a := range s.Kernel {
		st.Frames = append(st.Frames, b.syms.Frame(0, false, a))
	}
	for _, a := range s.User {
		st.Frames = append(st.Frames, b.syms.Frame(s.PID, true, a))
	}
	st.Kernel = len(s.Kernel)
}

// kernelModule reports whether a module named in a symbolized frame's text
// is the kernel's: "[kernel]", or a kernel module as /proc/kallsyms names
// it ("[ext4]"), not one of the pseudo modules of user space.
func kernelModule(m string) bool {
	if !strings.HasPrefix(m, "[") || !strings.HasSuffix(m, "]") {
		return false
	}
	switch m {
	case symbolize.ModuleUnknown, symbolize.ModuleAnon, symbolize.ModuleJIT, "[vdso]", "[vsyscall]", "[vvar]", "[stack]", "[heap]":
		return false
	}
	return true
}

// Profile returns the profile of the samples added.
func (b *Builder) Profile() *Profile { return &b.p }

// Read collects the stack samples of t, naming their addresses with syms
// (nil: every address is an unknown frame). It fails when t holds none.
func Read(t *ctf.Trace, syms *symbolize.Table) (*Profile, error) {
	b := NewBuilder(syms)
	if _, err := analyze.Walk(t, b); err != nil {
		return nil, err
	}
	if b.p.Samples == 0 {
		return nil, fmt.Errorf("%s holds no stack samples (events with a stack: bpftrail profile -o DIR, or record --stack)", t.Dir)
	}
	return b.Profile(), nil
}

// FrameName is a frame's name in folded stacks, pprof functions and flame
// graphs: its function without the offset, or "module+0xoffset" when the
// function is unknown (JIT code, stripped files).
func FrameName(f symbolize.Frame) string {
	if f.Function != "" {
		return f.Function
	}
	mod := f.Module
	if mod == "" {
		mod = symbolize.ModuleUnknown
	}
	return fmt.Sprintf("%s+%#x", mod, f.ModuleOffset)
}
