package stacks

import (
	"fmt"

	pprof "github.com/google/pprof/profile"

	"github.com/bpftrail/bpftrail/internal/symbolize"
)

// PPROF builds the pprof profile of p. Its sample types are samples/count
// and, when some samples are timed, cpu/nanoseconds (count × period; the
// profile's period type is cpu/nanoseconds). Each distinct stack is one
// sample labelled with its comm and pid. There is one mapping per module
// (with its build id), one location per address of a process (or of the
// kernel) with that address, and one function per name and module.
// TimeNanos is the first sample's time and DurationNanos the time to the
// last one.
func (p *Profile) PPROF() (*pprof.Profile, error) {
	prof := &pprof.Profile{
		SampleType:    []*pprof.ValueType{{Type: "samples", Unit: "count"}},
		TimeNanos:     p.StartNs,
		DurationNanos: p.EndNs - p.StartNs,
	}
	if p.PeriodNs > 0 {
		prof.SampleType = append(prof.SampleType, &pprof.ValueType{Type: "cpu", Unit: "nanoseconds"})
		prof.PeriodType = &pprof.ValueType{Type: "cpu", Unit: "nanoseconds"}
		prof.Period = p.PeriodNs
	}
	b := &pprofBuilder{prof: prof, mappings: map[string]*pprof.Mapping{},
		functions: map[[2]string]*pprof.Function{}, locations: map[locKey]*pprof.Location{}}
	for _, s := range p.Stacks {
		smp := &pprof.Sample{
			Value:    []int64{s.Count},
			Label:    map[string][]string{"comm": {s.Comm}},
			NumLabel: map[string][]int64{"pid": {int64(s.PID)}},
		}
		if p.PeriodNs > 0 {
			smp.Value = append(smp.Value, s.Count*s.PeriodNs)
		}
		for i, f := range s.Frames {
			pid := s.PID
			if i < s.Kernel {
				pid = -1
			}
			smp.Location = append(smp.Location, b.location(pid, f))
		}
		prof.Sample = append(prof.Sample, smp)
	}
	if err := prof.CheckValid(); err != nil {
		return nil, fmt.Errorf("stacks: %w", err)
	}
	return prof, nil
}

// locKey identifies a location: an address of a process (pid -1: of the
// kernel), and its frame's name and module (which tell apart the frames of
// traces that kept names without addresses).
type locKey struct {
	pid          int
	addr         uint64
	name, module string
}

type pprofBuilder struct {
	prof      *pprof.Profile
	mappings  map[string]*pprof.Mapping
	functions map[[2]string]*pprof.Function
	locations map[locKey]*pprof.Location
}

func (b *pprofBuilder) mapping(f symbolize.Frame) *pprof.Mapping {
	mod := f.Module
	if mod == "" {
		mod = symbolize.ModuleUnknown
	}
	m, ok := b.mappings[mod]
	if !ok {
		m = &pprof.Mapping{ID: uint64(len(b.prof.Mapping) + 1), File: mod, HasFunctions: true}
		b.mappings[mod] = m
		b.prof.Mapping = append(b.prof.Mapping, m)
	}
	if m.BuildID == "" {
		m.BuildID = f.BuildID
	}
	return m
}

func (b *pprofBuilder) location(pid int, f symbolize.Frame) *pprof.Location {
	name := FrameName(f)
	k := locKey{pid, f.Addr, name, f.Module}
	if l, ok := b.locations[k]; ok {
		return l
	}
	fk := [2]string{name, f.Module}
	fn, ok := b.functions[fk]
	if !ok {
		fn = &pprof.Function{ID: uint64(len(b.prof.Function) + 1), Name: name, SystemName: name, Filename: f.Module}
		b.functions[fk] = fn
		b.prof.Function = append(b.prof.Function, fn)
	}
	l := &pprof.Location{ID: uint64(len(b.prof.Location) + 1), Mapping: b.mapping(f), Address: f.Addr, Line: []pprof.Line{{Function: fn}}}
	b.locations[k] = l
	b.prof.Location = append(b.prof.Location, l)
	return l
}
