package ctf

import (
	"encoding/binary"
	"fmt"
)

// PacketSink sees a trace as it is written: its metadata each time it
// changes, and each packet of each stream as it is closed, the empty first
// and last ones included. A sink that streams the trace elsewhere (a relay
// daemon, a socket) thus sends the same bytes as the files hold.
//
// The methods are called with the writer's stream in hand, from the
// goroutine writing it: they must not block for long, and must copy what
// they keep (the slices are reused).
type PacketSink interface {
	// Metadata is the whole TSDL text. It only grows: a new version
	// starts with the previous one.
	Metadata(tsdl []byte)
	// Packet is a closed packet of stream id holding events events.
	Packet(id int, pkt []byte, events int)
}

// PacketInfo is the packet context of a packet this package wrote: what
// an index entry of the packet holds.
type PacketInfo struct {
	StreamID         uint32 // stream class id
	StreamInstanceID uint64
	TimestampBegin   uint64
	TimestampEnd     uint64
	ContentSize      uint64 // bits
	PacketSize       uint64 // bits
	SeqNum           uint64
	EventsDiscarded  uint64 // running total of the stream
	CPU              uint32
}

// PacketHeaderSize is the size of the header and context of the packets
// this package writes: an empty packet holds just these bytes of content.
const PacketHeaderSize = preambleSize

// ParsePacket reads the header and context of a packet this package wrote.
func ParsePacket(pkt []byte) (PacketInfo, error) {
	if len(pkt) < preambleSize {
		return PacketInfo{}, fmt.Errorf("ctf: a packet of %d bytes is shorter than its header (%d)", len(pkt), preambleSize)
	}
	le := binary.LittleEndian
	if m := le.Uint32(pkt); m != magic {
		return PacketInfo{}, fmt.Errorf("ctf: packet magic %#x, want %#x", m, uint32(magic))
	}
	return PacketInfo{
		StreamID:         le.Uint32(pkt[20:]),
		StreamInstanceID: le.Uint64(pkt[24:]),
		TimestampBegin:   le.Uint64(pkt[offTsBegin:]),
		TimestampEnd:     le.Uint64(pkt[offTsEnd:]),
		ContentSize:      le.Uint64(pkt[offContentSize:]),
		PacketSize:       le.Uint64(pkt[offPacketSize:]),
		SeqNum:           le.Uint64(pkt[offSeqNum:]),
		EventsDiscarded:  le.Uint64(pkt[offDiscarded:]),
		CPU:              le.Uint32(pkt[offCPU:]),
	}, nil
}

// SetPacketDiscarded rewrites the events_discarded counter of a packet
// this package wrote (a copy sent elsewhere that lost packets on the way
// counts their events there).
func SetPacketDiscarded(pkt []byte, n uint64) {
	binary.LittleEndian.PutUint64(pkt[offDiscarded:], n)
}

// EmptyPacket returns a packet without events shaped like pkt (a packet
// this package wrote): same header, size and stream, with the given
// sequence number, times and discarded count. A copy of a stream that
// starts late starts with one, so that readers count discarded events from
// its first packet on.
func EmptyPacket(pkt []byte, seq, begin, end, discarded uint64) []byte {
	out := make([]byte, preambleSize)
	copy(out, pkt[:preambleSize])
	le := binary.LittleEndian
	le.PutUint64(out[offTsBegin:], begin)
	le.PutUint64(out[offTsEnd:], end)
	le.PutUint64(out[offContentSize:], preambleSize*8)
	le.PutUint64(out[offSeqNum:], seq)
	le.PutUint64(out[offDiscarded:], discarded)
	size := le.Uint64(pkt[offPacketSize:]) / 8
	le.PutUint64(out[offPacketSize:], size*8)
	return append(out, make([]byte, int(size)-preambleSize)...)
}

// NewPacketWriter returns a writer whose packets and metadata go only to
// sink: no file is written. name names the trace.
func NewPacketWriter(name string, opts Options, sink PacketSink) (*Writer, error) {
	if sink == nil {
		return nil, fmt.Errorf("ctf: a packet writer needs a sink")
	}
	opts.Packets = sink
	w := &Writer{dir: name, opts: opts, streams: map[int]*StreamWriter{}, noFiles: true}
	return w.init()
}

// nullStream is the packet file of a writer without files.
type nullStream struct{ id int }

func (s nullStream) Write(b []byte) (int, error)    { return len(b), nil }
func (s nullStream) Truncate(int64) error           { return nil }
func (s nullStream) Seek(int64, int) (int64, error) { return 0, nil }
func (s nullStream) Close() error                   { return nil }
func (s nullStream) Name() string                   { return fmt.Sprintf("stream %d", s.id) }

// Pending returns the number of events in the stream's open packet: those
// that [StreamWriter.Flush] would close into a packet now.
func (s *StreamWriter) Pending() int { return s.pktEvs }

// Last returns the stream's clock value: that of its last event, or the
// later one it was advanced to (see [StreamWriter.AddDiscarded]).
func (s *StreamWriter) Last() uint64 { return s.last }
