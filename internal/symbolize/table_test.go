package symbolize

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTableJSONRoundTrip(t *testing.T) {
	in := NewTable()
	in.Add(0, false, 0xffffffff81000010, Frame{Addr: 0xffffffff81000010, Function: "do_sys_openat2", Offset: 0x10, Module: ModuleKernel, ModuleOffset: 0xffffffff81000010})
	in.Add(0, false, 0xffffffffc0001234, Frame{Addr: 0xffffffffc0001234, Function: "ext4_file_open", Offset: 0x4, Module: "[ext4]", ModuleOffset: 0xffffffffc0001234})
	in.Add(7, true, 0x401010, Frame{Addr: 0x401010, Function: "work", Offset: 0x10, Module: "/bin/app", ModuleOffset: 0x1010, BuildID: "abcd"})
	in.Add(7, true, 0x7f0000001000, Frame{Addr: 0x7f0000001000, Module: "/lib/libc.so.6", ModuleOffset: 0x1000, BuildID: "ef01"})
	in.Add(9, true, 0x401010, Frame{Addr: 0x401010, Function: "std::vector<int>::push_back(int const&)", Module: "/bin/other", ModuleOffset: 0x1010})
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Table
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(in, &out); d != "" {
		t.Errorf("round trip (-want +got):\n%s\n%s", d, b)
	}
	// Lookups: known frames whole, unknown addresses as unknown frames.
	if f := out.Frame(7, true, 0x401010); f.String() != "work+0x10 (/bin/app)" || f.BuildID != "abcd" {
		t.Errorf("frame of pid 7 at 0x401010: %+v", f)
	}
	if f := out.Frame(8, true, 0x401010); f != (Frame{Addr: 0x401010, Module: ModuleUnknown, ModuleOffset: 0x401010}) {
		t.Errorf("frame of pid 8 (not in the table): %+v", f)
	}
	if f := out.Frame(0, false, 0xffffffff81999999); f.String() != "[kernel]+0xffffffff81999999" {
		t.Errorf("unknown kernel address: %s", f)
	}
	var none *Table
	if f := none.Frame(7, true, 0x10); f.Module != ModuleUnknown {
		t.Errorf("frame of a nil table: %+v", f)
	}
}

func TestTableJSONErrors(t *testing.T) {
	for _, in := range []string{
		`{"version":1,"kernel":{},"user":{}}`,
		`{"version":2,"kernel":{"xyz":{}},"user":{}}`,
		`{"version":2,"kernel":{},"user":{"me":{}}}`,
		`{"kernel":{"ffff":"f"},"user":{"x":{}}}`,
		`[]`,
	} {
		var tab Table
		if err := json.Unmarshal([]byte(in), &tab); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}

// TestTableFirstLayout: the tables of earlier recordings kept each frame as
// its text.
func TestTableFirstLayout(t *testing.T) {
	in := `{"kernel":{"ffffffff81000010":"do_sys_openat2+0x10 ([kernel])"},
		"user":{"7":{"401010":"work+0x10 (/bin/app)","7f0000001000":"/lib/libc.so.6+0x1000","401500":"main (/bin/app)"}}}`
	var tab Table
	if err := json.Unmarshal([]byte(in), &tab); err != nil {
		t.Fatal(err)
	}
	want := &Table{
		Kernel: map[uint64]Frame{0xffffffff81000010: {Addr: 0xffffffff81000010, Function: "do_sys_openat2", Offset: 0x10, Module: ModuleKernel}},
		User: map[int]map[uint64]Frame{7: {
			0x401010:       {Addr: 0x401010, Function: "work", Offset: 0x10, Module: "/bin/app"},
			0x401500:       {Addr: 0x401500, Function: "main", Module: "/bin/app"},
			0x7f0000001000: {Addr: 0x7f0000001000, Module: "/lib/libc.so.6", ModuleOffset: 0x1000},
		}},
	}
	if d := cmp.Diff(want, &tab); d != "" {
		t.Errorf("first layout (-want +got):\n%s", d)
	}
}

func TestParseFrame(t *testing.T) {
	tests := []struct {
		in   string
		want Frame
	}{
		{"work+0x10 (/bin/app)", Frame{Function: "work", Offset: 0x10, Module: "/bin/app"}},
		{"main (/bin/app)", Frame{Function: "main", Module: "/bin/app"}},
		{"ns::f(int) const+0x1f (/usr/lib/libx.so (deleted))", Frame{Function: "ns::f(int) const", Offset: 0x1f, Module: "/usr/lib/libx.so (deleted)"}},
		{"operator()+0x2 (/bin/a b)", Frame{Function: "operator()", Offset: 0x2, Module: "/bin/a b"}},
		{"[jit]+0xad", Frame{Module: ModuleJIT, ModuleOffset: 0xad}},
		{"0x7f00deadbeef", Frame{Addr: 0x7f00deadbeef, Module: ModuleUnknown, ModuleOffset: 0x7f00deadbeef}},
		{"f1", Frame{Function: "f1"}},
		{"a+0xzz", Frame{Function: "a+0xzz"}},
	}
	for _, tt := range tests {
		got := ParseFrame(tt.in)
		if got != tt.want {
			t.Errorf("ParseFrame(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		// The text of a frame read back is the text it was read from.
		if tt.want.Module != "" && !strings.HasPrefix(tt.in, "0x") && got.String() != tt.in {
			t.Errorf("ParseFrame(%q).String() = %q", tt.in, got.String())
		}
	}
}
