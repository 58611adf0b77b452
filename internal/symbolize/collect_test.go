package symbolize

import (
	"bytes"
	"math/rand"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCollector symbolizes the stacks of this process (seen through the
// collector, as a recording sees them) and of a process that is gone.
func TestCollector(t *testing.T) {
	c := NewCollector()
	if !c.Empty() {
		t.Fatal("a new collector is not empty")
	}
	pc := uint64(reflect.ValueOf(strings.Repeat).Pointer())
	c.Add(os.Getpid(), true, []uint64{pc + 1})
	c.Add(1<<30, true, []uint64{0x1234}) // no such process
	if c.Empty() || c.Processes() != 2 {
		t.Fatalf("empty %v, %d processes", c.Empty(), c.Processes())
	}
	tab, _ := c.Table()
	if f := tab.Frame(os.Getpid(), true, pc+1); f.Function != "strings.Repeat" {
		t.Errorf("frame of strings.Repeat+1: %+v", f)
	}
	if f := tab.Frame(1<<30, true, 0x1234); f.Known() || f.Module != ModuleUnknown {
		t.Errorf("frame of a process that was gone: %+v", f)
	}
}

// BenchmarkSymbolize100k symbolizes 100 000 samples of 16 user frames
// taken from this test binary's own functions, through the collector a
// recording uses, and reports the time per 100 000 samples.
func BenchmarkSymbolize100k(b *testing.B) {
	var pcs []uint64
	for _, f := range []any{strings.Repeat, bytes.Compare, rand.Intn, runtime.GC, os.Getpid, time.Now, reflect.DeepEqual} {
		pcs = append(pcs, uint64(reflect.ValueOf(f).Pointer()))
	}
	rng := rand.New(rand.NewSource(1))
	const n = 100_000
	stacks := make([][]uint64, n)
	for i := range stacks {
		st := make([]uint64, 16)
		for j := range st {
			st[j] = pcs[rng.Intn(len(pcs))] + uint64(rng.Intn(4096))
		}
		stacks[i] = st
	}
	pid := os.Getpid()
	for b.Loop() {
		c := NewCollector()
		for _, st := range stacks {
			c.Add(pid, true, st)
		}
		if _, err := c.Table(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/100k-samples")
}
