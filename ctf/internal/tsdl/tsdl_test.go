package tsdl

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestLex(t *testing.T) {
	toks, err := Lex([]byte("/* c */ trace {\n\tmajor = 0x1; // x\n\tname = \"a\\\"b\";\n} := 'c'"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		got = append(got, tk.Describe()+"@"+string(rune('0'+tk.Line)))
	}
	want := "'trace'@1 '{'@1 'major'@2 '='@2 '1'@2 ';'@2 'name'@3 '='@3 string literal@3 ';'@3 '}'@4 ':='@4 character literal@4 end of metadata@4"
	if strings.Join(got, " ") != want {
		t.Errorf("tokens\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if toks[8].Text != `a"b` || toks[4].Val != 1 || toks[4].Kind != Int {
		t.Errorf("token values: %+v %+v", toks[8], toks[4])
	}
	for src, msg := range map[string]string{
		"a\n/* open":                "line 2",
		"x = 99999999999999999999;": "out of range",
		"\"open":                    "line 1",
	} {
		_, err := Lex([]byte(src))
		var te *Error
		if !errors.As(err, &te) || !strings.Contains(err.Error(), msg) {
			t.Errorf("Lex(%q) = %v, want an *Error with %q", src, err, msg)
		}
	}
}

func TestDepacketize(t *testing.T) {
	packet := func(order binary.ByteOrder, text string, pad int) []byte {
		b := make([]byte, PacketHeaderLen+len(text)+pad)
		order.PutUint32(b, PacketMagic)
		order.PutUint32(b[24:], uint32(PacketHeaderLen+len(text))*8)
		order.PutUint32(b[28:], uint32(len(b))*8)
		copy(b[PacketHeaderLen:], text)
		return b
	}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		data := append(packet(order, "trace { ", 3), packet(order, "};", 0)...)
		if !IsPacketized(data) {
			t.Fatal("not seen as packetized")
		}
		text, err := Depacketize(data)
		if err != nil || string(text) != "trace { };" {
			t.Errorf("%v: %q, %v", order, text, err)
		}
		if _, err := Depacketize(data[:len(data)-1]); err == nil || !strings.Contains(err.Error(), "packet 1") {
			t.Errorf("%v: truncated: %v", order, err)
		}
	}
	if IsPacketized([]byte("/* CTF 1.8 */")) || !IsCTF2([]byte("\n\x1e{}")) {
		t.Error("plain text or CTF 2 misjudged")
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{"event": "_event", "uint8_t": "_uint8_t", "9a": "_9a", "a:b-c": "a_b_c", "": "_", "ok": "ok"} {
		if got := LegalName(in); got != want {
			t.Errorf("LegalName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Path("event.fields.struct.len"); got != "event.fields._struct.len" {
		t.Errorf("Path = %q", got)
	}
	if got := Quote("a\"\\\n\x01"); got != `"a\"\\\n\001"` {
		t.Errorf("Quote = %s", got)
	}
	u, ok := ParseUUID("58cfa7e6-289a-4c05-adc9-e8049c79bfc4")
	if !ok || FormatUUID(u) != "58cfa7e6-289a-4c05-adc9-e8049c79bfc4" {
		t.Errorf("UUID round trip: %v %s", ok, FormatUUID(u))
	}
	if _, ok := ParseUUID("58cfa7e6-289a-4c05-adc9-e8049c79bfcx"); ok {
		t.Error("bad UUID accepted")
	}
}
