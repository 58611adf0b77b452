package usdt

import (
	"debug/elf"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/ptregs"
)

// regOffset is the offset of the 64-bit register r in the struct pt_regs
// of m.
func regOffset(t *testing.T, m elf.Machine, r string) int {
	t.Helper()
	l, err := ptregs.ForMachine(m)
	if err != nil {
		t.Fatal(err)
	}
	reg, ok := l.Reg(r)
	if !ok || reg.Name != r {
		t.Fatalf("%s is not a 64-bit register of %v", r, m)
	}
	return reg.Offset
}

// argMakers returns constructors of the expected arguments of machine m.
func argMakers(t *testing.T, m elf.Machine) (reg func(int, bool, string, int) Arg, deref func(int, bool, string, int64) Arg, cnst func(int, bool, int64) Arg) {
	reg = func(size int, signed bool, r string, shift int) Arg {
		return Arg{Size: size, Signed: signed, Kind: ArgReg, Machine: m, Reg: r, RegOffset: regOffset(t, m, r), BitShift: shift}
	}
	deref = func(size int, signed bool, r string, off int64) Arg {
		return Arg{Size: size, Signed: signed, Kind: ArgRegDeref, Machine: m, Reg: r, RegOffset: regOffset(t, m, r), Offset: off}
	}
	cnst = func(size int, signed bool, v int64) Arg {
		return Arg{Size: size, Signed: signed, Kind: ArgConst, Machine: m, Const: v}
	}
	return reg, deref, cnst
}

func TestParseArgs(t *testing.T) {
	reg, deref, cnst := argMakers(t, elf.EM_X86_64)
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
		got, err := ParseArgs(elf.EM_X86_64, tt.in)
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
		got, err := ParseArgs(elf.EM_X86_64, tt.in)
		if err == nil {
			t.Errorf("ParseArgs(%q) = %v, want error containing %q", tt.in, got, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseArgs(%q) error %q, want it to contain %q", tt.in, err, tt.want)
		}
	}
	if _, err := ParseArgs(elf.EM_X86_64, strings.Repeat("8@%rax ", maxArgs+1)); err == nil {
		t.Errorf("ParseArgs with %d arguments: no error", maxArgs+1)
	}
}

func TestParseArgsSymbolic(t *testing.T) {
	got, err := parseArgs(elf.EM_X86_64, "-4@global_counter(%rip) 8@counter.1-8(%rip) 8@$table+16", true)
	if err != nil {
		t.Fatal(err)
	}
	want := []Arg{
		{Size: 4, Signed: true, Kind: ArgRegDeref, Machine: elf.EM_X86_64, Reg: "rip", RegOffset: 128, Symbol: "global_counter"},
		{Size: 8, Kind: ArgRegDeref, Machine: elf.EM_X86_64, Reg: "rip", RegOffset: 128, Symbol: "counter.1", Offset: -8},
		{Size: 8, Kind: ArgConst, Machine: elf.EM_X86_64, Symbol: "table", Const: 16},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestArgString(t *testing.T) {
	for _, s := range []string{"-4@%rsi", "8@-16(%rbp)", "8@(%rdi)", "4@$0", "-8@$-1", "1@%rax>>8"} {
		in := strings.Replace(s, "%rax>>8", "%ah", 1)
		args, err := ParseArgs(elf.EM_X86_64, in)
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

func TestParseArgsARM64(t *testing.T) {
	reg, deref, cnst := argMakers(t, elf.EM_AARCH64)
	tests := []struct {
		in   string
		want []Arg
	}{
		{"", nil},
		{"8@x0", []Arg{reg(8, false, "x0", 0)}},
		{"-4@w1", []Arg{reg(4, true, "x1", 0)}},
		{"1@x2 -2@x3", []Arg{reg(1, false, "x2", 0), reg(2, true, "x3", 0)}},
		{"8@x30 -8@X29 4@W30 8@sp 8@pc", []Arg{
			reg(8, false, "x30", 0), reg(8, true, "x29", 0), reg(4, false, "x30", 0),
			reg(8, false, "sp", 0), reg(8, false, "pc", 0),
		}},
		{"-4@[sp, 12]", []Arg{deref(4, true, "sp", 12)}},
		{"8@[x2]", []Arg{deref(8, false, "x2", 0)}},
		{"-8@[x29, -16]", []Arg{deref(8, true, "x29", -16)}},
		{"-4@[sp, 12] -4@[x1] -8@[x1, 8] -4@123 -8@-1", []Arg{
			deref(4, true, "sp", 12), deref(4, true, "x1", 0), deref(8, true, "x1", 8),
			cnst(4, true, 123), cnst(8, true, -1),
		}},
		{"4@[sp,#96] 2@[ x7 , 0x10 ] 8@[sp]", []Arg{deref(4, false, "sp", 96), deref(2, false, "x7", 16), deref(8, false, "sp", 0)}},
		{"4@5", []Arg{cnst(4, false, 5)}},
		{"-4@-5 4@#7 8@0x10 8@18446744073709551615", []Arg{
			cnst(4, true, -5), cnst(4, false, 7), cnst(8, false, 16), cnst(8, false, -1),
		}},
		{"8@x0\t-4@[sp, 40]  1@x4", []Arg{reg(8, false, "x0", 0), deref(4, true, "sp", 40), reg(1, false, "x4", 0)}},
	}
	for _, tt := range tests {
		got, err := ParseArgs(elf.EM_AARCH64, tt.in)
		if err != nil {
			t.Errorf("ParseArgs(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseArgs(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseArgsARM64Errors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"x0", "missing size prefix"},
		{"3@x0", "bad size"},
		{"8@", "empty operand"},
		{"8@%rdi", "unrecognized operand"},
		{"4@$5", "unrecognized operand"},
		{"8@-8(%rbp)", "unrecognized operand"},
		{"8@x31", "unknown or unsupported register x31"},
		{"8@xzr", "unknown or unsupported register xzr"},
		{"8@wsp", "unknown or unsupported register wsp"},
		{"16@v0", "bad size"},
		{"8@v0", "unknown or unsupported register v0"},
		{"8@#", "unrecognized operand"},
		{"8@[x0", "unrecognized operand"},
		{"8@[x0, 8", "unrecognized operand"},
		{"8@[x0, 8]!", "writeback"},
		{"8@[x0], 8", "unrecognized operand"},
		{"8@[]", "without a base register"},
		{"8@[, 8]", "without a base register"},
		{"8@[w1]", "w1 cannot be a base register"},
		{"8@[pc, 8]", "pc cannot be a base register"},
		{"8@[x40, 8]", "unknown or unsupported register x40"},
		{"8@[x0, x1]", "index register"},
		{"8@[x0, w1, sxtw]", "index register"},
		{"8@[x0, x1, lsl 3]", "index register"},
		{"8@[x0, 1x]", "bad displacement"},
		{"8@[x0, #-99999999999999999999]", "bad displacement"},
		{"8@[x1, #:lo12:global]", "low 12 bits of symbol \"global\" needs the ELF symbol table"},
		{"8@[x1, #:got_lo12:global]", "bad displacement"},
		{"8@[x1, #:lo12:]", "bad displacement"},
		{"8@-99999999999999999999", "unrecognized operand"},
		{"8@x0 8@nope1", "argument 2"},
	}
	for _, tt := range tests {
		got, err := ParseArgs(elf.EM_AARCH64, tt.in)
		if err == nil {
			t.Errorf("ParseArgs(%q) = %v, want error containing %q", tt.in, got, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseArgs(%q) error %q, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestParseArgsARM64Symbolic(t *testing.T) {
	got, err := parseArgs(elf.EM_AARCH64, "-4@[x1, #:lo12:global_counter] 8@[x7, :lo12:counter.1+8]", true)
	if err != nil {
		t.Fatal(err)
	}
	want := []Arg{
		{Size: 4, Signed: true, Kind: ArgRegDeref, Machine: elf.EM_AARCH64, Reg: "x1", RegOffset: 8, Symbol: "global_counter"},
		{Size: 8, Kind: ArgRegDeref, Machine: elf.EM_AARCH64, Reg: "x7", RegOffset: 56, Symbol: "counter.1", Offset: 8},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestArgStringARM64(t *testing.T) {
	for in, want := range map[string]string{
		"-4@w1": "-4@x1", "8@x0": "8@x0", "8@sp": "8@sp", "-4@[sp, 12]": "-4@[sp, 12]",
		"8@[x2]": "8@[x2]", "-8@[x29, -16]": "-8@[x29, -16]", "4@[sp,#0x20]": "4@[sp, 32]",
		"4@5": "4@5", "-8@-1": "-8@-1", "4@#7": "4@7",
	} {
		args, err := ParseArgs(elf.EM_AARCH64, in)
		if err != nil {
			t.Fatal(err)
		}
		if got := args[0].String(); got != want {
			t.Errorf("String of %q = %q, want %q", in, got, want)
		}
	}
}

func TestParseArgsUnsupportedMachine(t *testing.T) {
	for _, m := range []elf.Machine{elf.EM_RISCV, elf.EM_386, elf.EM_NONE} {
		_, err := ParseArgs(m, "8@a0")
		if !errors.Is(err, ptregs.ErrUnsupported) {
			t.Errorf("ParseArgs(%v) error = %v, want ptregs.ErrUnsupported", m, err)
		}
	}
}

func TestSplitArgs(t *testing.T) {
	for in, want := range map[string][]string{
		"":                           nil,
		" \t\n":                      nil,
		"-4@%esi  8@-16(%rbp)\t4@$0": {"-4@%esi", "8@-16(%rbp)", "4@$0"},
		"-4@[sp, 12] 8@x0":           {"-4@[sp, 12]", "8@x0"},
		" 8@[ x1 ,\t8 ] ":            {"8@[ x1 ,\t8 ]"},
		"8@[x1, 8 4@x0":              {"8@[x1, 8 4@x0"},
		"8@x0] 4@x1":                 {"8@x0]", "4@x1"},
	} {
		if got := splitArgs(in); !cmp.Equal(got, want) {
			t.Errorf("splitArgs(%q) = %q, want %q", in, got, want)
		}
	}
}
