package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	colmetricspb "go.opentelemetry.io/proto/slim/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/slim/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/slim/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/slim/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
)

// ServiceName is the service.name resource attribute of what a [Pusher]
// sends.
const ServiceName = "bpftrail"

// DefaultOTLPPath is the path of OTLP/HTTP's metrics endpoint, added to a
// URL that has none.
const DefaultOTLPPath = "/v1/metrics"

// OTLPURL checks an OTLP/HTTP endpoint given by the user and returns it
// with the metrics path added when it has none ("http://host:4318" becomes
// "http://host:4318/v1/metrics").
func OTLPURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: want an http:// or https:// URL (OTLP/HTTP, e.g. http://127.0.0.1:4318/v1/metrics)", s)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q: no host", s)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = DefaultOTLPPath
	}
	return u.String(), nil
}

// PushOptions configure a [Pusher]. The zero value of a field means its
// default.
type PushOptions struct {
	URL      string        // OTLP/HTTP metrics endpoint (see OTLPURL)
	Client   *http.Client  // default: a client with a 10 s timeout
	HostName string        // host.name; default os.Hostname()
	Version  string        // service.version, if not empty
	Log      *log.Logger   // failures and recoveries; default: none
	Start    time.Time     // start of the cumulative series; default now
	Interval time.Duration // Run's period; default 10 s
}

// Pusher sends the metrics of a [Collector] to an OpenTelemetry receiver
// over OTLP/HTTP (protobuf), with the same values a Prometheus scrape gets:
//
//   - a count is a cumulative monotonic Sum of integers, one data point
//     per key (its "by" members are the point's attributes);
//   - a hist with log2 buckets is an ExponentialHistogram at scale 0: the
//     kernel's upper-inclusive bucket (2^(i-2), 2^(i-1)] is exponential
//     bucket i-2 ([hist.Log2Upper.ExpIndex]), whose values are
//     (2^(i-2), 2^(i-1)]; 0 is the zero bucket; count and sum are the
//     kernel's exact ones (a signed value's negative values count in the
//     zero bucket, as they count in le="0" for Prometheus);
//   - a hist with linear buckets and every latency (seconds) is an
//     explicit-bucket Histogram whose bounds are the kernel buckets'
//     inclusive upper ends, over the range of buckets used so far;
//   - bpftrail_map_full_total and bpftrail_latency_unmatched_total are
//     Sums with a "metric" attribute.
//
// Every series is cumulative from the pusher's start. The resource has
// service.name=bpftrail and host.name.
type Pusher struct {
	c        *Collector
	opts     PushOptions
	resource *resourcepb.Resource
	ranges   map[*family]*[2]int // explicit histograms: buckets used so far
	failing  string              // the last failure logged, "" when pushes succeed
}

// NewPusher returns a pusher of c's metrics to opts.URL.
func NewPusher(c *Collector, opts PushOptions) (*Pusher, error) {
	u, err := OTLPURL(opts.URL)
	if err != nil {
		return nil, err
	}
	opts.URL = u
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.HostName == "" {
		if opts.HostName, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("host name: %w", err)
		}
	}
	if opts.Start.IsZero() {
		opts.Start = time.Now()
	}
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	attrs := []*commonpb.KeyValue{strAttr("service.name", ServiceName), strAttr("host.name", opts.HostName)}
	if opts.Version != "" {
		attrs = append(attrs, strAttr("service.version", opts.Version))
	}
	return &Pusher{
		c:        c,
		opts:     opts,
		resource: &resourcepb.Resource{Attributes: attrs},
		ranges:   map[*family]*[2]int{},
	}, nil
}

// URL is the endpoint the pusher posts to.
func (p *Pusher) URL() string { return p.opts.URL }

func strAttr(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func intAttr(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

// keyAttrs renders a key as attributes: integers as integers (an unsigned
// one above the int64 range as its decimal string), strings as strings
// (invalid UTF-8 replaced).
func keyAttrs(k record.Key) []*commonpb.KeyValue {
	out := make([]*commonpb.KeyValue, len(k))
	for i, v := range k {
		switch {
		case v.IsInt && (!v.Unsigned || v.Int >= 0):
			out[i] = intAttr(v.Name, v.Int)
		case v.IsInt:
			out[i] = strAttr(v.Name, v.Number())
		default:
			out[i] = strAttr(v.Name, strings.ToValidUTF8(v.Str, "\uFFFD"))
		}
	}
	return out
}

// Request reads every metric and returns the OTLP request that carries
// them, stamped with now. A metric that cannot be read is left out and
// its error returned (joined) beside the request of the others.
func (p *Pusher) Request(now time.Time) (*colmetricspb.ExportMetricsServiceRequest, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	start, ts := uint64(p.opts.Start.UnixNano()), uint64(now.UnixNano())
	var (
		out     []*metricspb.Metric
		errs    []error
		full    []*metricspb.NumberDataPoint
		unmatch []*metricspb.NumberDataPoint
	)
	counter := func(name string, v uint64) *metricspb.NumberDataPoint {
		return &metricspb.NumberDataPoint{
			Attributes:        []*commonpb.KeyValue{strAttr("metric", name)},
			StartTimeUnixNano: start, TimeUnixNano: ts,
			Value: &metricspb.NumberDataPoint_AsInt{AsInt: int64(v)},
		}
	}
	for _, f := range p.c.families {
		snap, err := f.src.Read()
		if err != nil {
			errs = append(errs, fmt.Errorf("metric %s: %w", f.m.Name, err))
			continue
		}
		full = append(full, counter(f.m.Name, snap.MapFull))
		if f.m.Type == TypeLatency {
			unmatch = append(unmatch, counter(f.m.Name, snap.Unmatched))
		}
		m := &metricspb.Metric{Name: f.m.FullName(), Description: helpText(f.m)}
		switch {
		case f.m.Type == TypeCount:
			m.Data = &metricspb.Metric_Sum{Sum: &metricspb.Sum{
				AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
				IsMonotonic:            true,
				DataPoints:             p.countPoints(f, snap, start, ts),
			}}
		case f.m.Type == TypeHist && f.m.Buckets != BucketsLinear:
			m.Data = &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: &metricspb.ExponentialHistogram{
				AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
				DataPoints:             p.expPoints(f, snap, start, ts),
			}}
		default:
			if f.m.Type == TypeLatency {
				m.Unit = "s"
			}
			m.Data = &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
				AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
				DataPoints:             p.explicitPoints(f, snap, start, ts),
			}}
		}
		out = append(out, m)
	}
	sum := func(name, help string, pts []*metricspb.NumberDataPoint) *metricspb.Metric {
		return &metricspb.Metric{Name: name, Description: help, Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
			IsMonotonic:            true,
			DataPoints:             pts,
		}}}
	}
	if len(full) > 0 {
		out = append(out, sum(MapFullName, "Events that a metric did not count because its key map was full (raise max_keys).", full))
	}
	if len(unmatch) > 0 {
		out = append(out, sum(UnmatchedName, "Latency start events evicted or never matched by an end event.", unmatch))
	}
	req := &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource: p.resource,
		ScopeMetrics: []*metricspb.ScopeMetrics{{
			Scope:   &commonpb.InstrumentationScope{Name: ServiceName, Version: p.opts.Version},
			Metrics: out,
		}},
	}}}
	return req, errors.Join(errs...)
}

func (p *Pusher) countPoints(f *family, snap *aggregate.Snapshot, start, ts uint64) []*metricspb.NumberDataPoint {
	var pts []*metricspb.NumberDataPoint
	for _, s := range f.series(snap) {
		pts = append(pts, &metricspb.NumberDataPoint{
			Attributes: keyAttrs(s.key), StartTimeUnixNano: start, TimeUnixNano: ts,
			Value: &metricspb.NumberDataPoint_AsInt{AsInt: int64(s.count)},
		})
	}
	return pts
}

// expPoints renders Log2Upper series as scale-0 exponential data points:
// index 0 is the zero bucket, index i >= 1 the positive bucket i-2.
func (p *Pusher) expPoints(f *family, snap *aggregate.Snapshot, start, ts uint64) []*metricspb.ExponentialHistogramDataPoint {
	scheme := hist.Log2Upper{}
	var pts []*metricspb.ExponentialHistogramDataPoint
	for _, s := range f.series(snap) {
		pt := &metricspb.ExponentialHistogramDataPoint{
			Attributes: keyAttrs(s.key), StartTimeUnixNano: start, TimeUnixNano: ts,
			Count: s.count, Sum: proto.Float64(s.sum), Scale: 0,
			Positive: &metricspb.ExponentialHistogramDataPoint_Buckets{},
		}
		lo, hi := int32(math.MaxInt32), int32(math.MinInt32)
		for i := range s.buckets {
			j, zero := scheme.ExpIndex(i)
			if zero {
				continue
			}
			lo, hi = min(lo, j), max(hi, j)
		}
		if lo <= hi {
			pt.Positive.Offset = lo
			pt.Positive.BucketCounts = make([]uint64, hi-lo+1)
		}
		for i, n := range s.buckets {
			j, zero := scheme.ExpIndex(i)
			if zero {
				pt.ZeroCount += n
			} else {
				pt.Positive.BucketCounts[j-lo] += n
			}
		}
		pts = append(pts, pt)
	}
	return pts
}

// explicitPoints renders series as explicit-bucket data points whose
// bounds are the inclusive upper ends Le(lo), ..., Le(hi) of the range of
// kernel buckets used so far (in seconds for a latency): the first bucket
// (-Inf, Le(lo)] holds index lo, as nothing below lo was used, and the
// last one (Le(hi), +Inf) is empty, or holds a linear scheme's overflow.
func (p *Pusher) explicitPoints(f *family, snap *aggregate.Snapshot, start, ts uint64) []*metricspb.HistogramDataPoint {
	ss := f.series(snap)
	r, ok := p.ranges[f]
	for _, s := range ss {
		for i := range s.buckets {
			if !ok {
				r, ok = &[2]int{i, i}, true
				p.ranges[f] = r
			}
			r[0], r[1] = min(r[0], i), max(r[1], i)
		}
	}
	var bounds []float64
	if ok {
		for i := r[0]; i <= r[1]; i++ {
			le := f.scheme.Le(i)
			if math.IsInf(le, 1) {
				break
			}
			bounds = append(bounds, le/f.div)
		}
	}
	var pts []*metricspb.HistogramDataPoint
	for _, s := range ss {
		pt := &metricspb.HistogramDataPoint{
			Attributes: keyAttrs(s.key), StartTimeUnixNano: start, TimeUnixNano: ts,
			Count: s.count, Sum: proto.Float64(s.sum),
			ExplicitBounds: bounds,
			BucketCounts:   make([]uint64, len(bounds)+1),
		}
		for i, n := range s.buckets {
			pt.BucketCounts[min(i-r[0], len(bounds))] += n
		}
		pts = append(pts, pt)
	}
	return pts
}

// Push reads the metrics and sends them in one OTLP/HTTP request. An
// answer other than 2xx, or a partial success that rejected data points,
// is an error.
func (p *Pusher) Push(ctx context.Context) error {
	req, rerr := p.Request(time.Now())
	body, err := proto.Marshal(req)
	if err != nil {
		return fmt.Errorf("otlp: encode: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.opts.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := p.opts.Client.Do(hreq)
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		msg := strings.Join(strings.Fields(string(rb)), " ")
		if resp.Header.Get("Content-Type") == "application/x-protobuf" {
			msg = "" // a google.rpc.Status; its text is not worth decoding here
		}
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return fmt.Errorf("otlp: POST %s: %s %s", p.opts.URL, resp.Status, msg)
	}
	var ans colmetricspb.ExportMetricsServiceResponse
	if len(rb) > 0 && proto.Unmarshal(rb, &ans) == nil {
		if ps := ans.GetPartialSuccess(); ps != nil && ps.GetRejectedDataPoints() > 0 {
			return fmt.Errorf("otlp: %s rejected %d data points: %s", p.opts.URL, ps.GetRejectedDataPoints(), ps.GetErrorMessage())
		}
	}
	return rerr
}

// Run pushes at every interval until ctx is done, then pushes once more
// so that the receiver has the last values. A failed push is logged (once
// until the error changes, and again when pushes succeed again) and
// retried at the next interval: cumulative series lose nothing by a
// missed push.
func (p *Pusher) Run(ctx context.Context) {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	p.report(p.Push(ctx))
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			p.report(p.Push(fctx))
			cancel()
			return
		case <-t.C:
			if err := p.Push(ctx); ctx.Err() == nil {
				p.report(err) // not the push that stopping cut short
			}
		}
	}
}

func (p *Pusher) report(err error) {
	switch {
	case err == nil && p.failing != "":
		p.failing = ""
		p.logf("otlp: pushing to %s again", p.opts.URL)
	case err != nil && err.Error() != p.failing:
		p.failing = err.Error()
		p.logf("%v (retrying every %s)", err, p.opts.Interval)
	}
}

func (p *Pusher) logf(format string, args ...any) {
	if p.opts.Log != nil {
		p.opts.Log.Printf(format, args...)
	}
}
