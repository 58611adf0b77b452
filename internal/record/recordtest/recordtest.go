// Package recordtest builds records as bpftrail's BPF programs write them,
// for the tests of the stages that read records (the collector, the trace
// writer, the live printers).
package recordtest

import (
	"encoding/binary"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/record"
)

// Header is what a record's header holds.
type Header struct {
	Time     uint64
	CPU      int
	PID, TID int32
	Comm     string
}

// Build returns the bytes of a record of class c: the header, then each
// field's value at its offset. Values are int64 (Int), string (Text,
// String), []byte (Bytes, Array) or []uint64 (Stack); a missing value is
// zero.
func Build(c *record.Class, h Header, values map[string]any) []byte {
	le := binary.LittleEndian
	b := make([]byte, c.Layout.Size)
	le.PutUint64(b[record.OffTime:], h.Time)
	le.PutUint32(b[record.OffClass:], c.ID)
	le.PutUint32(b[record.OffCPU:], uint32(h.CPU))
	le.PutUint32(b[record.OffTID:], uint32(h.TID))
	le.PutUint32(b[record.OffPID:], uint32(h.PID))
	copy(b[record.OffComm:record.OffComm+record.CommSize-1], h.Comm)
	for i, f := range c.Schema.Fields {
		v, ok := values[f.Name]
		if !ok {
			continue
		}
		slot := b[c.Layout.Off[i] : c.Layout.Off[i]+f.Size]
		put(slot, f, v)
	}
	return b
}

func put(slot []byte, f event.Field, v any) {
	le := binary.LittleEndian
	switch x := v.(type) {
	case int64:
		for i := range slot {
			slot[i] = byte(uint64(x) >> (8 * i))
		}
	case string:
		copy(slot[:len(slot)-1], x)
	case []byte:
		if f.Kind == event.Bytes {
			n := min(len(x), len(slot)-2)
			le.PutUint16(slot, uint16(n))
			copy(slot[2:], x[:n])
		} else {
			copy(slot, x)
		}
	case []uint64:
		n := min(len(x), (len(slot)-8)/8)
		le.PutUint64(slot, uint64(8*n))
		for i := 0; i < n; i++ {
			le.PutUint64(slot[8+8*i:], x[i])
		}
	}
}
