package usdt

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/ptregs"
)

// A tiny hand-built x86-64 ELF executable, small enough for the fuzz seed
// corpus. Its two PT_LOAD segments have different vaddr-offset deltas so
// that converting with the wrong segment shows:
//
//	text  R E  file [0x100, 0x200)  vaddr [0x401100, 0x401200)
//	data  RW   file [0x200, 0x210)  vaddr [0x603200, 0x603210), memsz 0x20
const (
	synthTextOff   = 0x100
	synthTextAddr  = 0x401100
	synthTextSize  = 0x100
	synthDataOff   = 0x200
	synthDataAddr  = 0x603200
	synthDataSize  = 0x10
	synthBaseAddr  = 0x4011f0 // .stapsdt.base, inside text
	synthNotesOff  = 0x210
	synthSemaAddr  = synthDataAddr + 4
	synthGlobalVal = synthDataAddr + 8
)

type synthSym struct {
	name  string
	value uint64
}

type synthELF struct {
	notes    []byte // contents of .note.stapsdt
	noBase   bool   // omit .stapsdt.base
	noNotes  bool   // omit .note.stapsdt
	syms     []synthSym
	machine  elf.Machine
	elfType  elf.Type
	addralig uint64 // of .note.stapsdt (default 4)
}

// sdtNote encodes one 64-bit little-endian stapsdt note.
func sdtNote(pc, base, sema uint64, provider, name, args string) []byte {
	var desc bytes.Buffer
	binary.Write(&desc, binary.LittleEndian, [3]uint64{pc, base, sema})
	desc.WriteString(provider + "\x00" + name + "\x00" + args + "\x00")
	return rawNote("stapsdt", 3, desc.Bytes())
}

func rawNote(owner string, typ uint32, desc []byte) []byte {
	var b bytes.Buffer
	name := owner + "\x00"
	binary.Write(&b, binary.LittleEndian, [3]uint32{uint32(len(name)), uint32(len(desc)), typ})
	b.WriteString(name)
	pad(&b, 4)
	b.Write(desc)
	pad(&b, 4)
	return b.Bytes()
}

func pad(b *bytes.Buffer, a int) {
	for b.Len()%a != 0 {
		b.WriteByte(0)
	}
}

func (s synthELF) build() []byte {
	le := binary.LittleEndian
	machine, typ := s.machine, s.elfType
	if machine == 0 {
		machine = elf.EM_X86_64
	}
	if typ == 0 {
		typ = elf.ET_EXEC
	}
	file := make([]byte, synthNotesOff)
	// Text: a few NOPs; data: zeroes.
	for i := synthTextOff; i < synthTextOff+synthTextSize; i++ {
		file[i] = 0x90
	}
	type shdr struct {
		name                   string
		typ                    elf.SectionType
		flags                  elf.SectionFlag
		addr, off, size, align uint64
		link, info             uint32
		entsize                uint64
	}
	shdrs := []shdr{{}}
	shdrs = append(shdrs,
		shdr{name: ".text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, addr: synthTextAddr, off: synthTextOff, size: synthBaseAddr - synthTextAddr, align: 16},
	)
	if !s.noBase {
		shdrs = append(shdrs, shdr{name: ".stapsdt.base", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC, addr: synthBaseAddr, off: synthTextOff + synthBaseAddr - synthTextAddr, size: 1, align: 1})
	}
	shdrs = append(shdrs, shdr{name: ".probes", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, addr: synthDataAddr, off: synthDataOff, size: synthDataSize, align: 2})
	if !s.noNotes {
		align := s.addralig
		if align == 0 {
			align = 4
		}
		shdrs = append(shdrs, shdr{name: ".note.stapsdt", typ: elf.SHT_NOTE, off: uint64(len(file)), size: uint64(len(s.notes)), align: align})
		file = append(file, s.notes...)
	}
	if len(s.syms) > 0 {
		for len(file)%8 != 0 {
			file = append(file, 0)
		}
		strtab := []byte{0}
		symtab := make([]byte, 24) // null symbol
		for _, sym := range s.syms {
			e := make([]byte, 24)
			le.PutUint32(e[0:], uint32(len(strtab)))
			e[4] = byte(elf.STB_GLOBAL)<<4 | byte(elf.STT_OBJECT)
			le.PutUint16(e[6:], 1) // some defined section
			le.PutUint64(e[8:], sym.value)
			le.PutUint64(e[16:], 4)
			symtab = append(symtab, e...)
			strtab = append(strtab, sym.name+"\x00"...)
		}
		symIdx := uint32(len(shdrs))
		shdrs = append(shdrs, shdr{name: ".symtab", typ: elf.SHT_SYMTAB, off: uint64(len(file)), size: uint64(len(symtab)), align: 8, link: symIdx + 1, info: 1, entsize: 24})
		file = append(file, symtab...)
		shdrs = append(shdrs, shdr{name: ".strtab", typ: elf.SHT_STRTAB, off: uint64(len(file)), size: uint64(len(strtab)), align: 1})
		file = append(file, strtab...)
	}
	shstrtab := []byte{0}
	nameOff := map[string]uint32{}
	for _, h := range shdrs[1:] {
		nameOff[h.name] = uint32(len(shstrtab))
		shstrtab = append(shstrtab, h.name+"\x00"...)
	}
	nameOff[".shstrtab"] = uint32(len(shstrtab))
	shstrtab = append(shstrtab, ".shstrtab\x00"...)
	shdrs = append(shdrs, shdr{name: ".shstrtab", typ: elf.SHT_STRTAB, off: uint64(len(file)), size: uint64(len(shstrtab)), align: 1})
	file = append(file, shstrtab...)
	for len(file)%8 != 0 {
		file = append(file, 0)
	}
	shoff := len(file)
	for _, h := range shdrs {
		e := make([]byte, 64)
		if h.name != "" {
			le.PutUint32(e[0:], nameOff[h.name])
		}
		le.PutUint32(e[4:], uint32(h.typ))
		le.PutUint64(e[8:], uint64(h.flags))
		le.PutUint64(e[16:], h.addr)
		le.PutUint64(e[24:], h.off)
		le.PutUint64(e[32:], h.size)
		le.PutUint32(e[40:], h.link)
		le.PutUint32(e[44:], h.info)
		le.PutUint64(e[48:], h.align)
		le.PutUint64(e[56:], h.entsize)
		file = append(file, e...)
	}

	// ELF header and program headers.
	copy(file, []byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)})
	le.PutUint16(file[16:], uint16(typ))
	le.PutUint16(file[18:], uint16(machine))
	le.PutUint32(file[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(file[24:], synthTextAddr)
	le.PutUint64(file[32:], 64)            // phoff
	le.PutUint64(file[40:], uint64(shoff)) // shoff
	le.PutUint16(file[52:], 64)            // ehsize
	le.PutUint16(file[54:], 56)            // phentsize
	le.PutUint16(file[56:], 2)             // phnum
	le.PutUint16(file[58:], 64)            // shentsize
	le.PutUint16(file[60:], uint16(len(shdrs)))
	le.PutUint16(file[62:], uint16(len(shdrs)-1)) // shstrndx
	ph := func(at int, flags elf.ProgFlag, off, addr, filesz, memsz uint64) {
		le.PutUint32(file[at:], uint32(elf.PT_LOAD))
		le.PutUint32(file[at+4:], uint32(flags))
		le.PutUint64(file[at+8:], off)
		le.PutUint64(file[at+16:], addr)
		le.PutUint64(file[at+24:], addr)
		le.PutUint64(file[at+32:], filesz)
		le.PutUint64(file[at+40:], memsz)
		le.PutUint64(file[at+48:], 0x1000)
	}
	ph(64, elf.PF_R|elf.PF_X, synthTextOff, synthTextAddr, synthTextSize, synthTextSize)
	ph(64+56, elf.PF_R|elf.PF_W, synthDataOff, synthDataAddr, synthDataSize, 2*synthDataSize)
	return file
}

func probesFromBytes(data []byte) ([]Probe, error) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return probesFromELF(f)
}

func TestSyntheticELF(t *testing.T) {
	const pc = synthTextAddr + 0x10
	notes := bytes.Join([][]byte{
		rawNote("GNU", 3, []byte("ignored, other owner")),
		sdtNote(pc, synthBaseAddr, 0, "prov", "plain", "-4@%esi 8@-16(%rbp)"),
		rawNote("stapsdt", 1, []byte("ignored, other type")),
		sdtNote(pc+1, synthBaseAddr, synthSemaAddr, "prov", "guarded", ""),
		// Prelinked by 0x1000 then the file moved back: the note's pc and
		// semaphore are 0x1000 too high relative to .stapsdt.base.
		sdtNote(pc+2+0x1000, synthBaseAddr+0x1000, synthSemaAddr+0x1000, "prov", "prelinked", "4@$0"),
		sdtNote(pc+3, synthBaseAddr, 0, "other", "global", "-4@global_counter(%rip) 8@global_counter+4(%rip) 8@$global_counter"),
		sdtNote(pc+4, synthBaseAddr, 0, "other", "badargs", "8@(%rax,%rbx,8)"),
		sdtNote(pc+5, synthBaseAddr, 0, "other", "nosym", "8@missing(%rip)"),
		sdtNote(synthDataAddr, synthBaseAddr, 0, "other", "notext", ""),
		sdtNote(pc+6, synthBaseAddr, synthDataAddr+synthDataSize+2, "other", "bsssema", ""),
		sdtNote(pc+0x100, 0, 0, "other", "pastend", ""),
		sdtNote(pc+7, 0, 0, "prov", "plain", "8@%rdi"), // second location, no base
	}, nil)
	data := synthELF{notes: notes, syms: []synthSym{{"global_counter", synthGlobalVal}}}.build()
	probes, err := probesFromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	byLoc := map[string]Probe{}
	var order []string
	for _, p := range probes {
		order = append(order, p.ID())
		byLoc[fmt.Sprintf("%s@%#x", p.ID(), p.Location)] = p
	}
	wantOrder := "prov:plain prov:guarded prov:prelinked other:global other:badargs other:nosym other:notext other:bsssema other:pastend prov:plain"
	if got := strings.Join(order, " "); got != wantOrder {
		t.Fatalf("probes = %s\nwant %s", got, wantOrder)
	}
	textOff := func(addr uint64) uint64 { return addr - synthTextAddr + synthTextOff }
	dataOff := func(addr uint64) uint64 { return addr - synthDataAddr + synthDataOff }

	p := probes[0]
	if p.Location != pc || p.FileOffset != textOff(pc) || p.Semaphore != 0 || p.SemaphoreOffset != 0 || p.Err != nil || len(p.Args) != 2 || p.ArgsText != "-4@%esi 8@-16(%rbp)" {
		t.Errorf("plain: %+v", p)
	}
	p = probes[1]
	if p.Semaphore != synthSemaAddr || p.SemaphoreOffset != dataOff(synthSemaAddr) || p.Err != nil || p.Args != nil {
		t.Errorf("guarded: %+v (want semaphore offset %#x)", p, dataOff(synthSemaAddr))
	}
	p = probes[2]
	if p.Location != pc+2 || p.FileOffset != textOff(pc+2) || p.Semaphore != synthSemaAddr || p.SemaphoreOffset != dataOff(synthSemaAddr) || p.Err != nil {
		t.Errorf("prelinked: %+v", p)
	}
	p = probes[3]
	if p.Err != nil {
		t.Errorf("global: %v", p.Err)
	} else {
		a := p.Args
		if a[0].Kind != ArgRegDeref || a[0].Reg != "rip" || p.Location+uint64(a[0].Offset) != synthGlobalVal || a[0].Symbol != "global_counter" {
			t.Errorf("global arg 1: %+v", a[0])
		}
		if p.Location+uint64(a[1].Offset) != synthGlobalVal+4 {
			t.Errorf("global arg 2: %+v", a[1])
		}
		if a[2].Kind != ArgConst || a[2].Const != synthGlobalVal {
			t.Errorf("global arg 3: %+v", a[2])
		}
	}
	for i, want := range map[int]string{
		4: "index register",
		5: `symbol "missing" not found`,
		6: "no executable loadable segment",
		7: "semaphore of probe other:bsssema",
		8: "no executable loadable segment",
	} {
		p := probes[i]
		if p.Err == nil || !strings.Contains(p.Err.Error(), want) || p.Args != nil {
			t.Errorf("%s: Err = %v, Args = %v; want error containing %q", p.ID(), p.Err, p.Args, want)
		}
	}
	p = probes[9]
	if p.Location != pc+7 || p.Err != nil || len(p.Args) != 1 {
		t.Errorf("second plain: %+v", p)
	}

	got, err := Find(probes, "prov", "plain")
	if err != nil || len(got) != 2 {
		t.Errorf("Find(prov, plain) = %d probes, %v; want 2", len(got), err)
	}
	got, err = Find(probes, "", "global")
	if err != nil || len(got) != 1 || got[0].Provider != "other" {
		t.Errorf("Find(\"\", global) = %v, %v", got, err)
	}
	if _, err := Find(probes, "other", "plain"); err == nil {
		t.Error("Find(other, plain): no error")
	}
	_, err = Find(probes, "prov", "gaurded")
	if err == nil || !strings.Contains(err.Error(), "did you mean prov:guarded?") || !strings.Contains(err.Error(), "available probes: other:badargs other:bsssema") {
		t.Errorf("Find(prov, gaurded) error = %v", err)
	}
	_, err = Find(probes, "", "link")
	if err == nil || !strings.Contains(err.Error(), "prov:prelinked") {
		t.Errorf("Find(\"\", link) error = %v", err)
	}
	if _, err := Find(nil, "", "x"); err == nil || !strings.Contains(err.Error(), "no USDT probes") {
		t.Errorf("Find(nil) error = %v", err)
	}
}

func TestSyntheticVariants(t *testing.T) {
	const pc = synthTextAddr + 0x10
	one := sdtNote(pc, synthBaseAddr, 0, "p", "n", "8@%rdi")

	// No .stapsdt.base: addresses are used as they are.
	probes, err := probesFromBytes(synthELF{notes: sdtNote(pc, 0x12345, 0, "p", "n", ""), noBase: true}.build())
	if err != nil || len(probes) != 1 || probes[0].Location != pc {
		t.Errorf("no base section: %+v, %v", probes, err)
	}
	// No notes section at all.
	probes, err = probesFromBytes(synthELF{noNotes: true}.build())
	if probes != nil || err != nil {
		t.Errorf("no notes: %v, %v; want nil, nil", probes, err)
	}
	// AArch64: arguments in its syntax, registers in its struct pt_regs.
	// A lo12 operand reads at the register (the symbol's page, from adrp)
	// plus the low 12 bits of the symbol's address.
	probes, err = probesFromBytes(synthELF{
		notes:   sdtNote(pc, synthBaseAddr, 0, "p", "n", "-4@w1 8@[sp, 16] -8@[x3, #:lo12:global_counter+8]"),
		machine: elf.EM_AARCH64,
		syms:    []synthSym{{"global_counter", synthGlobalVal}},
	}.build())
	want := []Arg{
		{Size: 4, Signed: true, Kind: ArgReg, Machine: elf.EM_AARCH64, Reg: "x1", RegOffset: 8},
		{Size: 8, Kind: ArgRegDeref, Machine: elf.EM_AARCH64, Reg: "sp", RegOffset: 248, Offset: 16},
		{Size: 8, Signed: true, Kind: ArgRegDeref, Machine: elf.EM_AARCH64, Reg: "x3", RegOffset: 24, Offset: (synthGlobalVal + 8) & 0xfff, Symbol: "global_counter"},
	}
	if err != nil || len(probes) != 1 || probes[0].Err != nil || !cmp.Equal(probes[0].Args, want) {
		t.Errorf("aarch64: %+v, %v", probes, err)
	}
	// An x86-64 operand in an AArch64 file does not parse.
	probes, err = probesFromBytes(synthELF{notes: one, machine: elf.EM_AARCH64}.build())
	if err != nil || len(probes) != 1 || probes[0].Err == nil || !strings.Contains(probes[0].Err.Error(), "unrecognized operand") {
		t.Errorf("aarch64 with x86 operands: %+v, %v", probes, err)
	}
	// Neither x86-64 nor AArch64: listed, but arguments are not decoded.
	probes, err = probesFromBytes(synthELF{notes: one, machine: elf.EM_RISCV}.build())
	if err != nil || len(probes) != 1 || !errors.Is(probes[0].Err, ptregs.ErrUnsupported) || !strings.Contains(probes[0].Err.Error(), "riscv") {
		t.Errorf("riscv: %+v, %v", probes, err)
	}
	// 8-byte aligned note section, trailing zero padding.
	probes, err = probesFromBytes(synthELF{notes: append(append([]byte{}, one...), 0, 0, 0, 0), addralig: 8}.build())
	if err != nil || len(probes) != 1 {
		t.Errorf("8-aligned: %+v, %v", probes, err)
	}
	// $sym in a position-independent file cannot be resolved statically.
	probes, err = probesFromBytes(synthELF{notes: sdtNote(pc, synthBaseAddr, 0, "p", "n", "8@$g"), elfType: elf.ET_DYN, syms: []synthSym{{"g", 0x10}}}.build())
	if err != nil || len(probes) != 1 || probes[0].Err == nil || !strings.Contains(probes[0].Err.Error(), "load address") {
		t.Errorf("$sym in ET_DYN: %+v, %v", probes, err)
	}

	manyNotes := bytes.Repeat(rawNote("x", 1, nil), maxNotes+1)
	malformed := map[string][]byte{
		"truncated header":   one[:10],
		"overrun":            one[:len(one)-8],
		"short desc":         rawNote("stapsdt", 3, make([]byte, 20)),
		"unterminated":       rawNote("stapsdt", 3, append(make([]byte, 24), "prov\x00name\x00args"...)),
		"empty name":         sdtNote(pc, synthBaseAddr, 0, "p", "", ""),
		"long name":          sdtNote(pc, synthBaseAddr, 0, "p", strings.Repeat("n", maxStringLen+1), ""),
		"long args":          sdtNote(pc, synthBaseAddr, 0, "p", "n", strings.Repeat("8@%rax ", maxArgsLen/7+1)),
		"too many notes":     manyNotes,
		"huge namesz":        append([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 3, 0, 0, 0}, make([]byte, 16)...),
		"huge descsz":        append([]byte{8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0}, "stapsdt\x00"...),
		"namesz at boundary": []byte{5, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 's', 't', 'a', 'p'},
	}
	for name, notes := range malformed {
		probes, err := probesFromBytes(synthELF{notes: notes}.build())
		if err == nil {
			t.Errorf("%s: no error, probes %+v", name, probes)
		}
	}
}

func TestProbesFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	if _, err := Probes(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: error %v, want one naming %s", err, missing)
	}
	text := filepath.Join(dir, "text")
	if err := os.WriteFile(text, []byte("#!/bin/sh\necho not an ELF file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Probes(text); err == nil || !strings.Contains(err.Error(), text) || !strings.Contains(err.Error(), "not an ELF file") {
		t.Errorf("text file: error %v", err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, synthELF{notes: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}}.build(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Probes(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("malformed notes: error %v, want one naming %s", err, bad)
	}
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, synthELF{notes: sdtNote(synthTextAddr, synthBaseAddr, 0, "p", "n", "")}.build(), 0o644); err != nil {
		t.Fatal(err)
	}
	if probes, err := Probes(good); err != nil || len(probes) != 1 {
		t.Errorf("good file: %v, %v", probes, err)
	}
	if probes, err := Probes("/proc/self/exe"); err != nil || probes != nil {
		// The Go test binary carries no SDT notes.
		t.Errorf("test binary: %v, %v; want nil, nil", probes, err)
	}
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the FuzzProbes seed corpus in testdata/fuzz")

// fuzzSeeds are small ELF files exercising the note parser.
func fuzzSeeds() map[string][]byte {
	const pc = synthTextAddr + 0x10
	return map[string][]byte{
		"plain": synthELF{notes: sdtNote(pc, synthBaseAddr, 0, "prov", "plain", "-4@%esi 8@-16(%rbp) 4@$0")}.build(),
		"semaphore_prelink": synthELF{notes: append(
			sdtNote(pc, synthBaseAddr, synthSemaAddr, "prov", "guarded", "-1@%al 2@%r9w"),
			sdtNote(pc+1+0x1000, synthBaseAddr+0x1000, synthSemaAddr+0x1000, "prov", "moved", "8@(%rdi)")...)}.build(),
		"symbols": synthELF{notes: sdtNote(pc, synthBaseAddr, 0, "p", "g", "-4@global_counter(%rip) 8@$global_counter"),
			syms: []synthSym{{"global_counter", synthGlobalVal}}}.build(),
		"mixed_notes": synthELF{notes: append(rawNote("GNU", 3, []byte{1, 2, 3, 4}),
			sdtNote(pc, 0, 0, "p", "n", "1@%ah 8@%r15")...), noBase: true}.build(),
		"truncated": synthELF{notes: sdtNote(pc, synthBaseAddr, 0, "p", "n", "8@%rax")[:30]}.build(),
		"arm64": synthELF{notes: sdtNote(pc, synthBaseAddr, 0, "p", "a", "-4@w1 8@[sp, 16] -8@[x1, #:lo12:global_counter] 4@5"),
			machine: elf.EM_AARCH64, syms: []synthSym{{"global_counter", synthGlobalVal}}}.build(),
	}
}

// TestFuzzSeedCorpus keeps testdata/fuzz/FuzzProbes in sync with
// fuzzSeeds; run with -update-seeds to rewrite it.
func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzProbes")
	for name, data := range fuzzSeeds() {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		path := filepath.Join(dir, name)
		if *updateSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestFuzzSeedCorpus -update-seeds)", err)
		}
		if string(got) != content {
			t.Errorf("%s is stale (run go test -run TestFuzzSeedCorpus -update-seeds)", path)
		}
		if len(got) >= 20<<10 {
			t.Errorf("%s is %d bytes, keep seeds under 20 KB", path, len(got))
		}
	}
}

// validReg reports whether a names a 64-bit register of its machine at
// the register's offset in struct pt_regs.
func validReg(a Arg) bool {
	l, err := ptregs.ForMachine(a.Machine)
	if err != nil {
		return false
	}
	r, ok := l.Reg(a.Reg)
	return ok && r.Name == a.Reg && r.Offset == a.RegOffset
}

func FuzzProbes(f *testing.F) {
	for _, data := range fuzzSeeds() {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		probes, err := probesFromELF(ef)
		if err != nil {
			return
		}
		for _, p := range probes {
			if p.Err != nil && p.Args != nil {
				t.Errorf("%s: both Err and Args set", p.ID())
			}
			for _, a := range p.Args {
				if a.Size != 1 && a.Size != 2 && a.Size != 4 && a.Size != 8 {
					t.Errorf("%s: bad size %d", p.ID(), a.Size)
				}
				if a.Kind != ArgConst {
					if !validReg(a) {
						t.Errorf("%s: bad register %q/%d", p.ID(), a.Reg, a.RegOffset)
					}
				}
			}
			_, _ = Find(probes, p.Provider, p.Name+"x")
		}
	})
}
