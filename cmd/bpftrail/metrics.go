package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/metrics"
)

// defaultMetricsAddr is where "bpftrail metrics" listens unless told.
const defaultMetricsAddr = "127.0.0.1:9435"

func newMetrics() *cobra.Command {
	var (
		file     string
		listen   string
		check    bool
		otlp     string
		interval time.Duration
	)
	c := &cobra.Command{
		Use:   "metrics -f CONFIG [--listen ADDR] [--otlp URL]",
		Short: "Serve in-kernel counts and histograms as Prometheus metrics, or push them over OTLP",
		Long: `metrics loads the counts, histograms and latencies that CONFIG (YAML) lists,
aggregates them in kernel as count, hist and latency do, and serves them over
HTTP at /metrics in the Prometheus text format, read from the BPF maps at
every scrape. Counts are counters and hist/latency are real Prometheus
histograms (cumulative "le" buckets; latencies in seconds), labelled by the
metric's "by" keys, every name prefixed with bpftrail_. Buckets are exact
under Prometheus' rule (a value counts in every bucket whose le is at least
the value: a read of 4096 bytes in le="4096"), and _sum is the exact sum
the kernel keeps.

The server listens on 127.0.0.1:9435 unless --listen says otherwise; use
--listen :9435 (or the host's address) for a Prometheus server on another
machine. Ctrl-C (or SIGTERM) stops it.

With --otlp URL, metrics pushes the same values to an OpenTelemetry
receiver (a Collector's otlp receiver) over OTLP/HTTP in protobuf, every
--otlp-interval and once more when it stops; it then serves Prometheus
only if --listen is given too. Counts are cumulative monotonic sums, log2
hists exponential histograms at scale 0 (a value of 4096 in the bucket
(2048, 4096], 0 in the zero bucket, count and sum exact), linear hists and
latencies (seconds) histograms with explicit bounds; the resource has
service.name=bpftrail and host.name. A URL without a path gets
/v1/metrics. A receiver that cannot be reached is reported on stderr and
tried again at the next interval.

Configuration (see examples/metrics.yaml):

  metrics:
    - name: syscalls_total          # exposed as bpftrail_syscalls_total
      type: count                   # count | hist | latency
      events: ["raw_syscalls:sys_enter"]
      by: [comm]                    # labels: event, comm, pid, tid, cpu, fields
      filter: 'comm != "bpftrail"'
    - name: read_bytes
      type: hist                    # log2 buckets; or buckets: linear, min, max, step
      events: ["syscalls:sys_exit_read"]
      value: ret
      by: [comm]
    - name: runqueue_latency_seconds
      type: latency                 # seconds; buckets: loglinear (default) or log2
      from: ["sched:sched_wakeup"]
      to: ["sched:sched_switch"]
      match: pid,next_pid
      # from_filter / to_filter: joined to filter on the start / end events`,
		Example: `  bpftrail metrics -f examples/metrics.yaml
  bpftrail metrics -f /etc/bpftrail/metrics.yaml --listen :9435
  bpftrail metrics -f metrics.yaml --otlp http://127.0.0.1:4318
  bpftrail metrics -f metrics.yaml --check`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if file == "" {
				return errors.New("no configuration: use -f CONFIG (see bpftrail metrics --help)")
			}
			if otlp != "" && !c.Flags().Changed("listen") {
				listen = ""
			}
			return runMetrics(file, listen, otlp, interval, check)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&file, "config", "f", "", "the metrics configuration file (YAML)")
	fl.StringVarP(&listen, "listen", "l", defaultMetricsAddr, "serve on this address (host:port)")
	fl.BoolVar(&check, "check", false, "load and attach the programs, then exit without serving")
	fl.StringVar(&otlp, "otlp", "", "push to this OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318/v1/metrics)")
	fl.DurationVar(&interval, "otlp-interval", 10*time.Second, "time between two OTLP pushes")
	return c
}

func runMetrics(file, listen, otlp string, interval time.Duration, check bool) error {
	cfg, err := metrics.Load(file)
	if err != nil {
		return err
	}
	if otlp != "" {
		if _, err := metrics.OTLPURL(otlp); err != nil {
			return fmt.Errorf("--otlp %w", err)
		}
		if interval <= 0 {
			return fmt.Errorf("--otlp-interval %s: want a positive duration", interval)
		}
	}
	var ln net.Listener
	if !check && listen != "" {
		// Listen before loading so that a busy port fails at once.
		if ln, err = net.Listen("tcp", listen); err != nil {
			return fmt.Errorf("--listen %s: %w", listen, err)
		}
		defer ln.Close()
	}
	col, err := metrics.Open(cfg)
	if err != nil {
		return err
	}
	defer col.Close()
	if check {
		fmt.Fprintf(os.Stderr, "%s: %d metrics loaded and attached\n", file, len(cfg.Metrics))
		return nil
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	errLog := log.New(os.Stderr, "bpftrail: ", 0)
	pushed := make(chan struct{})
	if otlp != "" {
		p, err := metrics.NewPusher(col, metrics.PushOptions{URL: otlp, Version: version, Log: errLog, Interval: interval})
		if err != nil {
			return fmt.Errorf("--otlp %w", err)
		}
		fmt.Fprintf(os.Stderr, "pushing metrics to %s every %s\n", p.URL(), interval)
		go func() { p.Run(ctx); close(pushed) }()
	} else {
		close(pushed)
	}
	defer func() { cancel(); <-pushed }() // the last push

	if ln == nil {
		<-ctx.Done()
		return nil
	}
	reg, err := metrics.NewRegistry(col)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "serving metrics on http://%s/metrics\n", ln.Addr())
	return metrics.Serve(ctx, ln, metrics.Handler(reg, cfg, errLog))
}
