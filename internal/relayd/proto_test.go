package relayd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// Byte-exact checks of the messages against relayd's struct layouts
// (src/common/sessiond-comm/relayd.hpp, all LTTNG_PACKED, big-endian):
// each want is written field by field from the struct, independently of
// the encoders.

type (
	u8  uint8
	u32 uint32
	u64 uint64
)

// pack lays fields out as a packed big-endian struct: u8, u32, u64, a
// string (its bytes) or raw bytes.
func pack(fields ...any) []byte {
	var b []byte
	for _, f := range fields {
		switch v := f.(type) {
		case u8:
			b = append(b, byte(v))
		case u32:
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		case u64:
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("pack: %T", f))
		}
	}
	return b
}

// hdr is lttcomm_relayd_hdr {u64 circuit_id, u64 data_size, u32 cmd, u32 cmd_version}.
func hdr(cmd u32, size int) []byte { return pack(u64(0), u64(size), cmd, u32(0)) }

func TestMessages(t *testing.T) {
	uuid := [16]byte{0: 0xaa, 15: 0xbb}
	sess := Session{Name: "s1", Hostname: "vm", LiveTimer: 1000000, SessiondUUID: uuid, ID: 7, CreationTime: 1700000000}
	// lttcomm_relayd_create_session_2_11_base: name_len, host_len,
	// base_path_len, live_timer, snapshot, name_contains_creation_time,
	// sessiond_uuid[16], session_id, creation_time,
	// current_chunk_id {u8 is_set, u64 value} (packed); then the names.
	base := pack(u32(3), u32(3), u32(0), u32(1000000), u8(0), u8(0), uuid[:], u64(7), u64(1700000000), u8(0), u64(0))
	if len(base) != sessionBaseSize {
		t.Fatalf("create_session_2_11_base is %d bytes, want %d", len(base), sessionBaseSize)
	}
	index := pack(u64(3), u64(9), u64(32768), u64(1000), u64(100), u64(200), u64(5), u64(0), u64(1), u64(12))
	if len(index) != indexSize {
		t.Fatalf("lttcomm_relayd_index is %d bytes, want %d", len(index), indexSize)
	}
	cases := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"version", versionMsg(2, 15), append(hdr(cmdVersion, 8), pack(u32(2), u32(15))...)},
		{"create_session_2_11", createSessionMsg(13, sess),
			append(hdr(cmdCreateSession, sessionBaseSize+6), append(base, "s1\x00vm\x00"...)...)},
		// 2.15: u32 trace_format (LTTNG_TRACE_FORMAT_CTF_1_8 = 1) after the base.
		{"create_session_2_15", createSessionMsg(15, sess),
			append(hdr(cmdCreateSession, sessionBaseSize+4+6), append(append(base, pack(u32(1))...), "s1\x00vm\x00"...)...)},
		// lttcomm_relayd_create_trace_chunk {u64 chunk_id, u64 creation_timestamp, u32 override_name_length}.
		{"create_trace_chunk", createChunkMsg(0, 1700000000),
			append(hdr(cmdCreateTraceChnk, createChunkSize), pack(u64(0), u64(1700000000), u32(0))...)},
		// lttcomm_relayd_add_stream_2_11 {u32 channel_name_len, u32 pathname_len,
		// u64 tracefile_size, u64 tracefile_count, u64 trace_chunk_id} + names.
		{"add_stream_2_11", addStreamMsg("stream_0", "bpftrail", 0),
			append(hdr(cmdAddStream, addStreamSize+9+9), pack(u32(9), u32(9), u64(0), u64(0), u64(0), "stream_0\x00bpftrail\x00")...)},
		{"streams_sent", streamsSentMsg(), hdr(cmdStreamsSent, 0)},
		// lttcomm_relayd_metadata_payload {u64 stream_id, u32 padding_size} + bytes.
		{"send_metadata", metadataMsg(4, []byte("/* CTF 1.8 */")),
			append(hdr(cmdSendMetadata, metadataHdrSize+13), pack(u64(4), u32(0), "/* CTF 1.8 */")...)},
		{"send_index", indexMsg(Index{RelayStream: 3, NetSeq: 9, PacketSize: 32768, ContentSize: 1000, TimestampBegin: 100,
			TimestampEnd: 200, EventsDiscarded: 5, StreamID: 0, StreamInstanceID: 1, PacketSeqNum: 12}),
			append(hdr(cmdSendIndex, indexSize), index...)},
		// lttcomm_relayd_data_hdr {u64 circuit_id, u64 stream_id, u64 net_seq_num, u32 data_size, u32 padding_size}.
		{"data_header", dataHeader(3, 9, 125, 3971), pack(u64(0), u64(3), u64(9), u32(125), u32(3971))},
		// lttcomm_relayd_rotate_streams_7_bytes_padding {u32 stream_count,
		// {union{u8 is_set; u64 padding}, u64 value} new_chunk_id} +
		// stream_rotation_position {u64 stream_id, u64 rotate_at_seq_num}[].
		{"rotate_streams", rotateStreamsMsg([]Rotation{{1, 0}, {2, 8}}),
			append(hdr(cmdRotateStreams, rotateHeaderSize+32), pack(u32(2), u64(0), u64(0), u64(1), u64(0), u64(2), u64(8))...)},
		// lttcomm_relayd_close_trace_chunk {u64 chunk_id, u64 close_timestamp,
		// {u8 is_set, u32 value} close_command (packed)}.
		{"close_trace_chunk", closeChunkMsg(0, 1700000100),
			append(hdr(cmdCloseTraceChunk, closeChunkSize), pack(u64(0), u64(1700000100), u8(0), u32(0))...)},
		// lttcomm_relayd_close_stream {u64 stream_id, u64 last_net_seq_num}.
		{"close_stream", closeStreamMsg(2, 41), append(hdr(cmdCloseStream, 16), pack(u64(2), u64(41))...)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !bytes.Equal(c.got, c.want) {
				t.Errorf("got  % x\nwant % x", c.got, c.want)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	cases := []struct {
		in   string
		want Addr
		err  bool
	}{
		{"net://collector", Addr{"collector", 5342, 5343}, false},
		{"net://127.0.0.1:6000", Addr{"127.0.0.1", 6000, 6001}, false},
		{"net://127.0.0.1:6000:7000", Addr{"127.0.0.1", 6000, 7000}, false},
		{"net6://[::1]:6000:7000", Addr{"::1", 6000, 7000}, false},
		{"tcp://h/", Addr{"h", 5342, 5343}, false},
		{"host:1:2", Addr{"host", 1, 2}, false},
		{"http://h", Addr{}, true},
		{"net://", Addr{}, true},
		{"net://h:0", Addr{}, true},
		{"net://h:1:2:3", Addr{}, true},
		{"net://h:x", Addr{}, true},
		{"net://[::1", Addr{}, true},
	}
	for _, c := range cases {
		got, err := ParseURL(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v (error %v)", c.in, got, err, c.want, c.err)
		}
	}
}
