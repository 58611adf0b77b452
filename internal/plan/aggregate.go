package plan

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// Aggregate is one aggregation, resolved and checked.
type Aggregate struct {
	Aggregation                  // with its defaults filled in
	Probes      []*resolve.Probe // for a latency, the starts first
	Filters     []*filter.Expr
	Layouts     []record.Layout
	Keys        record.KeyLayout
	Starts      int  // number of probes that are latency starts
	MaxRecord   int  // the largest record, rounded up to 8 bytes
	Signed      bool // Hist: the value is a signed field in some event
}

// ScratchSize is the scratch value the aggregation's programs need: a
// record, then a key and its bucket.
func (p *Aggregate) ScratchSize() int {
	agg := bpfgen.Agg{Keys: p.Keys, Mode: p.ProgramMode(len(p.Probes) - 1)}
	return p.MaxRecord + agg.KeySize() + 8
}

// ProgramMode is what the program of probe i does.
func (p *Aggregate) ProgramMode(i int) bpfgen.AggMode {
	switch p.Mode {
	case aggregate.Hist:
		return bpfgen.AggHist
	case aggregate.Latency:
		if i < p.Starts {
			return bpfgen.AggStart
		}
		return bpfgen.AggEnd
	}
	return bpfgen.AggCount
}

// Aggregation resolves and checks one aggregation.
func NewAggregate(a Aggregation, opts Options) (*Aggregate, error) {
	if a.MaxKeys <= 0 {
		a.MaxKeys = 10240
	}
	if a.Starts <= 0 {
		a.Starts = 10240
	}
	p := &Aggregate{Aggregation: a}
	if err := p.resolve(opts); err != nil {
		return nil, err
	}
	if err := p.compileFilters(); err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	p.MaxRecord = record.HeaderSize
	for _, pr := range p.Probes {
		l := record.Sequential(pr.Event)
		p.Layouts = append(p.Layouts, l)
		p.MaxRecord = max(p.MaxRecord, l.Size)
	}
	p.MaxRecord = (p.MaxRecord + 7) &^ 7
	return p, nil
}

// resolve resolves the events of p: its probes, or its start and end
// events.
func (p *Aggregate) resolve(opts Options) error {
	o, err := opts.resolveOptions(p.Aggregation.Probes)
	if err != nil {
		return err
	}
	if p.Mode != aggregate.Latency {
		p.Probes, err = resolve.Specs(opts.FS, p.Aggregation.Probes.Specs, o)
		return err
	}
	if len(p.From) == 0 || len(p.To) == 0 {
		return errors.New("latency needs --from SPEC and --to SPEC")
	}
	from, err := resolve.Specs(opts.FS, p.From, o)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	to, err := resolve.Specs(opts.FS, p.To, o)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	p.Probes, p.Starts = append(from, to...), len(from)
	return nil
}

// compileFilters compiles the filter of each probe: the aggregation's,
// joined for latencies with the start or end filter and a start event's
// own.
func (p *Aggregate) compileFilters() error {
	a := p.Aggregation
	var err error
	if a.Mode != aggregate.Latency {
		p.Filters, err = compileFilters(a.Probes.Filter, p.Probes)
		return err
	}
	from, err := compileFilters(joinFilter(a.Probes.Filter, a.FromFilter), p.Probes[:p.Starts])
	if err != nil {
		return err
	}
	to, err := compileFilters(joinFilter(a.Probes.Filter, a.ToFilter), p.Probes[p.Starts:])
	if err != nil {
		return err
	}
	p.Filters = append(from, to...)
	for i := 0; i < p.Starts; i++ {
		extra := a.StartFilter[p.Probes[i].Event.Name]
		if extra == "" {
			continue
		}
		f, err := compileFilters(joinFilter(joinFilter(a.Probes.Filter, a.FromFilter), extra), p.Probes[i:i+1])
		if err != nil {
			return err
		}
		p.Filters[i] = f[0]
	}
	return nil
}

// check validates keys, values and match fields before anything loads.
func (p *Aggregate) check() error {
	keyed := p.Probes
	if p.Mode == aggregate.Latency {
		keyed = p.Probes[p.Starts:] // keys are taken at the end event
	}
	for _, name := range p.By {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		k, err := keyPart(name, keyed)
		if err != nil {
			return err
		}
		p.Keys = append(p.Keys, k)
	}
	switch p.Mode {
	case aggregate.Hist:
		return p.checkHist()
	case aggregate.Latency:
		for i, pr := range p.Probes {
			name := p.MatchOf(i)
			info, ok := bpfgen.FilterFields(pr.Event).Lookup(name)
			if !ok || info.Type != filter.Int {
				return fmt.Errorf("--match %s: %s has no integer field %q", p.Match, pr.Event.Name, name)
			}
		}
		if p.Scheme == nil {
			p.Scheme = hist.LogLinear{}
		}
	}
	return nil
}

func (p *Aggregate) checkHist() error {
	if p.Value == "" {
		return errors.New("hist needs --value FIELD")
	}
	for _, pr := range p.Probes {
		fields := bpfgen.FilterFields(pr.Event)
		info, ok := fields.Lookup(p.Value)
		if !ok {
			return fmt.Errorf("--value %s: %s has no field %q (fields: %s)", p.Value, pr.Event.Name, p.Value, strings.Join(fields.Names(), ", "))
		}
		if info.Type != filter.Int {
			return fmt.Errorf("--value %s: %s's %s is a string, not a number", p.Value, pr.Event.Name, p.Value)
		}
		p.Signed = p.Signed || info.Signed
	}
	if p.Scheme == nil {
		p.Scheme = hist.Log2{}
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
		k := record.KeyPart{Name: name, Kind: record.KeyInt, Size: 8, Unsigned: !info.Signed}
		if info.Type != filter.Int {
			k.Kind, k.Size, k.Unsigned = record.KeyString, record.KeyStringCap, false
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

// MatchOf returns the match field of probe i: its start override, or the
// start or end field of Match.
func (p *Aggregate) MatchOf(i int) string {
	m := p.Match
	if m == "" {
		m = "tid"
	}
	from, to, ok := strings.Cut(m, ",")
	if !ok {
		to = from
	}
	if i >= p.Starts {
		return strings.TrimSpace(to)
	}
	if o := p.StartMatch[p.Probes[i].Event.Name]; o != "" {
		return o
	}
	return strings.TrimSpace(from)
}

// ClassNames are the names of the aggregation's classes, by class id (what
// a key's "event" member holds).
func (p *Aggregate) ClassNames() []string {
	names := make([]string, len(p.Probes))
	for i, pr := range p.Probes {
		names[i] = pr.Event.Name
	}
	return names
}
