// Package metrics serves bpftrail's in-kernel aggregations as Prometheus
// metrics and pushes them over OTLP: "bpftrail metrics -f CONFIG" loads one
// aggregation session ([engine.AggSession]) per configured metric and a
// [Collector] turns their BPF maps into metric families each time a
// Prometheus server scrapes; a [Pusher] sends the same values to an
// OpenTelemetry receiver at an interval.
//
// A configuration file (YAML, see [Parse]) lists metrics of three types:
//
//   - count: a counter per key, bpftrail_NAME{BY...}, counting events;
//   - hist: a histogram per key of an integer field (value) of the events,
//     with the kernel's log2 (default) or linear buckets;
//   - latency: a histogram per key of the time in seconds between a start
//     event (from) and the matching end event (to), with the kernel's
//     log-linear nanosecond buckets (8 per power of two) or, with
//     buckets: log2, one per power of two.
//
// Histograms are real Prometheus histograms, exact under Prometheus' rule
// that a value counts in every bucket whose "le" is at least the value: the
// kernel computes upper-inclusive buckets ([Metric.Scheme]) and every kernel
// bucket becomes one cumulative "le" bucket whose bound is the bucket's
// inclusive upper end (converted to seconds for latencies). So a read of
// exactly 4096 bytes counts in le="4096" (log2 buckets are (2^(i-1), 2^i],
// 0 has le="0"), linear buckets are (min+j*step, min+(j+1)*step], and
// log-linear latencies (16, 18], (18, 20], ... nanoseconds. To keep series
// few, a family exposes the contiguous range of buckets between the lowest
// and the highest bucket that any of its keys has used so far; the range
// only grows. The sum of every histogram is exact: the kernel adds up the
// values (a signed value's negative ones too, which count in le="0") and
// the nanoseconds beside the buckets.
//
// Every metric also has a series in bpftrail_map_full_total{metric="NAME"}
// (events not counted because the key map was full) and every latency
// metric one in bpftrail_latency_unmatched_total{metric="NAME"} (start
// events evicted or never matched by an end).
package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bpftrail/bpftrail/internal/hist"
)

// Prefix is prepended to every configured metric name.
const Prefix = "bpftrail_"

// Metric types.
const (
	TypeCount   = "count"
	TypeHist    = "hist"
	TypeLatency = "latency"
)

// Bucket layouts.
const (
	BucketsLog2      = "log2"      // hist default; latency: one bucket per power of two
	BucketsLinear    = "linear"    // hist only: min, max, step
	BucketsLogLinear = "loglinear" // latency default: 8 buckets per power of two
)

// Names of the per-metric health families.
const (
	MapFullName   = Prefix + "map_full_total"
	UnmatchedName = Prefix + "latency_unmatched_total"
)

// Config is a parsed and validated configuration file.
type Config struct {
	File    string // the name errors give the file
	Metrics []*Metric
}

// Metric is one configured metric.
type Metric struct {
	Name    string     `yaml:"name"`    // without the bpftrail_ prefix
	Help    string     `yaml:"help"`    // HELP text; generated when empty
	Type    string     `yaml:"type"`    // count, hist or latency
	Events  stringList `yaml:"events"`  // count, hist: probe specs
	Filter  string     `yaml:"filter"`  // in-kernel filter expression
	By      stringList `yaml:"by"`      // label keys: event, comm, pid, tid, cpu or fields
	Value   string     `yaml:"value"`   // hist: the integer field to bucket
	Buckets string     `yaml:"buckets"` // log2, linear (hist) or loglinear, log2 (latency)
	Min     *int64     `yaml:"min"`     // linear
	Max     *int64     `yaml:"max"`     // linear
	Step    *int64     `yaml:"step"`    // linear
	From    stringList `yaml:"from"`    // latency: start events
	To      stringList `yaml:"to"`      // latency: end events
	Match   string     `yaml:"match"`   // latency: tid (default), pid, FIELD or FROM_FIELD,TO_FIELD
	// FromFilter and ToFilter are joined (&&) to Filter on the start and
	// end events of a latency, for fields only one of them has.
	FromFilter string `yaml:"from_filter"`
	ToFilter   string `yaml:"to_filter"`
	MaxKeys    int    `yaml:"max_keys"`

	Line int `yaml:"-"` // line of the metric in the file
}

// FullName is the exposed name of the metric.
func (m *Metric) FullName() string { return Prefix + m.Name }

// stringList is a list of strings written as a YAML sequence or as one
// comma-separated string ("comm,pid").
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = nil
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				*l = append(*l, p)
			}
		}
		return nil
	case yaml.SequenceNode:
		var ss []string
		if err := n.Decode(&ss); err != nil {
			return err
		}
		*l = nil
		for _, s := range ss {
			if s = strings.TrimSpace(s); s != "" {
				*l = append(*l, s)
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Load reads and parses the configuration file path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, filepath.Base(path))
}

// Parse parses and validates a configuration; file names it in errors,
// which are one line each: "FILE:LINE: metric "NAME": FIELD: problem".
func Parse(data []byte, file string) (*Config, error) {
	if file == "" {
		file = "config"
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty configuration (want a \"metrics:\" list)", file)
		}
		line, msg := yamlError(err, 0)
		if line == 0 {
			return nil, fmt.Errorf("%s: %s", file, msg)
		}
		return nil, fmt.Errorf("%s:%d: %s", file, line, msg)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty configuration (want a \"metrics:\" list)", file)
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping with a \"metrics:\" list", file, doc.Line)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		if k.Value != "metrics" {
			return nil, fmt.Errorf("%s:%d: unknown key %q (want \"metrics\")", file, k.Line, k.Value)
		}
		list = v
	}
	if list == nil || list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		line := doc.Line
		if list != nil {
			line = list.Line
		}
		return nil, fmt.Errorf("%s:%d: \"metrics\" must be a non-empty list of metrics", file, line)
	}
	cfg := &Config{File: file}
	seen := map[string]int{}
	for i, n := range list.Content {
		m, err := decodeMetric(n)
		if err != nil {
			return nil, fmt.Errorf("%s:%s", file, err)
		}
		if m.Name != "" {
			if prev, ok := seen[m.Name]; ok {
				return nil, fmt.Errorf("%s:%d: metric %q: name: already used by the metric on line %d", file, m.Line, m.Name, prev)
			}
			seen[m.Name] = m.Line
		}
		if err := m.validate(); err != nil {
			what := fmt.Sprintf("metric %q", m.Name)
			if m.Name == "" {
				what = fmt.Sprintf("metric #%d", i+1)
			}
			return nil, fmt.Errorf("%s:%d: %s: %s", file, m.Line, what, err)
		}
		cfg.Metrics = append(cfg.Metrics, m)
	}
	return cfg, nil
}

// decodeMetric decodes one list entry, rejecting unknown fields.
func decodeMetric(n *yaml.Node) (*Metric, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%d: a metric must be a mapping (name:, type:, ...)", n.Line)
	}
	m := &Metric{Line: n.Line}
	name := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			name = n.Content[i+1].Value
		}
	}
	what := fmt.Sprintf("metric %q", name)
	if name == "" {
		what = "metric"
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !knownField[k.Value] {
			return nil, fmt.Errorf("%d: %s: unknown field %q (want one of %s)", k.Line, what, k.Value, fieldNames)
		}
	}
	if err := n.Decode(m); err != nil {
		line, msg := yamlError(err, n.Line)
		return nil, fmt.Errorf("%d: %s: %s", line, what, msg)
	}
	m.Line = n.Line
	return m, nil
}

var knownField = map[string]bool{}

const fieldNames = "name, help, type, events, filter, by, value, buckets, min, max, step, from, to, match, from_filter, to_filter, max_keys"

func init() {
	for _, f := range strings.Split(fieldNames, ", ") {
		knownField[f] = true
	}
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): `)

// yamlError flattens a yaml.v3 error to one line without its "yaml: "
// prefix, and returns the line it names (or line if it names none).
func yamlError(err error, line int) (int, string) {
	s := strings.Join(strings.Fields(err.Error()), " ")
	s = strings.TrimPrefix(s, "yaml: ")
	s = strings.TrimPrefix(s, "unmarshal errors: ")
	if m := yamlLineRE.FindStringSubmatch(s); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			line = n
		}
		s = s[len(m[0]):]
	}
	return line, s
}

// validate checks one metric; its errors name the offending field.
func (m *Metric) validate() error {
	if err := m.validateName(); err != nil {
		return err
	}
	if m.MaxKeys < 0 {
		return fmt.Errorf("max_keys: %d is negative", m.MaxKeys)
	}
	if err := m.validateBy(); err != nil {
		return err
	}
	switch m.Type {
	case "":
		return errors.New("type: missing (want count, hist or latency)")
	case TypeCount, TypeHist:
		return m.validateEvents()
	case TypeLatency:
		return m.validateLatency()
	}
	return fmt.Errorf("type: %q is unknown (want count, hist or latency)", m.Type)
}

func (m *Metric) validateName() error {
	switch {
	case m.Name == "":
		return errors.New("name: missing")
	case !metricNameRE.MatchString(m.Name):
		return fmt.Errorf("name: %q is not a valid Prometheus metric name (letters, digits, _ and :, not starting with a digit)", m.Name)
	case strings.HasPrefix(m.Name, Prefix):
		return fmt.Errorf("name: leave out the %q prefix, it is added", Prefix)
	case m.FullName() == MapFullName || m.FullName() == UnmatchedName:
		return fmt.Errorf("name: %s is reserved", m.FullName())
	}
	return nil
}

// validateBy checks the label names of by:.
func (m *Metric) validateBy() error {
	seen := map[string]bool{}
	for _, k := range m.By {
		switch {
		case !labelNameRE.MatchString(k) || strings.HasPrefix(k, "__"):
			return fmt.Errorf("by: %q is not a valid Prometheus label name", k)
		case k == "le" && m.Type != TypeCount:
			return errors.New(`by: "le" is the bucket label of histograms`)
		case seen[k]:
			return fmt.Errorf("by: %q appears twice", k)
		}
		seen[k] = true
	}
	return nil
}

// hasLinearBounds reports whether min, max or step is set.
func (m *Metric) hasLinearBounds() bool {
	return m.Min != nil || m.Max != nil || m.Step != nil
}

// validateEvents checks a count or a hist, both counted on events:.
func (m *Metric) validateEvents() error {
	if len(m.Events) == 0 {
		return fmt.Errorf("events: missing (a %s needs events: [SPEC, ...])", m.Type)
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"from", len(m.From) > 0}, {"to", len(m.To) > 0}, {"match", m.Match != ""},
		{"from_filter", m.FromFilter != ""}, {"to_filter", m.ToFilter != ""}} {
		if f.set {
			return fmt.Errorf("%s: only for type latency", f.name)
		}
	}
	if m.Type == TypeCount {
		switch {
		case m.Value != "":
			return errors.New("value: only for type hist")
		case m.Buckets != "" || m.hasLinearBounds():
			return errors.New("buckets: only for types hist and latency")
		}
		return nil
	}
	if m.Value == "" {
		return errors.New("value: missing (a hist needs value: FIELD, an integer field of the events)")
	}
	return m.validateHistBuckets()
}

func (m *Metric) validateHistBuckets() error {
	switch m.Buckets {
	case "", BucketsLog2:
		if m.hasLinearBounds() {
			return errors.New("min, max, step: only with buckets: linear")
		}
	case BucketsLinear:
		if m.Min == nil || m.Max == nil || m.Step == nil {
			return errors.New("buckets: linear needs min, max and step")
		}
		if err := (hist.Linear{Min: *m.Min, Max: *m.Max, Step: *m.Step}).Validate(); err != nil {
			return fmt.Errorf("buckets: %s", strings.TrimPrefix(err.Error(), "hist: "))
		}
		if *m.Max >= hist.MaxLinearAbs {
			// The kernel buckets (min, max] as hist.Linear{min+1, max+1}.
			return fmt.Errorf("buckets: linear max %d must be below 2^53", *m.Max)
		}
	default:
		return fmt.Errorf("buckets: %q is unknown for a hist (want log2 or linear)", m.Buckets)
	}
	return nil
}

// validateLatency checks a latency, measured from: to: events.
func (m *Metric) validateLatency() error {
	switch {
	case len(m.Events) > 0:
		return errors.New("events: not for type latency (use from: and to:)")
	case len(m.From) == 0:
		return errors.New("from: missing (a latency needs from: [SPEC] and to: [SPEC])")
	case len(m.To) == 0:
		return errors.New("to: missing (a latency needs from: [SPEC] and to: [SPEC])")
	case m.Value != "":
		return errors.New("value: only for type hist")
	case m.hasLinearBounds():
		return errors.New("min, max, step: only for type hist with buckets: linear")
	}
	if from, to, ok := strings.Cut(m.Match, ","); ok && (strings.TrimSpace(from) == "" || strings.TrimSpace(to) == "") {
		return fmt.Errorf("match: %q: want FIELD or FROM_FIELD,TO_FIELD", m.Match)
	}
	switch m.Buckets {
	case "", BucketsLogLinear, BucketsLog2:
	default:
		return fmt.Errorf("buckets: %q is unknown for a latency (want loglinear or log2)", m.Buckets)
	}
	return nil
}
