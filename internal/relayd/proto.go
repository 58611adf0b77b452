// Package relayd streams a CTF trace to LTTng's relay daemon
// (lttng-relayd), the way LTTng's consumer daemon does: a session, a
// trace chunk, one relayd stream per CTF stream plus the metadata stream,
// then every packet on the data connection with its index on the control
// connection. With a live timer relayd serves the session to live viewers
// (babeltrace2's lttng-live source, Trace Compass) while it is recorded, and
// relayd's output directory gets a copy of the trace either way.
//
// The protocol is relayd's consumer protocol (versions 2.11 to 2.15,
// negotiated: the lower minor of the two sides wins), written from its
// message layouts: every integer big-endian, structs packed. [Streamer] is
// the [ctf.PacketSink] that sends a trace as it is written; it never
// blocks the writer: packets queue, a lost connection is retried with
// backoff, and the events of packets relayd missed are counted and
// reported to it as discarded.
//
// Errors are one line; an unreachable relayd reads "cannot reach
// lttng-relayd at HOST:PORT: ...".
package relayd

import (
	"encoding/binary"
	"fmt"
)

// Commands of the control connection (enum lttcomm_relayd_command).
const (
	cmdAddStream       = 1
	cmdCreateSession   = 2
	cmdVersion         = 5
	cmdSendMetadata    = 6
	cmdCloseStream     = 7
	cmdSendIndex       = 13
	cmdStreamsSent     = 16
	cmdRotateStreams   = 18
	cmdCreateTraceChnk = 19
	cmdCloseTraceChunk = 20
)

// Protocol versions: the major must match; the minor is negotiated down to
// the lower of the two, and the layouts below need at least 2.11.
const (
	VersionMajor    = 2
	VersionMinor    = 15 // the newest layout this client knows
	MinVersionMinor = 11 // trace chunks and the 2.11 layouts
)

// lttngOK is relayd's success code (LTTNG_OK).
const lttngOK = 10

// traceFormatCTF18 is LTTNG_TRACE_FORMAT_CTF_1_8 in a 2.15 session.
const traceFormatCTF18 = 1

// Sizes of the fixed parts of the messages.
const (
	ctrlHeaderSize    = 24 // lttcomm_relayd_hdr
	dataHeaderSize    = 32 // lttcomm_relayd_data_hdr
	sessionBaseSize   = 59 // lttcomm_relayd_create_session_2_11_base
	addStreamSize     = 32 // lttcomm_relayd_add_stream_2_11 without names
	indexSize         = 80 // lttcomm_relayd_index (index format 1.1)
	createChunkSize   = 20 // lttcomm_relayd_create_trace_chunk without name
	closeChunkSize    = 21 // lttcomm_relayd_close_trace_chunk
	rotateHeaderSize  = 20 // lttcomm_relayd_rotate_streams, 7 bytes of padding in new_chunk_id
	metadataHdrSize   = 12 // lttcomm_relayd_metadata_payload
	sessionReplySize  = 16 // lttcomm_relayd_create_session_reply_2_11 without path
	streamReplySize   = 12 // lttcomm_relayd_status_stream
	genericReplySize  = 4  // lttcomm_relayd_generic_reply
	versionReplySize  = 8  // lttcomm_relayd_version
	closeChnkRplySize = 8  // lttcomm_relayd_close_trace_chunk_reply without path
)

var be = binary.BigEndian

// ctrlHeader is the header of a control command with size bytes of
// payload.
func ctrlHeader(cmd uint32, size int) []byte {
	b := make([]byte, 0, ctrlHeaderSize+size)
	b = be.AppendUint64(b, 0) // circuit_id, unused
	b = be.AppendUint64(b, uint64(size))
	b = be.AppendUint32(b, cmd)
	return be.AppendUint32(b, 0) // cmd_version
}

// command returns a whole control message: header and payload.
func command(cmd uint32, payload []byte) []byte {
	return append(ctrlHeader(cmd, len(payload)), payload...)
}

// versionMsg is VERSION {major, minor}.
func versionMsg(major, minor uint32) []byte {
	p := be.AppendUint32(nil, major)
	return command(cmdVersion, be.AppendUint32(p, minor))
}

// Session is what CREATE_SESSION announces.
type Session struct {
	Name     string
	Hostname string
	// LiveTimer is the live period in µs; 0 makes a session that live
	// viewers do not see.
	LiveTimer    uint32
	SessiondUUID [16]byte // must not be nil
	ID           uint64   // the session's id on the sending side
	CreationTime uint64   // seconds since the epoch
}

// createSessionMsg is CREATE_SESSION in the 2.11 layout (minor 11 to 14)
// or the 2.15 one (a trace format after the base, CTF 1.8 here).
func createSessionMsg(minor uint32, s Session) []byte {
	name, host := cstr(s.Name), cstr(s.Hostname)
	var p []byte
	p = be.AppendUint32(p, uint32(len(name)))
	p = be.AppendUint32(p, uint32(len(host)))
	p = be.AppendUint32(p, 0) // base_path_len: relayd's default layout
	p = be.AppendUint32(p, s.LiveTimer)
	p = append(p, 0) // snapshot
	p = append(p, 0) // session_name_contains_creation_time: relayd adds it
	p = append(p, s.SessiondUUID[:]...)
	p = be.AppendUint64(p, s.ID)
	p = be.AppendUint64(p, s.CreationTime)
	p = append(p, 0)          // current_chunk_id.is_set: the chunk is created next
	p = be.AppendUint64(p, 0) // current_chunk_id.value
	if minor >= 15 {
		p = be.AppendUint32(p, traceFormatCTF18)
	}
	p = append(p, name...)
	p = append(p, host...)
	return command(cmdCreateSession, p)
}

// createChunkMsg is CREATE_TRACE_CHUNK without a name override.
func createChunkMsg(id, created uint64) []byte {
	p := be.AppendUint64(nil, id)
	p = be.AppendUint64(p, created)
	p = be.AppendUint32(p, 0) // override_name_length
	return command(cmdCreateTraceChnk, p)
}

// addStreamMsg is ADD_STREAM in the 2.11 layout: the stream's file name
// (channel) and its directory in the session's output (path).
func addStreamMsg(channel, path string, chunk uint64) []byte {
	c, d := cstr(channel), cstr(path)
	p := be.AppendUint32(nil, uint32(len(c)))
	p = be.AppendUint32(p, uint32(len(d)))
	p = be.AppendUint64(p, 0) // tracefile_size: one file
	p = be.AppendUint64(p, 0) // tracefile_count
	p = be.AppendUint64(p, chunk)
	p = append(p, c...)
	return command(cmdAddStream, append(p, d...))
}

// streamsSentMsg publishes the streams added so far to live viewers.
func streamsSentMsg() []byte { return command(cmdStreamsSent, nil) }

// metadataMsg is SEND_METADATA: bytes appended to the metadata stream.
func metadataMsg(stream uint64, data []byte) []byte {
	p := make([]byte, 0, metadataHdrSize+len(data))
	p = be.AppendUint64(p, stream)
	p = be.AppendUint32(p, 0) // padding_size
	return command(cmdSendMetadata, append(p, data...))
}

// Index is a packet's index entry (SEND_INDEX). A live beacon, which tells
// viewers that a stream has nothing before TimestampEnd, has PacketSize 0.
type Index struct {
	RelayStream      uint64
	NetSeq           uint64
	PacketSize       uint64 // bits
	ContentSize      uint64 // bits
	TimestampBegin   uint64
	TimestampEnd     uint64
	EventsDiscarded  uint64
	StreamID         uint64 // CTF stream class id
	StreamInstanceID uint64
	PacketSeqNum     uint64
}

// indexMsg is SEND_INDEX (index format 1.1, protocol 2.8 and later).
func indexMsg(x Index) []byte {
	p := make([]byte, 0, indexSize)
	for _, v := range []uint64{x.RelayStream, x.NetSeq, x.PacketSize, x.ContentSize, x.TimestampBegin,
		x.TimestampEnd, x.EventsDiscarded, x.StreamID, x.StreamInstanceID, x.PacketSeqNum} {
		p = be.AppendUint64(p, v)
	}
	return command(cmdSendIndex, p)
}

// dataHeader is the header of a packet on the data connection: size bytes
// follow, and relayd appends padding zero bytes to them.
func dataHeader(stream, netSeq uint64, size, padding uint32) []byte {
	b := make([]byte, 0, dataHeaderSize)
	b = be.AppendUint64(b, 0) // circuit_id
	b = be.AppendUint64(b, stream)
	b = be.AppendUint64(b, netSeq)
	b = be.AppendUint32(b, size)
	return be.AppendUint32(b, padding)
}

// Rotation is where a stream leaves its chunk: at packet RotateAt.
type Rotation struct {
	Stream   uint64
	RotateAt uint64
}

// rotateStreamsMsg is ROTATE_STREAMS without a new chunk, in the layout
// whose optional chunk id has 7 bytes of padding (what LTTng's consumer
// sends on 64-bit hosts, and what every relayd 2.11 and later reads).
func rotateStreamsMsg(rs []Rotation) []byte {
	p := be.AppendUint32(nil, uint32(len(rs)))
	p = append(p, make([]byte, 16)...) // new_chunk_id: not set
	for _, r := range rs {
		p = be.AppendUint64(p, r.Stream)
		p = be.AppendUint64(p, r.RotateAt)
	}
	return command(cmdRotateStreams, p)
}

// closeChunkMsg is CLOSE_TRACE_CHUNK without a close command: the chunk's
// files stay where they are.
func closeChunkMsg(id, closed uint64) []byte {
	p := be.AppendUint64(nil, id)
	p = be.AppendUint64(p, closed)
	p = append(p, 0)          // close_command.is_set
	p = be.AppendUint32(p, 0) // close_command.value
	return command(cmdCloseTraceChunk, p)
}

// closeStreamMsg is CLOSE_STREAM: lastNetSeq is the stream's last packet.
func closeStreamMsg(stream, lastNetSeq uint64) []byte {
	p := be.AppendUint64(nil, stream)
	return command(cmdCloseStream, be.AppendUint64(p, lastNetSeq))
}

// cstr is s with its terminating NUL, as relayd's names are sent.
func cstr(s string) []byte { return append([]byte(s), 0) }

// retError is the error of a reply's return code.
func retError(what string, code uint32) error {
	if code == lttngOK {
		return nil
	}
	return fmt.Errorf("lttng-relayd refused %s (error code %d)", what, code)
}
