package resolve_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

func TestParseFields(t *testing.T) {
	tests := []struct {
		in   string
		want []resolve.FieldSpec
		err  string
	}{
		{"", nil, ""},
		{" , ,", nil, ""},
		{"arg0", []resolve.FieldSpec{{Name: "arg0"}}, ""},
		{"arg0,arg5,retval", []resolve.FieldSpec{{Name: "arg0"}, {Name: "arg5"}, {Name: "retval"}}, ""},
		{" arg1 , str(arg2) ", []resolve.FieldSpec{{Name: "arg1"}, {Name: "arg2", String: true}}, ""},
		{"str( arg0 ),str(retval)", []resolve.FieldSpec{{Name: "arg0", String: true}, {Name: "retval", String: true}}, ""},
		{"arg6", nil, `--fields: "arg6": want arg0..arg5, retval, str(argN) or str(retval)`},
		{"arg", nil, `--fields: "arg": want arg0..arg5`},
		{"arg10", nil, `--fields: "arg10": want arg0..arg5`},
		{"ret", nil, `--fields: "ret": want arg0..arg5`},
		{"arg0, foo", nil, `--fields: " foo": want arg0..arg5`},
		{"str(arg0", nil, `--fields: "str(arg0": missing )`},
		{"str(argx)", nil, `--fields: "str(argx)": want arg0..arg5`},
		{"str()", nil, `--fields: "str()": want arg0..arg5`},
		{"ARG0", nil, `--fields: "ARG0": want arg0..arg5`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := resolve.ParseFields(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseFields(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFields(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseFields(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestProfile(t *testing.T) {
	tests := []struct {
		spec string
		want resolve.Target
		name string
		err  string
	}{
		{"profile:hz:99", resolve.Target{Kind: resolve.TargetPerfEvent, Frequency: 99}, "profile:hz:99", ""},
		{"profile:49", resolve.Target{Kind: resolve.TargetPerfEvent, Frequency: 49}, "profile:hz:49", ""},
		{"p:hz:1", resolve.Target{Kind: resolve.TargetPerfEvent, Frequency: 1}, "profile:hz:1", ""},
		{"profile:hz:10000", resolve.Target{Kind: resolve.TargetPerfEvent, Frequency: 10000}, "profile:hz:10000", ""},
		{"profile:s:2", resolve.Target{Kind: resolve.TargetPerfEvent, Period: 2_000_000_000}, "profile:s:2", ""},
		{"profile:ms:10", resolve.Target{Kind: resolve.TargetPerfEvent, Period: 10_000_000}, "profile:ms:10", ""},
		{"profile:us:100", resolve.Target{Kind: resolve.TargetPerfEvent, Period: 100_000}, "profile:us:100", ""},
		{"profile:us:250", resolve.Target{Kind: resolve.TargetPerfEvent, Period: 250_000}, "profile:us:250", ""},
		{"profile:hz:10001", resolve.Target{}, "", "profile:hz:10001: the sampling frequency must be between 1 and 10000 Hz"},
		{"profile:us:99", resolve.Target{}, "", "profile:us:99: the sampling period must be between 100us and 1h"},
		{"profile:us:1", resolve.Target{}, "", "the sampling period must be between 100us and 1h"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			sp, err := probe.Parse(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			p, err := resolve.Profile(sp)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Profile(%s) = %v, %v; want error %q", tt.spec, p, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.Target); diff != "" {
				t.Errorf("target (-want +got):\n%s", diff)
			}
			if p.Event.Name != tt.name || len(p.Event.Fields) != 0 || len(p.Reads) != 0 {
				t.Errorf("event %q with %d fields, %d reads; want %q without fields", p.Event.Name, len(p.Event.Fields), len(p.Reads), tt.name)
			}
			if p.Target.TakesRegs() {
				t.Error("a perf event's program takes pt_regs")
			}
		})
	}
}

func TestProfileUnitsDirect(t *testing.T) {
	// Specs built without the parser: an empty unit means hz, an unknown
	// one is refused, and so is a zero frequency.
	tests := []struct {
		sp   probe.Spec
		want uint64
		err  string
	}{
		{probe.Spec{Kind: probe.Profile, Rate: 7, Raw: "p"}, 7, ""},
		{probe.Spec{Kind: probe.Profile, Unit: "min", Rate: 1, Raw: "p"}, 0, `p: unknown unit "min" (hz, s, ms, us)`},
		{probe.Spec{Kind: probe.Profile, Unit: "hz", Rate: 0, Raw: "p"}, 0, "p: the sampling frequency must be between 1 and 10000 Hz"},
	}
	for _, tt := range tests {
		t.Run(tt.sp.Unit, func(t *testing.T) {
			p, err := resolve.Profile(tt.sp)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("Profile = %v, want error %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Target.Frequency != tt.want || p.Event.Name != "profile:hz:7" {
				t.Errorf("Profile = %+v %q", p.Target, p.Event.Name)
			}
		})
	}
}

// buildTarget builds testdata/target.c once per test binary run with the
// flags given.
var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

func buildTarget(t *testing.T, flags ...string) string {
	t.Helper()
	gcc := bpftest.RequireTool(t, "gcc")
	buildMu.Lock()
	defer buildMu.Unlock()
	key := strings.Join(flags, " ")
	if bin, ok := built[key]; ok {
		return bin
	}
	dir, err := os.MkdirTemp("", "resolve-target")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "target")
	args := append(append([]string{"-O1"}, flags...), "-o", bin, filepath.Join("testdata", "target.c"))
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	built[key] = bin
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, bin := range built {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// Argument registers in x86-64's struct pt_regs.
const (
	rdi, rsi, rdx, rcx, r8, r9, rax = 112, 104, 96, 88, 72, 64, 80
)

func intArg(name string, off int) (event.Field, resolve.Read) {
	return event.Field{Name: name, Kind: event.Int, Size: 8, Signed: true, CType: "register"},
		resolve.Read{Src: resolve.FromContext, Offset: off, Size: 8}
}

func strArg(name string, off, size int, src resolve.Source) (event.Field, resolve.Read) {
	return event.Field{Name: name, Kind: event.String, Size: size, CType: "register"},
		resolve.Read{Src: src, Offset: off, Size: 8}
}

type fr struct {
	f event.Field
	r resolve.Read
}

func pair(f event.Field, r resolve.Read) fr { return fr{f, r} }

func fieldsOf(p *resolve.Probe) []fr {
	var out []fr
	for i := range p.Event.Fields {
		out = append(out, fr{p.Event.Fields[i], p.Reads[i]})
	}
	return out
}

func TestUprobe(t *testing.T) {
	bin := buildTarget(t)
	allArgs := []fr{
		pair(intArg("arg0", rdi)), pair(intArg("arg1", rsi)), pair(intArg("arg2", rdx)),
		pair(intArg("arg3", rcx)), pair(intArg("arg4", r8)), pair(intArg("arg5", r9)),
	}
	tests := []struct {
		name   string
		spec   string
		fields string
		o      resolve.Options
		event  string
		target resolve.Target
		want   []fr
	}{
		{"every argument by default", "uprobe:" + bin + ":add3", "", resolve.Options{},
			"uprobe:" + bin + ":add3", resolve.Target{Kind: resolve.TargetUprobe, Path: bin, Symbol: "add3"}, allArgs},
		{"return value by default", "uretprobe:" + bin + ":add3", "", resolve.Options{},
			"uretprobe:" + bin + ":add3", resolve.Target{Kind: resolve.TargetUretprobe, Path: bin, Symbol: "add3"},
			[]fr{pair(intArg("retval", rax))}},
		{"str(arg2) and an int; retval has no place at entry", "uprobe:" + bin + ":add3", "str(arg2),arg0,retval", resolve.Options{StringSize: 40},
			"uprobe:" + bin + ":add3", resolve.Target{Kind: resolve.TargetUprobe, Path: bin, Symbol: "add3"},
			[]fr{pair(strArg("arg2", rdx, 40, resolve.FromUserPtr)), pair(intArg("arg0", rdi))}},
		{"arguments have no place at return", "uretprobe:" + bin + ":add4", "arg0,str(retval)", resolve.Options{},
			"uretprobe:" + bin + ":add4", resolve.Target{Kind: resolve.TargetUretprobe, Path: bin, Symbol: "add4"},
			[]fr{pair(strArg("retval", rax, resolve.DefaultStringSize, resolve.FromUserPtr))}},
		{"symbol and offset", "uprobe:" + bin + ":add4+0x4", "arg3", resolve.Options{},
			"uprobe:" + bin + ":add4+0x4", resolve.Target{Kind: resolve.TargetUprobe, Path: bin, Symbol: "add4", Offset: 4},
			[]fr{pair(intArg("arg3", rcx))}},
		{"an address needs no symbol", "uprobe:" + bin + ":0x1139", "arg1", resolve.Options{},
			"uprobe:" + bin + ":0x1139", resolve.Target{Kind: resolve.TargetUprobe, Path: bin, Offset: 0x1139},
			[]fr{pair(intArg("arg1", rsi))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, err := probe.Parse(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			fields, err := resolve.ParseFields(tt.fields)
			if err != nil {
				t.Fatal(err)
			}
			p, err := resolve.Uprobe(sp, fields, 0, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if p.Event.Name != tt.event {
				t.Errorf("event %q, want %q", p.Event.Name, tt.event)
			}
			if diff := cmp.Diff(tt.target, p.Target); diff != "" {
				t.Errorf("target (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, fieldsOf(p), cmp.AllowUnexported(fr{})); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			if !p.Target.TakesRegs() {
				t.Error("a uprobe's program does not take pt_regs")
			}
			if err := p.Event.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestUprobeThroughSpecs(t *testing.T) {
	// Specs passes --fields and the string size through, and adds the
	// stack fields.
	bin := buildTarget(t)
	fields, err := resolve.ParseFields("str(arg2)")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := resolve.Specs(nil, []string{"uprobe:" + bin + ":add3"}, resolve.Options{Fields: fields, StringSize: 24, Stack: "user"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("%d probes", len(ps))
	}
	want := []fr{
		pair(strArg("arg2", rdx, 24, resolve.FromUserPtr)),
		{event.StackField(true), resolve.Read{Src: resolve.FromUserStack}},
	}
	if diff := cmp.Diff(want, fieldsOf(ps[0]), cmp.AllowUnexported(fr{})); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestUprobeErrors(t *testing.T) {
	bin := buildTarget(t)
	stripped := buildTarget(t, "-static", "-s")
	tests := []struct {
		name string
		spec string
		want string
		not  string
	}{
		{"missing symbol suggests close names", "uprobe:" + bin + ":add5",
			"symbol add5 not found in " + bin + "; did you mean add3, add4?", ""},
		{"a prefix is close", "uretprobe:" + bin + ":add",
			"symbol add not found in " + bin + "; did you mean add3, add4?", ""},
		{"nothing close", "uprobe:" + bin + ":zzzzzzzzzzzz",
			"symbol zzzzzzzzzzzz not found in " + bin, "did you mean"},
		{"no symbols at all", "uprobe:" + stripped + ":add3",
			"uprobe binary " + stripped + " has no symbols: give an address (uprobe:" + stripped + ":0xADDR)", ""},
		{"not an ELF file", "uprobe:" + filepath.Join("testdata", "target.c") + ":main",
			"uprobe binary testdata/target.c: not a readable ELF file", ""},
		{"missing file", "uprobe:/nonexistent/dir/prog:main", "uprobe binary /nonexistent/dir/prog: stat", ""},
		{"bare name not found", "uprobe:bpftrail-no-such-program:main",
			`uprobe binary "bpftrail-no-such-program" not found (give a path, or -p PID to search the process's mappings)`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, err := probe.Parse(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			p, err := resolve.Uprobe(sp, nil, 0, resolve.Options{})
			if err == nil {
				t.Fatalf("Uprobe = %v, want an error", p.Event.Name)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Errorf("err = %q, should not contain %q", err, tt.not)
			}
		})
	}
}

func TestFindBinary(t *testing.T) {
	bin := buildTarget(t)
	got, err := resolve.FindBinary(bin, 0)
	if err != nil || got != bin {
		t.Errorf("FindBinary(%s) = %q, %v; want the path as is", bin, got, err)
	}
	// A bare name is looked up in $PATH when it is no library.
	t.Setenv("PATH", filepath.Dir(bin))
	got, err = resolve.FindBinary("target", 0)
	if err != nil || got != bin {
		t.Errorf("FindBinary(target) with PATH=%s = %q, %v; want %s", filepath.Dir(bin), got, err, bin)
	}
	// The process's mappings come first: this test binary maps itself.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	got, err = resolve.FindBinary(filepath.Base(self), os.Getpid())
	if want := "/proc/" + itoa(os.Getpid()) + "/root" + self; err != nil || got != want {
		t.Errorf("FindBinary(%s, self) = %q, %v; want %s", filepath.Base(self), got, err, want)
	}
	if _, err := resolve.FindBinary("x", 1<<30); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FindBinary with a pid that does not exist = %v, want a not-exist error", err)
	}
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}

func TestKprobe(t *testing.T) {
	if _, err := os.Stat("/proc/kallsyms"); err != nil {
		t.Skipf("no /proc/kallsyms: %v", err)
	}
	tests := []struct {
		spec   string
		fields string
		event  string
		target resolve.Target
		want   []fr
	}{
		{"kprobe:vfs_read", "arg0,arg2", "kprobe:vfs_read", resolve.Target{Kind: resolve.TargetKprobe, Symbol: "vfs_read"},
			[]fr{pair(intArg("arg0", rdi)), pair(intArg("arg2", rdx))}},
		{"kprobe:vfs_read+8", "str(arg1)", "kprobe:vfs_read", resolve.Target{Kind: resolve.TargetKprobe, Symbol: "vfs_read", Offset: 8},
			[]fr{pair(strArg("arg1", rsi, resolve.DefaultStringSize, resolve.FromKernelPtr))}},
		{"kretprobe:vfs_read", "", "kretprobe:vfs_read", resolve.Target{Kind: resolve.TargetKretprobe, Symbol: "vfs_read"},
			[]fr{pair(intArg("retval", rax))}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			sp, err := probe.Parse(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			fields, err := resolve.ParseFields(tt.fields)
			if err != nil {
				t.Fatal(err)
			}
			p, err := resolve.Kprobe(sp, fields, resolve.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Event.Name != tt.event {
				t.Errorf("event %q, want %q", p.Event.Name, tt.event)
			}
			if diff := cmp.Diff(tt.target, p.Target); diff != "" {
				t.Errorf("target (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, fieldsOf(p), cmp.AllowUnexported(fr{})); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("missing function suggests close names", func(t *testing.T) {
		sp, err := probe.Parse("kprobe:vfs_raed")
		if err != nil {
			t.Fatal(err)
		}
		_, err = resolve.Kprobe(sp, nil, resolve.Options{})
		if err == nil || !strings.HasPrefix(err.Error(), "kernel function vfs_raed not found in /proc/kallsyms; did you mean ") ||
			!strings.Contains(err.Error(), "vfs_read") {
			t.Errorf("err = %v, want a suggestion of vfs_read", err)
		}
	})
}

func TestKprobeSupport(t *testing.T) {
	// Specs refuses kprobes on a kernel that has neither the kprobe PMU nor
	// kprobe_events, naming the alternatives.
	_, errPMU := os.Stat("/sys/bus/event_source/devices/kprobe/type")
	_, errEvents := os.Stat("/sys/kernel/tracing/kprobe_events")
	_, errDebug := os.Stat("/sys/kernel/debug/tracing/kprobe_events")
	ps, err := resolve.Specs(nil, []string{"kprobe:vfs_read"}, resolve.Options{})
	if errPMU != nil && errEvents != nil && errDebug != nil {
		if !errors.Is(err, resolve.ErrNoKprobes) || !strings.Contains(err.Error(), "use tracepoints instead") {
			t.Errorf("Specs(kprobe) on a kernel without kprobes = %v, want ErrNoKprobes", err)
		}
		return
	}
	if err != nil || len(ps) != 1 || ps[0].Target.Kind != resolve.TargetKprobe {
		t.Errorf("Specs(kprobe) on a kernel with kprobes = %v, %v", ps, err)
	}
}

// TestRegisterOffsets checks the pt_regs offsets uprobe and kprobe fields
// read against the kernel's own struct pt_regs.
func TestRegisterOffsets(t *testing.T) {
	spec := kernelBTF(t)
	var regs *btf.Struct
	if err := spec.TypeByName("pt_regs", &regs); err != nil {
		t.Fatal(err)
	}
	bin := buildTarget(t)
	sp, err := probe.Parse("uprobe:" + bin + ":add3")
	if err != nil {
		t.Fatal(err)
	}
	p, err := resolve.Uprobe(sp, nil, 0, resolve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := probe.Parse("uretprobe:" + bin + ":add3")
	if err != nil {
		t.Fatal(err)
	}
	ret, err := resolve.Uprobe(rp, nil, 0, resolve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	members := map[string]string{"arg0": "di", "arg1": "si", "arg2": "dx", "arg3": "cx", "arg4": "r8", "arg5": "r9", "retval": "ax"}
	for _, pr := range []*resolve.Probe{p, ret} {
		for i, f := range pr.Event.Fields {
			want := -1
			for _, m := range regs.Members {
				if m.Name == members[f.Name] {
					want = int(m.Offset.Bytes())
				}
			}
			if pr.Reads[i].Offset != want {
				t.Errorf("%s is read at pt_regs+%d; the kernel's pt_regs has %s at %d", f.Name, pr.Reads[i].Offset, members[f.Name], want)
			}
		}
	}
}
