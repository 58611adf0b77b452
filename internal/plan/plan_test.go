package plan

import (
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// fixture plans against the tracefs format files in testdata (copied from
// a Linux 6.18 machine): no BPF and no root needed.
var fixture = Options{FS: func() (tracefs.FS, error) { return tracefs.FS{Root: "testdata"}, nil }}

func TestRecord(t *testing.T) {
	rp, err := Record(Probes{Specs: []string{"syscall:openat", "sched:sched_switch"}, Filter: `comm == "bash"`}, fixture)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, c := range rp.Classes {
		if c.ID != uint32(i) || c.Schema != rp.Probes[i].Event {
			t.Errorf("class %d: id %d, schema %p of %p", i, c.ID, c.Schema, rp.Probes[i].Event)
		}
		if rp.Filters[i] == nil {
			t.Errorf("class %s has no filter", c.Schema.Name)
		}
		if rp.Dispatched[i] {
			t.Errorf("class %s is dispatched with 3 syscall probes", c.Schema.Name)
		}
		if want := record.Sequential(c.Schema); c.Layout.Size != want.Size {
			t.Errorf("class %s: layout of %d bytes, want sequential %d", c.Schema.Name, c.Layout.Size, want.Size)
		}
		names = append(names, c.Schema.Name)
	}
	if got := strings.Join(names, " "); got != "syscalls:sys_enter_openat syscalls:sys_exit_openat sched:sched_switch" {
		t.Errorf("classes %s", got)
	}
	big := 0
	for _, c := range rp.Classes {
		big = max(big, c.Layout.Size)
	}
	if rp.MaxRecord < big || rp.MaxRecord%8 != 0 || rp.MaxRecord >= big+8 {
		t.Errorf("max record %d for records of up to %d bytes", rp.MaxRecord, big)
	}
}

// TestRecordDispatch: with many syscall tracepoints and a filter on
// builtins only, syscalls go through the raw_syscalls dispatcher and their
// classes take its layout; a filter on a field keeps one program each.
func TestRecordDispatch(t *testing.T) {
	rp, err := Record(Probes{Specs: []string{"syscalls:sys_enter_*", "syscalls:sys_exit_*", "sched:sched_switch"}, Filter: "pid != 1"}, fixture)
	if err != nil {
		t.Fatal(err)
	}
	if !rp.Dispatching() || len(rp.Entries[0]) < 16 || len(rp.Entries[1]) < 16 {
		t.Fatalf("dispatching %v with %d entry and %d exit syscalls", rp.Dispatching(), len(rp.Entries[0]), len(rp.Entries[1]))
	}
	for i, c := range rp.Classes {
		name := c.Schema.Name
		if strings.HasPrefix(name, "sched:") == rp.Dispatched[i] {
			t.Errorf("%s dispatched: %v", name, rp.Dispatched[i])
		}
		if name != "syscalls:sys_enter_openat" {
			continue
		}
		f := c.Schema.Index("filename")
		d := c.Schema.Index("dfd")
		if c.Layout.Off[f] != bpfgen.DispatchFixed || c.Layout.Off[d] != bpfgen.DispatchOffArgs {
			t.Errorf("openat: filename at %d (want %d), dfd at %d (want %d)", c.Layout.Off[f], bpfgen.DispatchFixed, c.Layout.Off[d], bpfgen.DispatchOffArgs)
		}
		if e := rp.Entries[0][257]; e.ClassPlus1 != c.ID+1 || e.Slots != 1 || e.Args[0] != 1 {
			t.Errorf("openat's table entry %+v for class %d", e, c.ID)
		}
	}
	if rp.MaxRecord < bpfgen.DispatchRecordSize(rp.StringSize) {
		t.Errorf("max record %d below the dispatcher's %d", rp.MaxRecord, bpfgen.DispatchRecordSize(rp.StringSize))
	}
	rp, err = Record(Probes{Specs: []string{"syscalls:sys_enter_*"}, Filter: "__syscall_nr == 0"}, fixture)
	if err != nil {
		t.Fatal(err)
	}
	if rp.Dispatching() {
		t.Error("a filter on a field is dispatched; the dispatcher runs filters on builtins only")
	}
}

func TestRecordErrors(t *testing.T) {
	for _, c := range []struct {
		p    Probes
		want string
	}{
		{Probes{Specs: []string{"sched:sched_swich"}}, "sched_switch"},
		{Probes{Specs: []string{"syscall:openat"}, Filter: "filename =="}, "syscalls:sys_enter_openat: "},
		{Probes{Specs: []string{"syscall:openat"}, Filter: "ret == 0"}, `syscalls:sys_enter_openat: `},
		{Probes{Specs: []string{"sched:sched_switch"}, Fields: "arg9"}, "--fields"},
		{Probes{}, "no probe given"},
	} {
		_, err := Record(c.p, fixture)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.p, err, c.want)
		}
	}
}

func TestAggregate(t *testing.T) {
	a, err := NewAggregate(Aggregation{Mode: aggregate.Count, By: []string{"event", "comm", "filename", "dfd"},
		Probes: Probes{Specs: []string{"syscalls:sys_enter_openat"}}}, fixture)
	if err != nil {
		t.Fatal(err)
	}
	want := record.KeyLayout{
		{Name: "event", Kind: record.KeyClass, Size: 8},
		{Name: "comm", Kind: record.KeyString, Size: 16},
		{Name: "filename", Kind: record.KeyString, Size: record.KeyStringCap},
		{Name: "dfd", Kind: record.KeyInt, Size: 8}, // an int: signed
	}
	if len(a.Keys) != len(want) {
		t.Fatalf("keys %+v", a.Keys)
	}
	for i := range want {
		if a.Keys[i] != want[i] {
			t.Errorf("key %d: %+v, want %+v", i, a.Keys[i], want[i])
		}
	}
	if a.ProgramMode(0) != bpfgen.AggCount || a.MaxKeys != 10240 || a.ClassNames()[0] != "syscalls:sys_enter_openat" {
		t.Errorf("mode %v, max keys %d, classes %v", a.ProgramMode(0), a.MaxKeys, a.ClassNames())
	}
	if a.ScratchSize() != a.MaxRecord+want[0].Size+want[1].Size+want[2].Size+want[3].Size+8 {
		t.Errorf("scratch %d for a record of %d and a key of %d", a.ScratchSize(), a.MaxRecord, a.Keys.Size())
	}
	u, err := NewAggregate(Aggregation{Mode: aggregate.Count, By: []string{"flags", "cpu"}, Probes: Probes{Specs: []string{"syscalls:sys_enter_openat"}}}, fixture)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Keys[1].Unsigned || u.Keys[0].Unsigned {
		t.Errorf("keys %+v: cpu is unsigned, openat's int flags is not", u.Keys)
	}
	h, err := NewAggregate(Aggregation{Mode: aggregate.Hist, Value: "count", Probes: Probes{Specs: []string{"syscalls:sys_enter_read"}}}, fixture)
	if err != nil {
		t.Fatal(err)
	}
	if h.Scheme != (hist.Log2{}) || h.ProgramMode(0) != bpfgen.AggHist {
		t.Errorf("hist: scheme %v, mode %v", h.Scheme, h.ProgramMode(0))
	}
}

// TestAggregateLatency: starts first, each with its match field (an
// override for one start event) and filter.
func TestAggregateLatency(t *testing.T) {
	a, err := NewAggregate(Aggregation{Mode: aggregate.Latency,
		From:        []string{"sched:sched_wakeup", "sched:sched_switch"},
		To:          []string{"sched:sched_switch"},
		Match:       "pid,next_pid",
		StartMatch:  map[string]string{"sched:sched_switch": "prev_pid"},
		StartFilter: map[string]string{"sched:sched_switch": "prev_state == 0"},
		ToFilter:    "next_pid != 0",
		By:          []string{"next_comm"},
	}, fixture)
	if err != nil {
		t.Fatal(err)
	}
	if a.Starts != 2 || len(a.Probes) != 3 {
		t.Fatalf("%d starts of %d probes", a.Starts, len(a.Probes))
	}
	for i, want := range []struct {
		match string
		mode  bpfgen.AggMode
	}{{"pid", bpfgen.AggStart}, {"prev_pid", bpfgen.AggStart}, {"next_pid", bpfgen.AggEnd}} {
		if a.MatchOf(i) != want.match || a.ProgramMode(i) != want.mode {
			t.Errorf("probe %d: match %q mode %v, want %q %v", i, a.MatchOf(i), a.ProgramMode(i), want.match, want.mode)
		}
	}
	if a.Filters[0] != nil || a.Filters[1] == nil || a.Filters[2] == nil {
		t.Errorf("filters %v: only the preempting switch and the end have one", a.Filters)
	}
	if a.Scheme != (hist.LogLinear{}) {
		t.Errorf("scheme %v", a.Scheme)
	}
}

func TestAggregateErrors(t *testing.T) {
	openat := Probes{Specs: []string{"syscalls:sys_enter_openat"}}
	for _, c := range []struct {
		a    Aggregation
		want string
	}{
		{Aggregation{Mode: aggregate.Hist, Probes: openat}, "hist needs --value"},
		{Aggregation{Mode: aggregate.Hist, Probes: openat, Value: "nosuch"}, `has no field "nosuch"`},
		{Aggregation{Mode: aggregate.Hist, Probes: openat, Value: "filename"}, "is a string, not a number"},
		{Aggregation{Mode: aggregate.Count, Probes: openat, By: []string{"nosuch"}}, "--by nosuch"},
		{Aggregation{Mode: aggregate.Count, Probes: Probes{Specs: []string{"sched:sched_switch", "sched:sched_process_exec"}}, By: []string{"filename"}}, "sched:sched_switch has no field"},
		{Aggregation{Mode: aggregate.Latency, From: []string{"syscalls:sys_enter_read"}}, "latency needs --from SPEC and --to SPEC"},
		{Aggregation{Mode: aggregate.Latency, From: []string{"sched:sched_wakeup"}, To: []string{"sched:sched_switch"}, Match: "comm"}, "--match comm"},
		{Aggregation{Mode: aggregate.Latency, From: []string{"nosuch:x"}, To: []string{"sched:sched_switch"}}, "--from: "},
	} {
		_, err := NewAggregate(c.a, fixture)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.a, err, c.want)
		}
	}
}
