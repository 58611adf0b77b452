package main

import (
	"runtime"
	"testing"
)

func TestLineTransfer(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU")
	}
	// With one P, as the bench may have: the measure makes room itself.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ns, err := lineTransfer(0, 1, 2000)
	if err != nil {
		t.Fatal(err)
	}
	// A transfer between two CPUs takes tens to hundreds of ns; a
	// result outside 1 ns to 100 µs is a broken measure.
	if ns < 1 || ns > 100_000 {
		t.Errorf("one-way transfer of %.1f ns", ns)
	}
	if _, err := lineTransfer(0, 4095, 10); err == nil {
		t.Error("CPU 4095: no error")
	}
}
