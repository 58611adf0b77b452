package resolve_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/golden"

	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// fixtures is the tracefs fixture tree of package tracefs: formats copied
// from a 6.x kernel.
var fixtures = tracefs.FS{Root: filepath.Join("..", "tracefs", "testdata")}

// openFixtures is an openFS for Specs that counts its calls.
func openFixtures(calls *int) func() (tracefs.FS, error) {
	return func() (tracefs.FS, error) {
		*calls++
		return fixtures, nil
	}
}

var sourceNames = map[resolve.Source]string{
	resolve.FromContext:     "context",
	resolve.FromDataLoc:     "data_loc",
	resolve.FromUserPtr:     "user_ptr",
	resolve.FromKernelPtr:   "kernel_ptr",
	resolve.FromTask:        "task",
	resolve.FromConst:       "const",
	resolve.FromUserDeref:   "user_deref",
	resolve.FromUserStack:   "user_stack",
	resolve.FromKernelStack: "kernel_stack",
}

// probeView is the golden form of a probe: each field with how it is read,
// and the target.
type probeView struct {
	Event  string
	Fields []fieldView
	Target targetView
}

type fieldView struct {
	Name, Kind, CType string
	Size              int
	Signed            bool `json:",omitempty"`
	Hex               bool `json:",omitempty"`
	ElemSize          int  `json:",omitempty"`
	Len               int  `json:",omitempty"`
	Read              readView
}

type readView struct {
	Src      string
	Offset   int   `json:",omitempty"`
	Size     int   `json:",omitempty"`
	TaskPath []int `json:",omitempty"`
	Const    int64 `json:",omitempty"`
	Disp     int64 `json:",omitempty"`
	Shift    int   `json:",omitempty"`
}

type targetView struct {
	Kind            string
	Category, Event string `json:",omitempty"`
	Path, Symbol    string `json:",omitempty"`
	Offset          uint64 `json:",omitempty"`
	Frequency       uint64 `json:",omitempty"`
	Period          uint64 `json:",omitempty"`
}

func view(t *testing.T, p *resolve.Probe) probeView {
	t.Helper()
	if len(p.Reads) != len(p.Event.Fields) {
		t.Fatalf("%s: %d reads for %d fields", p.Event.Name, len(p.Reads), len(p.Event.Fields))
	}
	if err := p.Event.Validate(); err != nil {
		t.Errorf("resolved schema does not validate: %v", err)
	}
	v := probeView{Event: p.Event.Name, Fields: []fieldView{}, Target: targetView{
		Kind: p.Target.Kind.String(), Category: p.Target.Category, Event: p.Target.Event,
		Path: p.Target.Path, Symbol: p.Target.Symbol, Offset: p.Target.Offset,
		Frequency: p.Target.Frequency, Period: p.Target.Period,
	}}
	for i, f := range p.Event.Fields {
		r := p.Reads[i]
		src, ok := sourceNames[r.Src]
		if !ok {
			t.Errorf("%s: field %s: unknown source %d", p.Event.Name, f.Name, r.Src)
		}
		v.Fields = append(v.Fields, fieldView{
			Name: f.Name, Kind: f.Kind.String(), CType: f.CType, Size: f.Size, Signed: f.Signed, Hex: f.Hex,
			ElemSize: f.ElemSize, Len: f.Len,
			Read: readView{Src: src, Offset: r.Offset, Size: r.Size, TaskPath: r.TaskPath, Const: r.Const, Disp: r.Disp, Shift: r.Shift},
		})
	}
	return v
}

func TestSpecsGolden(t *testing.T) {
	tests := []struct {
		name  string
		specs []string
		o     resolve.Options
	}{
		{"sched_switch", []string{"sched:sched_switch"}, resolve.Options{}},
		{"sys_enter_openat", []string{"tracepoint:syscalls:sys_enter_openat"}, resolve.Options{}},
		{"syscall_openat", []string{"syscall:openat"}, resolve.Options{}},
		{"sys_enter_execve", []string{"t:syscalls:sys_enter_execve"}, resolve.Options{StringSize: 100}},
		{"data_loc", []string{"sched:sched_process_exec", "irq:irq_handler_entry", "ipi:ipi_send_cpumask"}, resolve.Options{StringSize: 64}},
		{"arrays_and_pointers", []string{"sock:inet_sock_set_state", "ftrace:kernel_stack", "ftrace:print", "ext4:ext4_fsmap_low_key"}, resolve.Options{}},
		{"glob_and_duplicates", []string{"sched:sched_process_*", "sched:sched_process_exec", "sched:sched_process_fork", "sched:sched_switch", "sched:*switch"}, resolve.Options{}},
		{"stack_both", []string{"sched:sched_process_exec", "profile:hz:49"}, resolve.Options{Stack: "both", StringSize: 32}},
		{"stack_user", []string{"profile:ms:10"}, resolve.Options{Stack: "user"}},
		{"stack_kernel", []string{"profile:99"}, resolve.Options{Stack: "kernel"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls int
			ps, err := resolve.Specs(openFixtures(&calls), tt.specs, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			views := []probeView{}
			for _, p := range ps {
				views = append(views, view(t, p))
			}
			got, err := json.MarshalIndent(views, "", "\t")
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "probes", tt.name+".json"), append(got, '\n'))
		})
	}
}

// field returns the field called name of p and its read.
func field(t *testing.T, p *resolve.Probe, name string) (event.Field, resolve.Read) {
	t.Helper()
	i := p.Event.Index(name)
	if i < 0 {
		t.Fatalf("%s has no field %s", p.Event.Name, name)
	}
	return p.Event.Fields[i], p.Reads[i]
}

func tracepoint(t *testing.T, cat, name string, o resolve.Options) *resolve.Probe {
	t.Helper()
	f, err := fixtures.Format(cat, name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := resolve.Tracepoint(f, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTracepointFields(t *testing.T) {
	// What the golden files hold, spelled out for the fields whose meaning
	// matters most.
	tests := []struct {
		event, field string
		o            resolve.Options
		want         event.Field
		read         resolve.Read
	}{
		// Syscall arguments are stored as longs: the field keeps the C type.
		{"syscalls:sys_enter_openat", "dfd", resolve.Options{},
			event.Field{Name: "dfd", Kind: event.Int, Size: 4, Signed: true, CType: "int"},
			resolve.Read{Src: resolve.FromContext, Offset: 16, Size: 8}},
		{"syscalls:sys_enter_openat", "filename", resolve.Options{},
			event.Field{Name: "filename", Kind: event.String, Size: resolve.DefaultStringSize, CType: "const char *"},
			resolve.Read{Src: resolve.FromUserPtr, Offset: 24, Size: 8}},
		{"syscalls:sys_enter_openat", "filename", resolve.Options{StringSize: 80},
			event.Field{Name: "filename", Kind: event.String, Size: 80, CType: "const char *"},
			resolve.Read{Src: resolve.FromUserPtr, Offset: 24, Size: 8}},
		{"syscalls:sys_enter_openat", "flags", resolve.Options{},
			event.Field{Name: "flags", Kind: event.Int, Size: 4, Signed: true, Hex: true, CType: "int"},
			resolve.Read{Src: resolve.FromContext, Offset: 32, Size: 8}},
		{"syscalls:sys_enter_openat", "mode", resolve.Options{},
			event.Field{Name: "mode", Kind: event.Int, Size: 2, CType: "umode_t"},
			resolve.Read{Src: resolve.FromContext, Offset: 40, Size: 8}},
		{"syscalls:sys_enter_openat", "__syscall_nr", resolve.Options{},
			event.Field{Name: "__syscall_nr", Kind: event.Int, Size: 4, Signed: true, CType: "int"},
			resolve.Read{Src: resolve.FromContext, Offset: 8, Size: 4}},
		{"syscalls:sys_exit_openat", "ret", resolve.Options{},
			event.Field{Name: "ret", Kind: event.Int, Size: 8, Signed: true, CType: "long"},
			resolve.Read{Src: resolve.FromContext, Offset: 16, Size: 8}},
		{"syscalls:sys_enter_execve", "argv", resolve.Options{},
			event.Field{Name: "argv", Kind: event.Int, Size: 8, Hex: true, CType: "const char *const *"},
			resolve.Read{Src: resolve.FromContext, Offset: 24, Size: 8}},
		{"sched:sched_switch", "prev_comm", resolve.Options{},
			event.Field{Name: "prev_comm", Kind: event.Text, Size: 16, CType: "char[16]"},
			resolve.Read{Src: resolve.FromContext, Offset: 8, Size: 16}},
		{"sched:sched_switch", "prev_state", resolve.Options{},
			event.Field{Name: "prev_state", Kind: event.Int, Size: 8, Signed: true, CType: "long"},
			resolve.Read{Src: resolve.FromContext, Offset: 32, Size: 8}},
		{"sched:sched_switch", "next_pid", resolve.Options{},
			event.Field{Name: "next_pid", Kind: event.Int, Size: 4, Signed: true, CType: "pid_t"},
			resolve.Read{Src: resolve.FromContext, Offset: 56, Size: 4}},
		{"sched:sched_process_exec", "filename", resolve.Options{StringSize: 64},
			event.Field{Name: "filename", Kind: event.String, Size: 64, CType: "__data_loc char[]"},
			resolve.Read{Src: resolve.FromDataLoc, Offset: 8, Size: 4}},
		{"ipi:ipi_send_cpumask", "cpumask", resolve.Options{StringSize: 64},
			event.Field{Name: "cpumask", Kind: event.Bytes, Size: 66, CType: "__data_loc cpumask_t"},
			resolve.Read{Src: resolve.FromDataLoc, Offset: 8, Size: 4}},
		{"ipi:ipi_send_cpumask", "callsite", resolve.Options{},
			event.Field{Name: "callsite", Kind: event.Int, Size: 8, Hex: true, CType: "void *"},
			resolve.Read{Src: resolve.FromContext, Offset: 16, Size: 8}},
		{"ftrace:kernel_stack", "caller", resolve.Options{},
			event.Field{Name: "caller", Kind: event.Array, Size: 64, ElemSize: 8, Len: 8, CType: "unsigned long[8]"},
			resolve.Read{Src: resolve.FromContext, Offset: 16, Size: 64}},
		{"sock:inet_sock_set_state", "saddr_v6", resolve.Options{},
			event.Field{Name: "saddr_v6", Kind: event.Array, Size: 16, ElemSize: 1, Len: 16, CType: "__u8[16]"},
			resolve.Read{Src: resolve.FromContext, Offset: 40, Size: 16}},
		// Outside syscalls the tracefs size is kept.
		{"ext4:ext4_fsmap_low_key", "agno", resolve.Options{},
			event.Field{Name: "agno", Kind: event.Int, Size: 4, CType: "u32"},
			resolve.Read{Src: resolve.FromContext, Offset: 16, Size: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.event+"/"+tt.field, func(t *testing.T) {
			cat, name, _ := strings.Cut(tt.event, ":")
			p := tracepoint(t, cat, name, tt.o)
			f, r := field(t, p, tt.field)
			if diff := cmp.Diff(tt.want, f); diff != "" {
				t.Errorf("field (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.read, r); diff != "" {
				t.Errorf("read (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTracepointSkipsUnrecordable(t *testing.T) {
	// ftrace:print ends with a flexible char buf[]: it cannot be recorded.
	p := tracepoint(t, "ftrace", "print", resolve.Options{})
	var names []string
	for _, f := range p.Event.Fields {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff([]string{"ip"}, names); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	want := resolve.Target{Kind: resolve.TargetTracepoint, Category: "ftrace", Event: "print"}
	if diff := cmp.Diff(want, p.Target); diff != "" {
		t.Errorf("target (-want +got):\n%s", diff)
	}
}

func TestSpecsOrderAndDuplicates(t *testing.T) {
	// Tracepoints first, in the order given, each once; then the others in
	// their order.
	var calls int
	ps, err := resolve.Specs(openFixtures(&calls), []string{
		"profile:hz:99",
		"sched:sched_process_*",
		"profile:ms:5",
		"sched:sched_switch",
		"sched:sched_process_fork",
		"syscall:openat",
		"syscalls:sys_exit_openat",
	}, resolve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Event.Name)
	}
	want := []string{
		"sched:sched_process_exec", "sched:sched_process_fork", // the glob, sorted
		"sched:sched_switch",
		"syscalls:sys_enter_openat", "syscalls:sys_exit_openat",
		"profile:hz:99", "profile:ms:5",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("probes (-want +got):\n%s", diff)
	}
	if calls != 1 {
		t.Errorf("tracefs opened %d times, want once", calls)
	}
}

func TestSpecsWithoutTracepointsNeedNoTracefs(t *testing.T) {
	ps, err := resolve.Specs(func() (tracefs.FS, error) {
		t.Error("tracefs opened for a profile probe")
		return tracefs.FS{}, errors.New("no tracefs")
	}, []string{"profile:hz:99"}, resolve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Target.Kind != resolve.TargetPerfEvent {
		t.Errorf("probes = %v, want one perf event", ps)
	}
}

func TestSpecsExtrasDoNotModifyProbes(t *testing.T) {
	// The probes are made with their extra fields; the tracepoint's own
	// probe is not changed (Probe.With copies).
	f, err := fixtures.Format("sched", "sched_switch")
	if err != nil {
		t.Fatal(err)
	}
	base, err := resolve.Tracepoint(f, resolve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := len(base.Event.Fields)
	more := base.With([]event.Field{event.StackField(false)}, []resolve.Read{{Src: resolve.FromKernelStack}})
	if len(base.Event.Fields) != n || len(base.Reads) != n {
		t.Errorf("With changed its receiver: %d fields, %d reads, want %d", len(base.Event.Fields), len(base.Reads), n)
	}
	if len(more.Event.Fields) != n+1 || len(more.Reads) != n+1 || more.Event.Fields[n].Name != "kstack" || more.Reads[n].Src != resolve.FromKernelStack {
		t.Errorf("With: %d fields, %d reads, last %v", len(more.Event.Fields), len(more.Reads), more.Event.Fields[len(more.Event.Fields)-1])
	}
	if more.Event.Name != base.Event.Name || !cmp.Equal(more.Target, base.Target) {
		t.Errorf("With changed the name or target: %q %v", more.Event.Name, more.Target)
	}
}

func TestSpecsErrors(t *testing.T) {
	errOpen := errors.New("tracefs: not mounted")
	tests := []struct {
		name   string
		specs  []string
		o      resolve.Options
		open   error
		is     error  // errors.Is, when set
		as     any    // errors.As target, when set
		substr string // in the message
	}{
		{"no spec", nil, resolve.Options{}, nil, resolve.ErrNoProbe, nil, "no probe given"},
		{"syntax", []string{"sched:sched_switch", "tracepoint:sched"}, resolve.Options{}, nil, nil, new(*probe.SpecError), `invalid probe "tracepoint:sched"`},
		{"raw tracepoint", []string{"rawtracepoint:sched_switch"}, resolve.Options{}, nil, nil, nil,
			"rawtracepoint:sched_switch: rawtracepoint probes cannot be recorded yet"},
		{"no tracepoint matches", []string{"sched:nosuch_*"}, resolve.Options{}, nil, nil, nil,
			"no tracepoint matches sched:nosuch_* (see bpftrail list)"},
		{"category glob matches nothing", []string{"nosuch*:sched_switch"}, resolve.Options{}, nil, nil, nil,
			"no tracepoint matches nosuch*:sched_switch"},
		{"unknown tracepoint", []string{"sched:sched_swich"}, resolve.Options{}, nil, fs.ErrNotExist, new(*tracefs.NotFoundError),
			"tracepoint sched:sched_swich not found; did you mean sched:sched_switch?"},
		{"tracefs cannot be opened", []string{"sched:sched_switch"}, resolve.Options{}, errOpen, errOpen, nil, "not mounted"},
		{"stack value", []string{"sched:sched_switch"}, resolve.Options{Stack: "all"}, nil, nil, nil,
			`--stack "all": want user, kernel or both`},
		{"stack value without tracepoints", []string{"profile:hz:99"}, resolve.Options{Stack: "User"}, nil, nil, nil,
			`--stack "User": want user, kernel or both`},
		{"profile too fast", []string{"profile:hz:20000"}, resolve.Options{}, nil, nil, nil,
			"profile:hz:20000: the sampling frequency must be between 1 and 10000 Hz"},
		{"uprobe binary missing", []string{"uprobe:/nonexistent/bin:main"}, resolve.Options{}, nil, fs.ErrNotExist, nil,
			"uprobe binary /nonexistent/bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open := func() (tracefs.FS, error) {
				if tt.open != nil {
					return tracefs.FS{}, tt.open
				}
				return fixtures, nil
			}
			ps, err := resolve.Specs(open, tt.specs, tt.o)
			if err == nil {
				t.Fatalf("Specs = %d probes, want an error", len(ps))
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.is)
			}
			if tt.as != nil && !errors.As(err, tt.as) {
				t.Errorf("err = %v (%T), want errors.As %T", err, err, tt.as)
			}
			if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("err = %q, want it to contain %q", err, tt.substr)
			}
		})
	}
}

func TestTracepointsRefusesOtherKinds(t *testing.T) {
	sp, err := probe.Parse("profile:hz:99")
	if err != nil {
		t.Fatal(err)
	}
	sp.Raw = "profile:hz:99"
	_, err = resolve.Tracepoints(fixtures, []probe.Spec{sp}, resolve.Options{})
	if err == nil || err.Error() != "profile:hz:99: only tracepoints can be recorded so far" {
		t.Errorf("Tracepoints = %v", err)
	}
}

func TestParseSpecs(t *testing.T) {
	specs, err := resolve.ParseSpecs([]string{"syscall:read", "sched:sched_switch"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sp := range specs {
		got = append(got, fmt.Sprintf("%v %s", sp.Kind, sp.String()))
	}
	want := []string{
		"tracepoint tracepoint:syscalls:sys_enter_read",
		"tracepoint tracepoint:syscalls:sys_exit_read",
		"tracepoint tracepoint:sched:sched_switch",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseSpecs (-want +got):\n%s", diff)
	}
}
