// Package collect drains the ring buffer that recording programs write to,
// in batches and without a wake-up per event, hands each record to a sink,
// and turns the programs' per-CPU counts of records the ring had no room for
// into discarded-event reports. Nothing is dropped silently.
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
)

// Sink receives records and losses. Records are borrowed for the call.
type Sink interface {
	WriteRecord(rec []byte) error
	AddDiscarded(cpu int, n uint64, ts uint64) error
}

// Stats are the collector's counters; they may be read while it runs.
type Stats struct {
	Records atomic.Uint64
	Bytes   atomic.Uint64 // record bytes read from the ring
	Lost    atomic.Uint64
}

// Collector reads one ring buffer and one per-CPU loss counter.
type Collector struct {
	rd    *ringbuf.Reader
	lost  *ebpf.Map
	sink  Sink
	poll  time.Duration
	prev  []uint64
	Stats Stats

	records, bytes uint64 // not yet published
}

// DefaultPoll is how often the ring is drained.
const DefaultPoll = 10 * time.Millisecond

// New returns a collector of the ring buffer events and the loss counter
// lost (a per-CPU array with one u64), feeding sink. poll is the interval
// between drains (DefaultPoll when 0).
func New(events, lost *ebpf.Map, sink Sink, poll time.Duration) (*Collector, error) {
	rd, err := ringbuf.NewReader(events)
	if err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	if poll <= 0 {
		poll = DefaultPoll
	}
	return &Collector{rd: rd, lost: lost, sink: sink, poll: poll}, nil
}

// Run drains the ring until ctx is done, then returns; call Drain after the
// programs are stopped to read what is left.
//
// Every poll interval it reads the bytes that are in the ring at that moment
// and no more, then sleeps: a reader that follows the writer record by
// record makes the producing CPU wait on the cache lines of the ring's
// positions, which costs every traced event.
func (c *Collector) Run(ctx context.Context) error {
	var rec ringbuf.Record
	// A deadline in the past: reads never block, the ticker paces them.
	c.rd.SetDeadline(time.Unix(1, 0))
	t := time.NewTicker(c.poll)
	defer t.Stop()
	for {
		budget := c.rd.AvailableBytes()
		for consumed := 0; consumed < budget; {
			err := c.rd.ReadInto(&rec)
			if err == nil {
				consumed += 8 + (len(rec.RawSample)+7)&^7
				if err := c.record(rec.RawSample); err != nil {
					return err
				}
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			return fmt.Errorf("collect: %w", err)
		}
		c.publish()
		if err := c.readLost(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Drain reads every record left in the ring and the final loss counts.
func (c *Collector) Drain() error {
	var rec ringbuf.Record
	c.rd.SetDeadline(time.Unix(1, 0))
	for {
		err := c.rd.ReadInto(&rec)
		if err == nil {
			if err := c.record(rec.RawSample); err != nil {
				return err
			}
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		return fmt.Errorf("collect: %w", err)
	}
	c.publish()
	return c.readLost()
}

func (c *Collector) record(b []byte) error {
	c.records++
	c.bytes += uint64(len(b))
	return c.sink.WriteRecord(b)
}

// publish makes the counts of the last batch visible in Stats.
func (c *Collector) publish() {
	c.Stats.Records.Add(c.records)
	c.Stats.Bytes.Add(c.bytes)
	c.records, c.bytes = 0, 0
}

// readLost reports the growth of each CPU's loss counter since the last call.
func (c *Collector) readLost() error {
	if c.lost == nil {
		return nil
	}
	var vals []uint64
	if err := c.lost.Lookup(uint32(0), &vals); err != nil {
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

// Close releases the reader.
func (c *Collector) Close() error { return c.rd.Close() }
