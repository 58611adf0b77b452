package symbolize

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

const (
	globalFn = "symbolize_global_fn"
	staticFn = "symbolize_static_fn"
)

// requireTools skips the test when a tool is missing, or fails it under CI.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI (Debian packages gcc, binutils, xz-utils): %v", tool, err)
			}
			t.Skipf("%s not installed (Debian packages gcc, binutils, xz-utils)", tool)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nmFuncs returns the defined symbols of bin as name → address (nm).
func nmFuncs(t *testing.T, bin string, dynamic bool) map[string]uint64 {
	t.Helper()
	args := []string{"--format=posix", "--defined-only"}
	if dynamic {
		args = append(args, "-D")
	}
	out := run(t, "nm", append(args, bin)...)
	m := map[string]uint64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line) // name type value [size]
		if len(f) < 3 {
			continue
		}
		if v, err := strconv.ParseUint(f[2], 16, 64); err == nil {
			m[f[0]] = v
		}
	}
	return m
}

// readelfBuildID returns the build id that `readelf -n` prints.
func readelfBuildID(t *testing.T, bin string) string {
	t.Helper()
	for _, line := range strings.Split(run(t, "readelf", "-n", bin), "\n") {
		if _, id, ok := strings.Cut(line, "Build ID:"); ok {
			return strings.TrimSpace(id)
		}
	}
	t.Fatalf("readelf -n %s: no build id", bin)
	return ""
}

// variant is one way of building testdata/prog.c.
type variant struct {
	name       string
	pie        bool
	strip      bool
	miniDebug  bool // add .gnu_debugdata the way Fedora does
	debugByID  bool // separate debug file under <debugdir>/.build-id/
	wantStatic bool // the static function can be resolved
	wantSource string
}

var variants = []variant{
	{name: "nopie", wantStatic: true, wantSource: ".symtab"},
	{name: "pie", pie: true, wantStatic: true, wantSource: ".symtab"},
	{name: "stripped-pie", pie: true, strip: true, wantStatic: false, wantSource: ".dynsym"},
	{name: "minidebuginfo", pie: true, strip: true, miniDebug: true, wantStatic: true, wantSource: ".gnu_debugdata"},
	{name: "debuginfo-build-id", pie: true, strip: true, debugByID: true, wantStatic: true, wantSource: "debuginfo:"},
}

// built is a compiled variant.
type built struct {
	bin      string
	debugDir string
	addrs    map[string]uint64 // from nm before stripping
	buildID  string
}

func buildVariant(t *testing.T, v variant) built {
	t.Helper()
	requireTools(t, "gcc", "nm", "readelf")
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog-"+v.name)
	args := []string{"-O1", "-g", "-rdynamic", "-Wl,--build-id", "-o", bin, "testdata/prog.c"}
	if v.pie {
		args = append([]string{"-fPIE", "-pie"}, args...)
	} else {
		args = append([]string{"-fno-pie", "-no-pie"}, args...)
	}
	run(t, "gcc", args...)
	b := built{bin: bin, addrs: nmFuncs(t, bin, false), buildID: readelfBuildID(t, bin)}
	for _, fn := range []string{globalFn, staticFn} {
		if b.addrs[fn] == 0 {
			t.Fatalf("nm found no %s in %s", fn, bin)
		}
	}
	if v.debugByID {
		requireTools(t, "objcopy")
		b.debugDir = filepath.Join(dir, "debug")
		dbg := filepath.Join(b.debugDir, ".build-id", b.buildID[:2], b.buildID[2:]+".debug")
		if err := os.MkdirAll(filepath.Dir(dbg), 0o755); err != nil {
			t.Fatal(err)
		}
		run(t, "objcopy", "--only-keep-debug", bin, dbg)
	}
	if v.miniDebug {
		addMiniDebugInfo(t, bin)
	} else if v.strip {
		requireTools(t, "strip")
		run(t, "strip", "--strip-all", bin)
	}
	return b
}

// addMiniDebugInfo strips bin and adds .gnu_debugdata following Fedora's
// recipe (find-debuginfo.sh / gdb manual "MiniDebugInfo").
func addMiniDebugInfo(t *testing.T, bin string) {
	t.Helper()
	requireTools(t, "objcopy", "strip", "xz")
	dir := filepath.Dir(bin)
	dyn := nmFuncs(t, bin, true)
	var keep []string
	for _, line := range strings.Split(run(t, "nm", "--format=posix", "--defined-only", bin), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[1] == "T" || f[1] == "t" || f[1] == "D") {
			if _, ok := dyn[f[0]]; !ok {
				keep = append(keep, f[0])
			}
		}
	}
	slices.Sort(keep)
	keepFile := filepath.Join(dir, "keep_symbols")
	if err := os.WriteFile(keepFile, []byte(strings.Join(keep, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	debug := filepath.Join(dir, "debug")
	mini := filepath.Join(dir, "mini_debuginfo")
	run(t, "objcopy", "--only-keep-debug", bin, debug)
	run(t, "objcopy", "-S", "--remove-section", ".gdb_index", "--remove-section", ".comment",
		"--keep-symbols="+keepFile, debug, mini)
	run(t, "strip", "--strip-all", "-R", ".comment", bin)
	run(t, "xz", "-f", mini)
	run(t, "objcopy", "--add-section", ".gnu_debugdata="+mini+".xz", bin)
}

func TestELFVariants(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			b := buildVariant(t, v)
			var e *ELF
			var err error
			if b.debugDir != "" {
				e, err = NewCache(b.debugDir).OpenELF(b.bin)
			} else {
				e, err = OpenELF(b.bin)
			}
			if err != nil {
				t.Fatal(err)
			}
			wantType := elf.ET_EXEC
			if v.pie {
				wantType = elf.ET_DYN
			}
			if e.Type() != wantType {
				t.Errorf("Type = %v, want %v", e.Type(), wantType)
			}
			if e.BuildID() != b.buildID {
				t.Errorf("BuildID = %q, want %q", e.BuildID(), b.buildID)
			}
			if !slices.ContainsFunc(e.Sources(), func(s string) bool { return strings.HasPrefix(s, v.wantSource) }) {
				t.Errorf("Sources = %q, want one starting with %q", e.Sources(), v.wantSource)
			}
			g := b.addrs[globalFn]
			for _, tc := range []struct {
				addr    uint64
				name    string
				off     uint64
				unknown bool
			}{
				{addr: g, name: globalFn},
				{addr: g + 1, name: globalFn, off: 1},
				{addr: b.addrs[staticFn], name: staticFn, unknown: !v.wantStatic},
				{addr: b.addrs["main"], name: "main"},
			} {
				name, off, ok := e.Lookup(tc.addr)
				if tc.unknown {
					if ok && name == tc.name {
						t.Errorf("Lookup(%#x) = %s, want it unresolved", tc.addr, name)
					}
					continue
				}
				if !ok || name != tc.name || off != tc.off {
					t.Errorf("Lookup(%#x) = %q+%d %v, want %q+%d", tc.addr, name, off, ok, tc.name, tc.off)
				}
			}
			if _, _, ok := e.Lookup(1); ok {
				t.Errorf("Lookup(1) resolved")
			}
		})
	}
}

// startProg runs bin (which prints its function addresses and sleeps) and
// returns the process and the printed addresses.
func startProg(t *testing.T, bin string) (*exec.Cmd, map[string]uint64) {
	t.Helper()
	cmd := exec.Command(bin, "wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addrs := map[string]uint64{}
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for len(addrs) < 2 && sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			v, err := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
			if err != nil {
				done <- err
				return
			}
			addrs[f[0]] = v
		}
		done <- sc.Err()
	}()
	select {
	case err := <-done:
		if err != nil || len(addrs) != 2 {
			t.Fatalf("reading addresses from %s: %v %v", bin, addrs, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s printed no addresses", bin)
	}
	return cmd, addrs
}

func TestProcessLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (/proc/PID/map_files)")
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			b := buildVariant(t, v)
			cmd, rt := startProg(t, b.bin)
			cache := NewCache(b.debugDir)
			if b.debugDir == "" {
				cache = NewCache()
			}
			p, err := cache.Process(cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			// The process exits before symbolization: the snapshot must do.
			cmd.Process.Kill()
			cmd.Wait()

			f := p.Symbolize(rt[globalFn])
			want := Frame{Addr: rt[globalFn], Function: globalFn, Module: b.bin,
				ModuleOffset: b.addrs[globalFn], BuildID: b.buildID}
			if f != want {
				t.Errorf("Symbolize(%#x) = %+v\nwant %+v", rt[globalFn], f, want)
			}
			if !v.pie && rt[globalFn] != b.addrs[globalFn] {
				t.Errorf("non-PIE runtime address %#x != nm address %#x", rt[globalFn], b.addrs[globalFn])
			}
			f = p.Symbolize(rt[globalFn] + 2)
			if f.Function != globalFn || f.Offset != 2 {
				t.Errorf("Symbolize(addr+2) = %+v, want %s+2", f, globalFn)
			}
			f = p.Symbolize(rt[staticFn])
			if v.wantStatic && (f.Function != staticFn || f.Offset != 0) {
				t.Errorf("Symbolize(static) = %+v, want %s", f, staticFn)
			}
			if !v.wantStatic && f.Function == staticFn {
				t.Errorf("Symbolize(static) = %+v, want unresolved", f)
			}
			if f.Module != b.bin || f.ModuleOffset != b.addrs[staticFn] {
				t.Errorf("Symbolize(static) = %+v, want module %s+%#x", f, b.bin, b.addrs[staticFn])
			}
			if got := fmt.Sprint(p.Symbolize(rt[globalFn])); got != globalFn+" ("+b.bin+")" {
				t.Errorf("String = %q", got)
			}
			// The cache keeps the snapshot of the dead process.
			if p2, err := cache.Process(cmd.Process.Pid); err != nil || p2 != p {
				t.Errorf("cached Process = %p, %v; want %p", p2, err, p)
			}
			if f := p.Symbolize(8); f.Module != ModuleUnknown || f.Function != "" {
				t.Errorf("Symbolize(8) = %+v, want unknown", f)
			}
		})
	}
}

//go:noinline
func goTestTarget() int { return 42 }

func TestProcessSelfGo(t *testing.T) {
	p, err := NewProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	pc := uint64(reflect.ValueOf(goTestTarget).Pointer())
	want := runtime.FuncForPC(uintptr(pc)).Name()
	f := p.Symbolize(pc)
	if f.Function != want || f.Offset != 0 {
		t.Errorf("Symbolize(%#x) = %+v, want %s", pc, f, want)
	}
	exe, _ := os.Executable()
	if f.Module != exe {
		t.Errorf("Module = %q, want %q", f.Module, exe)
	}

	// The vDSO is read from memory.
	for _, m := range p.Mappings() {
		if m.Path != "[vdso]" {
			continue
		}
		found := false
		for a := m.Start; a < m.End && !found; a += 4 {
			f := p.Symbolize(a)
			found = strings.Contains(f.Function, "clock_gettime")
			if found && f.Module != "[vdso]" {
				t.Errorf("vdso frame %+v", f)
			}
		}
		if !found {
			t.Errorf("no clock_gettime in the vDSO")
		}
	}
}

func TestPerfMapJIT(t *testing.T) {
	mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_EXEC, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	start := uint64(uintptr(unsafe.Pointer(&mem[0])))
	path := fmt.Sprintf("/tmp/perf-%d.map", os.Getpid())
	if err := os.WriteFile(path, fmt.Appendf(nil, "%x 10 old\n%x 40 LazyCompile:*jitted_fn app.js:1\n%x 20 stub\n", start, start, start+0x100), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	p, err := NewProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr   uint64
		fn     string
		off    uint64
		module string
	}{
		{start + 0x10, "LazyCompile:*jitted_fn app.js:1", 0x10, ModuleJIT},
		{start + 0x108, "stub", 8, ModuleJIT},
		{start + 0x80, "", 0, ModuleAnon},
	} {
		f := p.Symbolize(tc.addr)
		if f.Function != tc.fn || f.Offset != tc.off || f.Module != tc.module {
			t.Errorf("Symbolize(start+%#x) = %+v, want %q+%d in %s", tc.addr-start, f, tc.fn, tc.off, tc.module)
		}
	}
	if f := p.Symbolize(start + 0x80); f.ModuleOffset != 0x80 || f.String() != "[anon]+0x80" {
		t.Errorf("anon frame %+v %q", f, f)
	}
}

func TestKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to read kallsyms addresses")
	}
	raw, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		t.Skip(err)
	}
	var addr uint64
	same := map[uint64][]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		a, _ := strconv.ParseUint(f[0], 16, 64)
		same[a] = append(same[a], f[2])
		if f[2] == "schedule" && (f[1] == "T" || f[1] == "t") && len(f) == 3 {
			addr = a
		}
	}
	if addr == 0 {
		t.Fatal("no schedule in /proc/kallsyms")
	}
	k, err := LoadKernel()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr uint64
		off  uint64
	}{{addr, 0}, {addr + 5, 5}} {
		f := k.Symbolize(tc.addr)
		// schedule, or an alias at its address.
		if !slices.Contains(same[addr], f.Function) ||
			f.Offset != tc.off || f.Module != ModuleKernel || f.Addr != tc.addr {
			t.Errorf("Symbolize(%#x) = %+v, want schedule+%d in [kernel]", tc.addr, f, tc.off)
		}
	}
	if a, ok := k.Address("schedule"); !ok || a != addr {
		t.Errorf("Address(schedule) = %#x %v, want %#x", a, ok, addr)
	}
	if k.BuildID() == "" {
		t.Log("no kernel build id in /sys/kernel/notes")
	}
	// Cached.
	c := NewCache()
	k1, err1 := c.Kernel()
	k2, err2 := c.Kernel()
	if err1 != nil || err2 != nil || k1 != k2 {
		t.Errorf("Cache.Kernel not cached: %v %v", err1, err2)
	}
}

func TestParseKallsyms(t *testing.T) {
	const in = `ffffffff81000000 T _stext
ffffffff81000100 t helper
ffffffff81000100 T helper_alias
ffffffff81000200 D some_data
ffffffff81000300 T after_data
ffffffffc0001000 t ext4_thing	[ext4]
ffffffffc0002000 t bpf_prog_abc_handler	[bpf]
`
	k, err := parseKallsyms(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr   uint64
		fn     string
		off    uint64
		module string
	}{
		{0xffffffff81000010, "_stext", 0x10, ModuleKernel},
		{0xffffffff81000100, "helper", 0, ModuleKernel},
		{0xffffffff81000250, "", 0, ModuleUnknown}, // inside data
		{0xffffffff81000301, "after_data", 1, ModuleKernel},
		{0xffffffffc0001004, "ext4_thing", 4, "[ext4]"},
		{0xffffffffc0002000, "bpf_prog_abc_handler", 0, "[bpf]"},
		{0x1000, "", 0, ModuleUnknown},
	} {
		f := k.Symbolize(tc.addr)
		if f.Function != tc.fn || f.Offset != tc.off || f.Module != tc.module {
			t.Errorf("Symbolize(%#x) = %+v, want %q+%d %s", tc.addr, f, tc.fn, tc.off, tc.module)
		}
	}
	_, err = parseKallsyms(strings.NewReader("0000000000000000 T _stext\n0000000000000000 T schedule\n"))
	if err != ErrKallsymsRestricted || !strings.Contains(err.Error(), "kptr_restrict") {
		t.Errorf("all-zero kallsyms: err = %v", err)
	}
}

func TestParseMaps(t *testing.T) {
	const in = `55d0c0a00000-55d0c0a01000 r--p 00000000 fd:01 1234                       /usr/bin/my prog
55d0c0a01000-55d0c0a02000 r-xp 00001000 fd:01 1234                       /usr/bin/my prog
7f0000000000-7f0000001000 rwxp 00000000 00:00 0 
7f0000002000-7f0000003000 r-xp 00000000 00:05 99                         /memfd:jit (deleted)
7ffd1c5f0000-7ffd1c5f2000 r-xp 00000000 00:00 0                          [vdso]
`
	ms := parseMaps([]byte(in))
	if len(ms) != 5 {
		t.Fatalf("parsed %d mappings: %+v", len(ms), ms)
	}
	want := Mapping{Start: 0x55d0c0a01000, End: 0x55d0c0a02000, Offset: 0x1000, Perms: "r-xp", Dev: "fd:01", Inode: 1234, Path: "/usr/bin/my prog"}
	if ms[1].Mapping != want {
		t.Errorf("maps[1] = %+v, want %+v", ms[1].Mapping, want)
	}
	if ms[2].Path != "" || ms[3].Path != "/memfd:jit" || !ms[3].Deleted || ms[4].Path != "[vdso]" {
		t.Errorf("maps = %+v", ms)
	}
}

func TestDemangle(t *testing.T) {
	for in, want := range map[string]string{
		"_ZN3foo3barEv":     "foo::bar()",
		"main.main":         "main.main",
		"symbolize_fn":      "symbolize_fn",
		"_ZNotMangled!!bad": "_ZNotMangled!!bad",
	} {
		if got := Demangle(in); got != want {
			t.Errorf("Demangle(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStrippedGoBinary(t *testing.T) {
	requireTools(t, "strip", "nm")
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\n//go:noinline\nfunc target() int { return 7 }\n\nfunc main() { println(target()) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "gobin")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	cmd := exec.Command(goTool, "build", "-o", bin, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GO111MODULE=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := nmFuncs(t, bin, false)["main.target"]
	if addr == 0 {
		t.Fatal("nm: no main.target")
	}
	run(t, "strip", "--strip-all", bin)
	e, err := OpenELF(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(e.Sources(), ".gopclntab") {
		t.Errorf("Sources = %q, want .gopclntab", e.Sources())
	}
	if name, off, ok := e.Lookup(addr + 1); !ok || name != "main.target" || off != 1 {
		t.Errorf("Lookup = %q+%d %v, want main.target+1", name, off, ok)
	}
}

func TestCacheConcurrent(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache()
	var wg sync.WaitGroup
	res := make([]*ELF, 8)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := c.OpenELF(exe)
			if err != nil {
				t.Error(err)
			}
			res[i] = e
		}()
	}
	wg.Wait()
	for _, e := range res {
		if e != res[0] || e == nil {
			t.Fatalf("cache returned different ELFs")
		}
	}
	if res[0].NumSymbols() == 0 {
		t.Errorf("no symbols in the test binary")
	}
}
