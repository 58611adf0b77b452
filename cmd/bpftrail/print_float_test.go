package main

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/ctf"
)

// TestPrintJSONFloats checks that print --json writes floating-point
// fields as JSON floats, integral values included, so that a typed
// consumer sees one type per field.
func TestPrintJSONFloats(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := ctf.Create(dir, ctf.Options{Clock: func() uint64 { return 1000 }, ClockOffset: 1_700_000_000_000_000_000})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := w.AddEventClass("f", ctf.Struct(ctf.F("d", ctf.Float64()), ctf.F("s", ctf.Float32()),
		ctf.F("a", ctf.Array(ctf.Float64(), 3)), ctf.F("i", ctf.Int(32))))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := w.Stream(0)
	for i, v := range [][]any{
		{0.0, float32(1), []float64{-2, 1e21, 1e-7}, 5},
		{2.5, float32(0.5), []float64{123456789, math.Copysign(0, -1), 1e20}, -1},
	} {
		if err := s.Write(ec, uint64(2000+i), v...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := printTrace(dir, true, &out, &errb); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`"fields":{"d":0.0,"s":1.0,"a":[-2.0,1e+21,1e-7],"i":5}`,
		`"fields":{"d":2.5,"s":0.5,"a":[123456789.0,-0.0,100000000000000000000.0],"i":-1}`,
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	for i, l := range lines {
		if !strings.Contains(l, want[i]) {
			t.Errorf("line %d: %s\nwant it to contain %s", i, l, want[i])
		}
	}
}
