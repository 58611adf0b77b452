package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/hist"
)

func newHist() *cobra.Command {
	var f aggFlags
	var value, linear string
	c := &cobra.Command{
		Use:   "hist -e SPEC --value FIELD [--by KEY] [--linear MIN,MAX,STEP] [flags] [-- COMMAND]",
		Short: "Histogram of a field's values, computed in kernel",
		Long: `hist buckets an integer field of each event in the kernel: power-of-two
buckets by default, linear ones with --linear. One histogram per key.`,
		Example: `  bpftrail hist -e syscalls:sys_exit_read --value ret --by comm -d 10s
  bpftrail hist -e syscalls:sys_enter_write --value count --linear 0,4096,512 -- dd if=/dev/zero of=/dev/null bs=1k count=100`,
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := f.config(args)
			if err != nil {
				return err
			}
			cfg.Mode, cfg.Value = engine.Hist, value
			scheme := hist.Scheme(hist.Log2{})
			if linear != "" {
				l, err := parseLinear(linear)
				if err != nil {
					return err
				}
				scheme = l
				cfg.Scheme = bpfgen.Scheme{Kind: bpfgen.Linear, Min: l.Min, Max: l.Max, Step: l.Step}
			}
			return runAgg(c, &f, cfg, args, func(w io.Writer, s *engine.Snapshot, final bool) error {
				return renderHists(w, &f, s, scheme, "", false)
			})
		},
	}
	f.register(c, true)
	c.Flags().StringVar(&value, "value", "", "the integer field to histogram")
	c.Flags().StringVar(&linear, "linear", "", "linear buckets MIN,MAX,STEP instead of powers of two")
	return c
}

func parseLinear(s string) (hist.Linear, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return hist.Linear{}, fmt.Errorf("--linear %q: want MIN,MAX,STEP", s)
	}
	var v [3]int64
	for i, p := range parts {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 0, 64)
		if err != nil {
			return hist.Linear{}, fmt.Errorf("--linear %q: %q is not an integer", s, p)
		}
		v[i] = n
	}
	l := hist.Linear{Min: v[0], Max: v[1], Step: v[2]}
	if err := l.Validate(); err != nil {
		return l, fmt.Errorf("--linear %q: %w", s, err)
	}
	return l, nil
}

// toHist turns a group's buckets into a histogram.
func toHist(g *engine.Group, scheme hist.Scheme) (*hist.Histogram, error) {
	h, err := hist.New(scheme)
	if err != nil {
		return nil, err
	}
	for i, n := range g.Buckets {
		if err := h.Add(i, n); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func keyLine(k engine.Key) string {
	if len(k) == 0 {
		return ""
	}
	return k.String()
}

func renderHists(w io.Writer, f *aggFlags, s *engine.Snapshot, scheme hist.Scheme, unit string, latency bool) error {
	groups := topN(s.Groups, f.top)
	if f.asJSON || f.output != "" {
		type hj struct {
			Key     json.RawMessage `json:"key"`
			Buckets []hist.Bucket   `json:"buckets"`
		}
		type lj struct {
			Key     json.RawMessage `json:"key"`
			Count   uint64          `json:"count"`
			MinNs   uint64          `json:"min_ns"`
			MaxNs   uint64          `json:"max_ns"`
			AvgNs   float64         `json:"avg_ns"`
			P50Ns   float64         `json:"p50_ns"`
			P99Ns   float64         `json:"p99_ns"`
			Buckets []hist.Bucket   `json:"buckets"`
		}
		var hs []hj
		var ls []lj
		for _, g := range groups {
			h, err := toHist(g, scheme)
			if err != nil {
				return err
			}
			if latency {
				sum := hist.Summarize(h, hist.Summary{Count: g.Count, Sum: g.Sum, Min: g.Min, Max: g.Max})
				ls = append(ls, lj{keyJSON(g.Key), g.Count, g.Min, g.Max, sum.Avg, sum.P50, sum.P99, h.Buckets()})
			} else {
				hs = append(hs, hj{keyJSON(g.Key), h.Buckets()})
			}
		}
		if latency {
			if ls == nil {
				ls = []lj{}
			}
			// Pending starts are still waiting for their end: with
			// unmatched, every start that did not get its end.
			return writeJSON(w, struct {
				Latencies []lj   `json:"latencies"`
				Unmatched uint64 `json:"unmatched"`
				Pending   uint64 `json:"pending"`
				Lost      uint64 `json:"lost"`
			}{ls, s.Unmatched, s.Pending, s.MapFull})
		}
		if hs == nil {
			hs = []hj{}
		}
		return writeJSON(w, struct {
			Histograms []hj   `json:"histograms"`
			Lost       uint64 `json:"lost"`
		}{hs, s.MapFull})
	}
	for _, g := range groups {
		h, err := toHist(g, scheme)
		if err != nil {
			return err
		}
		if kl := keyLine(g.Key); kl != "" {
			fmt.Fprintf(w, "%s\n", kl)
		}
		if latency {
			sum := hist.Summarize(h, hist.Summary{Count: g.Count, Sum: g.Sum, Min: g.Min, Max: g.Max})
			u, _ := hist.ParseUnit(unit)
			if err := inUnit(h, u).Render(w, u.Label); err != nil {
				return err
			}
			sc := func(v float64) string { return strconv.FormatFloat(v/float64(u.Factor), 'f', 1, 64) }
			fmt.Fprintf(w, "count %d  avg %s  min %s  max %s  p50 %s  p99 %s %s\n",
				g.Count, sc(sum.Avg), sc(float64(g.Min)), sc(float64(g.Max)), sc(sum.P50), sc(sum.P99), u.Name)
		} else if err := h.Render(w, "value"); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if latency && s.Unmatched > 0 {
		fmt.Fprintf(w, "%d start events were not followed by their end event (a later start replaced them, or they were evicted)\n", s.Unmatched)
	}
	if s.MapFull > 0 {
		fmt.Fprintf(w, "(%d events not counted: the key map is full)\n", s.MapFull)
	}
	return nil
}

func newLatency() *cobra.Command {
	var f aggFlags
	var from, to []string
	var match, unit string
	c := &cobra.Command{
		Use:   "latency --from SPEC --to SPEC [--match tid|pid|FIELD[,FIELD]] [--by KEY] [--unit ns|us|ms] [flags]",
		Short: "Time from a start event to its end event, as histograms in kernel",
		Long: `latency measures the time between a start event and the end event that
matches it, by default on the same thread; --match names the field (or a
start field and an end field) that pairs them. Histograms are per key, taken
at the end event, with count, average, min, max, p50 and p99. Pending starts
are kept in a bounded LRU map; starts that never see their end are counted.`,
		Example: `  bpftrail latency --from syscalls:sys_enter_read --to syscalls:sys_exit_read --by comm -d 10s
  bpftrail latency --from sched:sched_wakeup --to sched:sched_switch --match pid,next_pid --unit us`,
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := hist.ParseUnit(unit); err != nil {
				return fmt.Errorf("--unit: %w", err)
			}
			cfg, err := f.config(args)
			if err != nil {
				return err
			}
			cfg.Mode, cfg.From, cfg.To, cfg.Match = engine.Latency, from, to, match
			return runAgg(c, &f, cfg, args, func(w io.Writer, s *engine.Snapshot, final bool) error {
				return renderHists(w, &f, s, hist.LogLinear{}, unit, true)
			})
		},
	}
	f.register(c, false)
	c.Flags().StringArrayVar(&from, "from", nil, "start event spec (repeatable)")
	c.Flags().StringArrayVar(&to, "to", nil, "end event spec (repeatable)")
	c.Flags().StringVar(&match, "match", "tid", "what pairs a start with its end: tid, pid, a field, or START_FIELD,END_FIELD")
	c.Flags().StringVar(&unit, "unit", "us", "unit of the printed histogram: ns, us, ms")
	return c
}

// inUnit re-buckets a LogLinear histogram of nanoseconds into power-of-two
// buckets of unit, the way bcc tools show latencies: each fine bucket's
// count goes to the power-of-two bucket of its lower bound in that unit.
func inUnit(h *hist.Histogram, u hist.Unit) *hist.Histogram {
	out, _ := hist.New(hist.Log2{})
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		low, _ := hist.LogLinearRange(i)
		_ = out.Add(hist.Log2Index(low/u.Factor), n)
	}
	return out
}
