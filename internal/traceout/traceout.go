// Package traceout is the CTF trace a recording writes, in one of three
// shapes: one trace directory; a rotation, where the trace is cut into
// chunks in LTTng's layout (DIR/archives/BEGIN-END-ID/, each chunk a
// complete trace, closed cleanly at its boundary); or a flight recorder,
// where packets stay in a bounded ring in memory and a complete trace is
// written only on demand (DIR/snapshot-1-YYYYMMDD-HHMMSS-N/, as LTTng names
// its snapshots), with what the ring overwrote reported as discarded
// events.
//
// Any of these can also be streamed to LTTng's relay daemon (see package
// relayd): every packet and the metadata are sent as they are closed, and,
// with a live period, partial packets are flushed and idle streams send
// beacons so that live viewers follow the recording. Without a directory
// the trace only goes to relayd.
//
// An [Output] is a record.Sink. Its methods may be called from several
// goroutines (the collector, a timer, a signal handler); a rotation or a
// snapshot happens between two records. Errors of a rotation or snapshot
// made outside a write are returned by the next write and by Close.
package traceout

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/relayd"
)

// Rotation cuts a trace into chunks. A chunk ends when it holds Size bytes
// or has lasted Every, whichever comes first, or on [Output.Trigger].
type Rotation struct {
	Size  int64         // bytes of a chunk (0: no limit)
	Every time.Duration // duration of a chunk (0: no limit)
	Keep  int           // archived chunks kept, the newest (0: all)
}

// Ring keeps a trace in memory and writes snapshots of it.
type Ring struct {
	Size   int64 // bytes of packets kept (at least two packets)
	AtExit bool  // write a snapshot at Close
	// On, when set, is asked about each record once it is in the ring; true
	// writes a snapshot, at most one per MinInterval.
	On          func(record.Record) bool
	MinInterval time.Duration // default 1s
}

// Options describe an [Output].
type Options struct {
	Dir     string
	CTF     ctf.Options // of each trace written (its EventContext included)
	Writer  ctftrace.Options
	Classes []*record.Class
	CPUs    int
	// At most one of Rotate and Ring.
	Rotate *Rotation
	Ring   *Ring
	// Written, when set, is told of every chunk archived or deleted and of
	// every snapshot written.
	Written func(Written)
	// Relayd, when set, streams the trace to lttng-relayd as well (Dir
	// may then be empty: no local copy).
	Relayd *relayd.Options
}

// Written is a chunk or snapshot an [Output] wrote (or deleted).
type Written struct {
	Kind      string // "chunk", "snapshot" or "deleted" (a chunk beyond Rotation.Keep)
	Dir       string
	Events    uint64 // events in it
	Discarded uint64 // events reported discarded in it
	Bytes     int64
}

// Output writes records into the trace.
type Output struct {
	o       Options
	mu      sync.Mutex
	err     error // of a rotation or snapshot outside a write
	tw      *ctftrace.Writer
	w       *ctf.Writer
	ring    *ctf.Ring
	total   ctf.StreamStats // of the chunks or snapshots closed
	stop    chan struct{}
	done    sync.WaitGroup
	closed  bool
	base    func() uint64
	offset  int64
	chunk   *chunk
	nextID  int
	archive []string // archived chunk directories, oldest first
	snaps   int
	lastOn  time.Time
	relay   *relayd.Streamer
	rstats  relayd.Stats
	locked  bool // writes take mu: a timer or a trigger acts between them
}

// Open creates the output's directory and its first trace (or ring).
func Open(o Options) (*Output, error) {
	if o.Rotate != nil && o.Ring != nil {
		return nil, errors.New("traceout: rotation and snapshots exclude each other")
	}
	if o.CTF.TraceName == "" {
		o.CTF.TraceName = filepath.Base(filepath.Clean(o.Dir))
	}
	out := &Output{o: o, stop: make(chan struct{}), locked: o.Rotate != nil || o.Ring != nil || o.Relayd != nil}
	if o.Relayd != nil {
		return out, out.openRelayd()
	}
	switch {
	case o.Rotate != nil:
		return out, out.openRotation()
	case o.Ring != nil:
		return out, out.openRing()
	}
	w, err := ctf.Create(o.Dir, o.CTF)
	if err != nil {
		return nil, err
	}
	out.w = w
	if out.tw, err = ctftrace.NewWriter(w, o.Classes, o.CPUs, o.Writer); err != nil {
		w.Close()
		return nil, err
	}
	return out, nil
}

// checkFresh refuses a directory that already holds a recording.
func checkFresh(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		n := e.Name()
		if n == "metadata" || n == "archives" || strings.HasPrefix(n, "snapshot-") {
			return fmt.Errorf("%s already holds a recording (%s); choose another directory", dir, n)
		}
	}
	return nil
}

// WriteRecord implements record.Sink.
func (out *Output) WriteRecord(r record.Record) error {
	if !out.locked {
		return out.tw.WriteRecord(r)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if out.err != nil {
		return out.err
	}
	switch {
	case out.ring != nil:
		return out.ringRecord(r)
	case out.chunk != nil:
		return out.chunkRecord(r)
	}
	return out.tw.WriteRecord(r)
}

// AddDiscarded implements record.Sink.
func (out *Output) AddDiscarded(cpu int, n, ts uint64) error {
	if !out.locked {
		return out.tw.AddDiscarded(cpu, n, ts)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if out.err != nil {
		return out.err
	}
	if out.chunk != nil {
		out.chunk.seen(cpu, ts)
	}
	return out.tw.AddDiscarded(cpu, n, ts)
}

// Trigger starts a new chunk now, or writes a snapshot now (SIGUSR2).
// Without rotation or ring it does nothing.
func (out *Output) Trigger() error {
	out.mu.Lock()
	defer out.mu.Unlock()
	if out.closed {
		return nil
	}
	var err error
	switch {
	case out.ring != nil:
		err = out.snapshot()
	case out.chunk != nil:
		err = out.rotate()
	}
	if err != nil && out.err == nil {
		out.err = err
	}
	return err
}

// Close finishes the trace: the last chunk is archived, a last snapshot
// written when asked. It returns the counts of everything written.
func (out *Output) Close() (ctf.StreamStats, error) {
	out.mu.Lock()
	if out.closed {
		out.mu.Unlock()
		return out.total, nil
	}
	out.closed = true
	close(out.stop)
	out.mu.Unlock()
	out.done.Wait()
	out.mu.Lock()
	defer out.mu.Unlock()
	err := out.err
	switch {
	case out.ring != nil:
		if out.o.Ring.AtExit {
			if serr := out.snapshot(); err == nil {
				err = serr
			}
		}
		cerr := out.w.Close()
		if err == nil {
			err = cerr
		}
		st := out.w.Stats()
		out.total.Events, out.total.Clamped = st.Events, st.Clamped
	case out.o.Rotate != nil:
		if out.chunk != nil {
			if cerr := out.closeChunk(); err == nil {
				err = cerr
			}
		}
	default:
		err = out.w.Close()
		out.total = out.w.Stats()
	}
	if out.relay != nil {
		// The local copy is complete whatever became of relayd: its
		// losses are counted in its stats, not returned as an error.
		out.rstats, _ = out.relay.Close()
	}
	return out.total, err
}

// add sums a closed trace's counts into the total.
func (out *Output) add(st ctf.StreamStats) {
	out.total.Events += st.Events
	out.total.Discarded += st.Discarded
	out.total.Clamped += st.Clamped
	out.total.Bytes += st.Bytes
	out.total.Packets += st.Packets
}
