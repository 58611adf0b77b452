package metrics

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
)

// Source is what a [Collector] reads on every scrape: the current
// aggregates of one metric. An [*aggregate.Reader] is one.
type Source interface {
	Read() (*aggregate.Snapshot, error)
}

// Collector is a prometheus.Collector over one Source per configured
// metric. It reads every source on each Collect, so values are current;
// Collect calls are serialised.
type Collector struct {
	mu        sync.Mutex
	families  []*family
	mapFull   *prometheus.Desc
	unmatched *prometheus.Desc
	session   *engine.Session // owned, closed by Close
}

// family is one configured metric and what exposing it needs.
type family struct {
	m    *Metric
	src  Source
	desc *prometheus.Desc

	// Histograms: kernel bucket index → exposed bucket index (identity when
	// nil), the exposed scheme's bounds, and the unit divisor (1e9 turns
	// nanoseconds into seconds; dividing keeps bounds such as 6e-09 exact).
	kernel   hist.Scheme
	exposed  hist.Scheme
	remap    func(int) int
	div      float64
	exactSum bool
	// Exposed indexes used so far by any key: [lo, hi]; the family shows
	// the buckets of that range, which only grows.
	used   bool
	lo, hi int
}

// Aggregation returns the engine's aggregation of a metric.
func (m *Metric) Aggregation() engine.Aggregation {
	a := engine.Aggregation{
		Name:    m.Name,
		Probes:  engine.Probes{Specs: m.Events, Filter: m.Filter},
		By:      append([]string(nil), m.By...),
		MaxKeys: m.MaxKeys,
	}
	switch m.Type {
	case TypeCount:
		a.Mode = aggregate.Count
	case TypeHist:
		a.Mode = aggregate.Hist
		a.Value = m.Value
		a.Scheme = hist.Log2{}
		if m.Buckets == BucketsLinear {
			a.Scheme = hist.Linear{Min: *m.Min, Max: *m.Max, Step: *m.Step}
		}
	case TypeLatency:
		a.Mode = aggregate.Latency
		a.Probes.Specs = nil
		a.From, a.To, a.Match = m.From, m.To, m.Match
		a.FromFilter, a.ToFilter = m.FromFilter, m.ToFilter
	}
	return a
}

// Open loads every metric of cfg into one session, attaches it and returns
// a Collector over its aggregations; Close releases them. Errors name the
// metric.
func Open(cfg *Config) (*Collector, error) {
	ec := engine.Config{}
	for _, m := range cfg.Metrics {
		ec.Aggregates = append(ec.Aggregates, m.Aggregation())
	}
	sess, err := engine.Open(ec)
	if err != nil {
		var ae *engine.AggregationError
		if errors.As(err, &ae) {
			return nil, cfg.errorf(cfg.Metrics[ae.Index], ae.Err)
		}
		return nil, err
	}
	if err := sess.Attach(); err != nil {
		sess.Close()
		return nil, err
	}
	readers := sess.Aggregates()
	sources := make([]Source, len(readers))
	for i, r := range readers {
		sources[i] = r
	}
	c, err := New(cfg, sources)
	if err != nil {
		sess.Close()
		return nil, err
	}
	c.session = sess
	return c, nil
}

// errorf names the file, line and metric in an error about m.
func (cfg *Config) errorf(m *Metric, err error) error {
	file := cfg.File
	if file == "" {
		file = "config"
	}
	return fmt.Errorf("%s:%d: metric %q: %w", file, m.Line, m.Name, err)
}

// New returns a Collector reading sources[i] for cfg.Metrics[i].
func New(cfg *Config, sources []Source) (*Collector, error) {
	if len(sources) != len(cfg.Metrics) {
		return nil, fmt.Errorf("metrics: %d sources for %d metrics", len(sources), len(cfg.Metrics))
	}
	c := &Collector{
		mapFull: prometheus.NewDesc(MapFullName,
			"Events that a metric did not count because its key map was full (raise max_keys).",
			[]string{"metric"}, nil),
		unmatched: prometheus.NewDesc(UnmatchedName,
			"Latency start events evicted or never matched by an end event.",
			[]string{"metric"}, nil),
	}
	for i, m := range cfg.Metrics {
		f := &family{m: m, src: sources[i], div: 1}
		switch m.Type {
		case TypeHist:
			f.kernel = hist.Log2{}
			if m.Buckets == BucketsLinear {
				f.kernel = hist.Linear{Min: *m.Min, Max: *m.Max, Step: *m.Step}
			}
			f.exposed = f.kernel
		case TypeLatency:
			f.kernel, f.exposed = hist.LogLinear{}, hist.LogLinear{}
			f.div, f.exactSum = 1e9, true
			if m.Buckets == BucketsLog2 {
				f.exposed = hist.Log2{}
				f.remap = func(i int) int {
					low, _ := hist.LogLinearRange(i)
					return hist.Log2Index(low)
				}
			}
		}
		f.desc = prometheus.NewDesc(m.FullName(), helpText(m), m.By, nil)
		c.families = append(c.families, f)
	}
	return c, nil
}

// helpText is the metric's help, generated when the config has none; a
// hist's always says that its sum is an estimate.
func helpText(m *Metric) string {
	h := strings.Join(strings.Fields(m.Help), " ")
	if h == "" {
		var where string
		if m.Filter != "" {
			where = " where " + m.Filter
		}
		switch m.Type {
		case TypeCount:
			h = fmt.Sprintf("Events %s%s, counted in kernel by bpftrail.", strings.Join(m.Events, ", "), where)
		case TypeHist:
			h = fmt.Sprintf("Distribution of %s of events %s%s.", m.Value, strings.Join(m.Events, ", "), where)
		case TypeLatency:
			match := m.Match
			if match == "" {
				match = "tid"
			}
			h = fmt.Sprintf("Seconds from %s to %s (matched by %s)%s.", strings.Join(m.From, ", "), strings.Join(m.To, ", "), match, where)
		}
	}
	if m.Type == TypeHist {
		h += " The sum is estimated from the bucket midpoints."
	}
	return h
}

// Close releases the session that Open loaded.
func (c *Collector) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session != nil {
		c.session.Close()
		c.session = nil
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.mapFull
	ch <- c.unmatched
	for _, f := range c.families {
		ch <- f.desc
	}
}

// Collect implements prometheus.Collector: it reads every source and sends
// its metrics. A source that fails to read yields an invalid metric (the
// scrape reports the error) and does not stop the others.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.families {
		snap, err := f.src.Read()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(f.desc, fmt.Errorf("metric %s: %w", f.m.Name, err))
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.mapFull, prometheus.CounterValue, float64(snap.MapFull), f.m.Name)
		if f.m.Type == TypeLatency {
			ch <- prometheus.MustNewConstMetric(c.unmatched, prometheus.CounterValue, float64(snap.Unmatched), f.m.Name)
		}
		if f.m.Type == TypeCount {
			f.collectCounts(snap, ch)
		} else {
			f.collectHists(snap, ch)
		}
	}
}

// labelValues renders a key as label values: integers in base 10, strings
// as they are (invalid UTF-8 replaced, as Prometheus requires UTF-8).
func labelValues(k record.Key) []string {
	vals := make([]string, len(k))
	for i, v := range k {
		if v.IsInt {
			vals[i] = v.Number()
		} else {
			vals[i] = strings.ToValidUTF8(v.Str, "\uFFFD")
		}
	}
	return vals
}

// seriesKey joins label values into a map key.
func seriesKey(vals []string) string { return strings.Join(vals, "\xff") }

func (f *family) collectCounts(snap *aggregate.Snapshot, ch chan<- prometheus.Metric) {
	type series struct {
		labels []string
		n      uint64
	}
	var order []string
	all := map[string]*series{}
	for _, g := range snap.Groups {
		vals := labelValues(g.Key)
		if len(vals) != len(f.m.By) {
			continue
		}
		k := seriesKey(vals)
		s, ok := all[k]
		if !ok {
			s = &series{labels: vals}
			all[k] = s
			order = append(order, k)
		}
		s.n += g.Count // distinct keys whose labels coincide are merged
	}
	if len(f.m.By) == 0 && len(order) == 0 {
		all[""], order = &series{}, []string{""}
	}
	for _, k := range order {
		s := all[k]
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.CounterValue, float64(s.n), s.labels...)
	}
}

// bucketSeries is one histogram series: counts per exposed bucket.
type bucketSeries struct {
	labels  []string
	count   uint64
	sum     float64
	buckets map[int]uint64
}

func (f *family) collectHists(snap *aggregate.Snapshot, ch chan<- prometheus.Metric) {
	var order []string
	all := map[string]*bucketSeries{}
	for _, g := range snap.Groups {
		vals := labelValues(g.Key)
		if len(vals) != len(f.m.By) {
			continue
		}
		k := seriesKey(vals)
		s, ok := all[k]
		if !ok {
			s = &bucketSeries{labels: vals, buckets: map[int]uint64{}}
			all[k] = s
			order = append(order, k)
		}
		if f.exactSum {
			s.sum += float64(g.Sum) / f.div
		}
		for i, n := range g.Buckets {
			if n == 0 || i < 0 || i >= f.kernel.Buckets() {
				continue
			}
			if !f.exactSum {
				s.sum += float64(n) * f.midpoint(i) / f.div
			}
			e := i
			if f.remap != nil {
				e = f.remap(i)
			}
			s.buckets[e] += n
			s.count += n
			if !f.used || e < f.lo {
				f.lo = e
			}
			if !f.used || e > f.hi {
				f.hi = e
			}
			f.used = true
		}
	}
	if len(f.m.By) == 0 && len(order) == 0 {
		all[""], order = &bucketSeries{buckets: map[int]uint64{}}, []string{""}
	}
	for _, k := range order {
		s := all[k]
		ch <- prometheus.MustNewConstHistogram(f.desc, s.count, s.sum, f.cumulative(s), s.labels...)
	}
}

// cumulative returns the upper bound → cumulative count map of a series
// over the family's bucket range. The last bucket of a linear scheme
// (v >= max) is the +Inf bucket, which Prometheus adds by itself.
func (f *family) cumulative(s *bucketSeries) map[float64]uint64 {
	out := map[float64]uint64{}
	if !f.used {
		return out
	}
	_, isLinear := f.exposed.(hist.Linear)
	var cum uint64
	for i := f.lo; i <= f.hi; i++ {
		cum += s.buckets[i]
		if isLinear && i == f.exposed.Buckets()-1 {
			break
		}
		_, high := f.exposed.Bounds(i)
		out[high/f.div] = cum
	}
	return out
}

// midpoint estimates the mean value of the samples in kernel bucket i:
// the middle of the integers it holds; the open-ended buckets of a linear
// scheme count as their finite bound.
func (f *family) midpoint(i int) float64 {
	if l, ok := f.kernel.(hist.Linear); ok {
		switch i {
		case 0:
			return float64(l.Min)
		case l.Buckets() - 1:
			return float64(l.Max)
		}
		low, last := l.Range(i)
		return (float64(low) + float64(last)) / 2
	}
	low, high := f.kernel.Bounds(i)
	return (low + high - 1) / 2
}
