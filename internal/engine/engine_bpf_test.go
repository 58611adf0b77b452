package engine

// In-process tests of sessions with real BPF programs: a command whose
// system calls are known exactly, recorded into a sink and a trace, and
// aggregated. They need root; bpftest.Require skips them elsewhere and
// fails them under CI=true.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/command"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/tracedir"
)

func TestMain(m *testing.M) {
	command.Init() // the test binary is also the held command
	os.Exit(m.Run())
}

// files creates n files in a new directory and returns their paths and a
// shell command that cats each one once.
func files(t *testing.T, n int) ([]string, []string) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("f%02d", i))
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths, []string{"sh", "-c", "for f in " + strings.Join(paths, " ") + "; do cat $f >/dev/null; done"}
}

// collected keeps what a sink saw.
type collected struct {
	mu    sync.Mutex
	names []string
	files []string
	lost  uint64
}

func (c *collected) WriteRecord(r record.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.names = append(c.names, r.Class.Schema.Name)
	if v, ok := r.Value("filename"); ok {
		c.files = append(c.files, v.(string))
	}
	return nil
}

func (c *collected) AddDiscarded(cpu int, n, ts uint64) error {
	c.lost += n
	return nil
}

// TestBPFSessionRecords records the opens of a command and its children,
// filtered in kernel on the test's directory, into a sink and a trace with
// an aggregation beside it.
func TestBPFSessionRecords(t *testing.T) {
	bpftest.Require(t)
	paths, cmd := files(t, 5)
	probes := Probes{Specs: []string{"syscalls:sys_enter_openat"}, Filter: fmt.Sprintf("filename == %q", filepath.Dir(paths[0])+"/*")}
	sess, err := Open(Config{
		Target:     Target{Kind: Command},
		Record:     &probes,
		Aggregates: []Aggregation{{Name: "count:comm", Mode: aggregate.Count, Probes: probes, By: []string{"comm"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if n := len(sess.Classes()); n != 1 || sess.Classes()[0].Schema.Name != "syscalls:sys_enter_openat" {
		t.Fatalf("classes %v", sess.Classes())
	}
	var sink collected
	dir := filepath.Join(t.TempDir(), "trace")
	res, err := sess.Run(RunOptions{Command: cmd, Sinks: []Sink{&sink}, Trace: &TraceOutput{Dir: dir}, Duration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.CommandErr != nil || res.Stopped {
		t.Errorf("command: %v, stopped %v", res.CommandErr, res.Stopped)
	}
	sort.Strings(sink.files)
	if !slices.Equal(sink.files, paths) {
		t.Errorf("the sink saw opens of %v, want %v", sink.files, paths)
	}
	if res.Events != 5 || res.PerClass[0] != 5 || res.Lost != 0 || res.Trace == nil || res.Trace.Events != 5 {
		t.Errorf("result %+v (trace %+v)", res, res.Trace)
	}
	tr, err := ctf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	it := tr.Events()
	n := 0
	for it.Next() {
		if comm, _ := it.Event().StreamContext.Get("comm"); string(comm.Bytes) != "cat" {
			t.Errorf("event of comm %q", comm.Bytes)
		}
		n++
	}
	it.Close()
	if n != 5 {
		t.Errorf("the trace holds %d events, want 5", n)
	}
	// The aggregation counted the same opens, and its log is in the trace's
	// sub-directory with a final snapshot.
	snap, err := sess.Aggregates()[0].Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Groups) != 1 || snap.Groups[0].Count != 5 || snap.Groups[0].Key.String() != "comm=cat" {
		t.Errorf("aggregate %+v", snap.Groups)
	}
	log, err := os.ReadFile(tracedir.Path(dir, tracedir.Aggregates))
	if err != nil || !strings.Contains(string(log), `"final":true,"counts":[{"key":{"comm":"cat"},"count":5}]`) {
		t.Errorf("aggregates log (%v):\n%s", err, log)
	}
}

// TestBPFSessionProcess records only the process given (here the test
// itself), through a raw syscall tracepoint and its builtins.
func TestBPFSessionProcess(t *testing.T) {
	bpftest.Require(t)
	paths, _ := files(t, 3)
	sess, err := Open(Config{
		Target:     Target{Kind: Process, PID: os.Getpid()},
		Aggregates: []Aggregation{{Name: "opens", Mode: aggregate.Count, Probes: Probes{Specs: []string{"syscalls:sys_enter_openat"}, Filter: fmt.Sprintf("filename == %q", filepath.Dir(paths[0])+"/*")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.Attach(); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || string(b) != "x" {
			t.Fatal(err)
		}
	}
	if err := sess.Stop(); err != nil {
		t.Fatal(err)
	}
	snap, err := sess.Aggregates()[0].Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Groups) != 1 || snap.Groups[0].Count != 3 {
		t.Errorf("counted %+v, want 3 opens", snap.Groups)
	}
}

// TestBPFSessionErrors: what is wrong is said before anything loads, and
// names the aggregation it is about.
func TestBPFSessionErrors(t *testing.T) {
	bpftest.Require(t)
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"nothing", Config{}, "no probe given"},
		{"bad spec", Config{Record: &Probes{Specs: []string{"tracepoint:"}}}, "invalid probe"},
		{"unknown tracepoint", Config{Record: &Probes{Specs: []string{"sched:sched_swich"}}}, "sched_switch"},
		{"bad filter", Config{Record: &Probes{Specs: []string{"syscalls:sys_enter_openat"}, Filter: "pdi == 1"}}, `unknown field "pdi"`},
		{"bad stack", Config{Record: &Probes{Specs: []string{"syscalls:sys_enter_openat"}, Stack: "both!"}}, "--stack"},
		{"second aggregation", Config{Aggregates: []Aggregation{
			{Name: "fine", Mode: aggregate.Count, Probes: Probes{Specs: []string{"syscalls:sys_enter_openat"}}},
			{Name: "broken", Mode: aggregate.Hist, Probes: Probes{Specs: []string{"syscalls:sys_enter_openat"}}, Value: "nosuch"},
		}}, `broken: --value nosuch`},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(c.cfg)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error with %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to contain %q", err, c.want)
			}
			var ae *AggregationError
			if c.name == "second aggregation" && (!errors.As(err, &ae) || ae.Index != 1) {
				t.Errorf("error %v does not name aggregation 1", err)
			}
		})
	}
}
