package traceout

import (
	"errors"
	"time"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/relayd"
)

// beaconLag is how far behind the clock an idle stream's beacon is: a
// record reaches the collector within a poll or two of its timestamp, so
// no record still on its way is older than this (one that is would be
// raised to the beacon's time and counted as clamped).
const beaconLag = 100 * time.Millisecond

// openRelayd opens a trace streamed to relayd, with a local copy in Dir
// when Dir is set.
func (out *Output) openRelayd() error {
	o := out.o
	if o.Rotate != nil || o.Ring != nil {
		return errors.New("streaming to lttng-relayd does not combine with a rotation or a flight recorder")
	}
	if o.Dir != "" {
		if err := checkFresh(o.Dir); err != nil {
			return err
		}
	}
	ro := *o.Relayd
	if ro.Path == "" {
		ro.Path = "bpftrail"
	}
	rs, err := relayd.Start(ro)
	if err != nil {
		return err
	}
	out.relay = rs
	opts := o.CTF
	opts.Packets = rs
	if opts.TraceName == "" || o.Dir == "" {
		opts.TraceName = ro.Session
	}
	var w *ctf.Writer
	if o.Dir != "" {
		w, err = ctf.Create(o.Dir, opts)
	} else {
		w, err = ctf.NewPacketWriter(ro.Session, opts, rs)
	}
	if err == nil {
		out.w = w
		out.tw, err = ctftrace.NewWriter(w, o.Classes, o.CPUs, o.Writer)
		if err != nil {
			w.Close()
		}
	}
	if err != nil {
		rs.Close()
		return err
	}
	out.base = opts.Clock
	if out.base == nil {
		out.base = ctf.MonotonicNow
	}
	if ro.Live > 0 {
		out.done.Add(1)
		go out.liveTimer(ro.Live)
	}
	return nil
}

// liveTimer does what LTTng's live timer does, every period: the open
// packet of each stream with events is closed (and so sent), and each
// idle stream sends a beacon saying it has nothing until now, so that a
// viewer, which merges the streams in time order, never waits on a quiet
// CPU.
func (out *Output) liveTimer(period time.Duration) {
	out.every(period, func() {
		if err := out.liveTick(); err != nil {
			out.err = err
		}
	})
}

// liveTick flushes the partial packets and sends the beacons (out.mu held).
func (out *Output) liveTick() error {
	now := out.base()
	mark := now
	if lag := uint64(beaconLag); now > lag {
		mark = now - lag
	}
	for cpu := 0; cpu < out.o.CPUs; cpu++ {
		st, err := out.tw.Stream(cpu)
		if err != nil {
			return err
		}
		if st.Pending() > 0 {
			if err := st.Flush(); err != nil {
				return err
			}
			continue
		}
		// Nothing to send: move the stream's clock to the mark (what
		// comes later starts no earlier) and tell viewers. The streams'
		// marks differ by a nanosecond, so that a viewer never sees two
		// idle streams with identical next messages (babeltrace2 warns).
		st.AddDiscarded(0, mark-uint64(cpu))
		out.relay.Beacon(cpu, st.Last())
	}
	return nil
}

// RelaydStats returns what was sent to relayd and what it missed (zero
// without relayd); final once the output is closed.
func (out *Output) RelaydStats() relayd.Stats {
	if out.relay == nil {
		return relayd.Stats{}
	}
	out.mu.Lock()
	closed := out.closed
	out.mu.Unlock()
	if closed {
		return out.rstats
	}
	return out.relay.Stats()
}
