package recorder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/perf"
	"github.com/cilium/ebpf/ringbuf"
)

// wakeup bounds how long a reading method waits for records before it
// looks at its context again.
const wakeup = 100 * time.Millisecond

// ReadRingBuf writes the records of the ring buffer map m until ctx is
// done, then drains what is left in the ring and returns nil. Records go
// to the stream of their Options.CPUField, or stream 0. Malformed records
// are counted, not fatal; a failing read or write ends the call with its
// error.
func (r *Recorder) ReadRingBuf(ctx context.Context, m *ebpf.Map) error {
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	defer rd.Close()
	var rec ringbuf.Record
	return r.loop(ctx, rd.SetDeadline, func() error {
		if err := rd.ReadInto(&rec); err != nil {
			return err
		}
		return r.written(r.WriteRecord(0, rec.RawSample))
	})
}

// ReadPerf writes the records of the perf event array m until ctx is
// done, then drains what is left and returns nil. Each CPU's records go to
// its stream (unless Options.CPUField says otherwise), and the samples the
// kernel could not write are counted as discarded events of that stream.
func (r *Recorder) ReadPerf(ctx context.Context, m *ebpf.Map) error {
	size := r.opts.PerCPUBuffer
	if size <= 0 {
		size = 64 * os.Getpagesize()
	}
	rd, err := perf.NewReader(m, size)
	if err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	defer rd.Close()
	var rec perf.Record
	return r.loop(ctx, rd.SetDeadline, func() error {
		if err := rd.ReadInto(&rec); err != nil {
			return err
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if rec.LostSamples > 0 {
			return r.addLost(rec.CPU, rec.LostSamples)
		}
		// A perf record is padded to 8 bytes.
		return r.written(r.writeRecord(rec.CPU, rec.RawSample, 7))
	})
}

// written keeps going after a malformed record (it is counted).
func (r *Recorder) written(err error) error {
	if errors.Is(err, ErrMalformed) {
		return nil
	}
	return err
}

// loop calls read until ctx is done, waking up at least every wakeup to
// look at ctx, and every ProgressInterval to poll the lost counts and
// report progress; then it drains the records left and returns nil.
func (r *Recorder) loop(ctx context.Context, setDeadline func(time.Time), read func() error) error {
	every := r.opts.ProgressInterval
	if every <= 0 {
		every = time.Second
	}
	next := time.Now().Add(every)
	draining := false
	for n := 0; ; n++ {
		if !draining && n%256 == 0 && time.Now().After(next) {
			if err := r.PollLost(); err != nil {
				return err
			}
			if r.opts.Progress != nil {
				r.opts.Progress(r.Stats())
			}
			next = time.Now().Add(every)
		}
		if !draining && ctx.Err() != nil {
			// Read what the ring holds, then ErrDeadlineExceeded.
			draining = true
			setDeadline(time.Now())
		} else if !draining && n%256 == 0 {
			setDeadline(time.Now().Add(min(wakeup, max(time.Until(next), 0))))
		}
		err := read()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if draining {
				return r.PollLost()
			}
			n = -1 // a new deadline
		case err != nil:
			return err
		}
	}
}
