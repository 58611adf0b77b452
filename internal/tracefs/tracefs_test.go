package tracefs

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/golden"

	"github.com/google/go-cmp/cmp"
)

var fixtures = FS{Root: "testdata"}

func TestFormatGolden(t *testing.T) {
	events, err := fixtures.List("")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) < 8 {
		t.Fatalf("fixture tree lists %d events, want at least 8", len(events))
	}
	for _, e := range events {
		t.Run(e.String(), func(t *testing.T) {
			f, err := fixtures.Format(e.Category, e.Name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(f, "", "\t")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden.Check(t, filepath.Join("testdata", "golden", e.Category+"."+e.Name+".json"), got)
		})
	}
}

func TestFormatFields(t *testing.T) {
	tests := []struct {
		event, field string
		want         FormatField
	}{
		{"sched:sched_switch", "prev_comm", FormatField{Name: "prev_comm", CType: "char[16]", Offset: 8, Size: 16, Kind: FieldCharArray, ElemSize: 1, ArrayLen: 16}},
		{"sched:sched_switch", "prev_pid", FormatField{Name: "prev_pid", CType: "pid_t", Offset: 24, Size: 4, Signed: true, Kind: FieldInt}},
		{"sched:sched_switch", "prev_state", FormatField{Name: "prev_state", CType: "long", Offset: 32, Size: 8, Signed: true, Kind: FieldInt}},
		{"sched:sched_switch", "common_pid", FormatField{Name: "common_pid", CType: "int", Offset: 4, Size: 4, Signed: true, Kind: FieldInt}},
		{"sched:sched_process_fork", "child_comm", FormatField{Name: "child_comm", CType: "__data_loc char[]", Offset: 16, Size: 4, Kind: FieldDataLocString, ElemSize: 1}},
		{"sched:sched_process_exec", "filename", FormatField{Name: "filename", CType: "__data_loc char[]", Offset: 8, Size: 4, Kind: FieldDataLocString, ElemSize: 1}},
		{"syscalls:sys_enter_openat", "__syscall_nr", FormatField{Name: "__syscall_nr", CType: "int", Offset: 8, Size: 4, Signed: true, Kind: FieldInt}},
		{"syscalls:sys_enter_openat", "filename", FormatField{Name: "filename", CType: "const char *", Offset: 24, Size: 8, Kind: FieldUserString}},
		{"syscalls:sys_enter_openat", "dfd", FormatField{Name: "dfd", CType: "int", Offset: 16, Size: 8, Kind: FieldInt}},
		{"syscalls:sys_exit_openat", "ret", FormatField{Name: "ret", CType: "long", Offset: 16, Size: 8, Signed: true, Kind: FieldInt}},
		{"syscalls:sys_enter_execve", "filename", FormatField{Name: "filename", CType: "const char *", Offset: 16, Size: 8, Kind: FieldUserString}},
		{"syscalls:sys_enter_execve", "argv", FormatField{Name: "argv", CType: "const char *const *", Offset: 24, Size: 8, Kind: FieldPointer}},
		{"irq:irq_handler_entry", "name", FormatField{Name: "name", CType: "__data_loc char[]", Offset: 12, Size: 4, Kind: FieldDataLocString, ElemSize: 1}},
		{"sock:inet_sock_set_state", "skaddr", FormatField{Name: "skaddr", CType: "const void *", Offset: 8, Size: 8, Kind: FieldPointer}},
		{"sock:inet_sock_set_state", "saddr", FormatField{Name: "saddr", CType: "__u8[4]", Offset: 32, Size: 4, Kind: FieldArray, ElemSize: 1, ArrayLen: 4}},
		{"sock:inet_sock_set_state", "daddr_v6", FormatField{Name: "daddr_v6", CType: "__u8[16]", Offset: 56, Size: 16, Kind: FieldArray, ElemSize: 1, ArrayLen: 16}},
		{"sock:inet_sock_set_state", "sport", FormatField{Name: "sport", CType: "__u16", Offset: 24, Size: 2, Kind: FieldInt}},
		{"ftrace:kernel_stack", "caller", FormatField{Name: "caller", CType: "unsigned long[8]", Offset: 16, Size: 64, Kind: FieldArray, ElemSize: 8, ArrayLen: 8}},
		{"ftrace:print", "buf", FormatField{Name: "buf", CType: "char[]", Offset: 16, Size: 0, Kind: FieldCharArray, ElemSize: 1}},
		{"ipi:ipi_send_cpumask", "cpumask", FormatField{Name: "cpumask", CType: "__data_loc cpumask_t", Offset: 8, Size: 4, Kind: FieldDataLocArray, ElemSize: 8}},
	}
	for _, tt := range tests {
		t.Run(tt.event+"/"+tt.field, func(t *testing.T) {
			cat, name, _ := strings.Cut(tt.event, ":")
			f, err := fixtures.Format(cat, name)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := f.Field(tt.field)
			if !ok {
				t.Fatalf("no field %q in %+v", tt.field, f)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatHeader(t *testing.T) {
	f, err := fixtures.Format("sched", "sched_switch")
	if err != nil {
		t.Fatal(err)
	}
	if f.Category != "sched" || f.Name != "sched_switch" || f.ID == 0 {
		t.Errorf("header = %q %q %d", f.Category, f.Name, f.ID)
	}
	var names []string
	for _, fld := range f.Fields {
		names = append(names, fld.Name)
	}
	want := []string{"prev_comm", "prev_pid", "prev_prio", "prev_state", "next_comm", "next_pid", "next_prio"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if len(f.Common) != 4 || f.Common[0].Name != "common_type" {
		t.Errorf("common = %+v", f.Common)
	}
	if !strings.HasPrefix(f.PrintFmt, `"prev_comm=%s`) {
		t.Errorf("PrintFmt = %q", f.PrintFmt)
	}
}

func TestMultiLinePrintFmt(t *testing.T) {
	f, err := fixtures.Format("ext4", "ext4_fsmap_low_key")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.PrintFmt, "\"dev %d:%d keydev") || !strings.Contains(f.PrintFmt, "owner %lld\n\", ((unsigned int)") ||
		!strings.HasSuffix(f.PrintFmt, "REC->owner") {
		t.Errorf("PrintFmt = %q", f.PrintFmt)
	}
}

func TestParseFormat(t *testing.T) {
	const head = "name: ev\nID: 7\nformat:\n"
	tests := []struct {
		name     string
		category string
		field    string // a field line appended to head
		want     FormatField
		wantErr  string
	}{
		{name: "macro dim (old kernels)", field: "field:char comm[TASK_COMM_LEN];\toffset:8;\tsize:16;\tsigned:1;",
			want: FormatField{Name: "comm", CType: "char[TASK_COMM_LEN]", Offset: 8, Size: 16, Signed: true, Kind: FieldCharArray, ElemSize: 1, ArrayLen: 16}},
		{name: "macro dim ints", field: "field:u32 ids[NR];\toffset:8;\tsize:16;\tsigned:0;",
			want: FormatField{Name: "ids", CType: "u32[NR]", Offset: 8, Size: 16, Kind: FieldArray, ElemSize: 4, ArrayLen: 4}},
		{name: "no signed attribute", field: "field:int x;\toffset:8;\tsize:4;",
			want: FormatField{Name: "x", CType: "int", Offset: 8, Size: 4, Kind: FieldInt}},
		{name: "rel_loc", field: "field:__rel_loc char[] msg;\toffset:8;\tsize:4;\tsigned:0;",
			want: FormatField{Name: "msg", CType: "__rel_loc char[]", Offset: 8, Size: 4, Kind: FieldDataLocString, ElemSize: 1, RelLoc: true}},
		{name: "data_loc u64", field: "field:__data_loc u64[] stack;\toffset:8;\tsize:4;\tsigned:0;",
			want: FormatField{Name: "stack", CType: "__data_loc u64[]", Offset: 8, Size: 4, Kind: FieldDataLocArray, ElemSize: 8}},
		{name: "data_loc unsigned int", field: "field:__data_loc unsigned int[] ids;\toffset:8;\tsize:4;\tsigned:0;",
			want: FormatField{Name: "ids", CType: "__data_loc unsigned int[]", Offset: 8, Size: 4, Kind: FieldDataLocArray, ElemSize: 4}},
		{name: "flexible ulong array", field: "field:unsigned long args[];\toffset:24;\tsize:0;\tsigned:0;",
			want: FormatField{Name: "args", CType: "unsigned long[]", Offset: 24, Kind: FieldArray, ElemSize: 8}},
		{name: "syscall args array", category: "raw_syscalls", field: "field:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;",
			want: FormatField{Name: "args", CType: "unsigned long[6]", Offset: 16, Size: 48, Kind: FieldArray, ElemSize: 8, ArrayLen: 6}},
		{name: "bool", field: "field:bool group_dead;\toffset:8;\tsize:1;\tsigned:0;",
			want: FormatField{Name: "group_dead", CType: "bool", Offset: 8, Size: 1, Kind: FieldInt}},
		{name: "char pointer outside syscalls", category: "sched", field: "field:const char * s;\toffset:8;\tsize:8;\tsigned:0;",
			want: FormatField{Name: "s", CType: "const char *", Offset: 8, Size: 8, Kind: FieldPointer}},
		{name: "char pointer in syscalls", category: "syscalls", field: "field:char * buf;\toffset:8;\tsize:8;\tsigned:0;",
			want: FormatField{Name: "buf", CType: "char *", Offset: 8, Size: 8, Kind: FieldUserString}},
		{name: "unsigned char pointer in syscalls", category: "syscalls", field: "field:unsigned char * buf;\toffset:8;\tsize:8;\tsigned:0;",
			want: FormatField{Name: "buf", CType: "unsigned char *", Offset: 8, Size: 8, Kind: FieldPointer}},
		{name: "pointer without space", field: "field:const void* p;\toffset:8;\tsize:8;\tsigned:0;",
			want: FormatField{Name: "p", CType: "const void*", Offset: 8, Size: 8, Kind: FieldPointer}},
		{name: "pointer glued to name", category: "syscalls", field: "field:const char *name;\toffset:8;\tsize:8;\tsigned:0;",
			want: FormatField{Name: "name", CType: "const char *", Offset: 8, Size: 8, Kind: FieldUserString}},
		{name: "embedded struct", field: "field:struct foo f;\toffset:8;\tsize:24;\tsigned:0;",
			want: FormatField{Name: "f", CType: "struct foo", Offset: 8, Size: 24, Kind: FieldBytes}},
		{name: "odd size", field: "field:u8 x;\toffset:8;\tsize:3;\tsigned:0;",
			want: FormatField{Name: "x", CType: "u8", Offset: 8, Size: 3, Kind: FieldBytes}},

		{name: "missing offset", field: "field:int x;\tsize:4;\tsigned:1;", wantErr: `tracefs: format line 4: field "int x" has no offset`},
		{name: "missing size", field: "field:int x;\toffset:4;\tsigned:1;", wantErr: `has no size`},
		{name: "bad size", field: "field:int x;\toffset:4;\tsize:four;\tsigned:1;", wantErr: `invalid size "four"`},
		{name: "no type", field: "field:x;\toffset:4;\tsize:4;\tsigned:1;", wantErr: `cannot find type and name in declaration "x"`},
		{name: "no declaration", field: "field:;\toffset:4;\tsize:4;", wantErr: `missing field declaration`},
		{name: "garbage attribute", field: "field:int x;\toffset 4;", wantErr: `malformed field attribute "offset 4"`},
		{name: "garbage line", field: "hello world", wantErr: `tracefs: format line 4: unexpected line "hello world"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFormat(tt.category, []byte(head+"\t"+tt.field+"\n\nprint fmt: \"\"\n"))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Errorf("err is %T, want *FormatError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Fields) != 1 {
				t.Fatalf("fields = %+v", f.Fields)
			}
			if diff := cmp.Diff(tt.want, f.Fields[0]); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseFormatHeaderErrors(t *testing.T) {
	tests := []struct{ name, src, wantErr string }{
		{"no ID", "name: x\nformat:\n", `missing "ID:" line`},
		{"bad ID", "name: x\nID: -3\nformat:\n", `invalid ID "-3"`},
		{"no format", "name: x\nID: 3\n", `missing "format:" line`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFormat("c", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestFormatFileError(t *testing.T) {
	_, err := FS{Root: "testdata/broken"}.Format("bad", "no_offset")
	want := "tracefs: " + filepath.Join("testdata/broken/events/bad/no_offset/format") + `:4: field "int x" has no offset`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
}

func TestList(t *testing.T) {
	tests := []struct {
		pattern string
		want    []string
		wantErr string
	}{
		{pattern: "sched:*", want: []string{"sched:sched_process_exec", "sched:sched_process_fork", "sched:sched_switch"}},
		{pattern: "syscalls:sys_enter_*", want: []string{"syscalls:sys_enter_execve", "syscalls:sys_enter_openat"}},
		{pattern: "*:*openat", want: []string{"syscalls:sys_enter_openat", "syscalls:sys_exit_openat"}},
		{pattern: "irq:irq_handler_entry", want: []string{"irq:irq_handler_entry"}},
		{pattern: "nothing:*", want: nil},
		{pattern: "sched:[", wantErr: `invalid event pattern "sched:["`},
		{pattern: "", want: []string{
			"ext4:ext4_fsmap_low_key", "ftrace:kernel_stack", "ftrace:print", "ipi:ipi_send_cpumask", "irq:irq_handler_entry",
			"sched:sched_process_exec", "sched:sched_process_fork", "sched:sched_switch",
			"sock:inet_sock_set_state",
			"syscalls:sys_enter_execve", "syscalls:sys_enter_openat", "syscalls:sys_exit_openat",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			events, err := fixtures.List(tt.pattern)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range events {
				got = append(got, e.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestListMissingRoot(t *testing.T) {
	_, err := FS{Root: "testdata/does-not-exist"}.List("")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestFormatMissingRoot(t *testing.T) {
	_, err := FS{Root: "testdata/does-not-exist"}.Format("sched", "sched_switch")
	var nf *NotFoundError
	if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &nf) || !strings.Contains(err.Error(), "does-not-exist/events") {
		t.Fatalf("err = %v, want a wrapped fs.ErrNotExist naming the events directory", err)
	}
}

func TestNotFound(t *testing.T) {
	tests := []struct {
		category, name string
		wantMsg        string
		wantSugg       []string
	}{
		{"syscalls", "sys_enter_opnat", "tracepoint syscalls:sys_enter_opnat not found; did you mean syscalls:sys_enter_openat?", []string{"syscalls:sys_enter_openat"}},
		{"shed", "sched_switch", "tracepoint shed:sched_switch not found; did you mean sched:sched_switch?", []string{"sched:sched_switch"}},
		{"syscalls", "openat", "tracepoint syscalls:openat not found; did you mean syscalls:sys_enter_openat or syscalls:sys_exit_openat?",
			[]string{"syscalls:sys_enter_openat", "syscalls:sys_exit_openat"}},
		{"sched", "switch", "tracepoint sched:switch not found; did you mean sched:sched_switch?", []string{"sched:sched_switch"}},
		{"raw_syscalls", "sched_switch", "tracepoint raw_syscalls:sched_switch not found; did you mean sched:sched_switch?", []string{"sched:sched_switch"}},
		{"nope", "zzzzzz", `tracepoint nope:zzzzzz not found; run "bpftrail list" to see the available tracepoints`, nil},
		{"..", "x", `tracepoint ..:x not found; run "bpftrail list" to see the available tracepoints`, nil},
		{"sched", "../../sched/sched_switch", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.category+":"+tt.name, func(t *testing.T) {
			_, err := fixtures.Format(tt.category, tt.name)
			var nf *NotFoundError
			if !errors.As(err, &nf) {
				t.Fatalf("err = %v (%T), want *NotFoundError", err, err)
			}
			if !errors.Is(err, fs.ErrNotExist) {
				t.Error("errors.Is(err, fs.ErrNotExist) = false")
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("message\n got %s\nwant %s", err, tt.wantMsg)
			}
			if tt.wantMsg != "" {
				if diff := cmp.Diff(tt.wantSugg, nf.Suggestions); diff != "" {
					t.Errorf("suggestions (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestFindRoot(t *testing.T) {
	tests := []struct {
		file     string
		existing []string // directories that have events/
		want     string
		wantOK   bool
		wantErr  string
	}{
		{file: "tracefs", existing: []string{DefaultRoot}, want: DefaultRoot, wantOK: true},
		{file: "both", existing: []string{DefaultRoot, DebugfsRoot}, want: DefaultRoot, wantOK: true},
		{file: "both", existing: []string{DebugfsRoot}, want: DebugfsRoot, wantOK: true},
		{file: "debugfs", existing: []string{DebugfsRoot}, want: DebugfsRoot, wantOK: true},
		{file: "debugfs", existing: nil, wantOK: false},
		{file: "none", existing: []string{DefaultRoot}, wantOK: false},
		{file: "escaped", existing: []string{"/mnt/my trace"}, want: "/mnt/my trace", wantOK: true},
		{file: "malformed", wantErr: "mountinfo line 1: malformed"},
		{file: "", existing: []string{DebugfsRoot}, want: DebugfsRoot, wantOK: true}, // mountinfo unreadable
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var mounts []mount
			if tt.file != "" {
				f, err := os.Open(filepath.Join("testdata", "mountinfo", tt.file))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				mounts, err = parseMountinfo(f)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			exists := func(dir string) bool {
				for _, e := range tt.existing {
					if e == dir {
						return true
					}
				}
				return false
			}
			got, ok := findRoot(mounts, exists)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("findRoot = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	tests := map[string]string{
		`/plain`:           "/plain",
		`/a\040b`:          "/a b",
		`/tab\011x\134y`:   "/tab\tx\\y",
		`/trailing\04`:     `/trailing\04`,
		`/not\999octal`:    `/not\999octal`,
		`/end\040`:         "/end ",
		`\040\040\040\040`: "    ",
	}
	for in, want := range tests {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRealTracefs parses every format file of the running kernel. It skips
// when tracefs is unavailable, except in CI (CI=true) where it fails.
func TestRealTracefs(t *testing.T) {
	root, err := Root()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tracefs unavailable in CI: %v", err)
		}
		t.Skipf("tracefs unavailable: %v", err)
	}
	fsys := FS{Root: root}
	events, err := fsys.List("")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		t.Fatalf("%s lists no events", root)
	}
	kinds := map[FieldKind]int{}
	for _, e := range events {
		f, err := fsys.Format(e.Category, e.Name)
		if errors.Is(err, fs.ErrPermission) {
			t.Skipf("no permission to read %s: %v", root, err)
		}
		if err != nil {
			t.Errorf("%s: %v", e, err)
			continue
		}
		if f.Name != e.Name {
			t.Errorf("%s: name line says %q", e, f.Name)
		}
		for _, fld := range append(f.Common, f.Fields...) {
			kinds[fld.Kind]++
			if fld.Kind < FieldInt || fld.Kind > FieldBytes {
				t.Errorf("%s.%s: kind %v", e, fld.Name, fld.Kind)
			}
			if fld.Kind == FieldInt && fld.Size != 1 && fld.Size != 2 && fld.Size != 4 && fld.Size != 8 {
				t.Errorf("%s.%s: int of size %d", e, fld.Name, fld.Size)
			}
			if (fld.Kind == FieldArray || fld.Kind == FieldDataLocArray) && fld.ElemSize == 0 {
				t.Errorf("%s.%s (%s): array with unknown element size", e, fld.Name, fld.CType)
			}
			if fld.Kind == FieldArray && fld.ArrayLen*fld.ElemSize != fld.Size {
				t.Errorf("%s.%s (%s): %d×%d != size %d", e, fld.Name, fld.CType, fld.ArrayLen, fld.ElemSize, fld.Size)
			}
		}
	}
	t.Logf("%d events in %s; field kinds: %v", len(events), root, kinds)
}

func TestFieldKindText(t *testing.T) {
	for k := FieldInt; k <= FieldBytes; k++ {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back FieldKind
		if err := back.UnmarshalText(b); err != nil || back != k || k.String() != string(b) {
			t.Errorf("%d -> %q -> %d, %v", k, b, back, err)
		}
	}
	if _, err := FieldKind(0).MarshalText(); err == nil {
		t.Error("MarshalText(0) succeeded")
	}
	var k FieldKind
	if err := k.UnmarshalText([]byte("float")); err == nil {
		t.Error(`UnmarshalText("float") succeeded`)
	}
}
