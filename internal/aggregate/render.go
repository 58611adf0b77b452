package aggregate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
)

// Format says how a snapshot is shown.
type Format struct {
	Top  int       // show only the Top largest keys (0: all)
	Unit hist.Unit // Latency text: the unit of the printed histogram
}

func (f Format) groups(s *Snapshot) []*Group {
	if f.Top > 0 && len(s.Groups) > f.Top {
		return s.Groups[:f.Top]
	}
	return s.Groups
}

// WriteText writes s as bcc's tools print: a COUNT table, or one ASCII
// histogram per key (latencies in f.Unit, with their count, average,
// minimum, maximum, p50 and p99), then what could not be counted.
func WriteText(w io.Writer, s *Snapshot, f Format) error {
	if s.Mode == Count {
		return writeCounts(w, s, f)
	}
	for _, g := range f.groups(s) {
		h, err := s.Histogram(g)
		if err != nil {
			return err
		}
		if len(g.Key) > 0 {
			fmt.Fprintf(w, "%s\n", g.Key)
		}
		if s.Mode == Latency {
			err = writeLatency(w, g, h, f.Unit)
		} else {
			err = h.Render(w, "value")
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if s.Mode == Latency && s.Unmatched > 0 {
		fmt.Fprintf(w, "%d start events were not followed by their end event (a later start replaced them, or they were evicted)\n", s.Unmatched)
	}
	if s.MapFull > 0 {
		fmt.Fprintf(w, "(%d events not counted: the key map is full)\n", s.MapFull)
	}
	return nil
}

// writeLatency renders a latency histogram of nanoseconds in unit u, as
// power-of-two buckets, and its summary line.
func writeLatency(w io.Writer, g *Group, h *hist.Histogram, u hist.Unit) error {
	if u.Factor == 0 {
		u, _ = hist.ParseUnit("us")
	}
	sum := hist.Summarize(h, hist.Summary{Count: g.Count, Sum: g.Sum, Min: g.Min, Max: g.Max})
	if err := hist.InUnit(h, u).Render(w, u.Label); err != nil {
		return err
	}
	sc := func(v float64) string { return strconv.FormatFloat(v/float64(u.Factor), 'f', 1, 64) }
	_, err := fmt.Fprintf(w, "count %d  avg %s  min %s  max %s  p50 %s  p99 %s %s\n",
		g.Count, sc(sum.Avg), sc(float64(g.Min)), sc(float64(g.Max)), sc(sum.P50), sc(sum.P99), u.Name)
	return err
}

func writeCounts(w io.Writer, s *Snapshot, f Format) error {
	groups := f.groups(s)
	fmt.Fprintf(w, "%-12s", "COUNT")
	names := s.By
	if len(groups) > 0 {
		// The decoded keys' names: a front end may rename members (as
		// syscall ids to names).
		names = nil
		for _, v := range groups[0].Key {
			names = append(names, v.Name)
		}
	}
	for _, k := range names {
		fmt.Fprintf(w, " %s", strings.ToUpper(k))
	}
	fmt.Fprintln(w)
	for _, g := range groups {
		fmt.Fprintf(w, "%-12d", g.Count)
		for _, v := range g.Key {
			if v.IsInt {
				fmt.Fprintf(w, " %s", v.Number())
			} else {
				fmt.Fprintf(w, " %s", v.Str)
			}
		}
		fmt.Fprintln(w)
	}
	if s.MapFull > 0 {
		fmt.Fprintf(w, "(%d events not counted: the key map is full)\n", s.MapFull)
	}
	_, err := fmt.Fprintln(w)
	return err
}

// countJSON and the types below are the JSON objects of a snapshot.
type countJSON struct {
	Key   json.RawMessage `json:"key"`
	Count uint64          `json:"count"`
}

type histJSON struct {
	Key     json.RawMessage `json:"key"`
	Buckets []hist.Bucket   `json:"buckets"`
}

type latencyJSON struct {
	Key     json.RawMessage `json:"key"`
	Count   uint64          `json:"count"`
	MinNs   uint64          `json:"min_ns"`
	MaxNs   uint64          `json:"max_ns"`
	AvgNs   float64         `json:"avg_ns"`
	P50Ns   float64         `json:"p50_ns"`
	P99Ns   float64         `json:"p99_ns"`
	Buckets []hist.Bucket   `json:"buckets"`
}

// JSON returns s as one JSON object:
//
//	count:   {"counts": [{"key": {...}, "count": N}], "lost": N}
//	hist:    {"histograms": [{"key": {...}, "buckets": [...]}], "lost": N}
//	latency: {"latencies": [{"key": {...}, "count": N, "min_ns": ..., "max_ns": ...,
//	          "avg_ns": ..., "p50_ns": ..., "p99_ns": ..., "buckets": [...]}],
//	          "unmatched": N, "pending": N, "lost": N}
//
// where "lost" counts the updates a full key map refused.
func JSON(s *Snapshot, f Format) (json.RawMessage, error) {
	switch s.Mode {
	case Count:
		counts := []countJSON{}
		for _, g := range f.groups(s) {
			counts = append(counts, countJSON{KeyJSON(g.Key), g.Count})
		}
		return json.Marshal(struct {
			Counts []countJSON `json:"counts"`
			Lost   uint64      `json:"lost"`
		}{counts, s.MapFull})
	case Latency:
		return latenciesJSON(s, f)
	}
	hs := []histJSON{}
	for _, g := range f.groups(s) {
		h, err := s.Histogram(g)
		if err != nil {
			return nil, err
		}
		hs = append(hs, histJSON{KeyJSON(g.Key), h.Buckets()})
	}
	return json.Marshal(struct {
		Histograms []histJSON `json:"histograms"`
		Lost       uint64     `json:"lost"`
	}{hs, s.MapFull})
}

func latenciesJSON(s *Snapshot, f Format) (json.RawMessage, error) {
	ls := []latencyJSON{}
	for _, g := range f.groups(s) {
		h, err := s.Histogram(g)
		if err != nil {
			return nil, err
		}
		sum := hist.Summarize(h, hist.Summary{Count: g.Count, Sum: g.Sum, Min: g.Min, Max: g.Max})
		ls = append(ls, latencyJSON{KeyJSON(g.Key), g.Count, g.Min, g.Max, sum.Avg, sum.P50, sum.P99, h.Buckets()})
	}
	// Pending starts are still waiting for their end: with unmatched,
	// every start that did not get its end.
	return json.Marshal(struct {
		Latencies []latencyJSON `json:"latencies"`
		Unmatched uint64        `json:"unmatched"`
		Pending   uint64        `json:"pending"`
		Lost      uint64        `json:"lost"`
	}{ls, s.Unmatched, s.Pending, s.MapFull})
}

// WriteJSON writes s's JSON object and a newline.
func WriteJSON(w io.Writer, s *Snapshot, f Format) error {
	b, err := JSON(s, f)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// KeyJSON renders a key as a JSON object with its members in order.
func KeyJSON(k record.Key) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, v := range k {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(v.Name)
		b.Write(name)
		b.WriteByte(':')
		if v.IsInt {
			b.WriteString(v.Number())
		} else {
			s, _ := json.Marshal(v.Str)
			b.Write(s)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}
