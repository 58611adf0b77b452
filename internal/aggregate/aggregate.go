// Package aggregate reads what aggregation programs count in the kernel
// (package bpfgen builds them) into snapshots, and gives snapshots their
// forms: bcc-style text tables and histograms, JSON objects, and the log
// of snapshots that "record --aggregate" keeps beside a trace.
//
// A count is one number per key; a hist is a histogram of a field's values
// per key (with, when its aggregation asks, their exact sum); a latency is
// a histogram of the time from a start event to its end event per key, with
// the exact count, sum, minimum and maximum of the times.
package aggregate

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/cilium/ebpf"

	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
)

// Mode is what an aggregation computes.
type Mode uint8

// Aggregation modes.
const (
	Count Mode = iota + 1
	Hist
	Latency
)

func (m Mode) String() string {
	switch m {
	case Count:
		return "count"
	case Hist:
		return "hist"
	case Latency:
		return "latency"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Group is the aggregate of one key: a count, or histogram buckets (index
// → count) with, for latencies and hists that keep sums, the count, sum,
// min and max of the values. The sum of a hist whose value is signed is an
// int64 (see [Snapshot.Signed]); its min and max are compared unsigned.
type Group struct {
	Key     record.Key
	Count   uint64
	Buckets map[int]uint64
	Sum     uint64
	Min     uint64
	Max     uint64
}

// Snapshot is what an aggregation's maps hold at one moment.
type Snapshot struct {
	Name      string      // the aggregation's label
	Mode      Mode        // what it computes
	Scheme    hist.Scheme // Hist and Latency: the buckets' scheme
	Signed    bool        // Hist: the value is signed; Group.Sum holds an int64
	By        []string    // the key's member names
	Groups    []*Group    // by descending count
	MapFull   uint64      // updates lost because the key map was full
	Starts    uint64      // latency starts seen
	Matched   uint64      // latency starts matched by an end
	Pending   uint64      // starts still waiting for their end
	Unmatched uint64      // starts evicted or never matched: Starts - Matched - Pending
}

// Histogram returns the buckets of g as a histogram of s's scheme.
func (s *Snapshot) Histogram(g *Group) (*hist.Histogram, error) {
	h, err := hist.New(s.Scheme)
	if err != nil {
		return nil, err
	}
	for i, n := range g.Buckets {
		if err := h.Add(i, n); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Maps are the maps of one aggregation.
type Maps struct {
	Counts *ebpf.Map // per-CPU hash: key (+ u32 bucket) → u64
	Sums   *ebpf.Map // Latency, and Hist when kept: per-CPU hash: key → {count, sum, min, max}
	Starts *ebpf.Map // Latency: LRU hash of pending starts
	Stats  *ebpf.Map // per-CPU array of record.StatCount u64
}

// Reader reads one aggregation's maps.
type Reader struct {
	Name    string
	Mode    Mode
	Scheme  hist.Scheme
	Signed  bool // Hist: the value is signed (in some event)
	Keys    record.KeyLayout
	Classes []string // names of the class ids a key's "event" member holds
	Maps    Maps
}

// Read returns the current aggregates, sorted by descending count.
func (r *Reader) Read() (*Snapshot, error) {
	snap := &Snapshot{Name: r.Name, Mode: r.Mode, Scheme: r.Scheme, Signed: r.Signed}
	for _, k := range r.Keys {
		snap.By = append(snap.By, k.Name)
	}
	if err := r.readStats(snap); err != nil {
		return nil, err
	}
	groups, err := r.readCounts()
	if err != nil {
		return nil, err
	}
	if r.Maps.Sums != nil {
		if err := r.readSums(snap, groups); err != nil {
			return nil, err
		}
	}
	snap.Groups = append(snap.Groups, groups.order...)
	sort.SliceStable(snap.Groups, func(i, j int) bool { return snap.Groups[i].Count > snap.Groups[j].Count })
	return snap, nil
}

func sumPerCPU(vals []uint64) uint64 {
	var n uint64
	for _, v := range vals {
		n += v
	}
	return n
}

func (r *Reader) readStats(snap *Snapshot) error {
	stats := make([]uint64, record.StatCount)
	for i := range stats {
		var vals []uint64
		if err := r.Maps.Stats.Lookup(uint32(i), &vals); err != nil {
			return fmt.Errorf("read counters: %w", err)
		}
		stats[i] = sumPerCPU(vals)
	}
	snap.MapFull, snap.Starts, snap.Matched = stats[record.StatMapFull], stats[record.StatStarts], stats[record.StatMatched]
	return nil
}

// groups are the groups read so far, by key bytes, in order of discovery.
type groups struct {
	byKey map[string]*Group
	order []*Group
}

// readCounts sums the per-CPU counts of every key (and bucket).
func (r *Reader) readCounts() (groups, error) {
	gs := groups{byKey: map[string]*Group{}}
	bucketed := r.Mode != Count
	keyLen := r.Keys.Size()
	var key []byte
	var vals []uint64
	it := r.Maps.Counts.Iterate()
	for it.Next(&key, &vals) {
		kb := key[:keyLen]
		g, ok := gs.byKey[string(kb)]
		if !ok {
			g = &Group{Key: r.Keys.Decode(kb, r.Classes)}
			if bucketed {
				g.Buckets = map[int]uint64{}
			}
			gs.byKey[string(kb)] = g
			gs.order = append(gs.order, g)
		}
		n := sumPerCPU(vals)
		g.Count += n
		if bucketed {
			g.Buckets[int(binary.LittleEndian.Uint32(key[keyLen:]))] += n
		}
	}
	if err := it.Err(); err != nil {
		return gs, fmt.Errorf("read counts: %w", err)
	}
	return gs, nil
}

// readSums adds the summaries to their groups, and for a latency counts the
// starts still pending.
func (r *Reader) readSums(snap *Snapshot, gs groups) error {
	var sums [][4]uint64
	var skey []byte
	it := r.Maps.Sums.Iterate()
	for it.Next(&skey, &sums) {
		g, ok := gs.byKey[string(skey)]
		if !ok {
			continue
		}
		g.Sum, g.Min, g.Max = 0, ^uint64(0), 0
		for _, s := range sums {
			if s[0] == 0 {
				continue
			}
			g.Sum += s[1]
			g.Min = min(g.Min, s[2])
			g.Max = max(g.Max, s[3])
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read sums: %w", err)
	}
	if r.Maps.Starts == nil {
		return nil
	}
	var k, v uint64
	pit := r.Maps.Starts.Iterate()
	for pit.Next(&k, &v) {
		snap.Pending++
	}
	if err := pit.Err(); err != nil {
		return fmt.Errorf("read pending starts: %w", err)
	}
	if snap.Starts > snap.Matched+snap.Pending {
		snap.Unmatched = snap.Starts - snap.Matched - snap.Pending
	}
	return nil
}
