package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/tracedir"
)

// TestBPFRunTrace: `run --trace DIR --record sched:sched_switch` keeps the
// script's printf events as a CTF trace beside the kernel's. babeltrace2
// reads it; every printf of the workload (testdata/peer_target.c) is there,
// its arguments typed fields named after what they read (an int printed
// bare, negative when signed, a string quoted) with the formatted text; the
// scheduler's events are in the same timeline, before the first and after
// the last script event, the workload's own exit among them.
func TestBPFRunTrace(t *testing.T) {
	bpftest.Require(t)
	bt := bpftest.RequireTool(t, "babeltrace2")
	buildOnce.Do(func() { buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	target := buildC(t, "peer_target", []string{"-static", "-O0"}, "peer_target.c")
	dir := filepath.Join(t.TempDir(), "trace")
	prog := `tracepoint:syscalls:sys_enter_write /comm == "peer_target"/ { $size = args.count; printf("write %d bytes to %d\n", $size, args.fd); @w = hist($size); @n[comm] = count(); }
tracepoint:syscalls:sys_enter_openat /comm == "peer_target"/ { printf("open %s\n", str(args.filename)); }
tracepoint:syscalls:sys_exit_openat /comm == "peer_target"/ { printf("-> %d\n", args.ret); }
END { print(@n); }`
	out, err := exec.Command(bpftrailBn, "run", "--trace", dir, "--record", "sched:sched_switch", "-c", target, "-e", prog).CombinedOutput()
	if err != nil {
		t.Fatalf("run --trace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "bpftrail: wrote ") || !strings.Contains(string(out), "(0 lost)") {
		t.Errorf("run --trace does not say what it wrote, or lost events:\n%s", out)
	}
	text, err := exec.Command(bt, dir).Output()
	if err != nil {
		t.Fatalf("babeltrace2 %s: %v", dir, err)
	}
	line := regexp.MustCompile(`^\[(\d+):(\d+):(\d+)\.(\d+)\] \S+ \S+ (\S+): .*\{ (.*) \}$`)
	var writes []string
	var opens, rets []string
	var first, last, kernelBefore, kernelAfter, exitAfter int64
	first = -1
	for _, l := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("babeltrace2 line not understood: %q", l)
		}
		h, _ := strconv.ParseInt(m[1], 10, 64)
		mi, _ := strconv.ParseInt(m[2], 10, 64)
		s, _ := strconv.ParseInt(m[3], 10, 64)
		ns, _ := strconv.ParseInt(m[4], 10, 64)
		ts := ((h*60+mi)*60+s)*1e9 + ns
		name, fields := m[5], m[6]
		switch {
		case strings.HasPrefix(name, "script:printf:1"):
			writes = append(writes, fields)
		case strings.HasPrefix(name, "script:printf:2"):
			opens = append(opens, fields)
		case strings.HasPrefix(name, "script:printf:3"):
			rets = append(rets, fields)
		case name == "script:print:4":
			continue // END's print(@n), after the workload
		case name == "sched:sched_switch":
			if first < 0 {
				kernelBefore++
			} else {
				kernelAfter++
				if strings.Contains(fields, `prev_comm = "peer_target"`) {
					exitAfter = ts
				}
			}
			continue
		default:
			t.Errorf("unexpected event %s", l)
			continue
		}
		if first < 0 {
			first = ts
		}
		if ts < last {
			t.Errorf("babeltrace2 shows time going back at %q", l)
		}
		last = ts
		kernelAfter, exitAfter = 0, 0
	}
	var want []string
	for _, n := range []int{5, 12, 100, 1, 40, 300, 12, 2000} {
		want = append(want, "size = "+strconv.Itoa(n)+", fd = 3, text = \"write "+strconv.Itoa(n)+" bytes to 3\\n\"")
	}
	if strings.Join(writes, "|") != strings.Join(want, "|") {
		t.Errorf("write events:\n%s\nwant:\n%s", strings.Join(writes, "\n"), strings.Join(want, "\n"))
	}
	paths := []string{"/dev/null", "/nonexistent/peer-alpha", "/nonexistent/peer-bravo", "/nonexistent/peer-alpha", "/nonexistent/x"}
	for i, p := range paths {
		if i >= len(opens) || !strings.HasPrefix(opens[i], `filename = "`+p+`"`) {
			t.Errorf("open event %d: %v, want filename %q", i, opens, p)
		}
	}
	if len(rets) != len(paths) {
		t.Errorf("%d openat returns, want %d: %v", len(rets), len(paths), rets)
	}
	for i, r := range rets {
		want := "ret = -2, " // ENOENT, signed
		if i == 0 {
			want = "ret = 3, " // /dev/null's fd
		}
		if !strings.HasPrefix(r, want) {
			t.Errorf("openat return %d is %q, want %s", i, r, want)
		}
	}
	if kernelBefore == 0 || kernelAfter == 0 || exitAfter == 0 {
		t.Errorf("sched_switch events before the script's: %d, after: %d, the workload switching out after its last: %v", kernelBefore, kernelAfter, exitAfter != 0)
	}
	var info struct {
		Classes []struct {
			Name, Format string
			Fields       []string
		}
	}
	b, err := os.ReadFile(tracedir.Path(dir, tracedir.Script))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	checkScriptAggregates(t, dir)
	found := false
	for _, c := range info.Classes {
		if c.Name == "script:printf:1" {
			found = c.Format == "write %d bytes to %d\n" && strings.Join(c.Fields, ",") == "size,fd"
		}
	}
	if !found {
		t.Errorf("the trace's script.json has no class script:printf:1 with its format and fields: %s", b)
	}
}

// checkScriptAggregates: the maps of TestBPFRunTrace's script are kept in
// the trace's aggregates.jsonl as record --aggregate keeps its own: @n at
// its print() and both at exit, with the workload's values.
func checkScriptAggregates(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(tracedir.Path(dir, tracedir.Aggregates))
	if err != nil {
		t.Fatal(err)
	}
	type bucket struct {
		Low   float64 `json:"low"`
		Count uint64  `json:"count"`
	}
	var printed bool
	finals := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var line struct {
			Aggregate string
			Final     bool
			Counts    []struct {
				Key   map[string]any
				Count uint64
			}
			Histograms []struct{ Buckets []bucket }
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("aggregates.jsonl: %v in %s", err, l)
		}
		var got []string
		for _, c := range line.Counts {
			got = append(got, fmt.Sprint(c.Key["key"], "=", c.Count))
		}
		for _, h := range line.Histograms {
			for _, bk := range h.Buckets {
				if bk.Count > 0 {
					got = append(got, fmt.Sprint(bk.Low, ":", bk.Count))
				}
			}
		}
		if line.Final {
			finals[line.Aggregate] = strings.Join(got, " ")
		} else if line.Aggregate == "@n" {
			printed = true
		}
	}
	// Writes of 5, 12, 100, 1, 40, 300, 12 and 2000 bytes, by power of two.
	want := map[string]string{"@n": "peer_target=8", "@w": "1:1 4:1 8:2 32:1 64:1 256:1 1024:1"}
	for name, w := range want {
		if finals[name] != w {
			t.Errorf("final snapshot of %s: %q, want %q\n%s", name, finals[name], w, b)
		}
	}
	if !printed {
		t.Errorf("no snapshot of @n at its print():\n%s", b)
	}
}
