package scriptout

import "testing"

func i32(v int32) Value { return Value{Kind: Int, Int: int64(v), Signed: true, Size: 4} }

func enum(name string, v uint64) Value {
	return Value{Kind: Int, Int: int64(v), Size: 8, Symbol: name}
}

func tuple(vs ...Value) Value { return Value{Kind: Tuple, Elems: vs} }

// printf cases: the EXPECT lines of bpftrace v0.26.1's tests/runtime/call
// and json-output, and behaviour read from its format_string.cpp (integer
// conversions cast to int / unsigned int unless a length modifier says
// otherwise; width pads the first piece written; '0' is only the fill).
func TestSprint(t *testing.T) {
	const x = 0x12345678abcdef
	cases := []struct {
		format string
		args   []Value
		want   string
	}{
		{"hi!\n", nil, "hi!\n"},
		{"value: %dms100\n", []Value{SInt(100)}, "value: 100ms100\n"},
		{"Elapsed time: %llus\n", []Value{Uint(1)}, "Elapsed time: 1s\n"},
		{"%hhx %hx %x %jx\n", []Value{SInt(x), SInt(x), SInt(x), SInt(x)}, "ef cdef 78abcdef 12345678abcdef\n"},
		{"%c%c%c%c\n", []Value{SInt(0x41), SInt(0x42), SInt(0x43), SInt(0x44)}, "ABCD\n"},
		{"%d %s %d %s %d %s\n", []Value{enum("ONE", 1), enum("ONE", 1), enum("TWO", 2), enum("TWO", 2), enum("OTHER", 99999), enum("OTHER", 99999)}, "1 ONE 2 TWO 99999 OTHER\n"},
		{"%-5s %5s %s\n", []Value{enum("A", 0), enum("B", 1), enum("C", 2)}, "A         B C\n"},
		{"%5s %04x", []Value{Str("ba"), SInt(2)}, "   ba 0002"},
		{"%dst: %sa; %dnd: %sb;; %drd: %sc;;; %dth: %sd;;;;\n", []Value{SInt(1), Str("a"), SInt(2), Str("ab"), SInt(3), Str("abc"), SInt(4), Str("abcd")}, "1st: aa; 2nd: abb;; 3rd: abcc;;; 4th: abcdd;;;;\n"},
		{"test \r \n \t \\ \" bar", nil, "test \r \n \t \\ \" bar"},
		{"GFPFlags: %gr\n", []Value{SInt(1)}, "GFPFlags: GFP_DMA\n"},
		{"%gr", []Value{SInt(0)}, "0"},
		{"%gr", []Value{Uint(0xcc0)}, "GFP_KERNEL"},
		{"%gr", []Value{Uint(0xcc0 | 1<<30)}, "GFP_KERNEL|0x40000000"},
		{"%rx", []Value{{Kind: Buf, Str: "Hello\x00"}}, `\x48\x65\x6c\x6c\x6f\x00`},
		{"%rh", []Value{{Kind: Buf, Str: "Hello\x00"}}, "48 65 6c 6c 6f 00"},
		{"P: %r-%r\n", []Value{{Kind: Buf, Str: "\x09\x08\x07\x06"}, {Kind: Buf, Str: "ab\x00"}}, `P: \x09\x08\x07\x06-ab\x00` + "\n"},
		{"0x%x -- 0x%x\n", []Value{i32(0x55555555), i32(0x33333333)}, "0x55555555 -- 0x33333333\n"},
		// From format_string.cpp.
		{"%d", []Value{SInt(1 << 40)}, "0"},
		{"%ld", []Value{SInt(1 << 40)}, "1099511627776"},
		{"%d", []Value{SInt(-5)}, "-5"},
		{"%u", []Value{SInt(-1)}, "4294967295"},
		{"%lu", []Value{SInt(-1)}, "18446744073709551615"},
		{"%hhd", []Value{SInt(255)}, "-1"},
		{"%+d %+d", []Value{SInt(5), SInt(-5)}, "+5 -5"},
		{"%+u", []Value{SInt(5)}, "5"},
		{"% d", []Value{SInt(5)}, "5"},
		{"%-5d|", []Value{SInt(5)}, "5    |"},
		{"%05d", []Value{SInt(-5)}, "000-5"},
		{"%-05d", []Value{SInt(5)}, "50000"},
		{"%#x %#X %#o %#x", []Value{SInt(255), SInt(255), SInt(8), SInt(0)}, "0xff 0XFF 010 0"},
		{"%X", []Value{SInt(0xabc)}, "ABC"},
		{"%p %p", []Value{{Kind: Pointer, Int: 0x1234}, Uint(0)}, "0x1234 0"},
		{"%d %s", []Value{{Kind: Bool, Int: 1}, {Kind: Bool}}, "1 false"},
		{"%s", []Value{SInt(-3)}, "-3"},
		{"%s", []Value{tuple(SInt(1), Str("abc"))}, "(1, abc)"},
		{"%4s|", []Value{tuple(SInt(1))}, "   (1)|"},
		{"%s", []Value{{Kind: Record, Names: []string{"a", "b"}, Elems: []Value{SInt(1), Str("x")}}}, "{ .a = 1, .b = x }"},
		{"%s", []Value{{Kind: Buf, Str: "A\x01"}}, `A\x01`},
		{"%.2s", []Value{Str("abcdef")}, "abcdef"},
		{"%10.3s|", []Value{Str("abc")}, "       abc|"},
		{"%*d", []Value{SInt(7)}, "7"},
		{"100%% %k %", nil, "100% %k %"},
		{"%d", []Value{Str("abc")}, "!{invalid integer conversion: abc}"},
	}
	for _, c := range cases {
		f, err := ParseFormat(c.format)
		if err != nil {
			t.Errorf("ParseFormat(%q): %v", c.format, err)
			continue
		}
		if len(f.Specs) != len(c.args) {
			t.Errorf("ParseFormat(%q): %d specs, want %d", c.format, len(f.Specs), len(c.args))
			continue
		}
		if got := f.Sprint(c.args); got != c.want {
			t.Errorf("Sprint(%q) = %q, want %q", c.format, got, c.want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	f, _ := ParseFormat("a%-+ #08.3lldb%%c%rxd%gr%s")
	want := []Spec{
		{Left: true, Plus: true, Space: true, Alt: true, Zero: true, Width: 8, Precision: 3, Length: "ll", Verb: "d"},
		{Precision: -1, Verb: "rx"},
		{Precision: -1, Verb: "gr"},
		{Precision: -1, Verb: "s"},
	}
	if len(f.Specs) != len(want) {
		t.Fatalf("specs %+v", f.Specs)
	}
	for i := range want {
		if f.Specs[i] != want[i] {
			t.Errorf("spec %d = %+v, want %+v", i, f.Specs[i], want[i])
		}
	}
	frags := []string{"a", "b%c", "d", "", ""}
	for i := range frags {
		if f.Fragments[i] != frags[i] {
			t.Errorf("fragment %d = %q, want %q", i, f.Fragments[i], frags[i])
		}
	}
}

// Check's messages are format_string.cpp's FormatString::check.
func TestCheck(t *testing.T) {
	intArg := ArgType{Class: ArgInt, Name: "int64"}
	str := ArgType{Class: ArgOther, Name: "string[4]"}
	cases := []struct {
		format string
		args   []ArgType
		want   string
	}{
		{"%d %s", []ArgType{intArg, str}, ""},
		{"%d %d", []ArgType{intArg}, "not enough arguments for format string (1 supplied, 2 expected)"},
		{"%d", []ArgType{intArg, intArg}, "too many arguments for format string (2 supplied, 1 expected)"},
		{"hi", []ArgType{str}, "too many arguments for format string (1 supplied, 0 expected)"},
		{"%d", []ArgType{str}, "unsupported format specifier for type 'string[4]': d"},
		{"%r", []ArgType{intArg}, "unsupported format specifier for type 'int64': r"},
		{"%rh", []ArgType{{Class: ArgBuffer, Name: "buffer[6]"}}, ""},
		{"%x %p %c", []ArgType{{Class: ArgBool, Name: "bool"}, {Class: ArgPointer, Name: "int8 *"}, intArg}, ""},
		{"%A", []ArgType{str}, "unsupported format specifier: A"},
		{"%f", []ArgType{intArg}, "unsupported format specifier: f"},
		{"%n", []ArgType{intArg}, "unsupported format specifier: n"},
		{"%d", []ArgType{{Class: ArgNone, Name: "none"}}, "unable to print none type for specifier: d"},
		{"%-10.10s", []ArgType{str}, ""},
	}
	for _, c := range cases {
		f, _ := ParseFormat(c.format)
		err := f.Check(c.args)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("Check(%q) = %q, want %q", c.format, got, c.want)
		}
	}
}
