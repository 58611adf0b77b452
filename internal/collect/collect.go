// Package collect drains the ring buffer that recording programs write to,
// in batches and without a wake-up per event, decodes each record once
// (package record) and hands it to a sink, and turns the programs' per-CPU
// counts of records the ring had no room for into discarded-event reports.
// Nothing is dropped silently.
package collect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/bpftrail/bpftrail/internal/record"
)

// Ring is what the collector reads records from: a *ringbuf.Reader, or a
// stand-in in tests.
type Ring interface {
	// ReadInto reads the next record into rec, reusing its buffer; it
	// returns os.ErrDeadlineExceeded when the ring is empty and the
	// deadline has passed.
	ReadInto(rec *ringbuf.Record) error
	// AvailableBytes is the number of bytes in the ring not yet read.
	AvailableBytes() int
	SetDeadline(t time.Time)
	Close() error
}

// Losses reads the programs' per-CPU counts of records the ring had no
// room for (running totals).
type Losses func() ([]uint64, error)

// MapLosses reads the loss counters from a per-CPU array of one u64.
func MapLosses(m *ebpf.Map) Losses {
	return func() ([]uint64, error) {
		var vals []uint64
		if err := m.Lookup(uint32(0), &vals); err != nil {
			return nil, err
		}
		return vals, nil
	}
}

// Stats are the collector's counters; they may be read while it runs.
type Stats struct {
	Records atomic.Uint64
	Bytes   atomic.Uint64 // record bytes read from the ring
	Lost    atomic.Uint64
}

// batchRing is a ring read in batches of records in place: a MapRing or
// CPURings.
type batchRing interface {
	Batch(fn func([]byte) error) (int, error)
	// Fill is the largest share of one ring (of Capacity bytes) that the
	// last batch found to read.
	Fill() float64
	Capacity() int
}

// Collector reads one ring and one set of loss counters.
type Collector struct {
	ring    Ring      // nil for per-CPU rings
	batches batchRing // the ring when it is read in batches
	losses  Losses
	dec     *record.Decoder
	sink    record.Sink
	poll    time.Duration
	prev    []uint64
	Stats   Stats
	// Wake makes Run wait for the ring's wake-up rather than for the next
	// poll (at most a poll interval): records are handled as soon as they
	// come, at the cost of a wake-up per burst (scripts' async actions).
	Wake bool
	// Skip is for measuring the collector's stages (see SkipFromEnv):
	// SkipDecode hands no record to the sink and decodes none, SkipSink
	// decodes every record but hands none to the sink. Records are counted
	// either way; nothing is written.
	Skip Skip

	records, bytes uint64   // not yet published
	perClass       []uint64 // records per class id
}

// DefaultPoll is how often the ring is drained at the most.
const DefaultPoll = 10 * time.Millisecond

// Rings read in batches are drained less often when they fill slowly
// (every wake-up of the collector costs the machine a context switch, a
// cost of its own on a virtual machine): the interval grows until a
// batch finds about a quarter of the fullest ring to read, and never past
// the time a ring takes to fill at fillRate, the fastest a CPU writes
// small records, nor past maxPoll.
const (
	fillTarget = 0.25
	fillRate   = 256 << 20 // bytes per second
	maxPoll    = 50 * time.Millisecond
)

// pace returns the interval before the next batch of br, after one of
// cur that found br filled as Fill says, between the collector's poll
// interval and the longest that br's capacity allows.
func (c *Collector) pace(br batchRing, cur time.Duration) time.Duration {
	longest := min(maxPoll, time.Duration(float64(br.Capacity())/fillRate*float64(time.Second)))
	if longest <= c.poll {
		return c.poll
	}
	next := 2 * cur
	if f := br.Fill(); f > 0 {
		next = min(next, time.Duration(float64(cur)*fillTarget/f))
	}
	return max(c.poll, min(next, longest))
}

// New returns a collector of the ring buffer map events and the loss
// counter map lost, decoding records of dec's classes into sink. poll is
// the interval between drains (DefaultPoll when 0).
func New(events, lost *ebpf.Map, dec *record.Decoder, sink record.Sink, poll time.Duration) (*Collector, error) {
	var rd Ring
	mr, err := NewMapRing(events)
	if err == nil {
		rd = mr
	} else if rd, err = ringbuf.NewReader(events); err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	var losses Losses
	if lost != nil {
		losses = MapLosses(lost)
	}
	return NewFrom(rd, losses, dec, sink, poll), nil
}

// NewFrom returns a collector of ring and losses (nil: none).
func NewFrom(ring Ring, losses Losses, dec *record.Decoder, sink record.Sink, poll time.Duration) *Collector {
	if poll <= 0 {
		poll = DefaultPoll
	}
	c := &Collector{ring: ring, losses: losses, dec: dec, sink: sink, poll: poll, perClass: make([]uint64, len(dec.Classes))}
	if mr, ok := ring.(*MapRing); ok {
		c.batches = mr
	}
	return c
}

// NewPerCPU returns a collector of per-CPU rings, which stay the
// caller's to close.
func NewPerCPU(rings *CPURings, dec *record.Decoder, sink record.Sink, poll time.Duration) *Collector {
	if poll <= 0 {
		poll = DefaultPoll
	}
	return &Collector{batches: rings, losses: rings.Lost, dec: dec, sink: sink, poll: poll, perClass: make([]uint64, len(dec.Classes))}
}

// Run drains the ring until ctx is done, then returns; call Drain after the
// programs are stopped to read what is left.
//
// Every poll interval it reads the bytes that are in the ring at that moment
// and no more, then sleeps: a reader that follows the writer record by
// record makes the producing CPU wait on the cache lines of the ring's
// positions, which costs every traced event.
func (c *Collector) Run(ctx context.Context) error {
	if c.batches != nil {
		return c.runMapped(ctx, c.batches)
	}
	var rec ringbuf.Record
	// A deadline in the past: reads never block, the ticker paces them.
	c.ring.SetDeadline(time.Unix(1, 0))
	t := time.NewTicker(c.poll)
	defer t.Stop()
	for {
		budget := c.ring.AvailableBytes()
		for consumed := 0; consumed < budget; {
			err := c.ring.ReadInto(&rec)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return fmt.Errorf("collect: %w", err)
			}
			consumed += 8 + (len(rec.RawSample)+7)&^7
			if err := c.record(rec.RawSample); err != nil {
				return err
			}
		}
		c.publish()
		if err := c.readLost(); err != nil {
			return err
		}
		if c.Wake {
			// Sleep until a record arrives (the ring's wake-up) or a poll
			// interval passes, then take the record and go on.
			if ctx.Err() != nil {
				return nil
			}
			c.ring.SetDeadline(time.Now().Add(c.poll))
			err := c.ring.ReadInto(&rec)
			c.ring.SetDeadline(time.Unix(1, 0))
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
			case err != nil:
				return fmt.Errorf("collect: %w", err)
			default:
				if err := c.record(rec.RawSample); err != nil {
					return err
				}
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// runMapped is Run on a ring read through its own mapping: a batch per
// poll interval, handled in place.
func (c *Collector) runMapped(ctx context.Context, br batchRing) error {
	mr, _ := br.(*MapRing)
	interval := c.poll
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		if _, err := br.Batch(c.record); err != nil {
			return err
		}
		interval = c.pace(br, interval)
		c.publish()
		if err := c.readLost(); err != nil {
			return err
		}
		if c.Wake && mr != nil {
			if ctx.Err() != nil {
				return nil
			}
			if _, err := mr.Wait(c.poll); err != nil {
				return err
			}
			continue
		}
		t.Reset(interval)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Drain reads every record left in the ring and the final loss counts.
func (c *Collector) Drain() error {
	if c.batches != nil {
		for {
			n, err := c.batches.Batch(c.record)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
		}
		c.publish()
		return c.readLost()
	}
	var rec ringbuf.Record
	c.ring.SetDeadline(time.Unix(1, 0))
	for {
		err := c.ring.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return fmt.Errorf("collect: %w", err)
		}
		if err := c.record(rec.RawSample); err != nil {
			return err
		}
	}
	c.publish()
	return c.readLost()
}

// Skip selects collector stages to leave out, to measure their cost.
type Skip int

const (
	SkipNone   Skip = iota
	SkipDecode      // read the ring's records and give their room back, no more
	SkipSink        // and decode them, but write nothing
)

// SkipEnv is the environment variable that sets Skip for a benchmark:
// "decode" or "sink".
const SkipEnv = "BPFTRAIL_BENCH_SKIP"

// SkipFromEnv returns the Skip that SkipEnv asks for.
func SkipFromEnv() Skip {
	switch os.Getenv(SkipEnv) {
	case "decode":
		return SkipDecode
	case "sink":
		return SkipSink
	}
	return SkipNone
}

func (c *Collector) record(b []byte) error {
	if c.Skip == SkipDecode {
		c.records++
		c.bytes += uint64(len(b))
		return nil
	}
	r, err := c.dec.Decode(b)
	if err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	c.records++
	c.bytes += uint64(len(b))
	c.perClass[r.Class.ID]++
	if c.Skip == SkipSink {
		return nil
	}
	return c.sink.WriteRecord(r)
}

// publish makes the counts of the last batch visible in Stats.
func (c *Collector) publish() {
	c.Stats.Records.Add(c.records)
	c.Stats.Bytes.Add(c.bytes)
	c.records, c.bytes = 0, 0
}

// readLost reports the growth of each CPU's loss counter since the last call.
func (c *Collector) readLost() error {
	if c.losses == nil {
		return nil
	}
	vals, err := c.losses()
	if err != nil {
		return fmt.Errorf("collect: read loss counters: %w", err)
	}
	for len(c.prev) < len(vals) {
		c.prev = append(c.prev, 0)
	}
	for cpu, v := range vals {
		if d := v - c.prev[cpu]; d > 0 {
			c.prev[cpu] = v
			c.Stats.Lost.Add(d)
			if err := c.sink.AddDiscarded(cpu, d, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// PerClass returns the number of records read of each class id; read it
// after Drain.
func (c *Collector) PerClass() []uint64 { return c.perClass }

// Close releases the ring reader (not per-CPU rings, which are the
// caller's).
func (c *Collector) Close() error {
	if c.ring == nil {
		return nil
	}
	return c.ring.Close()
}
