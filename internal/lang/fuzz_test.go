package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are *Error
// with a position on a line that exists, and that Dump works on what it
// returns.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"BEGIN { printf(\"hello\\n\"); }",
		"kprobe:f /pid == 1/ { @[comm] = count(); }",
		"t:syscalls:sys_enter_* { @x[args->fd, 2] += 1; $y++; }",
		"i:s:1 { if ($a) { print(1) } else if $b { $c = (uint8)*$p } }",
		"k:f { $x = (struct sock *)arg0; @s = $x->sk_family == 2 ? 1 : 0 }",
		"k:f { for ($kv : @m) { print($kv.0) } for ($i : 0..10) { break } }",
		"macro m(x, $y, @z) { x + $y } k:f { m(1, $a, @b) }",
		"config = { a = 1; b = \"s\"; c = true } let @m = lruhash(10); BEGIN {}",
		"#define X 1\n#ifdef X\nBEGIN { print(X) }\n#endif\n",
		"struct s { int a; }; uprobe:/bin/bash:readline { $s = (struct s *)arg0; }",
		"BEGIN { $r = (a = 1, b = \"x\"); $t = (1, 2); $e = (); print(sizeof(struct x)); }",
		"BEGIN { print(offsetof(struct s, a.b)); print('c'); print(0x10 + 1e3 + 5ms); }",
		"fn f($a: uint64): uint64 { return $a; } BEGIN { print(f(1)) }",
		"BEGIN { $x = { let $y = 1; $y } ; $z = if $x { 1 } else { 2 }; while $x < 3 { $x++ } }",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if files, _ := filepath.Glob("testdata/parse/*.bt"); len(files) > 0 {
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(string(b))
			}
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		prog, err := Parse("stdin", src)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("%T is not an *Error", err)
			}
			if strings.Contains(e.Error(), "\n") {
				t.Fatalf("a multi-line error: %q", e.Error())
			}
			if e.P.Line < 1 || e.P.Col < 1 {
				t.Fatalf("no position: %q", e.Error())
			}
			_ = e.Detail()
			return
		}
		_ = Dump(prog)
		_ = DumpPos(prog)
	})
}
