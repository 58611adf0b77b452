package main

// End-to-end tests of the in-kernel aggregation commands count, hist and
// latency: they load and attach real BPF programs (see record_bpf_test.go
// for the helpers and the workload) against a workload whose system calls,
// write sizes and sleep durations are known, and check the JSON the
// commands print exactly.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// aggWorkload runs "bpftrail ARGS" with ARGS = args(pid of the workload
// started with wargs) and -d runTimeout, lets the workload run once bpftrail
// counts, and stops bpftrail with SIGINT once the workload has ended. It
// fails t unless bpftrail exits 0, and returns its stdout and stderr.
func aggWorkload(t *testing.T, wargs []string, args func(pid int) []string) (stdout, stderr string, pid int) {
	t.Helper()
	w := startWorkload(t, wargs...)
	pid = w.cmd.Process.Pid
	a := args(pid)
	p := start(t, bpftrailBn, append(a, "-d", runTimeout.String())...)
	waitRecording(t, p)
	w.run(t)
	if code := p.interrupt(t); code != 0 {
		t.Fatalf("bpftrail %s: exit status %d\n%s", strings.Join(a, " "), code, p.stderr.String())
	}
	return p.stdout.String(), p.stderr.String(), pid
}

// runBpftrail runs "bpftrail ARGS" to its end and returns its exit status,
// stdout and stderr.
func runBpftrail(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	p := start(t, bpftrailBn, args...)
	code := p.wait(t)
	return code, p.stdout.String(), p.stderr.String()
}

// checkTopKeys fails t unless the JSON object js has exactly the members
// want.
func checkTopKeys(t *testing.T, js string, want ...string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, js)
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("JSON members %q, want %q:\n%s", got, want, js)
	}
}

type countJSON struct {
	Counts []struct {
		Key   json.RawMessage `json:"key"`
		Count uint64          `json:"count"`
	} `json:"counts"`
	Lost uint64 `json:"lost"`
}

// parseCount parses count's final JSON object (the only line without -i)
// and returns its counts as "KEY-JSON" → count, in order.
func parseCount(t *testing.T, out string) (keys []string, counts map[string]uint64, lost uint64) {
	t.Helper()
	out = strings.TrimSpace(out)
	if strings.Count(out, "\n") != 0 {
		t.Fatalf("want one JSON line, got:\n%s", out)
	}
	checkTopKeys(t, out, "counts", "lost")
	var c countJSON
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	counts = map[string]uint64{}
	for _, e := range c.Counts {
		k := string(e.Key)
		if _, dup := counts[k]; dup {
			t.Errorf("key %s twice", k)
		}
		keys = append(keys, k)
		counts[k] = e.Count
	}
	for i := 1; i < len(c.Counts); i++ {
		if c.Counts[i].Count > c.Counts[i-1].Count {
			t.Errorf("counts not in descending order: %s", out)
		}
	}
	return keys, counts, c.Lost
}

// checkCounts fails t unless got holds exactly want.
func checkCounts(t *testing.T, got, want map[string]uint64, out string) {
	t.Helper()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("key %s: count %d, want %d", k, got[k], n)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected key %s (count %d)", k, n)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func evKey(name string) string { return `{"event":"syscalls:sys_enter_` + name + `"}` }

// TestBPFCount counts a workload's system calls, whose numbers are known
// exactly, per event, per comm, per file name, with --top, and with no key.
func TestBPFCount(t *testing.T) {
	setup(t)
	const getppid, getuid, getgid = 17, 23, 5
	wl := []string{"syscalls", fmt.Sprintf("getppid=%d", getppid), fmt.Sprintf("getuid=%d", getuid), fmt.Sprintf("getgid=%d", getgid)}
	evs := []string{"-e", "syscalls:sys_enter_getppid", "-e", "syscalls:sys_enter_getuid", "-e", "syscalls:sys_enter_getgid", "-e", "syscalls:sys_enter_geteuid"}

	t.Run("by-event", func(t *testing.T) {
		out, _, _ := aggWorkload(t, wl, func(pid int) []string {
			return append([]string{"count", "--by", "event", "-p", strconv.Itoa(pid), "--json"}, evs...)
		})
		keys, counts, lost := parseCount(t, out)
		checkCounts(t, counts, map[string]uint64{evKey("getuid"): getuid, evKey("getppid"): getppid, evKey("getgid"): getgid}, out)
		if want := []string{evKey("getuid"), evKey("getppid"), evKey("getgid")}; !slices.Equal(keys, want) {
			t.Errorf("keys in order %q, want %q", keys, want)
		}
		if lost != 0 {
			t.Errorf("lost %d", lost)
		}
	})

	t.Run("top", func(t *testing.T) {
		out, _, _ := aggWorkload(t, wl, func(pid int) []string {
			return append([]string{"count", "--by", "event", "-p", strconv.Itoa(pid), "--json", "--top", "2"}, evs...)
		})
		keys, counts, _ := parseCount(t, out)
		checkCounts(t, counts, map[string]uint64{evKey("getuid"): getuid, evKey("getppid"): getppid}, out)
		if want := []string{evKey("getuid"), evKey("getppid")}; !slices.Equal(keys, want) {
			t.Errorf("keys in order %q, want %q", keys, want)
		}
	})

	t.Run("top-text", func(t *testing.T) {
		out, _, _ := aggWorkload(t, wl, func(pid int) []string {
			return append([]string{"count", "--by", "event", "-p", strconv.Itoa(pid), "--top", "1"}, evs...)
		})
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || strings.Fields(lines[0])[0] != "COUNT" || strings.Fields(lines[0])[1] != "EVENT" {
			t.Fatalf("want a header and one line:\n%s", out)
		}
		if f := strings.Fields(lines[1]); len(f) != 2 || f[0] != strconv.Itoa(getuid) || f[1] != "syscalls:sys_enter_getuid" {
			t.Errorf("line %q, want %d syscalls:sys_enter_getuid", lines[1], getuid)
		}
	})

	t.Run("no-key", func(t *testing.T) {
		out, _, _ := aggWorkload(t, wl, func(pid int) []string {
			return append([]string{"count", "-p", strconv.Itoa(pid), "--json"}, evs...)
		})
		_, counts, _ := parseCount(t, out)
		checkCounts(t, counts, map[string]uint64{`{}`: getppid + getuid + getgid}, out)
	})

	t.Run("by-comm", func(t *testing.T) {
		// Two copies of the workload with other names, run by a shell:
		// the command and its descendants are counted, per comm. The
		// filter leaves out the shell's own calls.
		dir := t.TempDir()
		var names []string
		for _, n := range []string{"btwl-alpha", "btwl-beta"} {
			p := filepath.Join(dir, n)
			if err := os.Link(workloadBn, p); err != nil {
				copyFile(t, workloadBn, p)
			}
			names = append(names, p)
		}
		script := fmt.Sprintf("%s syscalls getppid=7 getuid=2 && %s syscalls getppid=11", names[0], names[1])
		code, out, stderr := runBpftrail(t, "count", "-e", "syscalls:sys_enter_getppid", "-e", "syscalls:sys_enter_getuid",
			"--by", "comm", "--filter", `comm == "btwl-*"`, "--json", "-d", runTimeout.String(), "--", "sh", "-c", script)
		if code != 0 {
			t.Fatalf("exit status %d\n%s", code, stderr)
		}
		_, counts, _ := parseCount(t, out)
		checkCounts(t, counts, map[string]uint64{`{"comm":"btwl-alpha"}`: 9, `{"comm":"btwl-beta"}`: 11}, out)

		// Two keys: comm and event.
		code, out, stderr = runBpftrail(t, "count", "-e", "syscalls:sys_enter_getppid", "-e", "syscalls:sys_enter_getuid",
			"--by", "comm,event", "--filter", `comm == "btwl-*"`, "--json", "-d", runTimeout.String(), "--", "sh", "-c", script)
		if code != 0 {
			t.Fatalf("exit status %d\n%s", code, stderr)
		}
		_, counts, _ = parseCount(t, out)
		checkCounts(t, counts, map[string]uint64{
			`{"comm":"btwl-alpha","event":"syscalls:sys_enter_getppid"}`: 7,
			`{"comm":"btwl-alpha","event":"syscalls:sys_enter_getuid"}`:  2,
			`{"comm":"btwl-beta","event":"syscalls:sys_enter_getppid"}`:  11,
		}, out)
	})

	t.Run("by-filename", func(t *testing.T) {
		// Short paths: a key keeps the first bytes of a string only.
		dir, err := os.MkdirTemp("", "btc")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		files := makeFiles(t, dir, "f", 3)
		want := map[string]uint64{}
		var wargs []string
		for i, f := range files {
			for range 2*i + 1 { // 1, 3, 5 opens
				wargs = append(wargs, f)
			}
			k, _ := json.Marshal(map[string]string{"filename": f})
			want[string(k)] = uint64(2*i + 1)
		}
		out, _, _ := aggWorkload(t, append([]string{"open"}, wargs...), func(pid int) []string {
			return []string{"count", "-e", openat, "--by", "filename", "-p", strconv.Itoa(pid), "--json"}
		})
		keys, counts, _ := parseCount(t, out)
		checkCounts(t, counts, want, out)
		if len(keys) == 3 && keys[0] != string(mustJSON(t, map[string]string{"filename": files[2]})) {
			t.Errorf("first key %s, want the file opened 5 times", keys[0])
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

type bucketJSON struct {
	Index int     `json:"index"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
	Count uint64  `json:"count"`
}

type histJSON struct {
	Histograms []struct {
		Key     json.RawMessage `json:"key"`
		Buckets []bucketJSON    `json:"buckets"`
	} `json:"histograms"`
	Lost uint64 `json:"lost"`
}

// TestBPFHist histograms the sizes of a workload's writes to /dev/null,
// known exactly, in power-of-two and linear buckets.
func TestBPFHist(t *testing.T) {
	setup(t)
	// size → number of writes.
	sizes := [][2]int{{1, 2}, {3, 3}, {100, 5}, {1000, 7}, {5000, 11}, {7000, 1}}
	wl := []string{"write"}
	for _, s := range sizes {
		wl = append(wl, fmt.Sprintf("%d=%d", s[0], s[1]))
	}
	big := math.Ldexp(1, 63)
	for _, tc := range []struct {
		name string
		args []string
		key  string
		want map[[2]float64]uint64 // [low, high) → count; every other bucket is empty
	}{
		{"log2", nil, `{}`, map[[2]float64]uint64{
			{1, 2}: 2, {2, 4}: 3, {64, 128}: 5, {512, 1024}: 7, {4096, 8192}: 12,
		}},
		{"linear", []string{"--linear", "0,6000,1000", "--by", "comm"}, `{"comm":"btworkload"}`, map[[2]float64]uint64{
			{0, 1000}: 10, {1000, 2000}: 7, {5000, 6000}: 11, {6000, big}: 1,
		}},
		{"log2-by-fd", []string{"--by", "fd", "--filter", "count >= 100"}, `{"fd":77}`, map[[2]float64]uint64{
			{64, 128}: 5, {512, 1024}: 7, {4096, 8192}: 12,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, _ := aggWorkload(t, wl, func(pid int) []string {
				return append([]string{"hist", "-e", "syscalls:sys_enter_write", "--value", "count", "-p", strconv.Itoa(pid), "--json"}, tc.args...)
			})
			out = strings.TrimSpace(out)
			checkTopKeys(t, out, "histograms", "lost")
			var h histJSON
			if err := json.Unmarshal([]byte(out), &h); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if len(h.Histograms) != 1 {
				t.Fatalf("%d histograms, want 1:\n%s", len(h.Histograms), out)
			}
			if k := string(h.Histograms[0].Key); k != tc.key {
				t.Errorf("key %s, want %s", k, tc.key)
			}
			got := map[[2]float64]uint64{}
			for i, b := range h.Histograms[0].Buckets {
				if i > 0 && b.Low != h.Histograms[0].Buckets[i-1].High {
					t.Errorf("bucket %d [%v,%v) does not follow the previous one", b.Index, b.Low, b.High)
				}
				if b.Count > 0 {
					got[[2]float64{b.Low, b.High}] = b.Count
				}
			}
			for r, n := range tc.want {
				if got[r] != n {
					t.Errorf("bucket [%v,%v): count %d, want %d", r[0], r[1], got[r], n)
				}
			}
			for r, n := range got {
				if _, ok := tc.want[r]; !ok {
					t.Errorf("unexpected bucket [%v,%v) with count %d", r[0], r[1], n)
				}
			}
			if h.Lost != 0 {
				t.Errorf("lost %d", h.Lost)
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}

	t.Run("text", func(t *testing.T) {
		out, _, _ := aggWorkload(t, wl, func(pid int) []string {
			return []string{"hist", "-e", "syscalls:sys_enter_write", "--value", "count", "-p", strconv.Itoa(pid)}
		})
		for _, want := range []string{"value", "distribution"} {
			if !strings.Contains(out, want) {
				t.Errorf("output has no %q:\n%s", want, out)
			}
		}
		// bcc-style rows "LOW -> HIGH : COUNT |***|"; inclusive bounds.
		rows := map[string]string{}
		for _, l := range strings.Split(out, "\n") {
			if lo, rest, ok := strings.Cut(l, "->"); ok {
				hi, cnt, _ := strings.Cut(rest, ":")
				cnt, _, _ = strings.Cut(cnt, "|")
				rows[strings.TrimSpace(lo)+"-"+strings.TrimSpace(hi)] = strings.TrimSpace(cnt)
			}
		}
		for r, n := range map[string]string{"1-1": "2", "2-3": "3", "64-127": "5", "512-1023": "7", "4096-8191": "12", "8-15": "0"} {
			if rows[r] != n {
				t.Errorf("row %s: count %q, want %s:\n%s", r, rows[r], n, out)
			}
		}
	})
}

type latencyJSON struct {
	Latencies []struct {
		Key     json.RawMessage `json:"key"`
		Count   uint64          `json:"count"`
		MinNs   uint64          `json:"min_ns"`
		MaxNs   uint64          `json:"max_ns"`
		AvgNs   float64         `json:"avg_ns"`
		P50Ns   float64         `json:"p50_ns"`
		P99Ns   float64         `json:"p99_ns"`
		Buckets []bucketJSON    `json:"buckets"`
	} `json:"latencies"`
	Unmatched uint64 `json:"unmatched"`
	Pending   uint64 `json:"pending"`
	Lost      uint64 `json:"lost"`
}

// parseLatency parses latency's final JSON object and checks each group's
// summary against its buckets: the buckets hold count samples, min is in
// the first non-empty bucket and max in the last one.
func parseLatency(t *testing.T, out string) latencyJSON {
	t.Helper()
	out = strings.TrimSpace(out)
	checkTopKeys(t, out, "latencies", "unmatched", "pending", "lost")
	var l latencyJSON
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, g := range l.Latencies {
		var total uint64
		var first, last *bucketJSON
		for i, b := range g.Buckets {
			total += b.Count
			if b.Count > 0 {
				if first == nil {
					first = &g.Buckets[i]
				}
				last = &g.Buckets[i]
			}
		}
		if total != g.Count || first == nil {
			t.Errorf("key %s: count %d, buckets hold %d", g.Key, g.Count, total)
			continue
		}
		if mn := float64(g.MinNs); mn < first.Low || mn >= first.High {
			t.Errorf("key %s: min %d ns is not in the first non-empty bucket [%v,%v)", g.Key, g.MinNs, first.Low, first.High)
		}
		if mx := float64(g.MaxNs); mx < last.Low || mx >= last.High {
			t.Errorf("key %s: max %d ns is not in the last non-empty bucket [%v,%v)", g.Key, g.MaxNs, last.Low, last.High)
		}
		if g.AvgNs < float64(g.MinNs) || g.AvgNs > float64(g.MaxNs) || g.P50Ns > g.P99Ns {
			t.Errorf("key %s: min %d avg %v max %d p50 %v p99 %v are not in order", g.Key, g.MinNs, g.AvgNs, g.MaxNs, g.P50Ns, g.P99Ns)
		}
	}
	return l
}

// TestBPFLatency measures a workload's clock_nanosleep calls of known
// durations, and counts start events that never see their end.
func TestBPFLatency(t *testing.T) {
	setup(t)
	const (
		ms        = time.Millisecond
		tolerance = 15 * ms // a loaded VM oversleeps
	)
	sleeps := []time.Duration{1 * ms, 5 * ms, 20 * ms}
	const rounds = 3
	// Each sleep ends on another CPU, when there are several: every
	// CPU's share of the per-CPU summary must count (each starts empty).
	var wl []string
	for r := range rounds {
		for i, d := range sleeps {
			wl = append(wl, fmt.Sprintf("%d@%d", d/ms, (r*len(sleeps)+i)%runtime.NumCPU()))
		}
	}
	wl = append([]string{"sleep"}, wl...)
	latArgs := func(pid int) []string {
		return []string{"latency", "--from", "syscalls:sys_enter_clock_nanosleep", "--to", "syscalls:sys_exit_clock_nanosleep", "-p", strconv.Itoa(pid)}
	}

	t.Run("json", func(t *testing.T) {
		out, _, _ := aggWorkload(t, wl, func(pid int) []string { return append(latArgs(pid), "--json") })
		l := parseLatency(t, out)
		if len(l.Latencies) != 1 {
			t.Fatalf("%d latency groups, want 1:\n%s", len(l.Latencies), out)
		}
		g := l.Latencies[0]
		n := uint64(rounds * len(sleeps))
		if string(g.Key) != "{}" {
			t.Errorf("key %s, want {}", g.Key)
		}
		if g.Count != n {
			t.Errorf("count %d, want %d", g.Count, n)
		}
		shortest, median, longest := sleeps[0], sleeps[1], sleeps[2]
		if time.Duration(g.MinNs) < shortest || time.Duration(g.MinNs) >= shortest+tolerance {
			t.Errorf("min %v, want in [%v, %v)", time.Duration(g.MinNs), shortest, shortest+tolerance)
		}
		if time.Duration(g.MaxNs) < longest || time.Duration(g.MaxNs) >= longest+tolerance {
			t.Errorf("max %v, want in [%v, %v)", time.Duration(g.MaxNs), longest, longest+tolerance)
		}
		// p50 is estimated within its bucket, at most 1/8 wide.
		if p := time.Duration(g.P50Ns); p < median*7/8 || p >= median+tolerance {
			t.Errorf("p50 %v, want near %v", p, median)
		}
		if g.P99Ns < float64(longest)*7/8 || g.P99Ns > float64(g.MaxNs) {
			t.Errorf("p99 %v, want near %v and at most max %v", time.Duration(g.P99Ns), longest, time.Duration(g.MaxNs))
		}
		if avg := float64(shortest+median+longest) / 3; g.AvgNs < avg || g.AvgNs >= avg+float64(tolerance) {
			t.Errorf("avg %v, want at least %v", time.Duration(g.AvgNs), time.Duration(avg))
		}
		// A sleep of d lasts [d, d+tolerance): count the samples whose
		// bucket can hold at least d (high > d) and at most d+tolerance
		// (low < d+tolerance).
		var total uint64
		atLeast := make([]uint64, len(sleeps))
		atMost := make([]uint64, len(sleeps))
		for _, b := range g.Buckets {
			total += b.Count
			if b.Count == 0 {
				continue
			}
			if b.High <= float64(g.MinNs) || b.Low > float64(g.MaxNs) {
				t.Errorf("bucket [%v,%v) count %d outside [min, max]", b.Low, b.High, b.Count)
			}
			for i, d := range sleeps {
				if b.High > float64(d) {
					atLeast[i] += b.Count
				}
				if b.Low < float64(d+tolerance) {
					atMost[i] += b.Count
				}
			}
		}
		if total != n {
			t.Errorf("buckets hold %d, want %d", total, n)
		}
		for i, d := range sleeps {
			// Samples of sleeps >= d are >= d; the longest sleep's
			// samples, and only they, are >= the longest sleep.
			if want := uint64(rounds * (len(sleeps) - i)); atLeast[i] < want || (i == len(sleeps)-1 && atLeast[i] != want) {
				t.Errorf("%d samples in buckets reaching %v, want %d", atLeast[i], d, want)
			}
			if want := uint64(rounds * (i + 1)); atMost[i] < want {
				t.Errorf("%d samples in buckets below %v, want at least %d", atMost[i], d+tolerance, want)
			}
		}
		if l.Unmatched != 0 || l.Pending != 0 || l.Lost != 0 {
			t.Errorf("unmatched %d, pending %d, lost %d; want 0", l.Unmatched, l.Pending, l.Lost)
		}
		if t.Failed() {
			t.Logf("output:\n%s", out)
		}
	})

	t.Run("text", func(t *testing.T) {
		out, _, _ := aggWorkload(t, wl, func(pid int) []string { return append(latArgs(pid), "--unit", "ms") })
		if !strings.Contains(out, "msecs") {
			t.Errorf("no msecs histogram:\n%s", out)
		}
		if !strings.Contains(out, fmt.Sprintf("count %d ", rounds*len(sleeps))) {
			t.Errorf("no \"count %d\":\n%s", rounds*len(sleeps), out)
		}
		if strings.Contains(out, "not followed") {
			t.Errorf("unmatched starts reported:\n%s", out)
		}
	})

	t.Run("unmatched", func(t *testing.T) {
		// getppid starts, getuid ends, and the workload calls no getuid:
		// no start has an end. Every start is unmatched (replaced by the
		// next one on the same thread) or still pending at the end.
		const n = 13
		out, _, _ := aggWorkload(t, []string{"syscalls", fmt.Sprintf("getppid=%d", n)}, func(pid int) []string {
			return []string{"latency", "--from", "syscalls:sys_enter_getppid", "--to", "syscalls:sys_exit_getuid", "-p", strconv.Itoa(pid), "--json"}
		})
		l := parseLatency(t, out)
		if len(l.Latencies) != 0 {
			t.Errorf("latencies without a single end event: %s", out)
		}
		if l.Unmatched+l.Pending != n {
			t.Errorf("unmatched %d + pending %d = %d, want %d starts:\n%s", l.Unmatched, l.Pending, l.Unmatched+l.Pending, n, out)
		}
		if l.Pending != 1 {
			t.Errorf("pending %d, want 1 (the last start of the only thread):\n%s", l.Pending, out)
		}

		// Text: the unmatched starts are reported.
		out, _, _ = aggWorkload(t, []string{"syscalls", fmt.Sprintf("getppid=%d", n)}, func(pid int) []string {
			return []string{"latency", "--from", "syscalls:sys_enter_getppid", "--to", "syscalls:sys_exit_getuid", "-p", strconv.Itoa(pid)}
		})
		if !strings.Contains(out, fmt.Sprintf("%d start events were not followed by their end event", n-1)) {
			t.Errorf("text output does not report %d unmatched starts:\n%s", n-1, out)
		}
	})

	t.Run("match-pid", func(t *testing.T) {
		// Each getppid start has its end: nothing is unmatched.
		const n = 9
		out, _, _ := aggWorkload(t, []string{"syscalls", fmt.Sprintf("getppid=%d", n)}, func(pid int) []string {
			return []string{"latency", "--from", "syscalls:sys_enter_getppid", "--to", "syscalls:sys_exit_getppid", "--match", "pid", "--by", "comm", "-p", strconv.Itoa(pid), "--json"}
		})
		l := parseLatency(t, out)
		if len(l.Latencies) != 1 || l.Latencies[0].Count != n || string(l.Latencies[0].Key) != `{"comm":"btworkload"}` {
			t.Errorf("want one latency of key btworkload and count %d:\n%s", n, out)
		}
		if l.Unmatched != 0 || l.Pending != 0 {
			t.Errorf("unmatched %d, pending %d, want 0:\n%s", l.Unmatched, l.Pending, out)
		}
	})
}

// TestBPFAggBadInput checks that bad input to count, hist and latency is a
// one-line error with exit status 1, before anything is loaded or any
// command is started.
func TestBPFAggBadInput(t *testing.T) {
	setup(t)
	const write = "syscalls:sys_enter_write"
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"count unknown --by", []string{"count", "-e", write, "--by", "comm,nosuch"}, []string{"--by nosuch", `no field "nosuch"`}},
		{"count no probe", []string{"count", "--by", "comm"}, nil},
		{"count unknown tracepoint", []string{"count", "-e", "syscalls:sys_enter_wrte"}, []string{"syscalls:sys_enter_wrte"}},
		{"count bad filter", []string{"count", "-e", write, "--filter", "nosuch == 1"}, []string{`unknown field "nosuch"`}},
		{"hist unknown --value", []string{"hist", "-e", write, "--value", "nosuch"}, []string{"--value nosuch", `no field "nosuch"`}},
		{"hist unknown --by", []string{"hist", "-e", write, "--value", "count", "--by", "nosuch"}, []string{"--by nosuch", `no field "nosuch"`}},
		{"hist string --value", []string{"hist", "-e", openat, "--value", "filename"}, []string{"--value filename", "string"}},
		{"hist no --value", []string{"hist", "-e", write}, []string{"--value"}},
		{"hist --value missing in one event", []string{"hist", "-e", write, "-e", openat, "--value", "count"}, []string{"--value count", openat}},
		{"hist --linear two numbers", []string{"hist", "-e", write, "--value", "count", "--linear", "0,10"}, []string{"--linear", "MIN,MAX,STEP"}},
		{"hist --linear not a number", []string{"hist", "-e", write, "--value", "count", "--linear", "0,x,1"}, []string{"--linear", `"x"`}},
		{"hist --linear max < min", []string{"hist", "-e", write, "--value", "count", "--linear", "10,0,1"}, []string{"--linear", "max"}},
		{"hist --linear step 0", []string{"hist", "-e", write, "--value", "count", "--linear", "0,10,0"}, []string{"--linear", "step"}},
		{"hist --linear not a multiple", []string{"hist", "-e", write, "--value", "count", "--linear", "0,10,3"}, []string{"--linear", "multiple"}},
		{"hist --linear too many", []string{"hist", "-e", write, "--value", "count", "--linear", "0,100000,1"}, []string{"--linear", "too many"}},
		{"latency empty --from", []string{"latency", "--from", "", "--to", "syscalls:sys_exit_getppid"}, []string{"--from"}},
		{"latency empty --to", []string{"latency", "--from", "syscalls:sys_enter_getppid", "--to", ""}, []string{"--to"}},
		{"latency no --to", []string{"latency", "--from", "syscalls:sys_enter_getppid"}, []string{"--to"}},
		{"latency no --from", []string{"latency", "--to", "syscalls:sys_exit_getppid"}, []string{"--from"}},
		{"latency bad --unit", []string{"latency", "--from", "syscalls:sys_enter_getppid", "--to", "syscalls:sys_exit_getppid", "--unit", "parsecs"}, []string{"--unit", "parsecs"}},
		{"latency unknown --match", []string{"latency", "--from", "syscalls:sys_enter_getppid", "--to", "syscalls:sys_exit_getppid", "--match", "nosuch"}, []string{"--match", `"nosuch"`}},
		{"latency string --match", []string{"latency", "--from", openat, "--to", "syscalls:sys_exit_openat", "--match", "filename"}, []string{"--match", `"filename"`}},
		{"latency unknown --by", []string{"latency", "--from", "syscalls:sys_enter_getppid", "--to", "syscalls:sys_exit_getppid", "--by", "nosuch"}, []string{"--by nosuch", "syscalls:sys_exit_getppid"}},
		{"latency -e", []string{"latency", "-e", write}, []string{"unknown shorthand flag"}},
		{"tool bad --unit", []string{"runqlat", "--unit", "parsecs"}, []string{"--unit", "parsecs"}},
		{"tool unknown flag", []string{"syscount", "--by", "nosuch"}, []string{"unknown flag: --by"}},
		{"tool bad -T", []string{"syscount", "-T", "abc"}, []string{"--top", "abc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A command that would leave a mark if it ran.
			mark := filepath.Join(t.TempDir(), "ran")
			code, stdout, stderr := runBpftrail(t, append(tc.args, "-d", "5s", "--", "touch", mark)...)
			checkOneLineError(t, code, stderr)
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error %q does not contain %q", strings.TrimSpace(stderr), w)
				}
			}
			if stdout != "" {
				t.Errorf("stdout:\n%s", stdout)
			}
			if _, err := os.Lstat(mark); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the command ran (%v)", err)
			}
		})
	}
}
