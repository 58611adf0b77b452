package collect

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/record"
)

// CPURings reads the per-CPU rings of recording programs (an mmapable
// array map with one element per CPU, laid out as bpfgen describes) through
// one mapping of the whole map. Records are handed over in place; each
// CPU's consumer position is stored once per batch.
//
// A batch takes what every CPU has published when it starts and hands the
// records over in time order across CPUs (each ring is in time order).
type CPURings struct {
	mu    sync.Mutex // guards mem against Close while SetEnabled writes
	mem   []byte
	elems [][]byte // one element per CPU
	mask  uint64
	heads []uint64 // per batch
	poss  []uint64
	next  []pending // per batch: a heap of the CPUs with records left
	fill  float64   // the last batch's
}

// NewCPURings maps the per-CPU ring map m, whose elements hold size data
// bytes each.
func NewCPURings(m *ebpf.Map, size int) (*CPURings, error) {
	if m.Type() != ebpf.Array {
		return nil, fmt.Errorf("collect: map %v is not an array", m)
	}
	if size <= 0 || size&(size-1) != 0 {
		return nil, fmt.Errorf("collect: per-CPU ring of %d bytes: want a power of two", size)
	}
	elem := int(m.ValueSize())
	n := int(m.MaxEntries())
	page := os.Getpagesize()
	if elem%8 != 0 || elem < bpfgen.CPURingData+size {
		return nil, fmt.Errorf("collect: per-CPU ring element of %d bytes for %d data bytes", elem, size)
	}
	length := (elem*n + page - 1) &^ (page - 1)
	mem, err := unix.Mmap(m.FD(), 0, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("collect: map the per-CPU rings: %w", err)
	}
	r := &CPURings{mem: mem, mask: uint64(size - 1), heads: make([]uint64, n), poss: make([]uint64, n)}
	for i := 0; i < n; i++ {
		r.elems = append(r.elems, mem[i*elem:(i+1)*elem:(i+1)*elem])
	}
	return r, nil
}

func word64(b []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }
func word32(b []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// SetEnabled turns the programs' switch in every CPU's ring on or off.
func (r *CPURings) SetEnabled(on bool) {
	v := uint32(0)
	if on {
		v = 1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.elems {
		atomic.StoreUint32(word32(e, bpfgen.CPURingEnabled), v)
	}
}

// Lost returns each CPU's count of records its ring had no room for
// (running totals).
func (r *CPURings) Lost() ([]uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mem == nil {
		return nil, fmt.Errorf("collect: per-CPU rings closed")
	}
	out := make([]uint64, len(r.elems))
	for i, e := range r.elems {
		out[i] = atomic.LoadUint64(word64(e, bpfgen.CPURingLost))
	}
	return out, nil
}

// Fill is the largest share of one CPU's ring that the last batch found
// to read.
func (r *CPURings) Fill() float64 { return r.fill }

// Capacity is the size of each CPU's ring in bytes.
func (r *CPURings) Capacity() int { return int(r.mask + 1) }

// Pending is the number of bytes published and not read yet, over all
// CPUs.
func (r *CPURings) Pending() int {
	n := 0
	for _, e := range r.elems {
		n += int(atomic.LoadUint64(word64(e, bpfgen.CPURingHead)) - atomic.LoadUint64(word64(e, bpfgen.CPURingTail)))
	}
	return n
}

// Batch calls fn on every record published when it starts, in time order
// across CPUs, with the record's bytes in place (valid until fn returns).
// It stops at the first error of fn (the record counts as read) and
// returns the bytes consumed.
func (r *CPURings) Batch(fn func([]byte) error) (int, error) {
	r.next = r.next[:0]
	most := uint64(0)
	for i, e := range r.elems {
		r.heads[i] = atomic.LoadUint64(word64(e, bpfgen.CPURingHead))
		r.poss[i] = atomic.LoadUint64(word64(e, bpfgen.CPURingTail))
		if r.poss[i] != r.heads[i] {
			r.next = append(r.next, pending{r.nextTime(i), i})
			most = max(most, r.heads[i]-r.poss[i])
		}
	}
	r.fill = float64(most) / float64(r.mask+1)
	total := 0
	var err error
	if len(r.next) == 1 {
		// One CPU: its records in order.
		cpu := r.next[0].cpu
		for r.poss[cpu] < r.heads[cpu] && err == nil {
			var n int
			n, err = r.one(cpu, fn)
			total += n
		}
	} else {
		// A min-heap of the CPUs by the time of their next record.
		for i := len(r.next)/2 - 1; i >= 0; i-- {
			r.down(i)
		}
		for len(r.next) > 0 && err == nil {
			cpu := r.next[0].cpu
			var n int
			n, err = r.one(cpu, fn)
			total += n
			if r.poss[cpu] < r.heads[cpu] {
				r.next[0].ts = r.nextTime(cpu)
			} else {
				last := len(r.next) - 1
				r.next[0] = r.next[last]
				r.next = r.next[:last]
			}
			r.down(0)
		}
	}
	for i, e := range r.elems {
		if r.poss[i] != atomic.LoadUint64(word64(e, bpfgen.CPURingTail)) {
			atomic.StoreUint64(word64(e, bpfgen.CPURingTail), r.poss[i])
		}
	}
	return total, err
}

// pending is a CPU with records left in a batch, and the time of its next.
type pending struct {
	ts  uint64
	cpu int
}

// nextTime is the time of the next record of cpu's ring.
func (r *CPURings) nextTime(cpu int) uint64 {
	off := bpfgen.CPURingData + int(r.poss[cpu]&r.mask) + bpfgen.CPURingPrefix + record.OffTime
	if e := r.elems[cpu]; off+8 <= len(e) {
		return binary.LittleEndian.Uint64(e[off:])
	}
	return 0
}

// down restores the heap order of r.next below i.
func (r *CPURings) down(i int) {
	h := r.next
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if rt := l + 1; rt < len(h) && less(h[rt], h[l]) {
			m = rt
		}
		if !less(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// less orders CPUs by their next record's time, then by number.
func less(a, b pending) bool { return a.ts < b.ts || a.ts == b.ts && a.cpu < b.cpu }

// one hands the next record of cpu's ring to fn and moves past it.
func (r *CPURings) one(cpu int, fn func([]byte) error) (int, error) {
	e := r.elems[cpu]
	off := bpfgen.CPURingData + int(r.poss[cpu]&r.mask)
	n := int(binary.LittleEndian.Uint32(e[off:]))
	step := bpfgen.CPURingRecordSize(n)
	start := off + bpfgen.CPURingPrefix
	if n < record.HeaderSize || start+n > len(e) || uint64(step) > r.heads[cpu]-r.poss[cpu] {
		// Not a record the programs write: the ring cannot be trusted
		// past here. Skip what is left of it.
		skipped := int(r.heads[cpu] - r.poss[cpu])
		r.poss[cpu] = r.heads[cpu]
		return skipped, fmt.Errorf("collect: CPU %d: corrupt per-CPU ring: record of %d bytes at %d", cpu, n, off-bpfgen.CPURingData)
	}
	r.poss[cpu] += uint64(step)
	return step, fn(e[start : start+n : start+n])
}

// Close unmaps the rings.
func (r *CPURings) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem, r.elems = nil, nil
	}
	return nil
}
