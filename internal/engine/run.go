package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/collect"
	"github.com/bpftrail/bpftrail/internal/command"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/relayd"
	"github.com/bpftrail/bpftrail/internal/symbolize"
	"github.com/bpftrail/bpftrail/internal/tracedir"
	"github.com/bpftrail/bpftrail/internal/traceout"
)

// RunOptions describe a run of a session.
type RunOptions struct {
	// Command is started held, followed when the target is Command, and
	// released once every probe is attached; the run ends when it exits.
	// A command still running when the run ends otherwise gets SIGTERM,
	// then SIGKILL after StopGrace, and is waited for.
	Command   []string
	StopGrace time.Duration // default 2s
	// Duration ends the run after this long (0: no limit).
	Duration time.Duration
	// Trace, when set, writes the records into a CTF trace.
	Trace *TraceOutput
	// Sinks see every record as it is collected, after the trace.
	Sinks []Sink
	// Tick, when set, is called every Every while the run lasts.
	Every time.Duration
	Tick  func() error
	// Progress, when set, is called twice a second with the figures so
	// far.
	Progress func(Progress)
	// BeforeAttach, when set, is called just before the probes are
	// attached (a script's begin probes run there, as in bpftrace: their
	// records come before any probe's).
	BeforeAttach func() error
	// Started, when set, is called once everything is attached.
	Started func()
	// Stop, when set, ends the run when it is closed (a script's exit()).
	Stop <-chan struct{}
	// Stopped, when set, is called once the programs are stopped and
	// before the ring is drained for the last time (a script's end probe).
	Stopped func() error
	// Wake handles records as soon as the ring wakes the reader rather
	// than at the next poll: scripts' async actions (a clear(), exit())
	// then take effect about as soon as bpftrace's do.
	Wake bool
}

// Sink consumes the records of a run as they are collected (see
// record.Sink).
type Sink = record.Sink

// TraceOutput is the CTF trace a run writes.
type TraceOutput struct {
	Dir string
	// Options of the trace; EventContext is set by the run.
	Options ctf.Options
	// LTTng writes LTTng's kernel layout (see package ctftrace).
	LTTng bool
	// Rotate, when set, cuts the trace into chunks in LTTng's layout
	// (Dir/archives/BEGIN-END-ID/); SIGUSR2 ends a chunk at once.
	Rotate *Rotation
	// Snapshot, when set, keeps the trace in a ring in memory and writes
	// snapshots of it (Dir/snapshot-1-YYYYMMDD-HHMMSS-N/) on SIGUSR2, on
	// a trigger record, and at the end when asked.
	Snapshot *SnapshotRing
	// SnapshotOn, when set, also writes a snapshot when a recorded event
	// matches it (Snapshot must be set).
	SnapshotOn *SnapshotTrigger
	// Written, when set, is told of every chunk and snapshot written.
	Written func(Written)
	// Relayd, when set, streams the trace to lttng-relayd as it is
	// written (live with Relayd.Live). Dir may then be empty: no local
	// copy, nor the aggregates and symbols kept beside it.
	Relayd *Relayd
}

// Rotation, SnapshotRing and Written are the trace output's (see package
// traceout).
type (
	Rotation     = traceout.Rotation
	SnapshotRing = traceout.Ring
	Written      = traceout.Written
	Relayd       = relayd.Options
	RelaydStats  = relayd.Stats
)

// Progress are the figures of a run so far.
type Progress struct {
	Events, Lost, Bytes uint64
	Elapsed             time.Duration
}

// Result is what a run did.
type Result struct {
	Duration time.Duration
	Events   uint64   // records collected
	PerClass []uint64 // records collected per class id
	Lost     uint64   // records the ring had no room for
	Missed   uint64   // events the kernel did not run the programs for (see Session.Missed)
	Trace    *ctf.StreamStats
	// Relayd is what was streamed to lttng-relayd and what it missed.
	Relayd *RelaydStats
	// Processes is the number of processes whose user stacks were
	// recorded.
	Processes int
	// Stopped is set when the command was still running at the end and
	// was signalled.
	Stopped    bool
	CommandErr error
	// Warnings say what was kept with less than asked (frames that stay
	// addresses, for one).
	Warnings []string
}

// run is the state of one Run.
type run struct {
	s       *Session
	o       RunOptions
	cmd     *command.Cmd
	out     *traceout.Output
	stacks  *symbolize.Collector
	col     *collect.Collector
	agglog  *aggregate.Log
	aggfile *os.File
	start   time.Time
}

// Run runs the session: it starts the command held, attaches every probe,
// releases the command, and collects the records into the trace and sinks
// until Ctrl-C (SIGINT or SIGTERM), Duration or the command's end; then it
// stops the programs, drains what is left, and finishes the outputs. A
// second Ctrl-C while the run finishes kills the command and exits the
// process at once (status 130).
func (s *Session) Run(o RunOptions) (*Result, error) {
	if o.StopGrace <= 0 {
		o.StopGrace = 2 * time.Second
	}
	r := &run{s: s, o: o}
	if err := r.open(); err != nil {
		r.abort()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer r.interrupts(cancel)()
	defer r.triggers()()
	if err := r.startAll(ctx, cancel); err != nil {
		r.abort()
		return nil, err
	}
	runErr := r.collect(ctx)
	res, err := r.finish()
	if runErr == nil {
		runErr = err
	}
	return res, runErr
}

// open creates the outputs and starts the command held.
func (r *run) open() error {
	s := r.s
	if (r.o.Trace != nil || len(r.o.Sinks) > 0) && s.rec == nil && s.cfg.Script == nil {
		return errors.New("engine: the session records nothing")
	}
	var sinks record.Tee
	if t := r.o.Trace; t != nil {
		if err := r.openTrace(t); err != nil {
			return err
		}
		sinks = append(sinks, r.out)
	}
	for _, sk := range r.o.Sinks {
		sinks = append(sinks, sk)
	}
	if len(sinks) > 0 {
		sink := sinks.Sink()
		var col *collect.Collector
		if s.rings != nil {
			col = collect.NewPerCPU(s.rings, &record.Decoder{Classes: s.classes}, sink, 0)
		} else {
			var err error
			if col, err = collect.New(s.maps.Events, s.maps.Lost, &record.Decoder{Classes: s.classes}, sink, 0); err != nil {
				return err
			}
		}
		col.Wake = r.o.Wake
		col.Skip = collect.SkipFromEnv()
		r.col = col
	}
	if len(r.o.Command) > 0 {
		cmd, err := command.Start(r.o.Command)
		if err != nil {
			return err
		}
		r.cmd = cmd
		if err := s.setChildPID(cmd.PID()); err != nil {
			return err
		}
		if s.cfg.Target.Kind == Command {
			if err := s.Follow(cmd.PID()); err != nil {
				return err
			}
		}
	}
	return nil
}

// openTrace creates the trace, its writer, the collection of its stacks
// and the log of the aggregates beside it.
func (r *run) openTrace(t *TraceOutput) error {
	t, err := r.s.snapshotOn(t)
	if err != nil {
		return err
	}
	opts := t.Options
	opts.EventContext = ctftrace.ContextType()
	if t.LTTng {
		opts = ctftrace.LTTngOptions(opts)
	}
	wo := ctftrace.Options{LTTng: t.LTTng}
	if r.s.hasStacks() {
		r.stacks = symbolize.NewCollector()
		wo.OnStack = r.stacks.Add
	}
	out, err := traceout.Open(traceout.Options{Dir: t.Dir, CTF: opts, Writer: wo, Classes: r.s.classes, CPUs: CPUs(),
		Rotate: t.Rotate, Ring: t.Snapshot, Written: t.Written, Relayd: t.Relayd})
	if err != nil {
		return err
	}
	r.out = out
	if len(r.s.readers) > 0 && t.Dir != "" {
		if r.aggfile, err = tracedir.Create(t.Dir, tracedir.Aggregates); err != nil {
			return err
		}
		r.agglog = aggregate.NewLog(r.aggfile, r.s.readers)
	}
	return nil
}

// hasStacks reports whether recorded events carry stacks.
func (s *Session) hasStacks() bool {
	for _, c := range s.classes {
		for _, f := range c.Schema.Fields {
			if f.Kind == event.Stack {
				return true
			}
		}
	}
	return false
}

// startAll attaches, arms the duration, and releases the command.
func (r *run) startAll(ctx context.Context, cancel context.CancelFunc) error {
	if r.o.BeforeAttach != nil {
		if err := r.o.BeforeAttach(); err != nil {
			return err
		}
	}
	if err := r.s.Attach(); err != nil {
		return err
	}
	r.start = time.Now()
	if r.o.Duration > 0 {
		t := time.AfterFunc(r.o.Duration, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	}
	if r.o.Stop != nil {
		go func() {
			select {
			case <-r.o.Stop:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	if r.cmd != nil {
		if err := r.cmd.Release(); err != nil {
			return err
		}
		go func() {
			select {
			case <-r.cmd.Done():
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	if r.o.Started != nil {
		r.o.Started()
	}
	return nil
}

// interrupts ends the run on the first SIGINT or SIGTERM; a second one,
// while the run finishes, kills the command and exits at once. The
// returned func stops listening.
func (r *run) interrupts(cancel context.CancelFunc) func() {
	sig := make(chan os.Signal, 2)
	done := make(chan struct{})
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sig:
		case <-done:
			return
		}
		cancel()
		select {
		case <-sig:
		case <-done:
			return
		}
		if r.cmd != nil {
			r.cmd.Kill()
		}
		fmt.Fprintln(os.Stderr, "bpftrail: interrupted again, stopping at once")
		os.Exit(130)
	}()
	return func() {
		signal.Stop(sig)
		close(done)
	}
}

// triggers makes SIGUSR2 end the current chunk, or write a snapshot, when
// the trace is rotated or kept in a ring. The returned func stops
// listening.
func (r *run) triggers() func() {
	t := r.o.Trace
	if r.out == nil || t.Rotate == nil && t.Snapshot == nil {
		return func() {}
	}
	sig := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(sig, syscall.SIGUSR2)
	go func() {
		for {
			select {
			case <-sig:
				_ = r.out.Trigger() // an error is returned by the next write
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
	}
}

// collect drains the ring (or waits) until ctx is done, calling the
// periodic callbacks meanwhile.
func (r *run) collect(ctx context.Context) error {
	tctx, stopTicks := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	r.every(tctx, &wg, 500*time.Millisecond, r.o.Progress != nil, func() error {
		r.o.Progress(r.progress())
		return nil
	}, errc)
	r.every(tctx, &wg, r.o.Every, r.o.Tick != nil && r.o.Every > 0, r.o.Tick, errc)
	r.every(tctx, &wg, time.Second, r.agglog != nil, func() error { return r.agglog.Write(false) }, errc)
	var err error
	if r.col != nil {
		err = r.col.Run(ctx)
	} else {
		<-ctx.Done()
	}
	stopTicks()
	wg.Wait()
	select {
	case terr := <-errc:
		if err == nil {
			err = terr
		}
	default:
	}
	return err
}

// every calls f every interval until ctx is done, when on.
func (r *run) every(ctx context.Context, wg *sync.WaitGroup, interval time.Duration, on bool, f func() error, errc chan<- error) {
	if !on {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := f(); err != nil {
					errc <- err
					return
				}
			}
		}
	}()
}

func (r *run) progress() Progress {
	p := Progress{Elapsed: time.Since(r.start)}
	if r.col != nil {
		p.Events, p.Lost, p.Bytes = r.col.Stats.Records.Load(), r.col.Stats.Lost.Load(), r.col.Stats.Bytes.Load()
	}
	return p
}

// finish stops the programs, drains the ring, stops the command and
// completes the outputs.
func (r *run) finish() (*Result, error) {
	res := &Result{Duration: time.Since(r.start)}
	err := r.s.Stop()
	if r.o.Stopped != nil {
		if serr := r.o.Stopped(); err == nil {
			err = serr
		}
	}
	if r.col != nil {
		if derr := r.col.Drain(); err == nil {
			err = derr
		}
		res.Events, res.Lost, res.PerClass = r.col.Stats.Records.Load(), r.col.Stats.Lost.Load(), r.col.PerClass()
		r.col.Close()
	}
	if r.agglog != nil {
		if lerr := r.agglog.Write(true); err == nil {
			err = lerr
		}
		if cerr := r.aggfile.Close(); err == nil {
			err = cerr
		}
	}
	if r.cmd != nil {
		res.Stopped = r.cmd.Stop(r.o.StopGrace)
		res.CommandErr = r.cmd.Err()
	}
	res.Missed = r.s.Missed()
	if werr := r.writeSymbols(res); err == nil {
		err = werr
	}
	if r.out != nil {
		st, cerr := r.out.Close()
		if err == nil {
			err = cerr
		}
		res.Trace = &st
		if r.o.Trace.Relayd != nil {
			rs := r.out.RelaydStats()
			res.Relayd = &rs
		}
	}
	return res, err
}

// writeSymbols symbolizes the recorded stacks into the trace's symbols.
func (r *run) writeSymbols(res *Result) error {
	if r.stacks == nil || r.stacks.Empty() || r.o.Trace.Dir == "" {
		return nil
	}
	res.Processes = r.stacks.Processes()
	table, kerr := r.stacks.Table()
	if kerr != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("kernel frames stay addresses: %v", kerr))
	}
	return tracedir.WriteJSON(r.o.Trace.Dir, tracedir.Symbols, table)
}

// abort undoes what open and startAll did when the run cannot start.
func (r *run) abort() {
	if r.cmd != nil {
		r.cmd.Abort()
	}
	if r.col != nil {
		r.col.Close()
	}
	if r.aggfile != nil {
		r.aggfile.Close()
	}
	if r.out != nil {
		r.out.Close()
	}
}
