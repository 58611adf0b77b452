package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// The read-side benchmark (-read) records a trace of -read-events events
// for real: bpftrail record on sys_enter_getpid, sys_enter_openat and
// sys_exit_openat of a load that runs getpid and a failing openat (file
// names of 24 to 60 bytes) in a loop on one pinned thread per CPU, so that
// the trace has one stream per CPU whose events interleave in time. The
// tracer runs at nice -10, so that it keeps up with the load thread on its
// CPU (losses are reported all the same). It records a trace a tenth of
// that size the same way, then times, with the wall clock and the peak RSS
// of wait4's rusage, babeltrace2's text output and its event counter,
// bpftrail print, print --json, convert --to chrome and analyze of the
// large trace, every output going to /dev/null, and bpftrail's commands
// once more on the small trace to see whether their memory grows with the
// trace. Finally it counts the lines babeltrace2, print and print --json
// write, which must all be the number of events recorded, so that no
// reader can win by printing less.

// readProbes are what the read benchmark records; the read loop makes
// readLoadEvents of their events per iteration.
var readProbes = []string{"syscalls:sys_enter_getpid", "syscalls:sys_enter_openat", "syscalls:sys_exit_openat"}

// readTool is one command timed by the read benchmark.
type readTool struct {
	name    string
	args    func(trace string) []string
	lines   bool // writes one line per event: its lines are counted
	ratio   bool // compared with babeltrace2's text output
	bpftail bool // one of bpftrail's: also run on the small trace
}

// readRun is one timed run.
type readRun struct {
	wall, cpu time.Duration
	rssKiB    int64
	out       string // stdout when it is kept (the counter's)
}

func (b *bench) readTools() []readTool {
	bt := func(extra ...string) func(string) []string {
		return func(tr string) []string { return append([]string{"babeltrace2", tr}, extra...) }
	}
	bp := func(args ...string) func(string) []string {
		return func(tr string) []string {
			a := append([]string{b.bpftrail}, args...)
			a = append(a, tr)
			if args[0] == "convert" {
				a = append(a, "--to", "chrome", "-o", "-")
			}
			return a
		}
	}
	return []readTool{
		{name: "babeltrace2 (text)", args: bt(), lines: true},
		{name: "babeltrace2 -c sink.utils.counter", args: bt("-c", "sink.utils.counter")},
		{name: "bpftrail print", args: bp("print"), lines: true, ratio: true, bpftail: true},
		{name: "bpftrail print --json", args: bp("print", "--json"), lines: true, ratio: true, bpftail: true},
		{name: "bpftrail convert --to chrome", args: bp("convert"), ratio: true, bpftail: true},
		{name: "bpftrail analyze", args: bp("analyze"), ratio: true, bpftail: true},
	}
}

// readTrace is a trace made for the benchmark.
type readTrace struct {
	dir    string
	events int64  // as bpftrail record counted them (or babeltrace2's counter, for a reused trace)
	lost   int64  // as bpftrail record counted them
	how    string // how the trace was made
}

func (b *bench) runRead(w io.Writer) error {
	if b.readEvents < 1000 {
		return fmt.Errorf("-read-events must be at least 1000")
	}
	dir := b.readDir
	if dir == "" {
		dir = b.tmp
	}
	large, err := b.readTraceOf(dir, b.readEvents)
	if err != nil {
		return err
	}
	small, err := b.readTraceOf(dir, b.readEvents/10)
	if err != nil {
		return err
	}
	tools := b.readTools()
	runs := make([][]readRun, len(tools))
	smallRuns := make([]readRun, len(tools))
	for r := 0; r < b.readRounds; r++ {
		order := make([]int, len(tools))
		for i := range order {
			order[i] = i
			if r%2 == 1 {
				order[i] = len(tools) - 1 - i
			}
		}
		for _, i := range order {
			run, err := timeRead(tools[i].args(large.dir), tools[i].name == "babeltrace2 -c sink.utils.counter")
			if err != nil {
				return fmt.Errorf("%s: %w", tools[i].name, err)
			}
			fmt.Fprintf(os.Stderr, "round %d  %-34s %7.2f s  %6.1f MiB\n", r+1, tools[i].name, run.wall.Seconds(), mib(run.rssKiB))
			runs[i] = append(runs[i], run)
		}
	}
	for i, tl := range tools {
		if !tl.bpftail {
			continue
		}
		run, err := timeRead(tl.args(small.dir), false)
		if err != nil {
			return fmt.Errorf("%s (small trace): %w", tl.name, err)
		}
		fmt.Fprintf(os.Stderr, "small    %-34s %7.2f s  %6.1f MiB\n", tl.name, run.wall.Seconds(), mib(run.rssKiB))
		smallRuns[i] = run
	}

	// Counts, in runs of their own: what each reader printed, and
	// babeltrace2's counter.
	counted := map[string]int64{}
	for _, tl := range tools {
		if !tl.lines {
			continue
		}
		n, err := countLines(tl.args(large.dir))
		if err != nil {
			return fmt.Errorf("%s: counting lines: %w", tl.name, err)
		}
		counted[tl.name] = n
	}
	for _, tl := range tools {
		if tl.lines && tl.bpftail {
			n, err := countLines(tl.args(small.dir))
			if err != nil {
				return fmt.Errorf("%s (small trace): counting lines: %w", tl.name, err)
			}
			counted[tl.name+" (small)"] = n
		}
	}
	counter := int64(-1)
	for i, tl := range tools {
		if tl.name == "babeltrace2 -c sink.utils.counter" && len(runs[i]) > 0 {
			counter = counterEvents(runs[i][0].out)
		}
	}
	readReport(w, b, large, small, tools, runs, smallRuns, counted, counter)
	return nil
}

// readTraceOf returns the trace of n events in dir, recording it unless
// an earlier -read-dir run left it there.
func (b *bench) readTraceOf(dir string, n int) (readTrace, error) {
	tr := readTrace{dir: filepath.Join(dir, fmt.Sprintf("read-%d", n))}
	if _, err := os.Stat(filepath.Join(tr.dir, "metadata")); err == nil {
		run, err := timeRead([]string{"babeltrace2", tr.dir, "-c", "sink.utils.counter"}, true)
		if err != nil {
			return tr, err
		}
		tr.events = counterEvents(run.out)
		tr.how = "reused from an earlier run (event count from babeltrace2's counter)"
		return tr, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return tr, err
	}
	fmt.Fprintf(os.Stderr, "recording %d events into %s ...\n", n, tr.dir)
	res, err := retry(func() (result, error) { return b.recordRead(tr.dir, n) })
	if err != nil {
		return tr, err
	}
	tr.events, tr.lost = res.kept, res.lost
	tr.how = fmt.Sprintf("recorded by bpftrail record -e %s over %d iterations of getpid + failed openat on %d threads, one per CPU (%.0f k iterations/s)",
		strings.Join(readProbes, " -e "), b.readIters(n), b.cpus, 1e6/res.wallPerCall)
	return tr, nil
}

// readIters is the number of iterations of the read loop that make n
// events.
func (b *bench) readIters(n int) int { return (n + readLoadEvents - 1) / readLoadEvents }

// recordRead records the read loop into dir.
func (b *bench) recordRead(dir string, n int) (result, error) {
	os.RemoveAll(dir)
	saveN, saveEnv := b.n, b.loadEnv
	defer func() { b.n, b.loadEnv = saveN, saveEnv }()
	b.n = b.readIters(n)
	b.loadEnv = append(append([]string(nil), b.loadEnv...), loopEnv+"=read")
	l, err := b.startLoad()
	if err != nil {
		return result{}, err
	}
	// The tracer shares CPU 0 with a load thread: at a higher priority it
	// drains its rings before they fill, so that the trace holds every
	// event (the loss count is reported all the same).
	args := []string{"nice", "-n", "-10", b.bpftrail, "record"}
	for _, p := range readProbes {
		args = append(args, "-e", p)
	}
	args = append(args, "-p", strconv.Itoa(l.pid()), "-o", dir)
	args = append(args, b.bpftrailArgs...)
	t, err := b.startTracer(args...)
	if err != nil {
		l.abort()
		return result{}, err
	}
	res, err := b.traced(l, t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "metadata"))
		return err == nil
	})
	if err != nil {
		return res, err
	}
	if res.kept, res.lost, err = parseSummary(t.errb.String()); err != nil {
		return res, err
	}
	return res, nil
}

// timeRead runs args with stdout to /dev/null (or kept, with keep) and
// returns its wall time, CPU time and peak RSS.
func timeRead(args []string, keep bool) (readRun, error) {
	var run readRun
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return run, err
	}
	defer null.Close()
	cmd := exec.Command(args[0], args[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = null, &errb
	if keep {
		cmd.Stdout = &out
	}
	t0 := time.Now()
	err = cmd.Run()
	run.wall = time.Since(t0)
	if err != nil {
		return run, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, lastLines(errb.String(), 3))
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		run.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		run.rssKiB = ru.Maxrss
	}
	run.out = out.String()
	return run, nil
}

// countLines runs args and counts the lines of its stdout.
func countLines(args []string) (int64, error) {
	cmd := exec.Command(args[0], args[1:]...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	r, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var n int64
	buf := make([]byte, 1<<20)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		k, err := br.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return n, err
		}
	}
	if err := cmd.Wait(); err != nil {
		return n, fmt.Errorf("%w: %s", err, lastLines(errb.String(), 3))
	}
	return n, nil
}

var counterRE = regexp.MustCompile(`(?m)^\s*(\d+) Event messages`)

// counterEvents reads the event count of sink.utils.counter's output, -1
// if there is none. The counter prints running totals as it goes: the last
// is the trace's.
func counterEvents(out string) int64 {
	m := counterRE.FindAllStringSubmatch(out, -1)
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseInt(m[len(m)-1][1], 10, 64)
	return n
}

// readRSSBoundMiB is the flat-memory goal's bound on print's peak RSS.
const readRSSBoundMiB = 64

func readReport(w io.Writer, b *bench, large, small readTrace, tools []readTool, runs [][]readRun, smallRuns []readRun, counted map[string]int64, counter int64) {
	fmt.Fprintf(w, "\nread side: %d events (%d lost) in %s\n  %s\n", large.events, large.lost, large.dir, large.how)
	fmt.Fprintf(w, "small trace: %d events (%d lost) in %s, made the same way\n", small.events, small.lost, small.dir)
	fmt.Fprintf(w, "%d rounds (tools in turn, reversed every other round), medians [min-max]; readers on all %d CPUs, output to /dev/null; RSS = peak (wait4 ru_maxrss)\n\n", b.readRounds, b.cpus)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\ts\t[min-max]\tevents/s\tCPU s\tpeak RSS MiB\tbt2 text s / s\t")
	med := make([]float64, len(tools))
	rss := make([]int64, len(tools))
	for i, tl := range tools {
		var ws, cs []float64
		for _, r := range runs[i] {
			ws = append(ws, r.wall.Seconds())
			cs = append(cs, r.cpu.Seconds())
			if r.rssKiB > rss[i] {
				rss[i] = r.rssKiB
			}
		}
		med[i] = median(ws)
		lo, hi := minMax(ws)
		ratio := "-"
		if tl.ratio {
			ratio = fmt.Sprintf("%.2f×", med[0]/med[i])
		}
		fmt.Fprintf(tw, "%s\t%.2f\t[%.2f-%.2f]\t%.0f\t%.2f\t%.1f\t%s\t\n",
			tl.name, med[i], lo, hi, float64(large.events)/med[i], median(cs), mib(rss[i]), ratio)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nbpftrail on the small trace (%d events), to see whether memory grows with the trace:\n\n", small.events)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\ts\tevents/s\tpeak RSS MiB\tpeak RSS MiB at 10×\t")
	for i, tl := range tools {
		if !tl.bpftail {
			continue
		}
		r := smallRuns[i]
		fmt.Fprintf(tw, "%s\t%.2f\t%.0f\t%.1f\t%.1f\t\n", tl.name, r.wall.Seconds(), float64(small.events)/r.wall.Seconds(), mib(r.rssKiB), mib(rss[i]))
	}
	tw.Flush()

	fmt.Fprintf(w, "\nevent counts (lines written, in runs of their own):\n")
	fmt.Fprintf(w, "  recorded                            %d\n", large.events)
	fmt.Fprintf(w, "  babeltrace2 -c sink.utils.counter   %d\n", counter)
	countsOK := counter == large.events
	for _, tl := range tools {
		if !tl.lines {
			continue
		}
		n := counted[tl.name]
		fmt.Fprintf(w, "  %-35s %d\n", tl.name, n)
		countsOK = countsOK && n == large.events
		if tl.bpftail {
			ns := counted[tl.name+" (small)"]
			fmt.Fprintf(w, "  %-35s %d (recorded %d)\n", tl.name+" (small)", ns, small.events)
			countsOK = countsOK && ns == small.events
		}
	}

	idx := func(name string) int {
		for i, tl := range tools {
			if tl.name == name {
				return i
			}
		}
		return -1
	}
	fmt.Fprintln(w, "\ngoals:")
	fmt.Fprintf(w, "  %s  every reader printed every event: the counts above all equal the %d events recorded\n", passFail(countsOK && large.events > 0), large.events)
	for _, name := range []string{"bpftrail print", "bpftrail print --json"} {
		i := idx(name)
		r := med[0] / med[i]
		fmt.Fprintf(w, "  %s  %s: %.2f s vs babeltrace2's text %.2f s = %.2f× faster (goal ≥ 2×)\n", passFail(r >= 2), name, med[i], med[0], r)
	}
	for _, name := range []string{"bpftrail print", "bpftrail print --json"} {
		i := idx(name)
		big, sm := mib(rss[i]), mib(smallRuns[i].rssKiB)
		flat := big < readRSSBoundMiB && big <= sm+8
		fmt.Fprintf(w, "  %s  %s memory is flat: peak RSS %.1f MiB at %d events, %.1f MiB at %d (goal: < %d MiB, and at most 8 MiB more at 10× the events)\n",
			passFail(flat), name, big, large.events, sm, small.events, readRSSBoundMiB)
	}
}
