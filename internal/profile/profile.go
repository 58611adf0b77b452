// Package profile turns stack samples into profiles: it symbolizes the
// samples' user and kernel addresses and writes pprof protocol buffers (via
// google/pprof's profile package, so "go tool pprof" reads them) and folded
// stacks (one "frame;frame;... count" line per stack, for flamegraph.pl and
// speedscope).
package profile

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/bpftrail/bpftrail/internal/symbolize"
)

// Sample is one stack sample. Stacks are leaf first.
type Sample struct {
	PID, TID int
	Comm     string
	CPU      int
	Time     uint64 // ns, CLOCK_MONOTONIC
	User     []uint64
	Kernel   []uint64
}

// Symbolizer maps addresses to frames.
type Symbolizer interface {
	User(pid int, addr uint64) symbolize.Frame
	Kernel(addr uint64) symbolize.Frame
}

// Profile is a set of samples with their symbolized stacks.
type Profile struct {
	Samples []Sample
	Period  time.Duration // time between samples of one CPU
	Start   time.Time
	Length  time.Duration
	frames  map[frameKey]symbolize.Frame
}

type frameKey struct {
	pid  int // 0 for kernel
	addr uint64
}

// Symbolize resolves every address of every sample once.
func (p *Profile) Symbolize(s Symbolizer) {
	p.frames = map[frameKey]symbolize.Frame{}
	for _, smp := range p.Samples {
		for _, a := range smp.User {
			k := frameKey{smp.PID, a}
			if _, ok := p.frames[k]; !ok {
				p.frames[k] = s.User(smp.PID, a)
			}
		}
		for _, a := range smp.Kernel {
			k := frameKey{0, a}
			if _, ok := p.frames[k]; !ok {
				p.frames[k] = s.Kernel(a)
			}
		}
	}
}

// Frames returns the symbolized stack of a sample, leaf first: the kernel
// frames, then the user frames.
func (p *Profile) Frames(s *Sample) []symbolize.Frame {
	out := make([]symbolize.Frame, 0, len(s.Kernel)+len(s.User))
	for _, a := range s.Kernel {
		out = append(out, p.frames[frameKey{0, a}])
	}
	for _, a := range s.User {
		out = append(out, p.frames[frameKey{s.PID, a}])
	}
	return out
}

// frameName is a frame's name in folded stacks and pprof functions:
// the function, or module+offset when unknown (JIT code, stripped files).
func frameName(f symbolize.Frame) string {
	if f.Function != "" {
		return f.Function
	}
	mod := f.Module
	if mod == "" {
		mod = "[unknown]"
	}
	return fmt.Sprintf("%s+%#x", mod, f.ModuleOffset)
}

// WriteFolded writes one line per distinct stack, root first, prefixed by
// the process name: "comm;main;work;leaf 42".
func (p *Profile) WriteFolded(w io.Writer) error {
	counts := map[string]int{}
	for i := range p.Samples {
		s := &p.Samples[i]
		fr := p.Frames(s)
		parts := []string{sanitize(s.Comm)}
		for j := len(fr) - 1; j >= 0; j-- {
			parts = append(parts, sanitize(frameName(fr[j])))
		}
		counts[strings.Join(parts, ";")]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	bw := bufio.NewWriter(w)
	for _, k := range keys {
		fmt.Fprintf(bw, "%s %d\n", k, counts[k])
	}
	return bw.Flush()
}

// sanitize keeps a folded line parseable: no ';' inside a frame, no
// spaces or newlines.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ';':
			return ':'
		case ' ', '\n', '\t':
			return '_'
		}
		return r
	}, s)
}

// PPROF builds a pprof profile: sample types samples/count and cpu/ns,
// labels comm and pid, one location per distinct frame address and
// mappings with build ids.
func (p *Profile) PPROF() (*pprof.Profile, error) {
	period := p.Period.Nanoseconds()
	prof := &pprof.Profile{
		SampleType:    []*pprof.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType:    &pprof.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        period,
		TimeNanos:     p.Start.UnixNano(),
		DurationNanos: p.Length.Nanoseconds(),
	}
	mappings := map[string]*pprof.Mapping{}
	functions := map[string]*pprof.Function{}
	locations := map[frameKey]*pprof.Location{}
	mapping := func(f symbolize.Frame) *pprof.Mapping {
		mod := f.Module
		if mod == "" {
			mod = "[unknown]"
		}
		m, ok := mappings[mod]
		if !ok {
			m = &pprof.Mapping{ID: uint64(len(prof.Mapping) + 1), File: mod, BuildID: f.BuildID, HasFunctions: true}
			mappings[mod] = m
			prof.Mapping = append(prof.Mapping, m)
		}
		return m
	}
	location := func(k frameKey, f symbolize.Frame) *pprof.Location {
		if l, ok := locations[k]; ok {
			return l
		}
		name := frameName(f)
		fn, ok := functions[name+"\x00"+f.Module]
		if !ok {
			fn = &pprof.Function{ID: uint64(len(prof.Function) + 1), Name: name, SystemName: name, Filename: f.Module}
			functions[name+"\x00"+f.Module] = fn
			prof.Function = append(prof.Function, fn)
		}
		l := &pprof.Location{ID: uint64(len(prof.Location) + 1), Mapping: mapping(f), Address: k.addr, Line: []pprof.Line{{Function: fn}}}
		locations[k] = l
		prof.Location = append(prof.Location, l)
		return l
	}
	type stackKey struct {
		stack string
		pid   int
		comm  string
	}
	merged := map[stackKey]*pprof.Sample{}
	for i := range p.Samples {
		s := &p.Samples[i]
		var locs []*pprof.Location
		var ids []string
		for _, a := range s.Kernel {
			k := frameKey{0, a}
			locs = append(locs, location(k, p.frames[k]))
			ids = append(ids, fmt.Sprint(locs[len(locs)-1].ID))
		}
		for _, a := range s.User {
			k := frameKey{s.PID, a}
			locs = append(locs, location(k, p.frames[k]))
			ids = append(ids, fmt.Sprint(locs[len(locs)-1].ID))
		}
		sk := stackKey{strings.Join(ids, ","), s.PID, s.Comm}
		if smp, ok := merged[sk]; ok {
			smp.Value[0]++
			smp.Value[1] += period
			continue
		}
		smp := &pprof.Sample{
			Location: locs,
			Value:    []int64{1, period},
			Label:    map[string][]string{"comm": {s.Comm}},
			NumLabel: map[string][]int64{"pid": {int64(s.PID)}},
		}
		merged[sk] = smp
		prof.Sample = append(prof.Sample, smp)
	}
	if err := prof.CheckValid(); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	return prof, nil
}
