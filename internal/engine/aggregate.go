package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// aggPlan is one aggregation, resolved and checked.
type aggPlan struct {
	a       Aggregation
	probes  []*resolve.Probe // for a latency, the starts first
	filters []*filter.Expr
	layouts []record.Layout
	keys    record.KeyLayout
	starts  int // number of probes that are latency starts
	maxRec  int
}

// scratchSize is the scratch value the aggregation's programs need: a
// record, then a key and its bucket.
func (p *aggPlan) scratchSize() int {
	agg := bpfgen.Agg{Keys: p.keys, Mode: p.mode(len(p.probes) - 1)}
	return p.maxRec + agg.KeySize() + 8
}

// mode is what the program of probe i does.
func (p *aggPlan) mode(i int) bpfgen.AggMode {
	switch p.a.Mode {
	case aggregate.Hist:
		return bpfgen.AggHist
	case aggregate.Latency:
		if i < p.starts {
			return bpfgen.AggStart
		}
		return bpfgen.AggEnd
	}
	return bpfgen.AggCount
}

// planAggregation resolves and checks one aggregation.
func (s *Session) planAggregation(a Aggregation) (*aggPlan, error) {
	if a.MaxKeys <= 0 {
		a.MaxKeys = 10240
	}
	if a.Starts <= 0 {
		a.Starts = 10240
	}
	p := &aggPlan{a: a}
	if err := s.resolveAggregation(p); err != nil {
		return nil, err
	}
	if err := p.compileFilters(); err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	p.maxRec = record.HeaderSize
	for _, pr := range p.probes {
		l := record.Sequential(pr.Event)
		p.layouts = append(p.layouts, l)
		p.maxRec = max(p.maxRec, l.Size)
	}
	p.maxRec = (p.maxRec + 7) &^ 7
	return p, nil
}

// resolveAggregation resolves the events of p: its probes, or its start and
// end events.
func (s *Session) resolveAggregation(p *aggPlan) error {
	o, err := s.resolveOptions(p.a.Probes)
	if err != nil {
		return err
	}
	if p.a.Mode != aggregate.Latency {
		p.probes, err = resolve.Specs(s.tracefs, p.a.Probes.Specs, o)
		return err
	}
	if len(p.a.From) == 0 || len(p.a.To) == 0 {
		return errors.New("latency needs --from SPEC and --to SPEC")
	}
	from, err := resolve.Specs(s.tracefs, p.a.From, o)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	to, err := resolve.Specs(s.tracefs, p.a.To, o)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	p.probes, p.starts = append(from, to...), len(from)
	return nil
}

// compileFilters compiles the filter of each probe: the aggregation's,
// joined for latencies with the start or end filter and a start event's
// own.
func (p *aggPlan) compileFilters() error {
	a := p.a
	var err error
	if a.Mode != aggregate.Latency {
		p.filters, err = compileFilters(a.Probes.Filter, p.probes)
		return err
	}
	from, err := compileFilters(joinFilter(a.Probes.Filter, a.FromFilter), p.probes[:p.starts])
	if err != nil {
		return err
	}
	to, err := compileFilters(joinFilter(a.Probes.Filter, a.ToFilter), p.probes[p.starts:])
	if err != nil {
		return err
	}
	p.filters = append(from, to...)
	for i := 0; i < p.starts; i++ {
		extra := a.StartFilter[p.probes[i].Event.Name]
		if extra == "" {
			continue
		}
		f, err := compileFilters(joinFilter(joinFilter(a.Probes.Filter, a.FromFilter), extra), p.probes[i:i+1])
		if err != nil {
			return err
		}
		p.filters[i] = f[0]
	}
	return nil
}

// joinFilter joins two filter expressions with &&.
func joinFilter(a, b string) string {
	switch {
	case strings.TrimSpace(a) == "":
		return b
	case strings.TrimSpace(b) == "":
		return a
	}
	return "(" + a + ") && (" + b + ")"
}

// check validates keys, values and match fields before anything loads.
func (p *aggPlan) check() error {
	keyed := p.probes
	if p.a.Mode == aggregate.Latency {
		keyed = p.probes[p.starts:] // keys are taken at the end event
	}
	for _, name := range p.a.By {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		k, err := keyPart(name, keyed)
		if err != nil {
			return err
		}
		p.keys = append(p.keys, k)
	}
	switch p.a.Mode {
	case aggregate.Hist:
		return p.checkHist()
	case aggregate.Latency:
		for i, pr := range p.probes {
			name := p.matchOf(i)
			info, ok := bpfgen.FilterFields(pr.Event).Lookup(name)
			if !ok || info.Type != filter.Int {
				return fmt.Errorf("--match %s: %s has no integer field %q", p.a.Match, pr.Event.Name, name)
			}
		}
		p.a.Scheme = hist.LogLinear{}
	}
	return nil
}

func (p *aggPlan) checkHist() error {
	if p.a.Value == "" {
		return errors.New("hist needs --value FIELD")
	}
	for _, pr := range p.probes {
		fields := bpfgen.FilterFields(pr.Event)
		info, ok := fields.Lookup(p.a.Value)
		if !ok {
			return fmt.Errorf("--value %s: %s has no field %q (fields: %s)", p.a.Value, pr.Event.Name, p.a.Value, strings.Join(fields.Names(), ", "))
		}
		if info.Type != filter.Int {
			return fmt.Errorf("--value %s: %s's %s is a string, not a number", p.a.Value, pr.Event.Name, p.a.Value)
		}
	}
	if p.a.Scheme == nil {
		p.a.Scheme = hist.Log2{}
	}
	return nil
}

// keyPart resolves a --by name against every probe.
func keyPart(name string, probes []*resolve.Probe) (record.KeyPart, error) {
	if name == "event" || name == "name" {
		return record.KeyPart{Name: "event", Kind: record.KeyClass, Size: 8}, nil
	}
	var part *record.KeyPart
	for _, pr := range probes {
		fields := bpfgen.FilterFields(pr.Event)
		info, ok := fields.Lookup(name)
		if !ok {
			return record.KeyPart{}, fmt.Errorf("--by %s: %s has no field %q (fields: %s)", name, pr.Event.Name, name, strings.Join(fields.Names(), ", "))
		}
		k := record.KeyPart{Name: name, Kind: record.KeyInt, Size: 8}
		if info.Type != filter.Int {
			k.Kind, k.Size = record.KeyString, record.KeyStringCap
			if info.Size > 0 && info.Size < k.Size {
				k.Size = (info.Size + 7) &^ 7
			}
		}
		if part != nil && part.Kind != k.Kind {
			return record.KeyPart{}, fmt.Errorf("--by %s: the field is an integer in some events and a string in others", name)
		}
		if part == nil || k.Size > part.Size {
			part = &k
		}
	}
	return *part, nil
}

// matchOf returns the match field of probe i: its start override, or the
// start or end field of Match.
func (p *aggPlan) matchOf(i int) string {
	m := p.a.Match
	if m == "" {
		m = "tid"
	}
	from, to, ok := strings.Cut(m, ",")
	if !ok {
		to = from
	}
	if i >= p.starts {
		return strings.TrimSpace(to)
	}
	if o := p.a.StartMatch[p.probes[i].Event.Name]; o != "" {
		return o
	}
	return strings.TrimSpace(from)
}

// loadAggregation creates the maps of an aggregation and loads its
// programs.
func (s *Session) loadAggregation(p *aggPlan) error {
	agg := bpfgen.Agg{Keys: p.keys, Value: p.a.Value, Scheme: p.a.Scheme}
	agg.Mode = p.mode(len(p.probes) - 1)
	maps, err := s.aggregationMaps(p, agg.KeySize(), agg.SumsKeySize())
	if err != nil {
		return err
	}
	agg.Counts, agg.Sums, agg.Starts, agg.Stats = maps.Counts, maps.Sums, maps.Starts, maps.Stats
	for i, pr := range p.probes {
		ag := agg
		ag.Mode = p.mode(i)
		if p.a.Mode == aggregate.Latency {
			ag.Match = p.matchOf(i)
		}
		o := s.options(uint32(i))
		o.Filter = p.filters[i]
		spec, err := bpfgen.AggProgram(pr, p.layouts[i], s.maps, p.maxRec, o, &ag)
		if err != nil {
			return err
		}
		if _, err := s.loadProgram(pr.Event.Name, spec, pr.Target); err != nil {
			return err
		}
	}
	var names []string // by class id
	for _, pr := range p.probes {
		names = append(names, pr.Event.Name)
	}
	s.readers = append(s.readers, &aggregate.Reader{Name: p.a.Name, Mode: p.a.Mode, Scheme: p.a.Scheme, Keys: p.keys, Classes: names, Maps: maps})
	return nil
}

// aggregationMaps creates the maps of one aggregation.
func (s *Session) aggregationMaps(p *aggPlan, keySize, sumsKeySize int) (aggregate.Maps, error) {
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
	m.Counts = mk(&ebpf.MapSpec{Name: "bt_counts", Type: ebpf.PerCPUHash, KeySize: uint32(keySize), ValueSize: 8, MaxEntries: uint32(p.a.MaxKeys)})
	m.Stats = mk(&ebpf.MapSpec{Name: "bt_aggstats", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: record.StatCount})
	if p.a.Mode == aggregate.Latency {
		m.Sums = mk(&ebpf.MapSpec{Name: "bt_sums", Type: ebpf.PerCPUHash, KeySize: uint32(sumsKeySize), ValueSize: record.SumsValueSize, MaxEntries: uint32(p.a.MaxKeys)})
		m.Starts = mk(&ebpf.MapSpec{Name: "bt_starts", Type: ebpf.LRUHash, KeySize: 8, ValueSize: 8, MaxEntries: uint32(p.a.Starts)})
	}
	return m, err
}
