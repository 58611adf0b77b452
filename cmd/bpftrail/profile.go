package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/profile"
	"github.com/bpftrail/bpftrail/internal/symbolize"
)

type profileFlags struct {
	freq     int
	pid      int
	all      bool
	duration time.Duration
	kernel   bool
	user     bool
	output   string
}

func newProfile() *cobra.Command {
	var f profileFlags
	c := &cobra.Command{
		Use:   "profile [-F HZ] [-p PID | -a] [-d DURATION | -- COMMAND] [--kernel] [--user] -o FILE",
		Short: "Sample on-CPU stacks into a pprof profile, folded stacks or a CTF trace",
		Long: `profile samples the stacks of running threads on every CPU, HZ times a
second (software CPU clock), for a process (-p), a command and its children,
or every process (-a). Stacks are symbolized at the end (process mappings are
read when a process is first seen, so processes that exited still resolve):
the kernel through /proc/kallsyms, user code through ELF symbol tables,
MiniDebugInfo (.gnu_debugdata) and build-id debug files; code with no symbol
(JIT, stripped) shows as module+offset.

The output format follows -o: FILE.pb.gz (pprof: go tool pprof -http :8080
FILE.pb.gz), FILE.folded (flamegraph.pl, speedscope), or a directory for a
CTF trace of the samples with their stacks.`,
		Example: `  bpftrail profile -F 99 -d 10s -a -o all.pb.gz
  bpftrail profile -o build.folded -- make -j2
  bpftrail profile -p 1234 --user -d 30s -o app-trace`,
		RunE: func(c *cobra.Command, args []string) error { return runProfile(c, f, args) },
	}
	fl := c.Flags()
	fl.IntVarP(&f.freq, "frequency", "F", 99, "samples per second per CPU")
	fl.IntVarP(&f.pid, "pid", "p", 0, "only this process")
	fl.BoolVarP(&f.all, "all", "a", false, "every process, also with a command")
	fl.DurationVarP(&f.duration, "duration", "d", 0, "stop after this long")
	fl.BoolVar(&f.kernel, "kernel", false, "kernel stacks (default: both)")
	fl.BoolVar(&f.user, "user", false, "user stacks (default: both)")
	fl.StringVarP(&f.output, "output", "o", "profile.pb.gz", "FILE.pb.gz, FILE.folded, or a trace directory")
	return c
}

// sampleSink keeps the samples and snapshots each process's mappings the
// first time one of its samples arrives.
type sampleSink struct {
	samples []profile.Sample
	procs   map[int]*symbolize.Process
	lost    uint64
}

func (s *sampleSink) WriteRecord(rec []byte) error {
	if len(rec) < bpfgen.SampleSize {
		return nil
	}
	le := binary.LittleEndian
	smp := profile.Sample{
		PID:  int(le.Uint32(rec[event.OffPID:])),
		TID:  int(le.Uint32(rec[event.OffTID:])),
		CPU:  int(le.Uint32(rec[event.OffCPU:])),
		Time: le.Uint64(rec[event.OffTime:]),
	}
	comm := rec[event.OffComm : event.OffComm+16]
	if i := strings.IndexByte(string(comm), 0); i >= 0 {
		comm = comm[:i]
	}
	smp.Comm = string(comm)
	frames := func(lenOff, off int) []uint64 {
		n := int64(le.Uint64(rec[lenOff:]))
		if n <= 0 {
			return nil
		}
		k := min(int(n)/8, bpfgen.MaxFrames)
		out := make([]uint64, 0, k)
		for i := 0; i < k; i++ {
			a := le.Uint64(rec[off+8*i:])
			if a == 0 {
				break
			}
			out = append(out, a)
		}
		return out
	}
	smp.User = frames(bpfgen.SampleOffUserLen, bpfgen.SampleOffUser)
	smp.Kernel = frames(bpfgen.SampleOffKernLen, bpfgen.SampleOffKern)
	if len(smp.User) > 0 && smp.PID > 0 {
		if _, ok := s.procs[smp.PID]; !ok {
			p, err := symbolize.NewProcess(smp.PID)
			if err != nil {
				p = nil // exited already: its frames show as addresses
			}
			s.procs[smp.PID] = p
		}
	}
	s.samples = append(s.samples, smp)
	return nil
}

func (s *sampleSink) AddDiscarded(cpu int, n uint64, ts uint64) error {
	s.lost += n
	return nil
}

// symbolizer resolves addresses with the process snapshots and kallsyms.
type symbolizer struct {
	procs  map[int]*symbolize.Process
	kernel *symbolize.Kernel
}

func (z *symbolizer) User(pid int, addr uint64) symbolize.Frame {
	if p := z.procs[pid]; p != nil {
		return p.Symbolize(addr)
	}
	return symbolize.Frame{Addr: addr, Module: "[unknown]", ModuleOffset: addr}
}

func (z *symbolizer) Kernel(addr uint64) symbolize.Frame {
	if z.kernel != nil {
		return z.kernel.Symbolize(addr)
	}
	return symbolize.Frame{Addr: addr, Module: "[kernel]", ModuleOffset: addr}
}

func runProfile(c *cobra.Command, f profileFlags, args []string) error {
	if len(args) > 0 && c.ArgsLenAtDash() != 0 {
		return fmt.Errorf("unexpected argument %q: put a command after --", args[0])
	}
	format := profileFormat(f.output)
	if format == "ctf" {
		if _, err := os.Stat(filepath.Join(f.output, "metadata")); err == nil {
			return fmt.Errorf("%s already holds a trace; choose another -o", f.output)
		}
	}
	cfg := engine.ProfileConfig{Freq: f.freq, User: f.user, Kernel: f.kernel}
	if len(args) == 0 && !f.all && f.pid == 0 {
		return fmt.Errorf("say what to profile: -p PID, -a (every process) or -- COMMAND")
	}
	var err error
	if cfg.Target, cfg.PID, err = selectTarget(f.pid, f.all, args); err != nil {
		return err
	}
	sess, err := engine.OpenProfile(cfg)
	if err != nil {
		return err
	}
	defer sess.Close()
	sink := &sampleSink{procs: map[int]*symbolize.Process{}}
	col, err := sess.Collector(sink)
	if err != nil {
		return err
	}
	defer col.Close()
	r, err := startRun(args, cfg.Target == bpfgen.TargetPids, f.duration, sess)
	if err != nil {
		return err
	}
	defer r.stop()
	ctx := r.ctx
	start := time.Now()
	if len(args) == 0 && f.duration == 0 && isTerminal(os.Stderr) {
		fmt.Fprintln(os.Stderr, "Sampling... Hit Ctrl-C to end.")
	}
	if err := sess.Run(ctx, col); err != nil {
		return err
	}
	prof := &profile.Profile{Samples: sink.samples, Period: time.Second / time.Duration(f.freq), Start: start, Length: time.Since(start)}
	kern, kerr := symbolize.LoadKernel()
	if kerr != nil {
		fmt.Fprintf(os.Stderr, "bpftrail: warning: kernel frames stay addresses: %v\n", kerr)
	}
	prof.Symbolize(&symbolizer{procs: sink.procs, kernel: kern})
	if err := writeProfile(prof, format, f.output); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bpftrail: %d samples from %d processes in %s written to %s", len(prof.Samples), len(sink.procs), prof.Length.Truncate(time.Millisecond), f.output)
	if sink.lost > 0 {
		fmt.Fprintf(os.Stderr, " (%d samples lost: ring buffer full)", sink.lost)
	}
	fmt.Fprintln(os.Stderr)
	return nil
}

func profileFormat(out string) string {
	switch {
	case strings.HasSuffix(out, ".pb.gz"), strings.HasSuffix(out, ".pprof"), strings.HasSuffix(out, ".pb"):
		return "pprof"
	case strings.HasSuffix(out, ".folded"), strings.HasSuffix(out, ".txt"):
		return "folded"
	}
	return "ctf"
}

func writeProfile(p *profile.Profile, format, out string) error {
	switch format {
	case "pprof":
		pp, err := p.PPROF()
		if err != nil {
			return err
		}
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		if err := pp.Write(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	case "folded":
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		if err := p.WriteFolded(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return writeProfileTrace(p, out)
}

// writeProfileTrace writes the samples as a CTF trace: one event per sample
// with the symbolized stack (leaf first) as a sequence of strings.
func writeProfileTrace(p *profile.Profile, dir string) error {
	start := uint64(0)
	if len(p.Samples) > 0 {
		start = p.Samples[0].Time
	}
	w, err := ctf.Create(dir, ctf.Options{TracerName: "bpftrail", Clock: func() uint64 { return start },
		ClockOffset: ctf.MonotonicOffset(), Env: []ctf.EnvValue{{Key: "bpftrail_version", Str: version}}})
	if err != nil {
		return err
	}
	ec, err := w.AddEventClass("profile:sample", ctf.Struct(
		ctf.F("_pid", ctf.Int(32)), ctf.F("_tid", ctf.Int(32)), ctf.F("_comm", ctf.String()),
		ctf.F("__stack_length", ctf.Uint(16)), ctf.F("_stack", ctf.Sequence(ctf.String(), "__stack_length"))))
	if err != nil {
		w.Close()
		return err
	}
	for i := range p.Samples {
		s := &p.Samples[i]
		st, err := w.Stream(s.CPU)
		if err != nil {
			w.Close()
			return err
		}
		fr := p.Frames(s)
		enc := st.Begin(ec, s.Time).I32(int32(s.PID)).I32(int32(s.TID)).String(s.Comm).U16(uint16(len(fr)))
		for _, f := range fr {
			enc.String(f.String())
		}
		if err := enc.Commit(); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}
