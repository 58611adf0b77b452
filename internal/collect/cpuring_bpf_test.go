package collect_test

import (
	"encoding/binary"
	"slices"
	"sort"
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/collect"
	"github.com/bpftrail/bpftrail/internal/record"
)

// producer writes records into one CPU's element of a per-CPU ring map
// through its own mapping, as the generated programs lay them out.
type producer struct {
	elem []byte
	size int
	head uint64
}

func (p *producer) put(ts uint64, n int) {
	off := bpfgen.CPURingData + int(p.head&uint64(p.size-1))
	binary.LittleEndian.PutUint32(p.elem[off:], uint32(n))
	rec := p.elem[off+bpfgen.CPURingPrefix : off+bpfgen.CPURingPrefix+n]
	binary.LittleEndian.PutUint64(rec[record.OffTime:], ts)
	for i := record.OffTime + 8; i < n; i++ {
		rec[i] = byte(n)
	}
	p.head += uint64(bpfgen.CPURingRecordSize(n))
}

func (p *producer) publish() {
	*(*uint64)(unsafe.Pointer(&p.elem[bpfgen.CPURingHead])) = p.head
}

func newRings(t *testing.T, size, cpus, maxRecord int) (*ebpf.Map, []byte) {
	t.Helper()
	bpftest.Require(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, MaxEntries: uint32(cpus),
		ValueSize: uint32(bpfgen.CPURingValueSize(size, maxRecord)), Flags: unix.BPF_F_MMAPABLE})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	mem, err := unix.Mmap(m.FD(), 0, int(m.ValueSize())*cpus, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	return m, mem
}

// TestBPFCPURingsOrderAndWrap: records of two CPUs come out in time order,
// whole (one runs past the end of its ring's data into the slack), only up
// to what was published, and the consumer positions move past them.
func TestBPFCPURingsOrderAndWrap(t *testing.T) {
	const size, maxRecord = 64 << 10, 256
	m, mem := newRings(t, size, 2, maxRecord)
	elem := int(m.ValueSize())
	cpu := []*producer{{elem: mem[:elem], size: size}, {elem: mem[elem : 2*elem], size: size}}
	// Start CPU 0 near the end of its data so that its second record wraps.
	start := uint64(size - 72)
	cpu[0].head = start
	*(*uint64)(unsafe.Pointer(&mem[bpfgen.CPURingTail])) = start
	rings, err := collect.NewCPURings(m, size)
	if err != nil {
		t.Fatal(err)
	}
	defer rings.Close()

	cpu[0].put(10, 56)  // ends 8 bytes before the end
	cpu[0].put(30, 100) // wraps
	cpu[0].put(50, 48)
	cpu[1].put(20, 40)
	cpu[1].put(40, 200)
	cpu[1].put(60, 40) // written, not published
	cpu[0].publish()
	h1 := cpu[1].head
	cpu[1].head -= uint64(bpfgen.CPURingRecordSize(40))
	cpu[1].publish()
	cpu[1].head = h1

	var got []uint64
	n, err := rings.Batch(func(b []byte) error {
		ts := binary.LittleEndian.Uint64(b[record.OffTime:])
		for i := record.OffTime + 8; i < len(b); i++ {
			if b[i] != byte(len(b)) {
				t.Fatalf("record at %d: byte %d is %d, want %d", ts, i, b[i], byte(len(b)))
			}
		}
		got = append(got, ts)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{10, 20, 30, 40, 50}; !slices.Equal(got, want) {
		t.Errorf("batch gave records at %v, want %v", got, want)
	}
	wantBytes := bpfgen.CPURingRecordSize(56) + bpfgen.CPURingRecordSize(100) + bpfgen.CPURingRecordSize(48) +
		bpfgen.CPURingRecordSize(40) + bpfgen.CPURingRecordSize(200)
	if n != wantBytes {
		t.Errorf("batch consumed %d bytes, want %d", n, wantBytes)
	}
	// The fuller ring is CPU 1's: its two published records (CPU 0's
	// three take 232 bytes).
	wantFill := float64(bpfgen.CPURingRecordSize(40)+bpfgen.CPURingRecordSize(200)) / size
	if rings.Capacity() != size || rings.Fill() != wantFill {
		t.Errorf("capacity %d, fill %v; want %d, %v", rings.Capacity(), rings.Fill(), size, wantFill)
	}
	if tail := *(*uint64)(unsafe.Pointer(&mem[elem+bpfgen.CPURingTail])); tail != cpu[1].head-uint64(bpfgen.CPURingRecordSize(40)) {
		t.Errorf("CPU 1's tail is %d, want %d", tail, cpu[1].head-uint64(bpfgen.CPURingRecordSize(40)))
	}
	if rings.Pending() != 0 {
		t.Errorf("%d bytes pending after the batch, want 0", rings.Pending())
	}

	cpu[1].publish()
	got = got[:0]
	if _, err := rings.Batch(func(b []byte) error {
		got = append(got, binary.LittleEndian.Uint64(b[record.OffTime:]))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []uint64{60}; !slices.Equal(got, want) {
		t.Errorf("second batch gave %v, want %v", got, want)
	}
	if want := float64(bpfgen.CPURingRecordSize(40)) / size; rings.Fill() != want {
		t.Errorf("second batch: fill %v, want %v", rings.Fill(), want)
	}
}

// TestBPFCPURingsSwitchAndLost: the switch reaches every CPU's element and
// the loss counts are read from them.
func TestBPFCPURingsSwitchAndLost(t *testing.T) {
	const size = 64 << 10
	m, mem := newRings(t, size, 2, 64)
	elem := int(m.ValueSize())
	rings, err := collect.NewCPURings(m, size)
	if err != nil {
		t.Fatal(err)
	}
	defer rings.Close()
	rings.SetEnabled(true)
	for c := 0; c < 2; c++ {
		if v := binary.LittleEndian.Uint32(mem[c*elem+bpfgen.CPURingEnabled:]); v != 1 {
			t.Errorf("CPU %d: switch is %d after SetEnabled(true)", c, v)
		}
	}
	binary.LittleEndian.PutUint64(mem[elem+bpfgen.CPURingLost:], 7)
	lost, err := rings.Lost()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lost, []uint64{0, 7}) {
		t.Errorf("Lost = %v, want [0 7]", lost)
	}
	rings.SetEnabled(false)
	if v := binary.LittleEndian.Uint32(mem[elem+bpfgen.CPURingEnabled:]); v != 0 {
		t.Errorf("switch is %d after SetEnabled(false)", v)
	}
}

// TestBPFCPURingsCorrupt: a length no program writes is an error, and the
// rest of that ring is skipped rather than read as records.
func TestBPFCPURingsCorrupt(t *testing.T) {
	const size = 64 << 10
	m, mem := newRings(t, size, 1, 64)
	p := &producer{elem: mem[:m.ValueSize()], size: size}
	p.put(1, 48)
	off := bpfgen.CPURingData + int(p.head)
	p.put(2, 48)
	binary.LittleEndian.PutUint32(mem[off:], 3) // shorter than a header
	p.put(3, 48)
	p.publish()
	rings, err := collect.NewCPURings(m, size)
	if err != nil {
		t.Fatal(err)
	}
	defer rings.Close()
	var got int
	_, err = rings.Batch(func([]byte) error { got++; return nil })
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Batch error = %v, want a corrupt ring", err)
	}
	if got != 1 || rings.Pending() != 0 {
		t.Errorf("%d records read and %d bytes left, want 1 and 0", got, rings.Pending())
	}
}

// TestBPFCPURingsManyCPUs: the records of 16 CPUs, each ring in time
// order, come out merged in time order (CPU number breaking ties), all of
// them once.
func TestBPFCPURingsManyCPUs(t *testing.T) {
	const size, cpus = 64 << 10, 16
	m, mem := newRings(t, size, cpus, 64)
	elem := int(m.ValueSize())
	rings, err := collect.NewCPURings(m, size)
	if err != nil {
		t.Fatal(err)
	}
	defer rings.Close()
	type rec struct {
		ts  uint64
		cpu int
	}
	var want []rec
	for c := 0; c < cpus; c++ {
		p := &producer{elem: mem[c*elem : (c+1)*elem], size: size}
		ts := uint64(c % 3) // some equal times across CPUs
		for i := 0; i < 50+c*7; i++ {
			ts += uint64((i*31+c*17)%5) + 1
			at := bpfgen.CPURingData + int(p.head&uint64(size-1)) + bpfgen.CPURingPrefix
			p.put(ts, 48+8*(i%3))
			binary.LittleEndian.PutUint32(p.elem[at+record.OffClass:], uint32(c))
			want = append(want, rec{ts, c})
		}
		p.publish()
	}
	sort.Slice(want, func(i, j int) bool {
		return want[i].ts < want[j].ts || want[i].ts == want[j].ts && want[i].cpu < want[j].cpu
	})
	var got []rec
	if _, err := rings.Batch(func(b []byte) error {
		got = append(got, rec{binary.LittleEndian.Uint64(b[record.OffTime:]), int(binary.LittleEndian.Uint32(b[record.OffClass:]))})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("batch gave %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d is (t=%d, CPU %d), want (t=%d, CPU %d)", i, got[i].ts, got[i].cpu, want[i].ts, want[i].cpu)
		}
	}
	if rings.Pending() != 0 {
		t.Errorf("%d bytes pending after the batch", rings.Pending())
	}
}
