package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cilium/ebpf/rlimit"
)

// The start-up benchmark (-startup): each bpftrace tool of -tools started
// as `bpftrail run FILE` and as `bpftrace FILE`, timed from the process's
// start to its notice ("Attached N probes" on bpftrail's stderr, "Attaching
// N probes..." on bpftrace 0.17's stdout, which it prints before it
// attaches) and to __BPFTRACE_NOTIFY_PROBES_ATTACHED (both print it once
// every probe is attached), with its peak RSS (VmHWM) read just before it is
// stopped with SIGINT. Both inherit this program's CPU pinning.

const notifyMarker = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"

var attachLineRE = regexp.MustCompile(`^Attach(ing|ed) \d+ probes?`)

// startRun is one start of one tool.
type startRun struct {
	line     time.Duration // to the Attach(ing|ed) notice
	attached time.Duration // to the notify marker
	hwmKiB   int64
	err      string // the tool did not start: why
}

const startTimeout = 60 * time.Second

// startOnce starts args, waits until it has attached, reads its VmHWM and
// stops it.
func startOnce(args []string) startRun {
	var run startRun
	r, w, err := os.Pipe()
	if err != nil {
		return startRun{err: err.Error()}
	}
	defer r.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Env = append(os.Environ(), notifyMarker+"=1")
	var (
		mu       sync.Mutex
		lines    []string
		attached = make(chan struct{})
		eof      = make(chan struct{})
	)
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		w.Close()
		return startRun{err: err.Error()}
	}
	w.Close()
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		seen := false
		for sc.Scan() {
			now := time.Since(t0)
			l := sc.Text()
			mu.Lock()
			lines = append(lines, l)
			if run.line == 0 && attachLineRE.MatchString(l) {
				run.line = now
			}
			if !seen && strings.Contains(l, notifyMarker) {
				seen = true
				run.attached = now
				close(attached)
			}
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	wait := func(d time.Duration) error {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(d):
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("did not stop within %v; killed", d)
		}
	}
	select {
	case <-attached:
		run.hwmKiB = vmHWM(cmd.Process.Pid)
		_ = cmd.Process.Signal(os.Interrupt)
		// bpftrace 0.17 loses a SIGINT that comes just before it enters
		// epoll_wait with no timeout: repeat it until the tool ends.
		stop := make(chan struct{})
		go func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					_ = cmd.Process.Signal(os.Interrupt)
				}
			}
		}()
		err := wait(60 * time.Second)
		close(stop)
		if err != nil && !isExit(err) {
			run.err = err.Error()
		}
		<-eof
	case <-eof:
		err := wait(10 * time.Second)
		mu.Lock()
		run.err = firstError(lines, err)
		mu.Unlock()
	case <-time.After(startTimeout):
		_ = cmd.Process.Kill()
		_ = wait(10 * time.Second)
		<-eof
		mu.Lock()
		run.err = fmt.Sprintf("not attached within %v: %s", startTimeout, firstError(lines, nil))
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	if run.err == "" && run.line == 0 {
		run.err = "attached without an Attach(ing|ed) N probes line"
	}
	return run
}

// isExit reports whether err is only a non-zero exit or SIGINT, which is
// how a tool stopped with SIGINT may end.
func isExit(err error) bool {
	ee, ok := err.(*exec.ExitError)
	if !ok {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && (ws.Exited() || ws.Signal() == syscall.SIGINT)
}

// firstError is the first line naming an error (bpftrace 0.17's warning
// that it could not raise RLIMIT_MEMLOCK aside), else the first line, else
// the exit status.
func firstError(lines []string, err error) string {
	for _, l := range lines {
		if strings.Contains(l, "ERROR") && !strings.Contains(l, "RLIMIT_MEMLOCK") {
			return strings.TrimSpace(l)
		}
	}
	for _, l := range lines {
		if strings.TrimSpace(l) != "" && !strings.Contains(l, "RLIMIT_MEMLOCK") {
			return strings.TrimSpace(l)
		}
	}
	if err != nil {
		return err.Error()
	}
	return "exited before attaching, with no output"
}

func vmHWM(pid int) int64 {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(s), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// toolRuns are one tool's starts, by round.
type toolRuns struct {
	name          string
	trail, trace  []startRun
	trailErr      string // bpftrail run did not start it
	traceErr      string // bpftrace did not start it
	excludedRound int
}

func (b *bench) runStartup(w io.Writer) error {
	files, err := filepath.Glob(filepath.Join(b.toolsDir, "*.bt"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no *.bt files in %s", b.toolsDir)
	}
	sort.Strings(files)
	// As the other modes do by loading the empty program: both tools then
	// inherit an unlimited RLIMIT_MEMLOCK.
	_ = rlimit.RemoveMemlock()
	tools := make([]*toolRuns, len(files))
	for i, f := range files {
		tools[i] = &toolRuns{name: filepath.Base(f)}
	}
	for r := 0; r < b.rounds; r++ {
		for i, f := range files {
			t := tools[i]
			if t.trailErr != "" || t.traceErr != "" {
				continue
			}
			trail := func() startRun { return startOnce([]string{b.bpftrail, "run", f}) }
			trace := func() startRun { return startOnce([]string{"bpftrace", f}) }
			var a, c startRun
			if r%2 == 0 {
				a = trail()
				c = trace()
			} else {
				c = trace()
				a = trail()
			}
			t.trailErr, t.traceErr = a.err, c.err
			if a.err != "" || c.err != "" {
				fmt.Fprintf(os.Stderr, "round %d  %-20s not measured: bpftrail: %s; bpftrace: %s\n", r+1, t.name, orOK(a.err), orOK(c.err))
				t.excludedRound = r + 1
				continue
			}
			t.trail = append(t.trail, a)
			t.trace = append(t.trace, c)
			fmt.Fprintf(os.Stderr, "round %d  %-20s bpftrail %6.0f ms (attached %6.0f) %6.1f MiB   bpftrace %6.0f ms (attached %6.0f) %6.1f MiB\n",
				r+1, t.name, ms(a.line), ms(a.attached), mib(a.hwmKiB), ms(c.line), ms(c.attached), mib(c.hwmKiB))
		}
	}
	startupReport(w, b, tools)
	return nil
}

func orOK(s string) string {
	if s == "" {
		return "started"
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
func mib(kib int64) float64      { return float64(kib) / 1024 }

func startupReport(w io.Writer, b *bench, tools []*toolRuns) {
	var ok []*toolRuns
	for _, t := range tools {
		if t.trailErr == "" && t.traceErr == "" && len(t.trail) == b.rounds {
			ok = append(ok, t)
		}
	}
	fmt.Fprintf(w, "\n%d tools from %s, %d rounds (bpftrail first in odd rounds, bpftrace first in even ones), pinned to CPU %d; medians [min-max]\n",
		len(tools), b.toolsDir, b.rounds, b.tracerCPU)
	fmt.Fprintf(w, "notice = the \"Attached N probes\" line (bpftrail, after attaching) / \"Attaching N probes...\" (bpftrace 0.17, before attaching); attached = %s; RSS = VmHWM before SIGINT\n\n", notifyMarker)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tbpftrail notice ms\tbpftrace notice ms\t×\tbpftrail attached ms\tbpftrace attached ms\t×\tbpftrail MiB\tbpftrace MiB\t×\t")
	type metric func(startRun) float64
	line := func(s startRun) float64 { return ms(s.line) }
	att := func(s startRun) float64 { return ms(s.attached) }
	mem := func(s startRun) float64 { return mib(s.hwmKiB) }
	cell := func(rs []startRun, f metric) string {
		var v []float64
		for _, s := range rs {
			v = append(v, f(s))
		}
		lo, hi := minMax(v)
		return fmt.Sprintf("%.0f [%.0f-%.0f]", median(v), lo, hi)
	}
	memCell := func(rs []startRun) string {
		var v []float64
		for _, s := range rs {
			v = append(v, mem(s))
		}
		return fmt.Sprintf("%.1f", median(v))
	}
	medRatio := func(t *toolRuns, f metric) float64 {
		var a, c []float64
		for r := range t.trail {
			a = append(a, f(t.trail[r]))
			c = append(c, f(t.trace[r]))
		}
		return median(a) / median(c)
	}
	for _, t := range ok {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%s\t%.2f\t%s\t%s\t%.2f\t\n", t.name,
			cell(t.trail, line), cell(t.trace, line), medRatio(t, line),
			cell(t.trail, att), cell(t.trace, att), medRatio(t, att),
			memCell(t.trail), memCell(t.trace), medRatio(t, mem))
	}
	tw.Flush()

	// Each round's geometric mean over the tools of bpftrail/bpftrace.
	geo := func(f metric) (med, lo, hi float64) {
		var per []float64
		for r := 0; r < b.rounds; r++ {
			sum := 0.0
			for _, t := range ok {
				sum += math.Log(f(t.trail[r]) / f(t.trace[r]))
			}
			per = append(per, math.Exp(sum/float64(len(ok))))
		}
		lo, hi = minMax(per)
		return median(per), lo, hi
	}
	fmt.Fprintf(w, "\nmeasured: %d tools that both start\n", len(ok))
	if len(ok) > 0 {
		fmt.Fprintln(w, "\ngoals (geometric mean over the tools of bpftrail/bpftrace, median of the rounds [min-max]):")
		for _, g := range []struct {
			what string
			f    metric
			goal float64
		}{
			{"time to the Attach notice", line, 0.3},
			{"time to attached (notify marker)", att, 0.3},
			{"peak RSS", mem, 0.5},
		} {
			m, lo, hi := geo(g.f)
			fmt.Fprintf(w, "  %s  %s: %.3f× [%.3f-%.3f] (goal ≤ %.1f×)\n", passFail(m <= g.goal), g.what, m, lo, hi, g.goal)
		}
	}
	var trailFail, traceFail []*toolRuns
	for _, t := range tools {
		switch {
		case t.trailErr != "":
			trailFail = append(trailFail, t)
		case t.traceErr != "":
			traceFail = append(traceFail, t)
		}
	}
	if len(trailFail) > 0 {
		fmt.Fprintf(w, "\nnot measured: bpftrail run did not start %d tools (bpftrace's result in brackets):\n", len(trailFail))
		for _, t := range trailFail {
			fmt.Fprintf(w, "  %-20s %s  [bpftrace: %s]\n", t.name, t.trailErr, orOK(t.traceErr))
		}
	}
	if len(traceFail) > 0 {
		fmt.Fprintf(w, "\nnot measured: bpftrace 0.17 did not start %d tools that bpftrail run started:\n", len(traceFail))
		for _, t := range traceFail {
			fmt.Fprintf(w, "  %-20s %s\n", t.name, t.traceErr)
		}
	}
	for _, t := range tools {
		if t.excludedRound > 1 {
			fmt.Fprintf(w, "note: %s started in round 1 but failed in round %d; left out\n", t.name, t.excludedRound)
		}
	}
}
