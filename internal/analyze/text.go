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
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	limit := func(n int) int {
		if top > 0 && n > top {
			return top
		}
		return n
	}
	more := func(n int) {
		if top > 0 && n > top {
			fmt.Fprintf(tw, "(%d more)\t\n", n-top)
		}
	}
	if r.Switches == 0 {
		fmt.Fprintf(w, "\nNo sched_switch events: CPU time and thread states need them (record -e sched:sched_switch -e sched:sched_wakeup, or --preset sched).\n")
	} else {
		fmt.Fprintf(w, "\nCPU time per process (%d sched_switch events)\n", r.Switches)
		fmt.Fprintln(tw, "PID\tCOMM\tTHREADS\tRUNNING\tOF TRACE\tRUNNABLE\tBLOCKED\t")
		for _, p := range r.Processes[:limit(len(r.Processes))] {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t\n", p.PID, p.Comm, p.Threads,
				Duration(p.RunningNs), pct(p.RunningNs, span), Duration(p.RunnableNs), Duration(p.BlockedNs))
		}
		more(len(r.Processes))
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nThread states (running: on a CPU; runnable: preempted or woken, waiting for a CPU; blocked: asleep until woken)\n")
		fmt.Fprintln(tw, "TID\tPID\tCOMM\tRUNNING\tRUNNABLE\tBLOCKED\tSWITCHES\tPREEMPTED\tWAKEUPS\t")
		for _, t := range r.Threads[:limit(len(r.Threads))] {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t\n", t.TID, t.PID, t.Comm,
				Duration(t.RunningNs), Duration(t.RunnableNs), Duration(t.BlockedNs), t.Switches, t.Preempted, t.Wakeups)
		}
		more(len(r.Threads))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Syscalls) > 0 {
		fmt.Fprintf(w, "\nSyscalls per process (latency: entry to exit on the same thread)\n")
		fmt.Fprintln(tw, "SYSCALL\tPID\tCOMM\tCOUNT\tERRORS\tP50\tP99\tMAX\tTOTAL\t")
		for _, s := range r.Syscalls[:limit(len(r.Syscalls))] {
			if s.Completed == 0 {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t-\t-\t-\t-\t\n", s.Name, s.PID, s.Comm, s.Count, s.Errors)
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", s.Name, s.PID, s.Comm, s.Count, s.Errors,
				Duration(s.P50Ns), Duration(s.P99Ns), Duration(s.MaxNs), Duration(s.TotalNs))
		}
		more(len(r.Syscalls))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Files) > 0 {
		fmt.Fprintf(w, "\nTop files opened\n")
		ftw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(ftw, "COUNT\tFILE")
		for _, f := range r.Files[:limit(len(r.Files))] {
			fmt.Fprintf(ftw, "%d\t%s\n", f.Count, f.Name)
		}
		if top > 0 && len(r.Files) > top {
			fmt.Fprintf(ftw, "(%d more)\t\n", len(r.Files)-top)
		}
		if err := ftw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nStreams (events the kernel could not hand over are counted as discarded)\n")
	fmt.Fprintln(tw, "STREAM\tCPU\tEVENTS\tDISCARDED\tBUSY\t")
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
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t\n", s.Stream, s.CPU, s.Events, d, busy)
		lost += s.Discarded
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if lost > 0 {
		_, err := fmt.Fprintf(w, "warning: %d events were discarded: the figures above are lower bounds for the CPUs concerned\n", lost)
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
