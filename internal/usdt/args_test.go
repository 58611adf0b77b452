package usdt

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseArgs(t *testing.T) {
	reg := func(size int, signed bool, r string, shift int) Arg {
		return Arg{Size: size, Signed: signed, Kind: ArgReg, Reg: r, RegOffset: PtRegsOffset[r], BitShift: shift}
	}
	deref := func(size int, signed bool, r string, off int64) Arg {
		return Arg{Size: size, Signed: signed, Kind: ArgRegDeref, Reg: r, RegOffset: PtRegsOffset[r], Offset: off}
	}
	cnst := func(size int, signed bool, v int64) Arg {
		return Arg{Size: size, Signed: signed, Kind: ArgConst, Const: v}
	}
	tests := []struct {
		in   string
		want []Arg
	}{
		{"", nil},
		{"   ", nil},
		{"8@%rax", []Arg{reg(8, false, "rax", 0)}},
		{"-4@%esi 8@-16(%rbp)", []Arg{reg(4, true, "rsi", 0), deref(8, false, "rbp", -16)}},
		{"-4@-20(%rbp)", []Arg{deref(4, true, "rbp", -20)}},
		{"4@$0", []Arg{cnst(4, false, 0)}},
		{"-4@$-5", []Arg{cnst(4, true, -5)}},
		{"-8@$-1 8@$0x10", []Arg{cnst(8, true, -1), cnst(8, false, 16)}},
		{"8@$18446744073709551615", []Arg{cnst(8, false, -1)}},
		{"8@16(%rsp)", []Arg{deref(8, false, "rsp", 16)}},
		{"8@(%rdi)", []Arg{deref(8, false, "rdi", 0)}},
		{"2@0x10(%r12)", []Arg{deref(2, false, "r12", 16)}},
		{"8@16(%rip)", []Arg{deref(8, false, "rip", 16)}},
		{"-1@%al -2@%dx 1@%r10b 2@%r9w -4@%r9d 8@%r15", []Arg{
			reg(1, true, "rax", 0), reg(2, true, "rdx", 0), reg(1, false, "r10", 0),
			reg(2, false, "r9", 0), reg(4, true, "r9", 0), reg(8, false, "r15", 0),
		}},
		{"1@%ah 1@%bh 1@%ch 1@%dh", []Arg{
			reg(1, false, "rax", 8), reg(1, false, "rbx", 8), reg(1, false, "rcx", 8), reg(1, false, "rdx", 8),
		}},
		{"1@%sil 1@%dil 1@%bpl 1@%spl 2@%si 2@%di 4@%ebp 4@%esp 8@%rbx 8@%rcx", []Arg{
			reg(1, false, "rsi", 0), reg(1, false, "rdi", 0), reg(1, false, "rbp", 0), reg(1, false, "rsp", 0),
			reg(2, false, "rsi", 0), reg(2, false, "rdi", 0), reg(4, false, "rbp", 0), reg(4, false, "rsp", 0),
			reg(8, false, "rbx", 0), reg(8, false, "rcx", 0),
		}},
		{"4@%R8D", []Arg{reg(4, false, "r8", 0)}},
		{"8@%r11\t-8@%r13", []Arg{reg(8, false, "r11", 0), reg(8, true, "r13", 0)}},
	}
	for _, tt := range tests {
		got, err := ParseArgs(tt.in)
		if err != nil {
			t.Errorf("ParseArgs(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseArgs(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"%rax", "missing size prefix"},
		{"3@%rax", "bad size"},
		{"16@%rax", "bad size"},
		{"--4@%rax", "bad size"},
		{"8@", "empty operand"},
		{"8@%xmm0", "unknown or unsupported register %xmm0"},
		{"8@%fs:8", "segment"},
		{"8@%fs:8(%rax)", "segment"},
		{"8@(%rax,%rbx,8)", "index register"},
		{"8@8(,%rbx,8)", "index register"},
		{"8@-8(%rax", "unrecognized operand"},
		{"8@rax", "unrecognized operand"},
		{"8@global(%rip)", "RIP-relative operand against symbol \"global\" needs the ELF symbol table"},
		{"8@global+8(%rip)", "needs the ELF symbol table"},
		{"8@sym(%rbx)", "only RIP-relative symbols"},
		{"8@$sym", "symbol address"},
		{"8@$", "bad immediate"},
		{"8@$1x", "bad immediate"},
		{"8@(%ah)", "cannot be a base register"},
		{"8@()", "without a base register"},
		{"8@$-99999999999999999999", "bad immediate"},
		{"8@%rax 8@%nope", "argument 2"},
	}
	for _, tt := range tests {
		got, err := ParseArgs(tt.in)
		if err == nil {
			t.Errorf("ParseArgs(%q) = %v, want error containing %q", tt.in, got, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseArgs(%q) error %q, want it to contain %q", tt.in, err, tt.want)
		}
	}
	if _, err := ParseArgs(strings.Repeat("8@%rax ", maxArgs+1)); err == nil {
		t.Errorf("ParseArgs with %d arguments: no error", maxArgs+1)
	}
}

func TestParseArgsSymbolic(t *testing.T) {
	got, err := parseArgs("-4@global_counter(%rip) 8@counter.1-8(%rip) 8@$table+16", true)
	if err != nil {
		t.Fatal(err)
	}
	want := []Arg{
		{Size: 4, Signed: true, Kind: ArgRegDeref, Reg: "rip", RegOffset: 128, Symbol: "global_counter"},
		{Size: 8, Kind: ArgRegDeref, Reg: "rip", RegOffset: 128, Symbol: "counter.1", Offset: -8},
		{Size: 8, Kind: ArgConst, Symbol: "table", Const: 16},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestArgString(t *testing.T) {
	for _, s := range []string{"-4@%rsi", "8@-16(%rbp)", "8@(%rdi)", "4@$0", "-8@$-1", "1@%rax>>8"} {
		in := strings.Replace(s, "%rax>>8", "%ah", 1)
		args, err := ParseArgs(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := args[0].String(); got != s {
			t.Errorf("String of %q = %q, want %q", in, got, s)
		}
	}
	if got := ArgRegDeref.String(); got != "reg-deref" {
		t.Errorf("ArgRegDeref.String() = %q", got)
	}
}

// TestPtRegsOffsetTable checks the table against the x86-64 layout: 21
// consecutive 8-byte slots in the kernel's order.
func TestPtRegsOffsetTable(t *testing.T) {
	order := []string{"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
		"rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss"}
	if len(PtRegsOffset) != len(order) {
		t.Fatalf("PtRegsOffset has %d entries, want %d", len(PtRegsOffset), len(order))
	}
	for i, r := range order {
		if PtRegsOffset[r] != 8*i {
			t.Errorf("PtRegsOffset[%s] = %d, want %d", r, PtRegsOffset[r], 8*i)
		}
	}
	for name, r := range x86Regs {
		if _, ok := PtRegsOffset[r.canon]; !ok {
			t.Errorf("register %s maps to %s, which has no pt_regs offset", name, r.canon)
		}
	}
}
