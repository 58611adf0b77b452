// Package web turns a CTF trace into the data of bpftrail's trace viewer
// (timeline, event table, latency histograms, flame graph) and serves it,
// with the viewer's embedded assets, to a browser ("bpftrail view") or
// inlines everything in one HTML file ("bpftrail report").
//
// The page only draws what Go derived: the thread states, CPU runs and
// syscall slices of the timeline are the intervals and pairs of
// analyze.Walk, the latency histograms its summaries, the flame graph the
// stack model of package stacks, so that the viewer, "bpftrail analyze" and
// "bpftrail convert" agree to the nanosecond. One walk of the trace gives
// both the view data and the analyses; [Prepare] keeps them in the trace's
// sidecars (package tracedir).
//
// The view data is columnar JSON: per lane of a track, arrays of starts,
// durations, name ids (into one string table) and event indexes, so that a
// trace of millions of events loads with one JSON.parse and is drawn with a
// level of detail (slices narrower than a pixel are merged).
package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/sink/stacks"
	"github.com/bpftrail/bpftrail/internal/symbolize"
	"github.com/bpftrail/bpftrail/internal/tracedir"
)

// Version identifies the layout of the view data; view data written by
// another version is built again.
const Version = 3

// Field kinds in [Class.Kinds].
const (
	KindInt    = 'i' // integer (JSON number, or a decimal string beyond ±2^53)
	KindHex    = 'x' // integer shown in hexadecimal
	KindFloat  = 'f' // floating point
	KindString = 's' // string id
)

// Data is the view data of a trace.
type Data struct {
	Version   int    `json:"version"`
	Name      string `json:"name"`
	Origin    int64  `json:"origin"` // ns since the clock's origin of time 0 (the first event)
	Duration  int64  `json:"duration"`
	Events    int    `json:"events"`
	Discarded uint64 `json:"discarded"`
	CPUs      []int  `json:"cpus"`

	Strings []string `json:"strings"`
	Classes []*Class `json:"classes"`
	// Per event (in time order): time (ns since Origin), CPU, thread, class.
	T   []int64 `json:"-"`
	CPU []int32 `json:"-"`
	TID []int32 `json:"-"`
	Cls []int32 `json:"-"`

	Threads    []*Thread                `json:"-"`
	Tracks     []*Track                 `json:"-"`
	Latency    []analyze.SyscallLatency `json:"latency"`
	Aggregates json.RawMessage          `json:"-"`
	Flame      *Flame                   `json:"-"`
	Notes      []string                 `json:"notes"`
	strIndex   map[string]int32
}

// Class is an event class and its fields, stored column by column: Cols[f]
// holds the value of field f for each event of the class, in event order.
type Class struct {
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
	Kinds  string   `json:"kinds"`
	Count  int      `json:"count"`
	Cols   []Column `json:"-"`

	fieldIdx []int // member index in the payload struct
	kinds    []byte
	kind     analyze.Kind
}

// Column is one field's values: integers (string ids for KindString).
type Column struct {
	Unsigned bool // Ints hold uint64 bits
	Ints     []int64
	Floats   []float64
}

// Thread describes a thread seen in the trace.
type Thread struct {
	TID, PID int32
	Comm     int32 // string id
}

// Track is a row group of the timeline: one CPU or one thread.
type Track struct {
	Kind  string // "cpu" or "thread"
	Name  string
	CPU   int
	TID   int32
	PID   int32
	Lanes []*Lane
	// Markers: instant events of the thread.
	MarkT  []int64
	MarkNm []int32
	MarkEv []int64
}

// Lane is one row of non-overlapping slices sorted by start. A CPU's lane
// ("running") holds the runs of threads on it; a thread's "state" lane its
// Running, Runnable and Blocked intervals; its "syscalls" lane its syscall
// pairs.
type Lane struct {
	Name  string
	Start []int64
	Dur   []int64
	Nm    []int32 // string id of the slice's name
	Ev    []int64 // event that starts the slice (switch in, wake-up, syscall entry); -1 if none did
	Ev2   []int64 // event that ends the slice (switch out, syscall exit); -1 if none did
	TID   []int32 // CPU lanes: the thread of each slice
	State []int8  // state lanes: analyze.StateRunning, StateRunnable or StateBlocked
	CPU   []int32 // state lanes: the CPU of a running slice, -1 for the others
}

// Flame is the tree of sampled stacks, nodes in pre-order.
type Flame struct {
	Samples int64
	Nm      []int32 // string id of the frame
	Parent  []int32 // -1 for the root
	Value   []int64 // samples in the node and below
	Self    []int64 // samples whose leaf is the node
	Kernel  []bool  // a frame of a kernel stack
}

func (d *Data) str(s string) int32 {
	if i, ok := d.strIndex[s]; ok {
		return i
	}
	i := int32(len(d.Strings))
	d.Strings = append(d.Strings, s)
	d.strIndex[s] = i
	return i
}

// Options tune [Build].
type Options struct {
	// MaxFieldEvents bounds the events whose fields are kept (0: 4,000,000);
	// beyond it only time, CPU, thread and name are kept per event.
	MaxFieldEvents int
}

// Build reads the trace in dir once and returns its view data and its
// analyses (the report of "bpftrail analyze").
func Build(dir string, opt Options) (*Data, *analyze.Report, error) {
	if opt.MaxFieldEvents <= 0 {
		opt.MaxFieldEvents = 4_000_000
	}
	tr, err := ctf.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	d := &Data{Version: Version, Name: traceName(dir), strIndex: map[string]int32{}, Discarded: tr.DiscardedTotal()}
	d.str("")
	syms, err := readSymbols(dir)
	if err != nil {
		d.Notes = append(d.Notes, "stacks stay addresses: "+err.Error())
	}
	b := newBuilder(d, opt, syms)
	a := analyze.NewAnalysis()
	prof := stacks.NewBuilder(syms)
	w, err := analyze.Walk(tr, b, a, prof)
	if err != nil {
		return nil, nil, err
	}
	r := a.Report(tr, w)
	b.finish(tr, w)
	d.Latency = r.Latencies
	d.Flame = flameOf(d, prof.Profile())
	if d.Aggregates, err = readAggregates(dir); err != nil {
		d.Notes = append(d.Notes, "aggregates: "+err.Error())
	}
	return d, r, nil
}

// readSymbols reads the symbol table recorded with the trace in dir; nil
// when it has none.
func readSymbols(dir string) (*symbolize.Table, error) {
	var syms symbolize.Table
	ok, err := tracedir.ReadJSON(dir, tracedir.Symbols, &syms)
	if !ok || err != nil {
		return nil, err
	}
	return &syms, nil
}

func traceName(dir string) string {
	s := strings.TrimRight(dir, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" || s == "." {
		if wd, err := os.Getwd(); err == nil {
			return traceName(wd)
		}
	}
	return s
}

// readAggregates reads the aggregates log recorded with the trace in dir as
// a JSON array of its final snapshots (nil if there is none). Lines that
// are not JSON are skipped.
func readAggregates(dir string) (json.RawMessage, error) {
	f, err := tracedir.Open(dir, tracedir.Aggregates)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out bytes.Buffer
	out.WriteByte('[')
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || !json.Valid(line) {
			continue
		}
		// record --aggregate also logs snapshots over time; the views show
		// the final ones.
		var snap struct {
			Final *bool `json:"final"`
		}
		if json.Unmarshal(line, &snap) == nil && snap.Final != nil && !*snap.Final {
			continue
		}
		var c bytes.Buffer
		if err := json.Compact(&c, line); err != nil {
			continue
		}
		if n > 0 {
			out.WriteByte(',')
		}
		json.HTMLEscape(&out, c.Bytes())
		n++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", tracedir.Aggregates, err)
	}
	out.WriteByte(']')
	return out.Bytes(), nil
}
