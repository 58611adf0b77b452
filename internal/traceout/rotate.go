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

// ArchivesDir is the sub-directory of the rotated chunks, as LTTng names it.
const ArchivesDir = "archives"

// chunk is the trace being written by a rotation.
type chunk struct {
	id      int
	dir     string // archives/BEGIN-ID while written
	begin   time.Time
	last    []uint64 // per CPU: the latest clock value written
	bytes   int64
	startAt uint64 // clock value of the streams being opened (0: now)
}

// seen notes that cpu's stream reached clock value ts.
func (c *chunk) seen(cpu int, ts uint64) {
	for len(c.last) <= cpu {
		c.last = append(c.last, 0)
	}
	if ts > c.last[cpu] {
		c.last[cpu] = ts
	}
}

// ChunkName is the name LTTng gives an archived chunk: its begin and end
// times (local time with the zone's offset) and its id.
func ChunkName(begin, end time.Time, id int) string {
	return fmt.Sprintf("%s-%s-%d", chunkTime(begin), chunkTime(end), id)
}

// chunkTime is LTTng's ISO 8601 form of a chunk's times: 20171119T152407-0500.
func chunkTime(t time.Time) string { return t.Format("20060102T150405-0700") }

func (out *Output) openRotation() error {
	rot := out.o.Rotate
	if rot.Size <= 0 && rot.Every <= 0 {
		return fmt.Errorf("traceout: a rotation needs a size or a duration")
	}
	if err := checkFresh(out.o.Dir); err != nil {
		return err
	}
	out.base, out.offset = out.o.CTF.Clock, out.o.CTF.ClockOffset
	if out.base == nil {
		out.base = ctf.MonotonicNow
		if out.offset == 0 {
			out.offset = ctf.MonotonicOffset()
		}
	}
	start := out.base()
	starts := make([]uint64, max(out.o.CPUs, 1))
	for i := range starts {
		starts[i] = start
	}
	if err := out.newChunk(starts); err != nil {
		return err
	}
	if rot.Every > 0 {
		tick := min(max(rot.Every/4, 10*time.Millisecond), time.Second)
		out.done.Add(1)
		go out.timer(tick)
	}
	return nil
}

// timer ends a chunk once it has lasted Rotation.Every.
func (out *Output) timer(tick time.Duration) {
	out.every(tick, func() {
		if out.chunk != nil && time.Since(out.chunk.begin) >= out.o.Rotate.Every {
			_ = out.rotate() // the error is kept in out.err
		}
	})
}

// every calls fn each period, with out.mu held, while the output is open
// and has not failed, until it stops; it is a goroutine of out.done.
func (out *Output) every(period time.Duration, fn func()) {
	defer out.done.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-out.stop:
			return
		case <-t.C:
		}
		out.mu.Lock()
		if !out.closed && out.err == nil {
			fn()
		}
		out.mu.Unlock()
	}
}

// newChunk opens the next chunk, whose stream of CPU i starts at clock
// value starts[i]: where that CPU's stream of the previous chunk ended, so
// that no event still to come on it (they come in time order per CPU)
// falls before its chunk's start.
func (out *Output) newChunk(starts []uint64) error {
	c := &chunk{id: out.nextID, begin: time.Now()}
	out.nextID++
	c.dir = filepath.Join(out.o.Dir, ArchivesDir, fmt.Sprintf("%s-%d", chunkTime(c.begin), c.id))
	opts := out.o.CTF
	opts.ClockOffset = out.offset
	opts.Clock = func() uint64 {
		if c.startAt != 0 {
			return c.startAt
		}
		return out.base()
	}
	w, err := ctf.Create(c.dir, opts)
	if err != nil {
		return err
	}
	for cpu, ts := range starts {
		c.startAt = ts
		if _, err := w.Stream(cpu); err != nil {
			w.Close()
			return err
		}
		c.seen(cpu, ts)
	}
	c.startAt = 0
	tw, err := ctftrace.NewWriter(w, out.o.Classes, out.o.CPUs, out.o.Writer)
	if err != nil {
		w.Close()
		return err
	}
	for cpu := range starts {
		s, _ := tw.Stream(cpu)
		c.bytes += s.Size()
	}
	out.w, out.tw, out.chunk = w, tw, c
	return nil
}

// chunkRecord writes r into the current chunk and ends the chunk once it
// holds Rotation.Size bytes.
func (out *Output) chunkRecord(r record.Record) error {
	c := out.chunk
	cpu := r.CPU()
	st, err := out.tw.Stream(cpu)
	if err != nil {
		return err
	}
	before := st.Size()
	if err := out.tw.WriteRecord(r); err != nil {
		return err
	}
	c.bytes += st.Size() - before
	c.seen(cpu, r.Time())
	if size := out.o.Rotate.Size; size > 0 && c.bytes >= size {
		return out.rotate()
	}
	return nil
}

// rotate archives the current chunk and opens the next. After an error
// the output takes no more records.
func (out *Output) rotate() error {
	starts := append([]uint64(nil), out.chunk.last...)
	err := out.closeChunk()
	if err == nil {
		err = out.newChunk(starts)
	}
	if err != nil && out.err == nil {
		out.err = err
	}
	return err
}

// closeChunk closes the current chunk, names it archives/BEGIN-END-ID and
// deletes the oldest chunks beyond Rotation.Keep.
func (out *Output) closeChunk() error {
	c := out.chunk
	out.chunk = nil
	err := out.w.Close()
	st := out.w.Stats()
	out.add(st)
	final := filepath.Join(out.o.Dir, ArchivesDir, ChunkName(c.begin, time.Now(), c.id))
	if rerr := os.Rename(c.dir, final); rerr != nil {
		final = c.dir
		if err == nil {
			err = fmt.Errorf("archive chunk: %w", rerr)
		}
	}
	out.archive = append(out.archive, final)
	out.notify(Written{Kind: "chunk", Dir: final, Events: st.Events, Discarded: st.Discarded, Bytes: st.Bytes})
	for keep := out.o.Rotate.Keep; keep > 0 && len(out.archive) > keep; {
		old := out.archive[0]
		out.archive = out.archive[1:]
		if rerr := os.RemoveAll(old); rerr != nil && err == nil {
			err = fmt.Errorf("delete chunk beyond --keep: %w", rerr)
		}
		out.notify(Written{Kind: "deleted", Dir: old})
	}
	return err
}

func (out *Output) notify(w Written) {
	if out.o.Written != nil {
		out.o.Written(w)
	}
}
