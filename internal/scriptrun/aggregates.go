package scriptrun

import (
	"strconv"

	"github.com/bpftrail/bpftrail/internal/aggregate"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/scriptout"
)

// Snapshot turns a script's map into an aggregate snapshot in the shape
// of record --aggregate's (tracedir.Aggregates), so that view, report and
// convert show it: maps of numbers as counts (a counter track per key:
// count, sum, min, max, an integer, avg's mean, stats's count), hist()
// with one value per power of two and lhist() as histograms. It reports
// false for the maps that have no such shape (strings, tuples as values,
// tseries, hist() with bits, lhist() whose range is not a whole number of
// steps).
func Snapshot(m *scriptout.Map) (*aggregate.Snapshot, bool) {
	snap := &aggregate.Snapshot{Name: m.Name, Mode: aggregate.Count}
	switch m.Kind {
	case scriptout.Hist:
		if m.Bits != 0 {
			return nil, false
		}
		snap.Mode, snap.Scheme = aggregate.Hist, hist.Log2{}
	case scriptout.LHist:
		l := hist.Linear{Min: m.Min, Max: m.Max, Step: m.Step}
		if l.Validate() != nil {
			return nil, false
		}
		snap.Mode, snap.Scheme = aggregate.Hist, l
	case scriptout.TSeries:
		return nil, false
	}
	for _, e := range m.Entries {
		g := &aggregate.Group{}
		if m.Keyed {
			g.Key = keyOf(e.Key)
			if len(snap.By) == 0 {
				for _, k := range g.Key {
					snap.By = append(snap.By, k.Name)
				}
			}
		}
		switch m.Kind {
		case scriptout.Hist, scriptout.LHist:
			g.Buckets = map[int]uint64{}
			for i, n := range e.Buckets {
				if n == 0 {
					continue
				}
				if m.Kind == scriptout.Hist {
					// bpftrace's index 0 holds the negative values, which
					// a log2 histogram of magnitudes cannot show; index
					// i > 0 is Log2's i-1 (0, then [2^(i-2), 2^(i-1))).
					if i == 0 {
						continue
					}
					i--
				}
				g.Buckets[i] += n
				g.Count += n
			}
		case scriptout.Avg:
			if e.Count != 0 {
				g.Count = uint64(e.Total / e.Count)
			}
		case scriptout.Stats:
			g.Count = uint64(e.Count)
		default:
			if e.Value.Kind != scriptout.Int {
				return nil, false
			}
			g.Count = uint64(e.Value.Int)
		}
		snap.Groups = append(snap.Groups, g)
	}
	return snap, true
}

// keyOf is a map key as an aggregate's: a tuple's members as key0,
// key1..., one value as key.
func keyOf(k scriptout.Value) record.Key {
	if k.Kind == scriptout.Tuple {
		var out record.Key
		for i, e := range k.Elems {
			v := keyValue(e)
			v.Name = "key" + strconv.Itoa(i)
			out = append(out, v)
		}
		return out
	}
	v := keyValue(k)
	v.Name = "key"
	return record.Key{v}
}

func keyValue(v scriptout.Value) record.KeyValue {
	if v.Kind == scriptout.Int && v.Symbol == "" {
		return record.KeyValue{IsInt: true, Int: v.Int, Unsigned: !v.Signed}
	}
	return record.KeyValue{Str: scriptout.KeyText(v)}
}
