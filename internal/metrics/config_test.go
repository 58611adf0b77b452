package metrics

import (
	"reflect"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/hist"
)

func TestMetricsConfigValidFile(t *testing.T) {
	cfg, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Metrics) != 5 {
		t.Fatalf("got %d metrics, want 5", len(cfg.Metrics))
	}
	opens := cfg.Metrics[0]
	if opens.FullName() != "bpftrail_opens_total" || opens.Line != 3 {
		t.Errorf("first metric: name %q line %d", opens.FullName(), opens.Line)
	}
	if got := helpText(opens); got != "openat calls, per process and file." {
		t.Errorf("help = %q", got)
	}
	ac := opens.Aggregation()
	want := engine.Aggregation{
		Name:    "opens_total",
		Probes:  engine.Probes{Specs: []string{"syscalls:sys_enter_openat"}, Filter: `filename == "/etc/*"`},
		Mode:    aggregate.Count,
		By:      []string{"comm", "filename"},
		MaxKeys: 4096,
	}
	if !reflect.DeepEqual(ac, want) {
		t.Errorf("Aggregation = %+v\nwant %+v", ac, want)
	}
	if ac := cfg.Metrics[1].Aggregation(); ac.Mode != aggregate.Hist || ac.Value != "ret" || ac.Scheme != (hist.Log2Upper{}) || !ac.Sum || len(ac.Probes.Specs) != 2 {
		t.Errorf("read_bytes Aggregation = %+v", ac)
	}
	// Linear (0, 512], ..., (3584, 4096]: the integers of [1, 513), ...
	if ac := cfg.Metrics[2].Aggregation(); ac.Scheme != (hist.Linear{Min: 1, Max: 4097, Step: 512}) {
		t.Errorf("write_sizes scheme = %+v", ac.Scheme)
	}
	ac = cfg.Metrics[3].Aggregation()
	if ac.Mode != aggregate.Latency || ac.Match != "pid,next_pid" || len(ac.Probes.Specs) != 0 ||
		!reflect.DeepEqual(ac.From, []string{"sched:sched_wakeup"}) || !reflect.DeepEqual(ac.To, []string{"sched:sched_switch"}) ||
		ac.Scheme != (hist.LogLinearUpper{}) {
		t.Errorf("runqueue Aggregation = %+v", ac)
	}
	if got := helpText(cfg.Metrics[1]); got != "Distribution of ret of events syscalls:sys_exit_read, syscalls:sys_exit_pread64." {
		t.Errorf("hist help = %q", got)
	}
	if got := helpText(cfg.Metrics[4]); got != "Seconds from raw_syscalls:sys_enter to raw_syscalls:sys_exit (matched by tid)." {
		t.Errorf("latency help = %q", got)
	}
}

func TestMetricsConfigExample(t *testing.T) {
	cfg, err := Load("../../examples/metrics.yaml")
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, m := range cfg.Metrics {
		types[m.Type] = true
	}
	if len(types) != 3 {
		t.Errorf("the example should show all three types, has %v", types)
	}
}

func TestMetricsConfigValid(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"minimal count", "metrics:\n  - {name: a, type: count, events: [x:y]}\n"},
		{"colon in name", "metrics:\n  - {name: 'ns:a_total', type: count, events: x:y}\n"},
		{"le is fine on a counter", "metrics:\n  - {name: a, type: count, events: x:y, by: [le]}\n"},
		{"hist log2 explicit", "metrics:\n  - {name: a, type: hist, events: x:y, value: v, buckets: log2}\n"},
		{"latency loglinear", "metrics:\n  - {name: a, type: latency, from: x:y, to: x:z, buckets: loglinear, match: pid}\n"},
		{"empty by entries dropped", "metrics:\n  - {name: a, type: count, events: x:y, by: 'comm,,'}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.yaml), "t.yaml"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMetricsConfigInvalid(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", `t.yaml: empty configuration (want a "metrics:" list)`},
		{"comment only", "# nothing\n", `t.yaml: empty configuration (want a "metrics:" list)`},
		{"not a mapping", "- a\n", `t.yaml:1: want a mapping with a "metrics:" list`},
		{"unknown top key", "metric:\n  - name: a\n", `t.yaml:1: unknown key "metric" (want "metrics")`},
		{"empty list", "metrics: []\n", `t.yaml:1: "metrics" must be a non-empty list of metrics`},
		{"syntax", "metrics:\n  - name: [a\n", `t.yaml:1: did not find expected ',' or ']'`},
		{"entry not a mapping", "metrics:\n  - a\n", `t.yaml:2: a metric must be a mapping`},
		{"unknown field", "metrics:\n  - name: a\n    type: count\n    event: [x:y]\n",
			`t.yaml:4: metric "a": unknown field "event" (want one of name, help,`},
		{"wrong field type", "metrics:\n  - name: a\n    type: count\n    events: x:y\n    max_keys: many\n",
			`t.yaml:5: metric "a": cannot unmarshal !!str ` + "`many`" + ` into int`},
		{"events not a list", "metrics:\n  - name: a\n    type: count\n    events: {a: b}\n",
			`t.yaml:4: metric "a": want a string or a list of strings`},
		{"missing name", "metrics:\n  - type: count\n    events: [x:y]\n", `t.yaml:2: metric #1: name: missing`},
		{"bad name", "metrics:\n  - {name: 2xx, type: count, events: x:y}\n",
			`t.yaml:2: metric "2xx": name: "2xx" is not a valid Prometheus metric name`},
		{"dash in name", "metrics:\n  - {name: a-b, type: count, events: x:y}\n",
			`t.yaml:2: metric "a-b": name: "a-b" is not a valid Prometheus metric name`},
		{"prefixed name", "metrics:\n  - {name: bpftrail_a, type: count, events: x:y}\n",
			`t.yaml:2: metric "bpftrail_a": name: leave out the "bpftrail_" prefix, it is added`},
		{"reserved name", "metrics:\n  - {name: map_full_total, type: count, events: x:y}\n",
			`t.yaml:2: metric "map_full_total": name: bpftrail_map_full_total is reserved`},
		{"duplicate name", "metrics:\n  - {name: a, type: count, events: x:y}\n  - {name: a, type: count, events: x:y}\n",
			`t.yaml:3: metric "a": name: already used by the metric on line 2`},
		{"missing type", "metrics:\n  - {name: a, events: x:y}\n", `t.yaml:2: metric "a": type: missing (want count, hist or latency)`},
		{"unknown type", "metrics:\n  - name: a\n    type: histogram\n    events: x:y\n",
			`t.yaml:2: metric "a": type: "histogram" is unknown (want count, hist or latency)`},
		{"count without events", "metrics:\n  - {name: a, type: count}\n",
			`t.yaml:2: metric "a": events: missing (a count needs events: [SPEC, ...])`},
		{"hist without events", "metrics:\n  - {name: a, type: hist, value: v}\n",
			`t.yaml:2: metric "a": events: missing (a hist needs events: [SPEC, ...])`},
		{"hist without value", "metrics:\n  - {name: a, type: hist, events: x:y}\n",
			`t.yaml:2: metric "a": value: missing (a hist needs value: FIELD`},
		{"count with value", "metrics:\n  - {name: a, type: count, events: x:y, value: v}\n",
			`t.yaml:2: metric "a": value: only for type hist`},
		{"count with buckets", "metrics:\n  - {name: a, type: count, events: x:y, buckets: log2}\n",
			`t.yaml:2: metric "a": buckets: only for types hist and latency`},
		{"count with from", "metrics:\n  - {name: a, type: count, events: x:y, from: x:z}\n",
			`t.yaml:2: metric "a": from: only for type latency`},
		{"bad label", "metrics:\n  - {name: a, type: count, events: x:y, by: [comm, 'a.b']}\n",
			`t.yaml:2: metric "a": by: "a.b" is not a valid Prometheus label name`},
		{"reserved label", "metrics:\n  - {name: a, type: count, events: x:y, by: [__name__]}\n",
			`t.yaml:2: metric "a": by: "__name__" is not a valid Prometheus label name`},
		{"le on a histogram", "metrics:\n  - {name: a, type: hist, events: x:y, value: v, by: [le]}\n",
			`t.yaml:2: metric "a": by: "le" is the bucket label of histograms`},
		{"duplicate label", "metrics:\n  - {name: a, type: count, events: x:y, by: 'comm,comm'}\n",
			`t.yaml:2: metric "a": by: "comm" appears twice`},
		{"unknown hist buckets", "metrics:\n  - {name: a, type: hist, events: x:y, value: v, buckets: exp}\n",
			`t.yaml:2: metric "a": buckets: "exp" is unknown for a hist (want log2 or linear)`},
		{"linear without step", "metrics:\n  - {name: a, type: hist, events: x:y, value: v, buckets: linear, min: 0, max: 10}\n",
			`t.yaml:2: metric "a": buckets: linear needs min, max and step`},
		{"linear not divisible", "metrics:\n  - {name: a, type: hist, events: x:y, value: v, buckets: linear, min: 0, max: 10, step: 3}\n",
			`t.yaml:2: metric "a": buckets: linear max-min must be a multiple of step`},
		{"min without linear", "metrics:\n  - {name: a, type: hist, events: x:y, value: v, min: 0}\n",
			`t.yaml:2: metric "a": min, max, step: only with buckets: linear`},
		{"latency with events", "metrics:\n  - {name: a, type: latency, events: x:y, from: x:y, to: x:z}\n",
			`t.yaml:2: metric "a": events: not for type latency (use from: and to:)`},
		{"latency without from", "metrics:\n  - {name: a, type: latency, to: x:z}\n",
			`t.yaml:2: metric "a": from: missing`},
		{"latency without to", "metrics:\n  - {name: a, type: latency, from: x:z}\n",
			`t.yaml:2: metric "a": to: missing`},
		{"latency bad match", "metrics:\n  - {name: a, type: latency, from: x:y, to: x:z, match: 'pid,'}\n",
			`t.yaml:2: metric "a": match: "pid,": want FIELD or FROM_FIELD,TO_FIELD`},
		{"latency linear", "metrics:\n  - {name: a, type: latency, from: x:y, to: x:z, buckets: linear}\n",
			`t.yaml:2: metric "a": buckets: "linear" is unknown for a latency (want loglinear or log2)`},
		{"negative max_keys", "metrics:\n  - {name: a, type: count, events: x:y, max_keys: -1}\n",
			`t.yaml:2: metric "a": max_keys: -1 is negative`},
		{"second metric bad", "metrics:\n  - {name: a, type: count, events: x:y}\n\n  - name: b\n    type: count\n",
			`t.yaml:4: metric "b": events: missing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "t.yaml")
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.want) {
				t.Errorf("error\n  %s\nwant prefix\n  %s", msg, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}
