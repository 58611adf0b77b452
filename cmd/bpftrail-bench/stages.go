package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// profileEnv is the variable that makes bpftrail write its CPU profile
// (cmd/bpftrail: ProfileEnv).
const profileEnv = "BPFTRAIL_CPUPROFILE"

// stages are the parts of a recording the collector's CPU time goes to,
// each recognised by the innermost frame of a sample that matches one of
// its function name prefixes.
var stages = []struct {
	name     string
	prefixes []string
}{
	{"write (flush to the file)", []string{"github.com/bpftrail/bpftrail/ctf.(*StreamWriter).flush", "os.(*File).Write"}},
	{"CTF encode", []string{"github.com/bpftrail/bpftrail/ctf.", "github.com/bpftrail/bpftrail/internal/ctftrace.", "github.com/bpftrail/bpftrail/internal/traceout."}},
	{"decode", []string{"github.com/bpftrail/bpftrail/internal/record.", "github.com/bpftrail/bpftrail/internal/collect.(*Collector).record"}},
	{"ring read", []string{"github.com/bpftrail/bpftrail/internal/collect.(*MapRing)", "github.com/bpftrail/bpftrail/internal/collect.(*CPURings)", "github.com/cilium/ebpf/ringbuf."}},
	{"loss counters and polling", []string{"github.com/bpftrail/bpftrail/internal/collect.", "github.com/cilium/ebpf.(*Map)"}},
	{"start-up (plan, generate, load, attach)", []string{"github.com/bpftrail/bpftrail/internal/engine.Open", "github.com/bpftrail/bpftrail/internal/plan.", "github.com/bpftrail/bpftrail/internal/resolve.", "github.com/bpftrail/bpftrail/internal/bpfgen.", "github.com/bpftrail/bpftrail/internal/attach.", "github.com/cilium/ebpf/btf.", "github.com/cilium/ebpf.NewProgram", "github.com/bpftrail/bpftrail/internal/engine.(*Session).Attach"}},
	{"Go runtime (GC, scheduler, timers)", []string{"runtime."}},
}

// stageOf names the stage of a sample's stack, leaf first.
func stageOf(funcs []string) string {
	for _, f := range funcs {
		for _, st := range stages[:len(stages)-1] {
			for _, p := range st.prefixes {
				if strings.HasPrefix(f, p) {
					return st.name
				}
			}
		}
	}
	if len(funcs) > 0 && strings.HasPrefix(funcs[0], "runtime.") {
		return stages[len(stages)-1].name
	}
	return "other"
}

// runStages records the loop once more with bpftrail's CPU profile on and
// prints where the collector's time went, by stage.
func (b *bench) runStages(w io.Writer) error {
	prof := filepath.Join(b.tmp, "bpftrail-cpu.prof")
	os.Setenv(profileEnv, prof)
	defer os.Unsetenv(profileEnv)
	// The profile samples at 100 Hz: five times the loop gives it enough
	// samples of the collector.
	n := b.n
	b.n *= 5
	_, err := b.runBpftrail(&variant{rec: recSystem}, 0)
	events := b.n
	b.n = n
	if err != nil {
		return err
	}
	f, err := os.Open(prof)
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return fmt.Errorf("read bpftrail's CPU profile: %w", err)
	}
	by := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		var funcs []string
		for _, loc := range s.Location {
			for i := len(loc.Line) - 1; i >= 0; i-- { // inlined callees first
				if loc.Line[i].Function != nil {
					funcs = append(funcs, loc.Line[i].Function.Name)
				}
			}
		}
		v := s.Value[len(s.Value)-1] // cpu nanoseconds
		by[stageOf(funcs)] += v
		total += v
	}
	if total == 0 {
		return fmt.Errorf("bpftrail's CPU profile holds no samples")
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return by[names[i]] > by[names[j]] })
	fmt.Fprintf(w, "\nbpftrail record's CPU by stage (one more run with %s, %.0f ms sampled, %d events):\n", profileEnv, float64(total)/1e6, events)
	for _, n := range names {
		fmt.Fprintf(w, "  %-42s %6.1f%%  %5.1f ns/event\n", n, 100*float64(by[n])/float64(total), float64(by[n])/float64(events))
	}
	return nil
}
