package bpfgen_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/golden"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// scriptErrorCases are programs with a mistake the type checker must
// report; their messages are bpftrace's where bpftrace has one.
var scriptErrorCases = []struct{ name, src string }{
	{"unknown_builtin", `BEGIN { @x = nosuchbuiltin; }`},
	{"kernel_member_typo", `BEGIN { @x = curtask->real_parnt->tgid; }`},
	{"kernel_struct_typo", `BEGIN { $t = (struct task_strct *)0; @x = $t->pid; }`},
	{"script_member_typo", `struct point { int xpos; int ypos; } BEGIN { $p = (struct point *)0; @x = $p->ypso; }`},
	{"unknown_function", `BEGIN { nosuchfunc(1); }`},
	{"undefined_variable", `BEGIN { @x = $nope; }`},
	{"map_two_value_types", `BEGIN { @m = 1; @m = "str"; }`},
	{"map_two_aggregations", `BEGIN { @m = count(); @m = sum(1); }`},
	{"map_two_key_types", `BEGIN { @m[1] = 1; @m["a"] = 2; }`},
	{"map_with_and_without_keys", `BEGIN { @m = 1; @m[1] = 2; }`},
	{"variable_two_types", `BEGIN { $x = 1; $x = "a"; }`},
	{"hist_too_many_args", `BEGIN { @h = hist(1, 2, 3); }`},
	{"count_with_arg", `BEGIN { @c = count(1); }`},
	{"sum_without_arg", `BEGIN { @s = sum(); }`},
	{"sum_of_string", `BEGIN { @s = sum("a"); }`},
	{"lhist_min_above_max", `BEGIN { @l = lhist(1, 10, 5, 1); }`},
	{"lhist_step_zero", `BEGIN { @l = lhist(1, 0, 10, 0); }`},
	{"printf_too_few_args", `BEGIN { printf("%d %d\n", 1); }`},
	{"printf_too_many_args", `BEGIN { printf("%d\n", 1, 2); }`},
	{"printf_not_literal", `BEGIN { $f = "x"; printf($f); }`},
	{"string_compared_with_int", `BEGIN { if ("abc" == 1) { exit(); } }`},
	{"string_less_than", `BEGIN { if ("abc" < "abd") { exit(); } }`},
	{"arith_on_string", `BEGIN { @x = "a" + 1; }`},
	{"ternary_mixed_types", `BEGIN { @x = 1 ? "a" : 2; }`},
	{"aggregation_as_value", `BEGIN { $x = count(); }`},
	{"hist_read_as_value", `BEGIN { @h = hist(1); @x = @h + 1; }`},
	{"undefined_map", `BEGIN { @x = @nope; }`},
	{"unknown_field", `tracepoint:syscalls:sys_enter_write { @x = args->nosuchfield; }`},
	{"break_outside_loop", `BEGIN { break; }`},
	{"tuple_index_out_of_range", `BEGIN { $t = (1, 2); @x = $t.5; }`},
	{"unknown_cast_type", `BEGIN { @x = (nosuchtype)1; }`},
	{"str_too_many_args", `BEGIN { @x = str("a", 1, 2); }`},
	{"delete_without_key", `BEGIN { @m[1] = 1; delete(@m); }`},
	{"clear_of_non_map", `BEGIN { clear(1); }`},
}

// writeProbe is a hand-made tracepoint probe like syscalls:sys_enter_write.
func writeProbe() *resolve.Probe {
	return &resolve.Probe{
		Event: &event.Schema{Name: "syscalls:sys_enter_write", Fields: []event.Field{
			{Name: "fd", Kind: event.Int, Size: 8, Signed: true},
			{Name: "count", Kind: event.Int, Size: 8},
		}},
		Reads: []resolve.Read{
			{Src: resolve.FromContext, Offset: 16, Size: 8},
			{Src: resolve.FromContext, Offset: 32, Size: 8},
		},
		Target: resolve.Target{Kind: resolve.TargetTracepoint, Category: "syscalls", Event: "sys_enter_write"},
	}
}

// TestScriptErrors compiles each program against hand-made probes (no
// BPF needed) and compares the errors with testdata/script_errors.golden.
func TestScriptErrors(t *testing.T) {
	var out strings.Builder
	for _, tc := range scriptErrorCases {
		prog, err := lang.Parse("stdin", tc.src)
		if err != nil {
			t.Fatalf("%s: parse: %v", tc.name, err)
		}
		var probes []bpfgen.ScriptProbe
		for i, p := range prog.Probes {
			ap := strings.Join(p.Points[0].Parts, ":")
			switch {
			case ap == "BEGIN":
				probes = append(probes, bpfgen.ScriptProbe{Block: i, Name: "begin", Special: bpfgen.Begin})
			case strings.HasPrefix(ap, "tracepoint:"):
				probes = append(probes, bpfgen.ScriptProbe{Block: i, Name: ap, Func: "sys_enter_write", Probe: writeProbe()})
			default:
				t.Fatalf("%s: no probe for %s", tc.name, ap)
			}
		}
		_, err = bpfgen.CompileScript(prog, probes, bpfgen.ScriptOptions{})
		out.WriteString("== " + tc.name + "\n")
		var le *lang.Error
		switch {
		case err == nil:
			t.Errorf("%s: %s compiles", tc.name, tc.src)
			out.WriteString("(no error)\n")
		case errors.As(err, &le):
			out.WriteString(le.Detail())
		default:
			t.Errorf("%s: the error is not a *lang.Error: %v", tc.name, err)
			out.WriteString(err.Error() + "\n")
		}
	}
	golden.Check(t, "testdata/script_errors.golden", []byte(out.String()))
}
