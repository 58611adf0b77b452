package main

import (
	"slices"
	"testing"
)

// TestBpftraceArgs: options are taken wherever they stand before "--", as
// getopt takes them for bpftrace, and the pid is checked in bpftrace's
// words.
func TestBpftraceArgs(t *testing.T) {
	run, _, err := newRoot().Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, want []string
		msg      string
	}{
		{[]string{"script.bt", "-p", "123", "123"}, []string{"run", "-p", "123", "script.bt", "123"}, ""},
		{[]string{"script.bt", "--no-warnings"}, []string{"run", "--no-warnings", "script.bt"}, ""},
		{[]string{"-e", "begin {}", "-p", "1"}, []string{"run", "-e", "begin {}", "-p", "1"}, ""},
		{[]string{"-lv", "tracepoint:*", "--pid=7"}, []string{"run", "-lv", "--pid=7", "tracepoint:*"}, ""},
		// After "--" and for unknown options, nothing moves.
		{[]string{"s.bt", "--", "-p", "x"}, []string{"run", "s.bt", "--", "-p", "x"}, ""},
		{[]string{"s.bt", "-1"}, []string{"run", "s.bt", "-1"}, ""},
		{[]string{"-p", "a1111", "file.bt"}, nil, "Failed to parse pid: invalid integer: a1111"},
		{[]string{"-p", "111a1", "file.bt"}, nil, "Failed to parse pid: invalid trailing bytes: 111a1"},
		{[]string{"-p", "5000000", "file.bt"}, nil, "Pid out of range: 5000000"},
		{[]string{"file.bt", "-p5000000"}, nil, "Pid out of range: 5000000"},
	}
	for _, tt := range tests {
		got, msg := bpftraceArgs(run, tt.in)
		if msg != tt.msg || !slices.Equal(got, tt.want) {
			t.Errorf("bpftraceArgs(%q) = %q, %q; want %q, %q", tt.in, got, msg, tt.want, tt.msg)
		}
	}
}
