package metrics

import (
	"errors"
	"fmt"
	"math"
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

	// Histograms: the kernel's upper-inclusive scheme, whose Le bounds are
	// the exposed "le", and the unit divisor (1e9 turns nanoseconds into
	// seconds; dividing keeps bounds such as 1.6e-08 exact).
	scheme hist.Scheme
	div    float64
	// Indexes used so far by any key: [lo, hi]; the family shows the
	// buckets of that range, which only grows.
	used   bool
	lo, hi int
}

// Scheme returns the buckets the kernel computes for a hist or latency
// metric: upper-inclusive, so that every bucket is exactly a Prometheus
// "le" bucket (and an OpenTelemetry bucket): log2 as (2^(i-1), 2^i],
// loglinear as 8 sub-buckets of each, linear as (min+j*step,
// min+(j+1)*step] (a hist.Linear one above the configured bounds, whose
// integers are the same). It is nil for a count.
func (m *Metric) Scheme() hist.Scheme {
	switch {
	case m.Type == TypeHist && m.Buckets == BucketsLinear:
		return hist.Linear{Min: *m.Min + 1, Max: *m.Max + 1, Step: *m.Step}
	case m.Type == TypeHist:
		return hist.Log2Upper{}
	case m.Type == TypeLatency && m.Buckets == BucketsLog2:
		return hist.Log2Upper{}
	case m.Type == TypeLatency:
		return hist.LogLinearUpper{}
	}
	return nil
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
		a.Scheme = m.Scheme()
		a.Sum = true // the exact _sum
	case TypeLatency:
		a.Mode = aggregate.Latency
		a.Scheme = m.Scheme()
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
		f := &family{m: m, src: sources[i], div: 1, scheme: m.Scheme()}
		if m.Type == TypeLatency {
			f.div = 1e9
		}
		f.desc = prometheus.NewDesc(m.FullName(), helpText(m), m.By, nil)
		c.families = append(c.families, f)
	}
	return c, nil
}

// helpText is the metric's help, generated when the config has none.
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

// labelSeries is one exported series of a family: the groups of a snapshot
// whose keys render to the same labels, merged.
type labelSeries struct {
	key     record.Key // the first group's key
	labels  []string
	count   uint64 // a count's value, or the events in a histogram's buckets
	sum     float64
	buckets map[int]uint64
}

// series groups a snapshot's groups into series (distinct keys that render
// alike are merged), in the snapshot's order. A metric without "by" has one
// series even before any event. Prometheus and OTLP export the same series.
func (f *family) series(snap *aggregate.Snapshot) []*labelSeries {
	var order []*labelSeries
	all := map[string]*labelSeries{}
	for _, g := range snap.Groups {
		vals := labelValues(g.Key)
		if len(vals) != len(f.m.By) {
			continue
		}
		k := seriesKey(vals)
		s, ok := all[k]
		if !ok {
			s = &labelSeries{key: g.Key, labels: vals, buckets: map[int]uint64{}}
			all[k] = s
			order = append(order, s)
		}
		if f.m.Type == TypeCount {
			s.count += g.Count
			continue
		}
		// The kernel keeps the exact sum; a signed value's sum is an int64.
		if snap.Signed {
			s.sum += float64(int64(g.Sum)) / f.div
		} else {
			s.sum += float64(g.Sum) / f.div
		}
		for i, n := range g.Buckets {
			if n == 0 || i < 0 || i >= f.scheme.Buckets() {
				continue
			}
			s.buckets[i] += n
			s.count += n
		}
	}
	if len(f.m.By) == 0 && len(order) == 0 {
		order = append(order, &labelSeries{buckets: map[int]uint64{}})
	}
	return order
}

func (f *family) collectCounts(snap *aggregate.Snapshot, ch chan<- prometheus.Metric) {
	for _, s := range f.series(snap) {
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.CounterValue, float64(s.count), s.labels...)
	}
}

func (f *family) collectHists(snap *aggregate.Snapshot, ch chan<- prometheus.Metric) {
	ss := f.series(snap)
	for _, s := range ss {
		for i := range s.buckets {
			if !f.used || i < f.lo {
				f.lo = i
			}
			if !f.used || i > f.hi {
				f.hi = i
			}
			f.used = true
		}
	}
	for _, s := range ss {
		ch <- prometheus.MustNewConstHistogram(f.desc, s.count, s.sum, f.cumulative(s), s.labels...)
	}
}

// cumulative returns the upper bound → cumulative count map of a series
// over the family's bucket range: "le" is the inclusive upper bound of each
// kernel bucket. The last bucket of a linear scheme (v > max) is the +Inf
// bucket, which Prometheus adds by itself.
func (f *family) cumulative(s *labelSeries) map[float64]uint64 {
	out := map[float64]uint64{}
	if !f.used {
		return out
	}
	var cum uint64
	for i := f.lo; i <= f.hi; i++ {
		cum += s.buckets[i]
		le := f.scheme.Le(i)
		if math.IsInf(le, 1) {
			break
		}
		out[le/f.div] = cum
	}
	return out
}
