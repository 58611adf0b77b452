package analyze

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteText prints the report as tables, at most top rows each (0: all).
func (r *Report) WriteText(w io.Writer, top int) error {
	span := r.EndNs - r.StartNs
	fmt.Fprintf(w, "%s: %d events over %s (layout: %s)\n", r.Trace, r.Events, Duration(span), r.Layout)
	t := &tables{w: w, tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight), top: top}
	for _, write := range []func(*tables) error{r.writeSched, r.writeSyscalls, r.writeFiles, r.writeStreams} {
		if err := write(t); err != nil {
			return err
		}
	}
	return nil
}

// tables writes the report's tables, at most top rows each (0: all).
type tables struct {
	w   io.Writer
	tw  *tabwriter.Writer
	top int
}

// limit is how many of n rows a table shows.
func (t *tables) limit(n int) int {
	if t.top > 0 && n > t.top {
		return t.top
	}
	return n
}

// more says how many of n rows a table left out, and ends the table.
func (t *tables) more(n int) error {
	if t.top > 0 && n > t.top {
		fmt.Fprintf(t.tw, "(%d more)\t\n", n-t.top)
	}
	return t.tw.Flush()
}

func (r *Report) writeSched(t *tables) error {
	span := r.EndNs - r.StartNs
	if r.Switches == 0 {
		fmt.Fprintf(t.w, "\nNo sched_switch events: CPU time and thread states need them (record -e sched:sched_switch -e sched:sched_wakeup, or --preset sched).\n")
		return nil
	}
	fmt.Fprintf(t.w, "\nCPU time per process (%d sched_switch events)\n", r.Switches)
	fmt.Fprintln(t.tw, "PID\tCOMM\tTHREADS\tRUNNING\tOF TRACE\tRUNNABLE\tBLOCKED\t")
	for _, p := range r.Processes[:t.limit(len(r.Processes))] {
		fmt.Fprintf(t.tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t\n", p.PID, p.Comm, p.Threads,
			Duration(p.RunningNs), pct(p.RunningNs, span), Duration(p.RunnableNs), Duration(p.BlockedNs))
	}
	if err := t.more(len(r.Processes)); err != nil {
		return err
	}
	fmt.Fprintf(t.w, "\nThread states (running: on a CPU; runnable: preempted or woken, waiting for a CPU; blocked: asleep until woken)\n")
	fmt.Fprintln(t.tw, "TID\tPID\tCOMM\tRUNNING\tRUNNABLE\tBLOCKED\tSWITCHES\tPREEMPTED\tWAKEUPS\t")
	for _, th := range r.Threads[:t.limit(len(r.Threads))] {
		fmt.Fprintf(t.tw, "%d\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t\n", th.TID, th.PID, th.Comm,
			Duration(th.RunningNs), Duration(th.RunnableNs), Duration(th.BlockedNs), th.Switches, th.Preempted, th.Wakeups)
	}
	return t.more(len(r.Threads))
}

func (r *Report) writeSyscalls(t *tables) error {
	if len(r.Syscalls) == 0 {
		return nil
	}
	fmt.Fprintf(t.w, "\nSyscalls per process (latency: entry to exit on the same thread)\n")
	fmt.Fprintln(t.tw, "SYSCALL\tPID\tCOMM\tCOUNT\tERRORS\tP50\tP99\tMAX\tTOTAL\t")
	for _, s := range r.Syscalls[:t.limit(len(r.Syscalls))] {
		if s.Completed == 0 {
			fmt.Fprintf(t.tw, "%s\t%d\t%s\t%d\t%d\t-\t-\t-\t-\t\n", s.Name, s.PID, s.Comm, s.Count, s.Errors)
			continue
		}
		fmt.Fprintf(t.tw, "%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", s.Name, s.PID, s.Comm, s.Count, s.Errors,
			Duration(s.P50Ns), Duration(s.P99Ns), Duration(s.MaxNs), Duration(s.TotalNs))
	}
	return t.more(len(r.Syscalls))
}

func (r *Report) writeFiles(t *tables) error {
	if len(r.Files) == 0 {
		return nil
	}
	fmt.Fprintf(t.w, "\nTop files opened\n")
	ftw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(ftw, "COUNT\tFILE")
	for _, f := range r.Files[:t.limit(len(r.Files))] {
		fmt.Fprintf(ftw, "%d\t%s\n", f.Count, f.Name)
	}
	if t.top > 0 && len(r.Files) > t.top {
		fmt.Fprintf(ftw, "(%d more)\t\n", len(r.Files)-t.top)
	}
	return ftw.Flush()
}

func (r *Report) writeStreams(t *tables) error {
	span := r.EndNs - r.StartNs
	fmt.Fprintf(t.w, "\nStreams (events the kernel could not hand over are counted as discarded)\n")
	fmt.Fprintln(t.tw, "STREAM\tCPU\tEVENTS\tDISCARDED\tBUSY\t")
	var lost uint64
	for _, s := range r.Streams {
		d := strconv.FormatUint(s.Discarded, 10)
		if s.Unknown {
			d += "+?"
		}
		busy := "-"
		if r.Switches > 0 {
			busy = Duration(s.BusyNs) + " (" + pct(s.BusyNs, span) + ")"
		}
		fmt.Fprintf(t.tw, "%s\t%d\t%d\t%s\t%s\t\n", s.Stream, s.CPU, s.Events, d, busy)
		lost += s.Discarded
	}
	if err := t.tw.Flush(); err != nil {
		return err
	}
	if lost > 0 {
		_, err := fmt.Fprintf(t.w, "warning: %d events were discarded: the figures above are lower bounds for the CPUs concerned\n", lost)
		return err
	}
	return nil
}

func pct(n, of int64) string {
	if of <= 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(n)/float64(of), 'f', 1, 64) + "%"
}

// Duration formats ns with 3 significant digits: 950ns, 12.3µs, 4.56ms, 1.23s.
func Duration(ns int64) string {
	f := float64(ns)
	switch {
	case ns < 1000:
		return strconv.FormatInt(ns, 10) + "ns"
	case ns < 1e6:
		return sig(f/1e3) + "µs"
	case ns < 1e9:
		return sig(f/1e6) + "ms"
	}
	return sig(f/1e9) + "s"
}

func sig(v float64) string {
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
