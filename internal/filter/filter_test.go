package filter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/golden"

	"github.com/google/go-cmp/cmp"
)

// schema is what a caller would supply for syscalls:sys_enter_openat plus
// the builtins.
var schema = Fields{
	{Name: "pid", Type: Int, Size: 4, Signed: true},
	{Name: "tid", Type: Int, Size: 4, Signed: true},
	{Name: "comm", Type: String, Size: 16},
	{Name: "cpu", Type: Int, Size: 4},
	{Name: "filename", Type: String},
	{Name: "flags", Type: Int, Size: 8},
	{Name: "ret", Type: Int, Size: 8, Signed: true},
	{Name: "prio", Type: Int, Size: 1},
	{Name: "state", Type: Int, Size: 2, Signed: true},
	{Name: "uid", Type: Int, Size: 4},
}

var (
	pid      = schema[0]
	comm     = schema[2]
	cpu      = schema[3]
	filename = schema[4]
	flags    = schema[5]
	ret      = schema[6]
)

func cmpExpr(f FieldInfo, op CmpOp, v int64) *Expr {
	return &Expr{Op: OpCmp, Cmp: &Compare{Field: f, Op: op, Int: v}}
}

func strExpr(f FieldInfo, op CmpOp, s string, prefix bool) *Expr {
	return &Expr{Op: OpCmp, Cmp: &Compare{Field: f, Op: op, Str: s, Prefix: prefix}}
}

func TestParseAST(t *testing.T) {
	tests := []struct {
		src  string
		want *Expr
	}{
		{"pid == 42", cmpExpr(pid, CmpEq, 42)},
		{"42 == pid", cmpExpr(pid, CmpEq, 42)},
		{"42 < pid", cmpExpr(pid, CmpGt, 42)},
		{"42 <= pid", cmpExpr(pid, CmpGe, 42)},
		{"42 > pid", cmpExpr(pid, CmpLt, 42)},
		{"42 >= pid", cmpExpr(pid, CmpLe, 42)},
		{"42 != pid", cmpExpr(pid, CmpNe, 42)},
		{"ret < -1", cmpExpr(ret, CmpLt, -1)},
		{"ret==-0x10", cmpExpr(ret, CmpEq, -16)},
		{"flags == 0xffffffffffffffff", cmpExpr(flags, CmpEq, -1)},
		{"cpu == 0X1f", cmpExpr(cpu, CmpEq, 31)},
		{"ret == -9223372036854775808", cmpExpr(ret, CmpEq, -1<<63)},
		{"pid == -0", cmpExpr(pid, CmpEq, 0)},
		{`comm == "bash"`, strExpr(comm, CmpEq, "bash", false)},
		{`"bash" != comm`, strExpr(comm, CmpNe, "bash", false)},
		{`filename == "/etc/*"`, strExpr(filename, CmpEq, "/etc/", true)},
		{`filename == "*"`, strExpr(filename, CmpEq, "", true)},
		{`filename == "/a\*b"`, strExpr(filename, CmpEq, "/a*b", false)},
		{`filename == "q\"\\\n\t"`, strExpr(filename, CmpEq, "q\"\\\n\t", false)},
		{`filename == "/tmp/é*"`, strExpr(filename, CmpEq, "/tmp/é", true)},
		{`comm == "123456789012345"`, strExpr(comm, CmpEq, "123456789012345", false)},
		{"pid == 1 && tid == 2 || cpu == 3", &Expr{Op: OpOr,
			L: &Expr{Op: OpAnd, L: cmpExpr(pid, CmpEq, 1), R: cmpExpr(schema[1], CmpEq, 2)},
			R: cmpExpr(cpu, CmpEq, 3)}},
		{"pid == 1 && (tid == 2 || cpu == 3)", &Expr{Op: OpAnd,
			L: cmpExpr(pid, CmpEq, 1),
			R: &Expr{Op: OpOr, L: cmpExpr(schema[1], CmpEq, 2), R: cmpExpr(cpu, CmpEq, 3)}}},
		{"!(pid == 1)", &Expr{Op: OpNot, L: cmpExpr(pid, CmpEq, 1)}},
		{"!pid == 1", &Expr{Op: OpNot, L: cmpExpr(pid, CmpEq, 1)}},
		{"((pid == 1))", cmpExpr(pid, CmpEq, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := Parse(tt.src, schema)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct{ src, want string }{
		{"pid==42", "pid == 42"},
		{"42<pid", "pid > 42"},
		{"  pid == 1 && tid == 2 || cpu == 3 ", "pid == 1 && tid == 2 || cpu == 3"},
		{"(pid == 1 && tid == 2) || cpu == 3", "pid == 1 && tid == 2 || cpu == 3"},
		{"pid == 1 && (tid == 2 || cpu == 3)", "pid == 1 && (tid == 2 || cpu == 3)"},
		{"pid == 1 || (tid == 2 || cpu == 3)", "pid == 1 || (tid == 2 || cpu == 3)"},
		{"(pid == 1 || tid == 2) || cpu == 3", "pid == 1 || tid == 2 || cpu == 3"},
		{"!(pid == 1 && tid == 2)", "!(pid == 1 && tid == 2)"},
		{"!!pid == 1", "!!(pid == 1)"},
		{"flags == 0xffffffffffffffff", "flags == 18446744073709551615"},
		{"ret >= -0x10", "ret >= -16"},
		{`filename == "/etc/*"`, `filename == "/etc/*"`},
		{`filename != "a\*b*"`, `filename != "a\*b*"`},
		{`filename == "q\"\\\n\t"`, `filename == "q\"\\\n\t"`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e, err := Parse(tt.src, schema)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.String(); got != tt.want {
				t.Errorf("String() = %s, want %s", got, tt.want)
			}
			back, err := Parse(e.String(), schema)
			if err != nil {
				t.Fatalf("reparse %s: %v", e, err)
			}
			if diff := cmp.Diff(e, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src     string
		wantErr string
	}{
		{"pdi == 42", `filter: column 1: unknown field "pdi" (did you mean "pid"? fields: pid, tid, comm, cpu, filename, flags, ret, prio, ...)`},
		{"pid == 42 && pdi == 1", `filter: column 14: unknown field "pdi" (did you mean "pid"? fields: pid, tid, comm, cpu, filename, flags, ret, prio, ...)`},
		{"zzzzzz == 1", `filter: column 1: unknown field "zzzzzz" (fields: pid, tid, comm, cpu, filename, flags, ret, prio, ...)`},
		{"filename ==", `filter: column 12: expected an operand after "=="`},
		{"pid == 1 &&", `filter: column 12: expected an operand after "&&"`},
		{"pid == 1 || ", `filter: column 13: expected an operand after "||"`},
		{"pid ==)", `filter: column 7: expected an operand after "=="`},
		{"", `filter: column 1: empty filter`},
		{"   ", `filter: column 4: empty filter`},
		{"(pid == 1", `filter: column 10: missing ")" (the "(" at column 1 is not closed)`},
		{"((pid == 1) && tid == 2", `filter: column 24: missing ")" (the "(" at column 1 is not closed)`},
		{"pid == 1)", `filter: column 9: unexpected ")" (no "(" is open here)`},
		{"()", `filter: column 2: expected an operand after "("`},
		{`comm == "bash`, `filter: column 9: unterminated string`},
		{`comm == "bash\`, `filter: column 9: unterminated string`},
		{`comm == "a\qb"`, `filter: column 11: unknown escape \q in string (escapes are \" \\ \n \t and \*)`},
		{`filename == "/etc/*/passwd"`, `filter: column 19: only a trailing * is supported (write \* for a literal *)`},
		{`filename == "*.conf"`, `filter: column 14: only a trailing * is supported (write \* for a literal *)`},
		{`filename == "**"`, `filter: column 14: only a trailing * is supported (write \* for a literal *)`},
		{`comm < "bash"`, `filter: column 6: string field "comm" can only be compared with == or !=, not <`},
		{`comm == 42`, `filter: column 9: cannot compare string field "comm" with integer 42 (use a string literal, e.g. comm == "bash")`},
		{`pid == "42"`, `filter: column 8: cannot compare integer field "pid" with string "42"`},
		{`"42" == pid`, `filter: column 1: cannot compare integer field "pid" with string "42"`},
		{`cpu == -1`, `filter: column 8: field "cpu" is unsigned and cannot be compared with -1`},
		{`-1 < cpu`, `filter: column 1: field "cpu" is unsigned and cannot be compared with -1`},
		{`prio > 255`, ``},
		{`prio > 256`, `filter: column 8: 256 does not fit in the 1-byte unsigned field "prio" (max 255)`},
		{`state == 32768`, `filter: column 10: 32768 does not fit in the 2-byte signed field "state" (range -32768..32767)`},
		{`state == -32769`, `filter: column 10: -32769 does not fit in the 2-byte signed field "state" (range -32768..32767)`},
		{`ret == 0x8000000000000000`, `filter: column 8: 0x8000000000000000 does not fit in the 8-byte signed field "ret" (range -9223372036854775808..9223372036854775807)`},
		{`ret == -9223372036854775809`, `filter: column 8: integer -9223372036854775809 is out of range`},
		{`flags == 18446744073709551616`, `filter: column 10: integer 18446744073709551616 is out of range`},
		{`pid == 12ab`, `filter: column 8: invalid integer "12ab" (integers are decimal or 0x hex)`},
		{`pid == 0x`, `filter: column 8: invalid integer "0x" (integers are decimal or 0x hex)`},
		{`comm == "0123456789abcdef"`, `filter: column 9: string "0123456789abcdef" is 16 bytes long but field "comm" holds at most 15`},
		{`comm == "0123456789abcdef*"`, `filter: column 9: prefix "0123456789abcdef*" is 16 bytes long but field "comm" holds at most 15`},
		{"pid == tid", `filter: column 1: cannot compare two fields (pid == tid) (compare a field with a literal)`},
		{"pid == tdi", `filter: column 8: unknown field "tdi" (did you mean "tid"? fields: pid, tid, comm, cpu, filename, flags, ret, prio, ...)`},
		{"1 == 2", `filter: column 1: comparison has no field (1 == 2) (compare a field with a literal, e.g. pid == 42)`},
		{"pid = 42", `filter: column 5: unexpected "=" (use "==" to compare)`},
		{"pid == 1 & tid == 2", `filter: column 10: unexpected "&" (use "&&")`},
		{"pid == 1 | tid == 2", `filter: column 10: unexpected "|" (use "||")`},
		{"pid == 1 and tid == 2", `filter: column 10: unexpected "and" (use "&&")`},
		{"pid == 1 or tid == 2", `filter: column 10: unexpected "or" (use "||")`},
		{"pid == 1 tid == 2", `filter: column 10: unexpected "tid" after a comparison; expected "&&", "||" or the end`},
		{"pid", `filter: column 4: expected a comparison operator (== != < <= > >=) after "pid", got end of filter`},
		{"pid 42", `filter: column 5: expected a comparison operator (== != < <= > >=) after "pid", got "42"`},
		{"pdi", `filter: column 1: unknown field "pdi" (did you mean "pid"? fields: pid, tid, comm, cpu, filename, flags, ret, prio, ...)`},
		{"== 1", `filter: column 1: expected a comparison such as pid == 42, got "=="`},
		{"comm == 'bash'", `filter: column 9: unexpected "'" (strings use double quotes: "text")`},
		{"pid == 1 $", `filter: column 10: unexpected character '$'`},
		{"comm == \"é\" && pid ≥ 1", `filter: column 20: unexpected character '≥'`},
		{"pid - 1 == 2", `filter: column 5: unexpected "-" (filters compare fields with literals; there is no arithmetic)`},
		{strings.Repeat("(", 101) + "pid == 1" + strings.Repeat(")", 101), `filter: column 101: filter nested too deeply (more than 100 levels)`},
		{strings.Repeat("!", 101) + "pid == 1", `filter: column 101: filter nested too deeply (more than 100 levels)`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := Parse(tt.src, schema)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want *SyntaxError", err, err)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error\n got %s\nwant %s", err, tt.wantErr)
			}
			if se.Src != tt.src {
				t.Errorf("Src = %q", se.Src)
			}
		})
	}
}

func TestUnknownFieldSmallSchema(t *testing.T) {
	small := Fields{{Name: "pid", Type: Int, Size: 4, Signed: true}, {Name: "comm", Type: String, Size: 16}}
	_, err := Parse("com == \"x\"", small)
	want := `filter: column 1: unknown field "com" (did you mean "comm"? fields: pid, comm)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
	_, err = Parse("x == 1", Fields{})
	want = `filter: column 1: unknown field "x" (this event has no fields)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
}

func TestUnusableField(t *testing.T) {
	_, err := Parse("blob == 1", Fields{{Name: "blob"}})
	want := `filter: column 1: field "blob" cannot be used in a filter`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
}

func TestCaret(t *testing.T) {
	tests := []struct{ src, want string }{
		{"pdi == 42", "pdi == 42\n^"},
		{"pid == 1 && pdi == 2", "pid == 1 && pdi == 2\n            ^"},
		{"\tpdi == 1", "\tpdi == 1\n\t^"},
		{"comm == \"é\" && x == 1", "comm == \"é\" && x == 1\n               ^"},
		{"pid ==", "pid ==\n      ^"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src, schema)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("Parse(%q) = %v", tt.src, err)
		}
		if got := se.Caret(); got != tt.want {
			t.Errorf("Caret() of %q =\n%s\nwant\n%s", tt.src, got, tt.want)
		}
	}
}

func TestExprFields(t *testing.T) {
	e, err := Parse(`pid == 1 && (comm == "a" || pid == 2) && !(cpu == 0)`, schema)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pid", "comm", "cpu"}, e.Fields()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestStringers(t *testing.T) {
	tests := []struct {
		got  fmt.Stringer
		want string
	}{
		{Int, "integer"}, {String, "string"}, {FieldType(9), "FieldType(9)"},
		{OpAnd, "&&"}, {OpOr, "||"}, {OpNot, "!"}, {OpCmp, "cmp"}, {Op(0), "Op(0)"},
		{CmpEq, "=="}, {CmpGe, ">="}, {CmpOp(0), "CmpOp(0)"},
		{(*Expr)(nil), "<nil>"},
	}
	for _, tt := range tests {
		if s := tt.got.String(); s != tt.want {
			t.Errorf("String() = %q, want %q", s, tt.want)
		}
	}
}

// TestGolden parses every line of testdata/valid.txt and testdata/invalid.txt
// and compares the canonical forms and errors (with carets) with the golden
// files.
func TestGolden(t *testing.T) {
	for _, name := range []string{"valid", "invalid"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			for line := range strings.Lines(string(data)) {
				line = strings.TrimSuffix(line, "\n")
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				e, err := Parse(line, schema)
				fmt.Fprintf(&out, "%s\n", line)
				switch {
				case name == "valid" && err != nil:
					t.Errorf("Parse(%q): %v", line, err)
				case name == "invalid" && err == nil:
					t.Errorf("Parse(%q) = %s, want an error", line, e)
				case err != nil:
					var se *SyntaxError
					errors.As(err, &se)
					fmt.Fprintf(&out, "  %s\n  %s\n", err, strings.ReplaceAll(se.Caret(), "\n", "\n  "))
				default:
					fmt.Fprintf(&out, "  => %s\n", e)
				}
			}
			golden.Check(t, filepath.Join("testdata", name+".golden"), []byte(out.String()))
		})
	}
}

// FuzzParse checks that Parse never panics, that every error is a
// *SyntaxError with a column inside the input, and that the canonical form of
// every accepted filter parses back to the same AST.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"pid == 42", `comm == "bash" && !(pid < 100)`, `filename == "/etc/*"`, "42 >= tid || cpu != 0x3",
		"ret < -1", `filename == "a\*b\"c"`, "((pid == 1))", "pid ==", `comm == "x`, "pdi == 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src, schema)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): error %T, want *SyntaxError", src, err)
			}
			if se.Col < 1 || se.Col > len([]rune(src))+1 {
				t.Fatalf("Parse(%q): column %d outside the input", src, se.Col)
			}
			_ = se.Caret()
			return
		}
		s := e.String()
		back, err := Parse(s, schema)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String() %q fails: %v", src, s, err)
		}
		if diff := cmp.Diff(e, back); diff != "" {
			t.Fatalf("round trip of %q via %q (-want +got):\n%s", src, s, diff)
		}
	})
}
