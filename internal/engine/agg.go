package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/filter"
)

// AggMode is what an aggregation session computes.
type AggMode uint8

// Aggregation modes.
const (
	Count AggMode = iota + 1
	Hist
	Latency
)

// AggConfig describes an aggregation session. Specs are the events to
// count or histogram; for Latency, From and To are the start and end
// events.
type AggConfig struct {
	Config
	Mode     AggMode
	By       []string      // key members: "event", builtins, fields
	Value    string        // Hist: the field to bucket
	Scheme   bpfgen.Scheme // Hist: Log2 (default) or Linear
	From, To []string      // Latency
	Match    string        // Latency: "tid" (default), "pid", "FIELD" or "FROM_FIELD,TO_FIELD"
	// FromFilter and ToFilter are joined (&&) to Filter on the start and end
	// events of a latency.
	FromFilter, ToFilter string
	// StartMatch and StartFilter override, per start event name (such as
	// "sched:sched_switch"), the match field and add a filter: when one
	// latency starts at different events (a wake-up, or a preempted task
	// put back on the run queue).
	StartMatch, StartFilter map[string]string
	MaxKeys                 int // distinct keys kept; default 10240
	Starts                  int // Latency: pending starts kept (LRU); default 10240
}

// AggSession is a loaded set of aggregation programs.
type AggSession struct {
	Schemas []*event.Schema
	Keys    []bpfgen.KeyPart
	cfg     AggConfig
	maps    bpfgen.Maps
	agg     bpfgen.Agg
	progs   []*ebpf.Program
	links   []link.Link
	helpers []*ebpf.Program
	pending *ebpf.Map
	starts  int // number of schemas that are latency starts (the first ones)
}

// OpenAgg resolves, checks and loads an aggregation session.
func OpenAgg(cfg AggConfig) (*AggSession, error) {
	a := &AggSession{cfg: cfg}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 10240
	}
	if cfg.Starts <= 0 {
		cfg.Starts = 10240
	}
	a.cfg = cfg
	var schemas []*event.Schema
	var err error
	if cfg.Mode == Latency {
		if len(cfg.From) == 0 || len(cfg.To) == 0 {
			return nil, errors.New("latency needs --from SPEC and --to SPEC")
		}
		c := cfg.Config
		c.Specs = cfg.From
		_, from, err := Resolve(c)
		if err != nil {
			return nil, fmt.Errorf("--from: %w", err)
		}
		c.Specs = cfg.To
		_, to, err := Resolve(c)
		if err != nil {
			return nil, fmt.Errorf("--to: %w", err)
		}
		schemas = append(from, to...)
		a.starts = len(from)
	} else {
		_, schemas, err = Resolve(cfg.Config)
		if err != nil {
			return nil, err
		}
	}
	a.Schemas = schemas
	filters, err := CompileFilters(cfg.Filter, schemas)
	if err != nil {
		return nil, err
	}
	if cfg.Mode == Latency && (cfg.FromFilter != "" || cfg.ToFilter != "") {
		from, err := CompileFilters(joinFilter(cfg.Filter, cfg.FromFilter), schemas[:a.starts])
		if err != nil {
			return nil, err
		}
		to, err := CompileFilters(joinFilter(cfg.Filter, cfg.ToFilter), schemas[a.starts:])
		if err != nil {
			return nil, err
		}
		filters = append(from, to...)
	}
	for i := 0; i < a.starts; i++ {
		extra := cfg.StartFilter[schemas[i].Name]
		if extra == "" {
			continue
		}
		f, err := CompileFilters(joinFilter(joinFilter(cfg.Filter, cfg.FromFilter), extra), schemas[i:i+1])
		if err != nil {
			return nil, err
		}
		filters[i] = f[0]
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, permission(fmt.Errorf("raise the memlock limit: %w", err))
	}
	if err := a.load(filters); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// keyPart resolves a --by name against every schema.
func keyPart(name string, schemas []*event.Schema) (bpfgen.KeyPart, error) {
	if name == "event" || name == "name" {
		return bpfgen.KeyPart{Name: "event", Class: true, Int: true, Size: 8}, nil
	}
	var part *bpfgen.KeyPart
	for _, s := range schemas {
		fields := bpfgen.FilterFields(s)
		info, ok := fields.Lookup(name)
		if !ok {
			return bpfgen.KeyPart{}, fmt.Errorf("--by %s: %s has no field %q (fields: %s)", name, s.Name, name, strings.Join(fields.Names(), ", "))
		}
		p := bpfgen.KeyPart{Name: name, Int: info.Type == filter.Int, Size: 8}
		if !p.Int {
			p.Size = bpfgen.KeyStringCap
			if info.Size > 0 && info.Size < p.Size {
				p.Size = (info.Size + 7) &^ 7
			}
		}
		if part != nil && part.Int != p.Int {
			return bpfgen.KeyPart{}, fmt.Errorf("--by %s: the field is an integer in some events and a string in others", name)
		}
		if part == nil || p.Size > part.Size {
			part = &p
		}
	}
	return *part, nil
}

// matchOf returns the match field of schema i: its StartMatch override, or
// the start or end field of --match.
func (a *AggSession) matchOf(i int) string {
	from, to := a.matchFields()
	if i >= a.starts {
		return to
	}
	if m := a.cfg.StartMatch[a.Schemas[i].Name]; m != "" {
		return m
	}
	return from
}

// matchFields returns the match field of the start and end events.
func (a *AggSession) matchFields() (string, string) {
	m := a.cfg.Match
	if m == "" {
		m = "tid"
	}
	from, to, ok := strings.Cut(m, ",")
	if !ok {
		to = from
	}
	return strings.TrimSpace(from), strings.TrimSpace(to)
}

// check validates keys, values and match fields before anything loads.
func (a *AggSession) check() error {
	for _, name := range a.cfg.By {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		var schemas []*event.Schema
		if a.cfg.Mode == Latency {
			schemas = a.Schemas[a.starts:] // keys are taken at the end event
		} else {
			schemas = a.Schemas
		}
		p, err := keyPart(name, schemas)
		if err != nil {
			return err
		}
		a.Keys = append(a.Keys, p)
	}
	switch a.cfg.Mode {
	case Hist:
		if a.cfg.Value == "" {
			return errors.New("hist needs --value FIELD")
		}
		for _, s := range a.Schemas {
			info, ok := bpfgen.FilterFields(s).Lookup(a.cfg.Value)
			if !ok {
				return fmt.Errorf("--value %s: %s has no field %q (fields: %s)", a.cfg.Value, s.Name, a.cfg.Value, strings.Join(bpfgen.FilterFields(s).Names(), ", "))
			}
			if info.Type != filter.Int {
				return fmt.Errorf("--value %s: %s's %s is a string, not a number", a.cfg.Value, s.Name, a.cfg.Value)
			}
		}
		if a.cfg.Scheme.Kind == bpfgen.NoBuckets {
			a.cfg.Scheme.Kind = bpfgen.Log2
		}
	case Latency:
		for i, s := range a.Schemas {
			name := a.matchOf(i)
			info, ok := bpfgen.FilterFields(s).Lookup(name)
			if !ok || info.Type != filter.Int {
				return fmt.Errorf("--match %s: %s has no integer field %q", a.cfg.Match, s.Name, name)
			}
		}
		a.cfg.Scheme = bpfgen.Scheme{Kind: bpfgen.LogLinear}
	}
	return nil
}

func (a *AggSession) load(filters []*filter.Expr) error {
	maxRec := event.HeaderSize
	for _, s := range a.Schemas {
		if n := s.RecordSize(); n > maxRec {
			maxRec = n
		}
	}
	maxRec = (maxRec + 7) &^ 7
	agg := bpfgen.Agg{Keys: a.Keys, Value: a.cfg.Value, Scheme: a.cfg.Scheme}
	agg.Mode = bpfgen.AggCount
	if a.cfg.Mode == Hist {
		agg.Mode = bpfgen.AggHist
	}
	if a.cfg.Mode == Latency {
		agg.Mode = bpfgen.AggEnd
	}
	keySize := agg.KeySize()
	var err error
	mk := func(spec *ebpf.MapSpec) *ebpf.Map {
		if err != nil {
			return nil
		}
		var m *ebpf.Map
		m, err = ebpf.NewMap(spec)
		if err != nil {
			err = permission(fmt.Errorf("create map %s: %w", spec.Name, err))
		}
		return m
	}
	a.maps.Scratch = mk(&ebpf.MapSpec{Name: "bt_scratch", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(maxRec + keySize + 8), MaxEntries: 1})
	a.maps.Control = mk(&ebpf.MapSpec{Name: "bt_control", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	agg.Counts = mk(&ebpf.MapSpec{Name: "bt_counts", Type: ebpf.PerCPUHash, KeySize: uint32(keySize), ValueSize: 8, MaxEntries: uint32(a.cfg.MaxKeys)})
	agg.Stats = mk(&ebpf.MapSpec{Name: "bt_aggstats", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: bpfgen.StatCount})
	if a.cfg.Mode == Latency {
		agg.Sums = mk(&ebpf.MapSpec{Name: "bt_sums", Type: ebpf.PerCPUHash, KeySize: uint32(agg.SumsKeySize()), ValueSize: 32, MaxEntries: uint32(a.cfg.MaxKeys)})
		agg.Starts = mk(&ebpf.MapSpec{Name: "bt_starts", Type: ebpf.LRUHash, KeySize: 8, ValueSize: 8, MaxEntries: uint32(a.cfg.Starts)})
	}
	if a.cfg.Target == bpfgen.TargetPids {
		a.maps.Pids = mk(&ebpf.MapSpec{Name: "bt_pids", Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: 65536})
		a.pending = mk(&ebpf.MapSpec{Name: "bt_pending", Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: 64})
	}
	if err != nil {
		return err
	}
	a.agg = agg
	if a.cfg.Target == bpfgen.TargetPids {
		fs, _, err := Resolve(Config{Specs: []string{"sched:sched_process_fork"}})
		if err != nil {
			return err
		}
		helpers, err := loadFollowers(fs, a.maps.Pids, a.pending)
		if err != nil {
			return err
		}
		a.helpers = helpers
	}
	for i, s := range a.Schemas {
		ag := agg
		if a.cfg.Mode == Latency {
			ag.Match = a.matchOf(i)
			if i < a.starts {
				ag.Mode = bpfgen.AggStart
			}
		}
		spec, err := bpfgen.AggProgram(s, a.maps, maxRec, bpfgen.Options{
			ClassID: uint32(i), Target: a.cfg.Target, PID: a.cfg.PID, Filter: filters[i], Type: progType(s),
		}, &ag)
		if err != nil {
			return err
		}
		p, err := ebpf.NewProgram(spec)
		if err != nil {
			return permission(fmt.Errorf("load program for %s: %w", s.Name, err))
		}
		a.progs = append(a.progs, p)
	}
	return nil
}

// Follow makes the process pid counted from its next exec on, with its
// descendants.
func (a *AggSession) Follow(pid int) error {
	if a.pending == nil {
		return errors.New("engine: session does not follow processes")
	}
	return a.pending.Put(uint32(pid), uint8(1))
}

// Attach attaches every program and starts counting.
func (a *AggSession) Attach() error {
	for i, h := range a.helpers {
		name := []string{"sched_process_fork", "sched_process_exec"}[i]
		l, err := link.Tracepoint("sched", name, h, nil)
		if err != nil {
			return permission(fmt.Errorf("attach sched:%s: %w", name, err))
		}
		a.links = append(a.links, l)
	}
	for i, p := range a.progs {
		s := a.Schemas[i]
		ls, err := attach(s, p, a.cfg.Config)
		if err != nil {
			return err
		}
		a.links = append(a.links, ls...)
	}
	return a.maps.Control.Put(uint32(0), uint32(1))
}

// Stop stops counting.
func (a *AggSession) Stop() error { return a.maps.Control.Put(uint32(0), uint32(0)) }

// Close detaches and releases everything.
func (a *AggSession) Close() {
	for _, l := range a.links {
		l.Close()
	}
	for _, p := range append(a.progs, a.helpers...) {
		if p != nil {
			p.Close()
		}
	}
	for _, m := range []*ebpf.Map{a.maps.Scratch, a.maps.Control, a.maps.Pids, a.pending, a.agg.Counts, a.agg.Sums, a.agg.Starts, a.agg.Stats} {
		if m != nil {
			m.Close()
		}
	}
}

// KeyValue is one member of a decoded key.
type KeyValue struct {
	Name  string
	Int   int64
	Str   string
	IsInt bool
}

// Key is a decoded aggregation key.
type Key []KeyValue

// String renders a key as name=value pairs.
func (k Key) String() string {
	var parts []string
	for _, v := range k {
		if v.IsInt {
			parts = append(parts, fmt.Sprintf("%s=%d", v.Name, v.Int))
		} else {
			parts = append(parts, fmt.Sprintf("%s=%s", v.Name, v.Str))
		}
	}
	return strings.Join(parts, " ")
}

// Group is the aggregate of one key: a count, or histogram buckets (index →
// count) with, for latencies, the count, sum, min and max of the values.
type Group struct {
	Key     Key
	Count   uint64
	Buckets map[int]uint64
	Sum     uint64
	Min     uint64
	Max     uint64
}

// Snapshot is what the maps hold at one moment.
type Snapshot struct {
	Groups    []*Group
	MapFull   uint64 // updates lost because the key map was full
	Starts    uint64 // latency starts seen
	Matched   uint64 // latency starts matched by an end
	Pending   uint64 // starts still waiting for their end
	Unmatched uint64 // starts evicted or never matched: Starts - Matched - Pending
}

func sumPerCPU(vals []uint64) uint64 {
	var n uint64
	for _, v := range vals {
		n += v
	}
	return n
}

// Read returns the current aggregates, sorted by descending count.
func (a *AggSession) Read() (*Snapshot, error) {
	snap := &Snapshot{}
	stats := make([]uint64, bpfgen.StatCount)
	for i := range stats {
		var vals []uint64
		if err := a.agg.Stats.Lookup(uint32(i), &vals); err != nil {
			return nil, fmt.Errorf("read counters: %w", err)
		}
		stats[i] = sumPerCPU(vals)
	}
	snap.MapFull, snap.Starts, snap.Matched = stats[bpfgen.StatMapFull], stats[bpfgen.StatStarts], stats[bpfgen.StatMatched]
	bucketed := a.cfg.Mode != Count
	keyLen := a.agg.SumsKeySize()
	groups := map[string]*Group{}
	var order []string
	var key []byte
	var vals []uint64
	it := a.agg.Counts.Iterate()
	for it.Next(&key, &vals) {
		kb := key[:keyLen]
		g, ok := groups[string(kb)]
		if !ok {
			g = &Group{Key: a.decodeKey(kb)}
			if bucketed {
				g.Buckets = map[int]uint64{}
			}
			groups[string(kb)] = g
			order = append(order, string(kb))
		}
		n := sumPerCPU(vals)
		g.Count += n
		if bucketed {
			g.Buckets[int(binary.LittleEndian.Uint32(key[keyLen:]))] += n
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read counts: %w", err)
	}
	if a.agg.Sums != nil {
		var sums [][4]uint64
		var skey []byte
		sit := a.agg.Sums.Iterate()
		for sit.Next(&skey, &sums) {
			g, ok := groups[string(skey)]
			if !ok {
				continue
			}
			g.Min = ^uint64(0)
			for _, s := range sums {
				if s[0] == 0 {
					continue
				}
				g.Sum += s[1]
				g.Min = min(g.Min, s[2])
				g.Max = max(g.Max, s[3])
			}
		}
		if err := sit.Err(); err != nil {
			return nil, fmt.Errorf("read sums: %w", err)
		}
		var k, v uint64
		pit := a.agg.Starts.Iterate()
		for pit.Next(&k, &v) {
			snap.Pending++
		}
		if snap.Starts > snap.Matched+snap.Pending {
			snap.Unmatched = snap.Starts - snap.Matched - snap.Pending
		}
	}
	for _, k := range order {
		snap.Groups = append(snap.Groups, groups[k])
	}
	sort.SliceStable(snap.Groups, func(i, j int) bool { return snap.Groups[i].Count > snap.Groups[j].Count })
	return snap, nil
}

func (a *AggSession) decodeKey(b []byte) Key {
	var k Key
	off := 0
	for _, p := range a.Keys {
		v := KeyValue{Name: p.Name, IsInt: p.Int}
		field := b[off : off+p.Size]
		switch {
		case p.Class:
			id := int(binary.LittleEndian.Uint64(field))
			v.IsInt = false
			if id < len(a.Schemas) {
				v.Str = a.Schemas[id].Name
			}
		case p.Int:
			v.Int = int64(binary.LittleEndian.Uint64(field))
		default:
			if i := bytes.IndexByte(field, 0); i >= 0 {
				field = field[:i]
			}
			v.Str = string(field)
		}
		k = append(k, v)
		off += p.Size
	}
	return k
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
