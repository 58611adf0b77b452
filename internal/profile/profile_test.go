package profile

import (
	"bytes"
	"math/rand"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/bpftrail/bpftrail/internal/symbolize"
)

// fakeSymbolizer names addresses by their high bits.
type fakeSymbolizer struct{}

func (fakeSymbolizer) User(pid int, addr uint64) symbolize.Frame {
	if addr == 0xdead {
		return symbolize.Frame{Addr: addr, Module: "[jit]", ModuleOffset: 0xad}
	}
	return symbolize.Frame{Addr: addr, Function: "u" + string(rune('a'+addr%26)), Module: "/bin/app", BuildID: "abcd"}
}

func (fakeSymbolizer) Kernel(addr uint64) symbolize.Frame {
	return symbolize.Frame{Addr: addr, Function: "k" + string(rune('a'+addr%26)), Module: "[kernel]"}
}

func TestFoldedAndPPROF(t *testing.T) {
	p := &Profile{Period: 10 * time.Millisecond, Start: time.Unix(1700000000, 0), Length: time.Second, Samples: []Sample{
		{PID: 1, Comm: "app", User: []uint64{2, 1, 0}, Kernel: []uint64{3}}, // leaf first: kd;uc;ub;ua
		{PID: 1, Comm: "app", User: []uint64{2, 1, 0}, Kernel: []uint64{3}},
		{PID: 1, Comm: "app", User: []uint64{0xdead, 0}},
	}}
	p.Symbolize(fakeSymbolizer{})
	var b bytes.Buffer
	if err := p.WriteFolded(&b); err != nil {
		t.Fatal(err)
	}
	want := "app;ua;[jit]+0xad 1\napp;ua;ub;uc;kd 2\n"
	if b.String() != want {
		t.Errorf("folded:\n%s\nwant:\n%s", b.String(), want)
	}
	pp, err := p.PPROF()
	if err != nil {
		t.Fatal(err)
	}
	var enc bytes.Buffer
	if err := pp.Write(&enc); err != nil {
		t.Fatal(err)
	}
	back, err := pprof.Parse(&enc)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, s := range back.Sample {
		total += s.Value[0]
		if s.Value[1] != s.Value[0]*int64(10*time.Millisecond) {
			t.Errorf("cpu value %d for %d samples", s.Value[1], s.Value[0])
		}
	}
	if total != 3 || len(back.Sample) != 2 {
		t.Errorf("samples: %d in %d groups", total, len(back.Sample))
	}
	var names []string
	for _, l := range back.Sample[0].Location {
		names = append(names, l.Line[0].Function.Name)
	}
	if !reflect.DeepEqual(names, []string{"kd", "uc", "ub", "ua"}) {
		t.Errorf("first stack, leaf first: %v", names)
	}
	for _, m := range back.Mapping {
		if m.File == "/bin/app" && m.BuildID != "abcd" {
			t.Errorf("mapping %s lost its build id", m.File)
		}
	}
}

// BenchmarkSymbolize100k symbolizes 100 000 samples of 16 frames taken
// from this test binary's own functions, through a snapshot of its
// mappings, and reports the time per 100 000 samples.
func BenchmarkSymbolize100k(b *testing.B) {
	proc, err := symbolize.NewProcess(os.Getpid())
	if err != nil {
		b.Skip(err)
	}
	var pcs []uint64
	for _, f := range []any{strings.Repeat, bytes.Compare, rand.Intn, runtime.GC, os.Getpid, time.Now, reflect.DeepEqual} {
		pcs = append(pcs, uint64(reflect.ValueOf(f).Pointer()))
	}
	rng := rand.New(rand.NewSource(1))
	const n = 100_000
	samples := make([]Sample, n)
	for i := range samples {
		st := make([]uint64, 16)
		for j := range st {
			st[j] = pcs[rng.Intn(len(pcs))] + uint64(rng.Intn(4096))
		}
		samples[i] = Sample{PID: os.Getpid(), Comm: "bench", User: st}
	}
	z := procSymbolizer{proc}
	b.ResetTimer()
	for b.Loop() {
		p := &Profile{Samples: samples}
		p.Symbolize(z)
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/100k-samples")
}

type procSymbolizer struct{ p *symbolize.Process }

func (z procSymbolizer) User(pid int, addr uint64) symbolize.Frame { return z.p.Symbolize(addr) }
func (z procSymbolizer) Kernel(addr uint64) symbolize.Frame        { return symbolize.Frame{Addr: addr} }
