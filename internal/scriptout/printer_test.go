package scriptout

import (
	"strings"
	"testing"
	"time"
)

func TestPrinterJSON(t *testing.T) {
	var out strings.Builder
	p := &Printer{W: &out, JSON: true}
	steps := []struct {
		do   func() error
		want string
	}{
		{func() error { return p.AttachedProbes(1) }, `{"type": "attached_probes", "count": 1, "data": {"probes": 1}}`},
		{func() error { return p.Printf("test 5") }, `{"type": "printf", "data": "test 5"}`},
		{func() error { return p.Printf("test \r \n \t \\ \" bar") }, `{"type": "printf", "data": "test \r \n \t \\ \" bar"}`},
		{func() error { return p.Time("12:34:56\n") }, `{"type": "time", "data": "12:34:56\n"}`},
		{func() error { return p.Syscall("a b c\n") }, `{"type": "syscall", "data": "a b c\n"}`},
		{func() error { return p.Join("/bin/echo,'A'") }, `{"type": "join", "data": "/bin/echo,'A'"}`},
		{func() error { return p.Cat("1.0 2.0\n") }, `{"type": "cat", "data": "1.0 2.0\n"}`},
		{func() error { return p.Value(Str("Argument list too long")) }, `{"type": "value", "data": "Argument list too long"}`},
		{func() error { return p.Value(SInt(5)) }, `{"type": "value", "data": 5}`},
		{func() error { return p.Value(tuple(SInt(1), SInt(2), Str("string"))) }, `{"type": "value", "data": [1,2,"string"]}`},
		{func() error {
			return p.Value(Value{Kind: Record, Names: []string{"y", "a"}, Elems: []Value{
				{Kind: Record, Names: []string{"m"}, Elems: []Value{{Kind: Array, Elems: []Value{i32(2)}}}},
				{Kind: Record, Names: []string{"n"}, Elems: []Value{i32(3)}}}})
		}, `{"type": "value", "data": {"y": {"m": [2]}, "a": {"n": 3}}}`},
		{func() error { return p.Value(tuple(Value{Kind: Bool, Int: 1}, Value{Kind: Bool})) }, `{"type": "value", "data": [true,false]}`},
		{func() error { return p.Value(enum("FOO", 333)) }, `{"type": "value", "data": 333}`},
		{func() error {
			return p.Value(Value{Kind: Record, Names: []string{"m", "n"}, Elems: []Value{i32(2),
				{Kind: Record, Names: []string{"i", "f"}, Elems: []Value{i32(5), {Kind: None}}}}})
		}, `{"type": "value", "data": {"m": 2, "n": {"i": 5, "f": null}}}`},
		{func() error { return p.Lost(3) }, `{"type": "lost_events", "count": 3, "data": {"events": 3}}`},
		{func() error {
			return p.Errorf("ef\n", Location{Text: "stdin:1:32-75", File: "stdin", Line: 1, Col: 32})
		}, `{"type": "errorf", "msg": "ef\n", "filename": "stdin", "line": 1, "col": 32}`},
		{func() error {
			return p.Map(&Map{Name: "@map1", Keyed: true, Entries: []Entry{{Key: Str("key1"), Value: SInt(2)}}}, 0, 0)
		}, `{"type": "map", "data": {"@map1": {"key1": 2}}}`},
		{func() error { return p.End() }, ``},
	}
	for _, s := range steps {
		out.Reset()
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		want := s.want
		if want != "" {
			want += "\n"
		}
		if out.String() != want {
			t.Errorf("got  %q\nwant %q", out.String(), want)
		}
	}
}

func TestPrinterText(t *testing.T) {
	var out, errs strings.Builder
	p := &Printer{W: &out, Err: &errs}
	p.AttachedProbes(1)
	p.AttachedProbes(2)
	p.Printf("hi!\n")
	p.Value(tuple(SInt(1), tuple(SInt(2), Str("XXXX"))))
	p.Value(Value{Kind: Record, Names: []string{"a"}, Elems: []Value{{Kind: Array, Elems: []Value{SInt(1), SInt(2)}}}})
	p.Value(Value{Kind: Pointer, Int: 0x32})
	p.Value(Value{Kind: Bool, Int: 1})
	p.Value(Value{Kind: Buf, Str: "ab\x01"})
	p.Join("a b")
	p.Lost(4)
	p.Warnf("ef cdef\n", Location{Text: "stdin:1:32-74"})
	p.End()
	p.Map(&Map{Name: "@y", Entries: []Entry{{Value: SInt(1)}}}, 0, 0)
	wantOut := "hi!\n(1, (2, XXXX))\n{ .a = [1,2] }\n0x32\ntrue\nab\\x01\na b\n\n\n@y: 1\n"
	wantErr := "Attached 1 probe\nAttached 2 probes\nLost 4 events\nstdin:1:32-74: WARNING: ef cdef\n"
	if out.String() != wantOut {
		t.Errorf("stdout %q, want %q", out.String(), wantOut)
	}
	if errs.String() != wantErr {
		t.Errorf("stderr %q, want %q", errs.String(), wantErr)
	}
}

func TestJSONString(t *testing.T) {
	cases := []struct {
		v    Value
		want string
	}{
		{Str("a\x01\x7f"), `"a\u0001` + "\x7f" + `"`},
		{Str("é"), `"\uffffffc3\uffffffa9"`},
		{Value{Kind: Buf, Str: "H\xff"}, `[72,-1]`},
		{SInt(-9007199254740993), `"-9007199254740993"`},
		{SInt(-9007199254740992), `-9007199254740992`},
		{Uint(1<<64 - 1), `"18446744073709551615"`},
		{Value{Kind: Int, Int: -1, Size: 4}, `4294967295`},
	}
	for _, c := range cases {
		if got := JSONString(c.v); got != c.want {
			t.Errorf("JSONString(%+v) = %s, want %s", c.v, got, c.want)
		}
	}
}

func TestTime(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	// 2024-03-05 07:08:09.123456789 CET, a Tuesday.
	at := time.Date(2024, 3, 5, 7, 8, 9, 123456789, loc)
	cases := []struct{ f, want string }{
		{DefaultTimeFormat, "07:08:09\n"},
		{"%Y-%m-%d %H:%M:%S", "2024-03-05 07:08:09"},
		{"%y %b %a %e %j %p %Z %z %%", "24 Mar Tue  5 065 AM CET +0100 %"},
		{"%A %B %I %u %w %D %T %F %R", "Tuesday March 07 2 2 03/05/24 07:08:09 2024-03-05 07:08"},
		{"%c", "Tue Mar  5 07:08:09 2024"},
		{"%U %W %V %G %C", "09 10 10 2024 20"},
		{"%s", "1709618889"},
		{"%-d %_m %Q", "5  3 %Q"},
	}
	for _, c := range cases {
		got, err := FormatTime(c.f, at)
		if err != nil || got != c.want {
			t.Errorf("FormatTime(%q) = %q, %v; want %q", c.f, got, err, c.want)
		}
	}
	// tests/async_action.cpp: a result that does not fit 64 bytes fails.
	if _, err := FormatTime("%Y-%m-%d "+strings.Repeat("X", 64), at); err == nil {
		t.Error("FormatTime of a long result did not fail")
	}
	if _, err := FormatTime("", at); err == nil {
		t.Error("FormatTime of an empty result did not fail")
	}

	// strftime(): nsecs plus the offset, with %f, %k and %l.
	boot := time.Date(2024, 3, 5, 7, 0, 0, 0, loc).Sub(time.Unix(0, 0))
	nsecs := uint64(8*time.Minute + 9*time.Second + 123456789)
	cases = []struct{ f, want string }{
		{"%H:%M:%S.%f", "07:08:09.123456"},
		{"%S.%k %S.%l", "09.123456789 09.123"},
		{"%m/%d/%y", "03/05/24"},
	}
	for _, c := range cases {
		if got := Strftime(c.f, nsecs, boot, loc); got != c.want {
			t.Errorf("Strftime(%q) = %q, want %q", c.f, got, c.want)
		}
	}
	// tests/runtime/call: "%s.%f" of 1000123000 and 0 differ by 1.000123.
	a, b := Strftime("%s.%f", 1000123000, boot, loc), Strftime("%s.%f", 0, boot, loc)
	if a != "1709618401.000123" || b != "1709618400.000000" {
		t.Errorf("rollover: %s - %s", a, b)
	}
	if got := Strftime("%s", 0, 0, loc); got != "(?)" {
		t.Errorf("Strftime at the epoch = %q, want (?)", got)
	}
}
