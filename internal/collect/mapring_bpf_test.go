package collect_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/collect"
)

// writer is a program that writes one record of size bytes into a ring:
// a sequence number taken from seq (an array of one u64), then the byte
// size repeated. With discard set it reserves the record and discards it.
func writer(t *testing.T, ring, seq *ebpf.Map, size int, discard bool) *ebpf.Program {
	t.Helper()
	insns := asm.Instructions{
		// r6 = &seq[0]; r7 = (*r6)++
		asm.StoreImm(asm.RFP, -8, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, seq.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R7, asm.R0, 0, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
	}
	if discard {
		insns = append(insns,
			asm.LoadMapPtr(asm.R1, ring.FD()),
			asm.Mov.Imm(asm.R2, int32(size)),
			asm.Mov.Imm(asm.R3, 0),
			asm.FnRingbufReserve.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.StoreMem(asm.R0, 0, asm.R7, asm.DWord),
			asm.Mov.Reg(asm.R1, asm.R0),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnRingbufDiscard.Call(),
		)
	} else {
		// The record on the stack at fp-size: the sequence number, then
		// the size in every other byte.
		base := -int16((size + 7) &^ 7)
		insns = append(insns, asm.StoreMem(asm.RFP, base, asm.R7, asm.DWord))
		for off := 8; off < size; off++ {
			insns = append(insns, asm.StoreImm(asm.RFP, base+int16(off), int64(size&0xff), asm.Byte))
		}
		insns = append(insns,
			asm.LoadMapPtr(asm.R1, ring.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, int32(base)),
			asm.Mov.Imm(asm.R3, int32(size)),
			asm.Mov.Imm(asm.R4, 0),
			asm.FnRingbufOutput.Call(),
		)
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return())
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatalf("load a writer of %d bytes: %v", size, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestBPFMapRing: records of many sizes, some discarded, written through
// a small ring several times around (records wrap at its end), come out
// of MapRing in order and intact, through Batch and through ReadInto, and
// the space they took is given back.
func TestBPFMapRing(t *testing.T) {
	bpftest.Require(t)
	const size = 4 * 4096
	ring, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: size})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	seq, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer seq.Close()
	sizes := []int{8, 9, 15, 16, 17, 40, 64, 100, 255, 300}
	var progs []*ebpf.Program
	for _, n := range sizes {
		progs = append(progs, writer(t, ring, seq, n, false))
	}
	discarder := writer(t, ring, seq, 48, true)
	mr, err := collect.NewMapRing(ring)
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	in := make([]byte, 14) // a socket filter's test run wants an Ethernet header
	var want, discarded []uint64
	wantSize := map[uint64]int{}
	var got []uint64
	check := func(b []byte) error {
		if len(b) < 8 {
			return fmt.Errorf("record of %d bytes", len(b))
		}
		n := binary.LittleEndian.Uint64(b)
		if len(b) != wantSize[n] {
			return fmt.Errorf("record %d has %d bytes, want %d", n, len(b), wantSize[n])
		}
		for i := 8; i < len(b); i++ {
			if b[i] != byte(len(b)) {
				return fmt.Errorf("record %d: byte %d is %d, want %d", n, i, b[i], byte(len(b)))
			}
		}
		got = append(got, n)
		return nil
	}
	var n uint64
	consumed := 0
	for round := 0; round < 40; round++ {
		for i, p := range progs {
			if _, err := p.Run(&ebpf.RunOptions{Data: in}); err != nil {
				t.Fatal(err)
			}
			want = append(want, n)
			wantSize[n] = sizes[i]
			n++
			if i%4 == 0 {
				if _, err := discarder.Run(&ebpf.RunOptions{Data: in}); err != nil {
					t.Fatal(err)
				}
				discarded = append(discarded, n)
				n++
			}
		}
		if round%3 == 2 {
			// ReadInto's path: one record, copied.
			var rec ringbuf.Record
			mr.SetDeadline(time.Unix(1, 0))
			if err := mr.ReadInto(&rec); err != nil {
				t.Fatalf("ReadInto: %v", err)
			}
			if err := check(rec.RawSample); err != nil {
				t.Fatal(err)
			}
		}
		before := mr.Pending()
		c, err := mr.Batch(check)
		if err != nil {
			t.Fatal(err)
		}
		if want := float64(before) / float64(size); mr.Fill() != want || mr.Capacity() != size {
			t.Fatalf("round %d: fill %v of %d bytes, want %v of %d", round, mr.Fill(), mr.Capacity(), want, size)
		}
		consumed += c
		if p := mr.Pending(); p != 0 {
			t.Fatalf("round %d: %d bytes pending after a batch", round, p)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records read: %v\nwant %v", got, want)
	}
	if len(discarded) == 0 || consumed < 2*size {
		t.Fatalf("the test did not go around the ring with discarded records: %d bytes", consumed)
	}
	// An empty ring: ReadInto with a deadline in the past says so.
	var rec ringbuf.Record
	mr.SetDeadline(time.Unix(1, 0))
	if err := mr.ReadInto(&rec); err != os.ErrDeadlineExceeded {
		t.Errorf("ReadInto of an empty ring = %v", err)
	}
	if woken, err := mr.Wait(10 * time.Millisecond); err != nil || woken {
		t.Errorf("Wait on an empty ring = %v, %v", woken, err)
	}
}
