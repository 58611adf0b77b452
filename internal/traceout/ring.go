package traceout

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/record"
)

// SnapshotName is the name LTTng gives the n-th snapshot (from 0) of its
// first snapshot output, taken at t: snapshot-1-YYYYMMDD-HHMMSS-N.
func SnapshotName(t time.Time, n int) string {
	return fmt.Sprintf("snapshot-1-%s-%d", t.Format("20060102-150405"), n)
}

func (out *Output) openRing() error {
	if err := checkFresh(out.o.Dir); err != nil {
		return err
	}
	if err := os.MkdirAll(out.o.Dir, 0o755); err != nil {
		return err
	}
	ring, err := ctf.NewRing(out.o.Dir, out.o.Ring.Size, out.o.CTF)
	if err != nil {
		return err
	}
	out.ring, out.w = ring, ring.Writer()
	if out.tw, err = ctftrace.NewWriter(out.w, out.o.Classes, out.o.CPUs, out.o.Writer); err != nil {
		out.w.Close()
		return err
	}
	return nil
}

// ringRecord writes r into the ring and takes a snapshot when r is a
// trigger.
func (out *Output) ringRecord(r record.Record) error {
	if err := out.tw.WriteRecord(r); err != nil {
		return err
	}
	if on := out.o.Ring.On; on != nil && on(r) {
		gap := out.o.Ring.MinInterval
		if gap <= 0 {
			gap = time.Second
		}
		if now := time.Now(); now.Sub(out.lastOn) >= gap {
			out.lastOn = now
			return out.snapshot()
		}
	}
	return nil
}

// snapshot writes what the ring holds as the next snapshot.
func (out *Output) snapshot() error {
	dir := filepath.Join(out.o.Dir, SnapshotName(time.Now(), out.snaps))
	out.snaps++
	s, err := out.ring.Snapshot(dir)
	if err != nil {
		if out.err == nil {
			out.err = err
		}
		return err
	}
	out.total.Bytes += s.Bytes
	out.notify(Written{Kind: "snapshot", Dir: dir, Events: s.Events, Discarded: s.Discarded, Bytes: s.Bytes})
	return nil
}

// RingStats returns the counts of the ring (zero without one).
func (out *Output) RingStats() ctf.RingStats {
	if out.ring == nil {
		return ctf.RingStats{}
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	return out.ring.Stats()
}
