package collect

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// The header of a record in a BPF ring buffer (kernel/bpf/ringbuf.c): the
// length with two flag bits, then the page offset, 8 bytes in all.
const (
	ringHeaderSize = 8
	ringBusyBit    = 1 << 31 // being written: the producer has not committed it
	ringDiscardBit = 1 << 30 // bpf_ringbuf_discard: skipped
)

// advanceEvery is how many bytes a batch reads before it gives the space
// back to the producers; the rest is given back when the batch ends.
const advanceEvery = 256 << 10

// MapRing reads a BPF ring buffer map through its own mapping of the
// ring, as the kernel lays it out for user space: the consumer position
// in a writable page, then the producer position and the data, mapped
// twice in a row so that a record that wraps around is contiguous.
//
// Records are handed to the caller in place, with no copy, and the
// consumer position is stored once per batch (every advanceEvery bytes at
// most) rather than once per record: each store is a cache line the
// producing CPUs then wait for.
type MapRing struct {
	cons, prod []byte // the two mappings
	data       []byte // prod past its first page: 2 × size bytes
	mask       uint64
	consPos    *uint64
	prodPos    *uint64
	epfd       int
	events     [1]unix.EpollEvent
	fd         int
	deadline   time.Time // ReadInto's
	fill       float64   // the last batch's
}

// NewMapRing maps the ring buffer m.
func NewMapRing(m *ebpf.Map) (*MapRing, error) {
	if m.Type() != ebpf.RingBuf {
		return nil, fmt.Errorf("collect: map %v is not a ring buffer", m)
	}
	size := int(m.MaxEntries())
	page := os.Getpagesize()
	if size <= 0 || size&(size-1) != 0 || size%page != 0 {
		return nil, fmt.Errorf("collect: ring buffer of %d bytes: want a power of two, a multiple of the page size", size)
	}
	fd, err := unix.Dup(m.FD())
	if err != nil {
		return nil, fmt.Errorf("collect: %w", err)
	}
	r := &MapRing{fd: fd, epfd: -1, mask: uint64(size - 1)}
	if r.cons, err = unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		r.Close()
		return nil, fmt.Errorf("collect: map the ring's consumer page: %w", err)
	}
	if r.prod, err = unix.Mmap(fd, int64(page), page+2*size, unix.PROT_READ, unix.MAP_SHARED); err != nil {
		r.Close()
		return nil, fmt.Errorf("collect: map the ring's data: %w", err)
	}
	r.data = r.prod[page:]
	r.consPos = (*uint64)(unsafe.Pointer(&r.cons[0]))
	r.prodPos = (*uint64)(unsafe.Pointer(&r.prod[0]))
	if r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		r.Close()
		return nil, fmt.Errorf("collect: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		r.Close()
		return nil, fmt.Errorf("collect: %w", err)
	}
	return r, nil
}

// Batch calls fn on every record committed in the ring when it starts, in
// order, with the record's bytes in place: they are the ring's, valid
// only until fn returns. It stops early at a record still being written
// (the next batch takes it) and when fn fails. It returns the bytes of
// the ring it consumed.
func (r *MapRing) Batch(fn func([]byte) error) (int, error) { return r.batch(fn) }

func (r *MapRing) batch(fn func([]byte) error) (int, error) {
	cons := atomic.LoadUint64(r.consPos)
	prod := atomic.LoadUint64(r.prodPos)
	r.fill = float64(prod-cons) / float64(r.mask+1)
	start, given := cons, cons
	var err error
	for cons < prod {
		off := cons & r.mask
		hdr := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[off])))
		if hdr&ringBusyBit != 0 {
			break
		}
		n := uint64(hdr &^ (ringBusyBit | ringDiscardBit))
		next := cons + (ringHeaderSize+n+7)&^7
		if hdr&ringDiscardBit == 0 {
			b := r.data[off+ringHeaderSize : off+ringHeaderSize+n : off+ringHeaderSize+n]
			if err = fn(b); err == errStop {
				err = nil
				break
			} else if err != nil {
				// The record was handled (or refused): it is not read
				// again.
				cons = next
				break
			}
		}
		cons = next
		if cons-given >= advanceEvery {
			atomic.StoreUint64(r.consPos, cons)
			given = cons
		}
	}
	if cons != given {
		atomic.StoreUint64(r.consPos, cons)
	}
	return int(cons - start), err
}

// Fill is the share of the ring the last batch found to read.
func (r *MapRing) Fill() float64 { return r.fill }

// Capacity is the ring's size in bytes.
func (r *MapRing) Capacity() int { return int(r.mask + 1) }

// Pending is the number of bytes in the ring not read yet.
func (r *MapRing) Pending() int {
	return int(atomic.LoadUint64(r.prodPos) - atomic.LoadUint64(r.consPos))
}

// Wait sleeps until the kernel wakes the ring's readers (a record came
// with a wake-up) or d passes; it reports whether it was woken.
func (r *MapRing) Wait(d time.Duration) (bool, error) {
	ms := int(d / time.Millisecond)
	for {
		n, err := unix.EpollWait(r.epfd, r.events[:], ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("collect: wait for the ring: %w", err)
		}
		return n > 0, nil
	}
}

// ReadInto reads the next record into rec, a copy, for the callers of
// Ring; it waits for one until the deadline (SetDeadline).
func (r *MapRing) ReadInto(rec *ringbuf.Record) error {
	for {
		var got bool
		_, err := r.batchOne(func(b []byte) error {
			rec.RawSample = append(rec.RawSample[:0], b...)
			got = true
			return nil
		})
		if err != nil || got {
			return err
		}
		d := time.Until(r.deadline)
		if !r.deadline.IsZero() && d <= 0 {
			return os.ErrDeadlineExceeded
		}
		if r.deadline.IsZero() {
			d = time.Hour
		}
		if _, err := r.Wait(d); err != nil {
			return err
		}
	}
}

// batchOne is Batch for one record at most.
func (r *MapRing) batchOne(fn func([]byte) error) (int, error) {
	done := false
	return r.batch(func(b []byte) error {
		if done {
			return errStop
		}
		done = true
		return fn(b)
	})
}

// errStop ends a batch before a record, which stays in the ring.
var errStop = errors.New("stop")

// AvailableBytes is Pending, for the callers of Ring.
func (r *MapRing) AvailableBytes() int { return r.Pending() }

// SetDeadline sets ReadInto's deadline.
func (r *MapRing) SetDeadline(t time.Time) { r.deadline = t }

// Close unmaps the ring.
func (r *MapRing) Close() error {
	if r.cons != nil {
		unix.Munmap(r.cons)
		r.cons = nil
	}
	if r.prod != nil {
		unix.Munmap(r.prod)
		r.prod, r.data = nil, nil
	}
	if r.epfd >= 0 {
		unix.Close(r.epfd)
		r.epfd = -1
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
	return nil
}
