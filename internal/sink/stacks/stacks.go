// Package stacks turns the stack samples of a CTF trace (bpftrail profile's
// "profile:sample" events: pid, tid, comm and a symbolized stack, leaf
// first) into folded stacks and pprof profiles. Identical stacks of one
// process are merged as they are read, so memory follows the number of
// distinct stacks, not of samples.
package stacks

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	pprof "github.com/google/pprof/profile"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
)

// Stack is one distinct stack of one process, with its sample count.
type Stack struct {
	PID    int
	Comm   string
	Frames []string // leaf first
	Count  int64
}

// Profile is the merged samples of a trace.
type Profile struct {
	Stacks         []*Stack // in order of first appearance
	Samples        int64
	StartNs, EndNs int64 // first and last sample, ns since the clock's origin
	index          map[string]*Stack
	key            []byte
}

// Read collects the samples of t. It fails when t holds none.
func Read(t *ctf.Trace) (*Profile, error) {
	p := &Profile{index: map[string]*Stack{}}
	var dec analyze.Decoder
	it := t.Events()
	defer it.Close()
	for it.Next() {
		ev := it.Event()
		c := dec.Class(ev.Class)
		if c.Kind != analyze.KindSample || c.Stack < 0 {
			continue
		}
		em, _ := dec.Emitter(ev, c)
		if p.Samples == 0 {
			p.StartNs = ev.Ns
		}
		p.EndNs = ev.Ns
		p.add(em.PID, em.Comm, ev.Payload.Elems[c.Stack])
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	if p.Samples == 0 {
		return nil, fmt.Errorf("%s holds no stack samples (profile:sample events, written by bpftrail profile -o DIR)", t.Dir)
	}
	return p, nil
}

func (p *Profile) add(pid int, comm []byte, stack ctf.Value) {
	p.Samples++
	k := strconv.AppendInt(p.key[:0], int64(pid), 10)
	k = append(k, 0)
	k = append(k, comm...)
	for _, f := range stack.Elems {
		k = append(k, 0)
		k = append(k, f.Bytes...)
	}
	p.key = k
	if s, ok := p.index[string(k)]; ok {
		s.Count++
		return
	}
	s := &Stack{PID: pid, Comm: string(comm), Count: 1, Frames: make([]string, len(stack.Elems))}
	for i, f := range stack.Elems {
		s.Frames[i] = string(f.Bytes)
	}
	p.index[string(k)] = s
	p.Stacks = append(p.Stacks, s)
}

// WriteFolded writes one "comm;root;...;leaf count" line per distinct
// stack (processes of the same comm merged), sorted, for flamegraph.pl and
// speedscope.
func (p *Profile) WriteFolded(w io.Writer) error {
	counts := map[string]int64{}
	var sb strings.Builder
	for _, s := range p.Stacks {
		sb.Reset()
		sb.WriteString(sanitize(s.Comm))
		for i := len(s.Frames) - 1; i >= 0; i-- {
			sb.WriteByte(';')
			sb.WriteString(sanitize(s.Frames[i]))
		}
		counts[sb.String()] += s.Count
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	bw := bufio.NewWriter(w)
	for _, k := range keys {
		bw.WriteString(k)
		bw.WriteByte(' ')
		bw.WriteString(strconv.FormatInt(counts[k], 10))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// sanitize keeps a folded line parseable: no ';' inside a frame, no
// newlines; spaces stay (the count is after the last one).
func sanitize(s string) string {
	if !strings.ContainsAny(s, ";\n\r\t") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ';':
			return ':'
		case '\n', '\r', '\t':
			return ' '
		}
		return r
	}, s)
}

// PPROF builds a pprof profile with sample type samples/count, one
// function (and location) per distinct frame string, and labels comm and
// pid on each sample.
func (p *Profile) PPROF() (*pprof.Profile, error) {
	prof := &pprof.Profile{
		SampleType:    []*pprof.ValueType{{Type: "samples", Unit: "count"}},
		TimeNanos:     p.StartNs,
		DurationNanos: p.EndNs - p.StartNs,
	}
	locs := map[string]*pprof.Location{}
	for _, s := range p.Stacks {
		smp := &pprof.Sample{
			Value:    []int64{s.Count},
			Label:    map[string][]string{"comm": {s.Comm}},
			NumLabel: map[string][]int64{"pid": {int64(s.PID)}},
		}
		for _, f := range s.Frames {
			l, ok := locs[f]
			if !ok {
				fn := &pprof.Function{ID: uint64(len(prof.Function) + 1), Name: f, SystemName: f}
				prof.Function = append(prof.Function, fn)
				l = &pprof.Location{ID: uint64(len(prof.Location) + 1), Line: []pprof.Line{{Function: fn}}}
				prof.Location = append(prof.Location, l)
				locs[f] = l
			}
			smp.Location = append(smp.Location, l)
		}
		prof.Sample = append(prof.Sample, smp)
	}
	if err := prof.CheckValid(); err != nil {
		return nil, fmt.Errorf("stacks: %w", err)
	}
	return prof, nil
}
