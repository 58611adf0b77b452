package filter

import "testing"

func TestEval(t *testing.T) {
	schema := Fields{
		{Name: "pid", Type: Int, Size: 4, Signed: true},
		{Name: "sig", Type: Int, Size: 4, Signed: true},
		{Name: "flags", Type: Int, Size: 8},
		{Name: "comm", Type: String, Size: 16},
		{Name: "filename", Type: String},
	}
	vals := map[string]any{
		"pid": int64(42), "sig": int64(-9), "flags": int64(-1), // flags = 2^64-1
		"comm": "bash", "filename": "/etc/passwd",
	}
	get := func(n string) (any, bool) { v, ok := vals[n]; return v, ok }
	for _, c := range []struct {
		src  string
		want bool
	}{
		{"pid == 42", true},
		{"pid != 42", false},
		{"42 == pid", true},
		{"pid < 43 && pid >= 42", true},
		{"pid > 42 || pid <= 41", false},
		{"sig == -9", true},
		{"sig < 0", true},
		{"flags > 0", true}, // unsigned: 2^64-1
		{"flags == 0xffffffffffffffff", true},
		{`comm == "bash"`, true},
		{`comm != "bash"`, false},
		{`comm == "bas*"`, true},
		{`filename == "/etc/*" && !(comm == "sh")`, true},
		{`filename != "/etc/*"`, false},
		{`!(pid == 42) || comm == "zsh"`, false},
	} {
		e, err := Parse(c.src, schema)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if got := e.Eval(get); got != c.want {
			t.Errorf("%s = %v, want %v", c.src, got, c.want)
		}
	}
	// A field without a value, or with a value of another type, is false.
	e, _ := Parse("pid == 42", schema)
	if e.Eval(func(string) (any, bool) { return nil, false }) || e.Eval(func(string) (any, bool) { return "42", true }) {
		t.Error("a missing or mistyped value compared true")
	}
}
