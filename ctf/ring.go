package ctf

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Ring is a flight recorder: a [Writer] whose streams keep their latest
// packets in memory, within a bounded total size, instead of writing them
// to files. When a new packet does not fit, the oldest packets of the whole
// ring are dropped and their events counted as discarded. [Ring.Snapshot]
// writes what the ring holds as a complete trace.
//
// The ring and its writer are used by one goroutine at a time: Snapshot
// must not run while an event is being written.
type Ring struct {
	w       *Writer
	max     int64
	size    int64
	queue   []ringPacket // oldest first, from head on
	head    int
	streams map[int]*ringStream
	free    [][]byte
	stats   RingStats
}

// RingStats counts what a ring kept and dropped.
type RingStats struct {
	Bytes          int64  // bytes of the packets held now
	Packets        int    // packets held now
	Events         uint64 // events in the packets held now
	EvictedPackets uint64 // packets dropped to make room
	EvictedEvents  uint64 // events in the packets dropped
}

// ringPacket is one whole packet held by the ring.
type ringPacket struct {
	s      *ringStream
	data   []byte
	events int
}

// ringStream is the packet file of one stream of a ring.
type ringStream struct {
	id      int
	evicted uint64 // events of this stream dropped so far
}

func (s *ringStream) Write(b []byte) (int, error)    { return len(b), nil }
func (s *ringStream) Truncate(int64) error           { return nil }
func (s *ringStream) Seek(int64, int) (int64, error) { return 0, nil }
func (s *ringStream) Close() error                   { return nil }
func (s *ringStream) Name() string                   { return fmt.Sprintf("ring stream %d", s.id) }

// stream makes the packet file of stream id.
func (r *Ring) stream(id int) *ringStream {
	s := &ringStream{id: id}
	r.streams[id] = s
	return s
}

// NewRing returns a ring of at most max bytes of packets (at least two
// packets) for a trace named name, written with opts as [Create] would.
func NewRing(name string, max int64, opts Options) (*Ring, error) {
	r := &Ring{streams: map[int]*ringStream{}}
	w, err := newWriter(name, opts, r)
	if err != nil {
		return nil, err
	}
	r.w, r.max = w, max
	if max < 2*int64(w.pkt) {
		return nil, fmt.Errorf("ctf: a ring of %d bytes cannot hold two packets of %d bytes", max, w.pkt)
	}
	return r, nil
}

// Writer returns the ring's writer: declare event classes and write events
// with it as with a writer of files.
func (r *Ring) Writer() *Writer { return r.w }

// Stats returns the ring's counters.
func (r *Ring) Stats() RingStats { return r.stats }

// add keeps a copy of a closed packet holding events events, dropping the
// oldest packets to make room. Empty packets (a stream's first, or its
// last) are not kept: a snapshot writes its own.
func (r *Ring) add(s *ringStream, pkt []byte, events int) {
	if events == 0 {
		return
	}
	n := int64(len(pkt))
	for r.size+n > r.max && r.head < len(r.queue) {
		r.evict()
	}
	var b []byte
	for i := len(r.free) - 1; i >= 0; i-- {
		if cap(r.free[i]) >= len(pkt) {
			b = r.free[i]
			r.free = append(r.free[:i], r.free[i+1:]...)
			break
		}
	}
	b = append(b[:0], pkt...)
	r.queue = append(r.queue, ringPacket{s: s, data: b, events: events})
	r.size += n
	r.stats.Bytes, r.stats.Packets = r.size, len(r.queue)-r.head
	r.stats.Events += uint64(events)
}

// evict drops the oldest packet of the ring.
func (r *Ring) evict() {
	p := r.queue[r.head]
	r.queue[r.head] = ringPacket{}
	r.head++
	if r.head > len(r.queue)/2 && r.head > 64 {
		r.queue = append(r.queue[:0], r.queue[r.head:]...)
		r.head = 0
	}
	r.size -= int64(len(p.data))
	p.s.evicted += uint64(p.events)
	r.stats.EvictedPackets++
	r.stats.EvictedEvents += uint64(p.events)
	r.stats.Events -= uint64(p.events)
	r.stats.Bytes, r.stats.Packets = r.size, len(r.queue)-r.head
	r.free = append(r.free, p.data[:0])
}

// Snapshot is what [Ring.Snapshot] wrote.
type Snapshot struct {
	Dir       string
	Events    uint64 // events in the snapshot
	Discarded uint64 // events reported discarded: dropped by the ring or lost before it
	Bytes     int64
	// BeginNs and EndNs bound the events kept, in ns since the clock's
	// origin (0 when the snapshot holds no event).
	BeginNs, EndNs int64
}

// Snapshot writes what the ring holds as a complete trace in dir, which
// must not exist: the metadata, and per stream an empty first packet, the
// packets held (renumbered, with the events dropped before them added to
// their events_discarded counters, so that readers report them exactly) and
// an empty last packet carrying the final count. The ring is not cleared:
// successive snapshots overlap. Each snapshot is a trace of its own (its
// own UUID). The directory appears whole: it is written under a hidden
// name and renamed.
func (r *Ring) Snapshot(dir string) (*Snapshot, error) {
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("ctf: %s already exists", dir)
	}
	r.w.mu.Lock()
	ids := make([]int, 0, len(r.w.streams))
	streams := make([]*StreamWriter, 0, len(r.w.streams))
	for id := range r.w.streams {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		streams = append(streams, r.w.streams[id])
	}
	r.w.mu.Unlock()
	for _, sw := range streams {
		if err := sw.Flush(); err != nil {
			return nil, err
		}
	}
	tmp := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("ctf: %w", err)
	}
	snap, err := r.writeSnapshot(tmp, ids, streams)
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("ctf: snapshot %s: %w", dir, err)
	}
	snap.Dir = dir
	return snap, nil
}

func (r *Ring) writeSnapshot(dir string, ids []int, streams []*StreamWriter) (*Snapshot, error) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	m := r.w.meta
	m.UUID = id
	if err := os.WriteFile(filepath.Join(dir, "metadata"), m.TSDL(), 0o644); err != nil {
		return nil, err
	}
	perStream := map[*ringStream][]*ringPacket{}
	held := r.queue[r.head:]
	for i := range held {
		p := &held[i]
		perStream[p.s] = append(perStream[p.s], p)
	}
	now := r.w.opts.Clock()
	snap := &Snapshot{}
	var first, last uint64
	le := binary.LittleEndian
	for i, sid := range ids {
		rs, sw := r.streams[sid], streams[i]
		pkts := perStream[rs]
		var out []byte
		var seq uint64
		t0 := sw.last
		if len(pkts) > 0 {
			t0 = le.Uint64(pkts[0].data[offTsBegin:])
		}
		out = r.emptyPacket(out, id, sid, seq, t0, t0, 0)
		seq++
		end := t0
		for _, p := range pkts {
			start := len(out)
			out = append(out, p.data...)
			q := out[start:]
			copy(q[4:20], id[:])
			le.PutUint64(q[offSeqNum:], seq)
			le.PutUint64(q[offDiscarded:], le.Uint64(q[offDiscarded:])+rs.evicted)
			seq++
			snap.Events += uint64(p.events)
			b, e := le.Uint64(q[offTsBegin:]), le.Uint64(q[offTsEnd:])
			if first == 0 || b < first {
				first = b
			}
			if e > last {
				last = e
			}
			end = e
		}
		stop := max(end, sw.last, now)
		final := sw.discarded + rs.evicted
		out = r.emptyPacket(out, id, sid, seq, end, stop, final)
		snap.Discarded += final
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("stream_%d", sid)), out, 0o644); err != nil {
			return nil, err
		}
		snap.Bytes += int64(len(out))
	}
	if snap.Events > 0 {
		k, err := rdNewClock(r.w.meta.Clocks[0])
		if err != nil {
			return nil, err
		}
		snap.BeginNs, _ = k.ns(first)
		snap.EndNs, _ = k.ns(last)
	}
	return snap, nil
}

// emptyPacket appends a packet without events of stream sid to b.
func (r *Ring) emptyPacket(b []byte, id [16]byte, sid int, seq, begin, end, discarded uint64) []byte {
	le := binary.LittleEndian
	start := len(b)
	b = le.AppendUint32(b, magic)
	b = append(b, id[:]...)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint64(b, uint64(sid))
	b = le.AppendUint64(b, begin)
	b = le.AppendUint64(b, end)
	b = le.AppendUint64(b, preambleSize*8)
	b = le.AppendUint64(b, uint64(r.w.pkt)*8)
	b = le.AppendUint64(b, seq)
	b = le.AppendUint64(b, discarded)
	b = le.AppendUint32(b, uint32(sid))
	return append(b, make([]byte, r.w.pkt-(len(b)-start))...)
}
