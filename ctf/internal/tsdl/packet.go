package tsdl

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// MaxText bounds the bytes of one metadata text.
const MaxText = 64 << 20

// PacketMagic starts every packet of packetized metadata.
const PacketMagic = 0x75D11D57

// PacketHeaderLen is the size of a metadata packet header in bytes.
const PacketHeaderLen = 37

// IsCTF2 reports whether metadata text is a CTF 2 JSON text sequence:
// its first fragment starts with the record separator 0x1e.
func IsCTF2(text []byte) bool {
	t := bytes.TrimLeft(text, " \t\r\n")
	return len(t) > 0 && t[0] == 0x1e
}

// IsPacketized reports whether data starts with a metadata packet magic
// in either byte order.
func IsPacketized(data []byte) bool {
	if len(data) < 4 {
		return false
	}
	return binary.LittleEndian.Uint32(data) == PacketMagic ||
		binary.BigEndian.Uint32(data) == PacketMagic
}

// Depacketize concatenates the TSDL text of the packets in data.
func Depacketize(data []byte) ([]byte, error) {
	var order binary.ByteOrder = binary.LittleEndian
	if binary.LittleEndian.Uint32(data) != PacketMagic {
		order = binary.BigEndian
	}
	var text bytes.Buffer
	for off, n := 0, 0; off < len(data); n++ {
		rest := data[off:]
		if len(rest) < PacketHeaderLen {
			return nil, fmt.Errorf("metadata packet %d at offset %d: truncated header", n, off)
		}
		if order.Uint32(rest) != PacketMagic {
			return nil, fmt.Errorf("metadata packet %d at offset %d: bad magic 0x%08x", n, off, order.Uint32(rest))
		}
		content := order.Uint32(rest[24:])
		size := order.Uint32(rest[28:])
		compression, encryption, checksum := rest[32], rest[33], rest[34]
		switch {
		case content%8 != 0 || size%8 != 0:
			return nil, fmt.Errorf("metadata packet %d at offset %d: size not a multiple of 8 bits", n, off)
		case content/8 < PacketHeaderLen:
			return nil, fmt.Errorf("metadata packet %d at offset %d: content size %d bits smaller than the header", n, off, content)
		case content > size:
			return nil, fmt.Errorf("metadata packet %d at offset %d: content size %d bits exceeds packet size %d bits", n, off, content, size)
		case uint64(size/8) > uint64(len(rest)):
			return nil, fmt.Errorf("metadata packet %d at offset %d: packet of %d bytes truncated to %d", n, off, size/8, len(rest))
		case compression != 0 || encryption != 0 || checksum != 0:
			return nil, fmt.Errorf("metadata packet %d at offset %d: compression, encryption and checksums are not supported", n, off)
		}
		if text.Len()+int(content/8) > MaxText {
			return nil, Limitf(0, "text larger than %d bytes", MaxText)
		}
		text.Write(rest[PacketHeaderLen : content/8])
		off += int(size / 8)
	}
	return text.Bytes(), nil
}
