package engine

import (
	"github.com/cilium/ebpf"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/plan"
	"github.com/bpftrail/bpftrail/internal/record"
)

// loadAggregation creates the maps of an aggregation and loads its
// programs.
func (s *Session) loadAggregation(p *plan.Aggregate) error {
	agg := bpfgen.Agg{Keys: p.Keys, Value: p.Value, Scheme: p.Scheme}
	agg.Mode = p.ProgramMode(len(p.Probes) - 1)
	maps, err := s.aggregationMaps(p, agg.KeySize(), agg.SumsKeySize())
	if err != nil {
		return err
	}
	agg.Counts, agg.Sums, agg.Starts, agg.Stats = maps.Counts, maps.Sums, maps.Starts, maps.Stats
	for i, pr := range p.Probes {
		ag := agg
		ag.Mode = p.ProgramMode(i)
		if p.Mode == aggregate.Latency {
			ag.Match = p.MatchOf(i)
		}
		o := s.options(uint32(i))
		o.Filter = p.Filters[i]
		spec, err := bpfgen.AggProgram(pr, p.Layouts[i], s.progMaps(pr.Target), p.MaxRecord, o, &ag)
		if err != nil {
			return err
		}
		if _, err := s.loadProgram(pr.Event.Name, spec, pr.Target); err != nil {
			return err
		}
	}
	s.readers = append(s.readers, &aggregate.Reader{Name: p.Name, Mode: p.Mode, Scheme: p.Scheme, Signed: p.Signed, Keys: p.Keys, Classes: p.ClassNames(), Maps: maps})
	return nil
}

// aggregationMaps creates the maps of one aggregation.
func (s *Session) aggregationMaps(p *plan.Aggregate, keySize, sumsKeySize int) (aggregate.Maps, error) {
	var m aggregate.Maps
	var err error
	mk := func(spec *ebpf.MapSpec) *ebpf.Map {
		if err != nil {
			return nil
		}
		var mp *ebpf.Map
		mp, err = s.newMap(spec)
		return mp
	}
	m.Counts = mk(&ebpf.MapSpec{Name: "bt_counts", Type: ebpf.PerCPUHash, KeySize: uint32(keySize), ValueSize: 8, MaxEntries: uint32(p.MaxKeys)})
	m.Stats = mk(&ebpf.MapSpec{Name: "bt_aggstats", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: record.StatCount})
	if p.Mode == aggregate.Latency || p.Mode == aggregate.Hist && p.Sum {
		m.Sums = mk(&ebpf.MapSpec{Name: "bt_sums", Type: ebpf.PerCPUHash, KeySize: uint32(sumsKeySize), ValueSize: record.SumsValueSize, MaxEntries: uint32(p.MaxKeys)})
	}
	if p.Mode == aggregate.Latency {
		m.Starts = mk(&ebpf.MapSpec{Name: "bt_starts", Type: ebpf.LRUHash, KeySize: 8, ValueSize: 8, MaxEntries: uint32(p.Aggregation.Starts)})
	}
	return m, err
}
