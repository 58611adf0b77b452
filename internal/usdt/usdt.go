// Package usdt reads USDT (SystemTap SDT, <sys/sdt.h>) probes from ELF
// files and gives a BPF program generator what it needs to attach a uprobe
// to each probe and read its arguments.
//
// Every probe is an ELF note in the .note.stapsdt section (owner "stapsdt",
// type 3) whose descriptor holds three addresses of the ELF class size (the
// probe's pc, the link-time address of the .stapsdt.base section, and the
// semaphore or 0) followed by three NUL-terminated strings: provider, name
// and arguments. Like libbpf, Probes corrects the addresses for prelinking
// (by the difference between the .stapsdt.base section's address and the
// recorded base) and converts them into file offsets through the PT_LOAD
// segment containing them: FileOffset is the uprobe attach offset and
// SemaphoreOffset the reference-counter offset
// (link.UprobeOptions.RefCtrOffset in cilium/ebpf).
//
// Arguments use the GNU assembler operand syntax of the file's machine;
// x86-64 and AArch64 are decoded (see ParseArgs and Arg), with register
// offsets in that machine's struct pt_regs (package ptregs), so the probes
// of a binary built for either can be listed on any host.
package usdt

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/bpftrail/bpftrail/internal/suggest"
	"os"
	"sort"
	"strings"
)

// Probe is one location of a USDT probe. A probe inlined or expanded in
// several places has one Probe per location.
type Probe struct {
	Provider, Name string

	// Location is the probe address (a virtual address, as in the note),
	// adjusted for prelinking via .stapsdt.base as libbpf does.
	Location uint64
	// FileOffset is Location converted to a file offset through the
	// executable PT_LOAD segment containing it: the uprobe attach offset.
	FileOffset uint64
	// Semaphore is the (prelink-adjusted) virtual address of the probe's
	// semaphore, 0 if it has none.
	Semaphore uint64
	// SemaphoreOffset is Semaphore as a file offset (for
	// UprobeOptions.RefCtrOffset), 0 if there is no semaphore.
	SemaphoreOffset uint64

	// Args are the parsed arguments; nil when Err is set.
	Args []Arg
	// ArgsText is the raw argument string, e.g. "-4@%esi 8@-16(%rbp)".
	ArgsText string

	// Err is non-nil when the probe cannot be used although its note is
	// well-formed: arguments that do not parse (or the file is neither
	// x86-64 nor AArch64),
	// a symbol that does not resolve, a location or semaphore outside the
	// loadable segments. Listing such probes is fine; attaching to them is
	// not.
	Err error
}

// ID returns "provider:name".
func (p *Probe) ID() string { return p.Provider + ":" + p.Name }

// Limits that keep malformed files from costing much.
const (
	maxNotes       = 100_000
	maxNoteSection = 64 << 20
	maxStringLen   = 1024     // provider and name
	maxArgsLen     = 16 << 10 // argument string
	noteTypeSDT    = 3
	noteOwnerSDT   = "stapsdt"
	noteSection    = ".note.stapsdt"
	baseSection    = ".stapsdt.base"
)

// Probes returns all USDT probes of the ELF file at path, in note order.
// A file without a .note.stapsdt section yields (nil, nil). A file that
// cannot be read, is not ELF, or has malformed notes yields an error naming
// the path. Problems that concern a single well-formed probe are reported
// in its Err field instead.
func Probes(path string) ([]Probe, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("usdt: %w", err)
	}
	defer fh.Close()
	f, err := elf.NewFile(fh)
	if err != nil {
		return nil, fmt.Errorf("usdt: %s: not an ELF file: %w", path, err)
	}
	defer f.Close()
	probes, err := probesFromELF(f)
	if err != nil {
		return nil, fmt.Errorf("usdt: %s: %w", path, err)
	}
	return probes, nil
}

type segment struct {
	vaddr, memsz, offset, filesz uint64
	exec                         bool
}

// note is a raw stapsdt note.
type note struct {
	pc, base, sema       uint64
	provider, name, args string
}

func probesFromELF(f *elf.File) ([]Probe, error) {
	var notes []note
	found := false
	for _, sec := range f.Sections {
		if sec.Name != noteSection {
			continue
		}
		found = true
		if sec.Type == elf.SHT_NOBITS {
			continue
		}
		if sec.Size > maxNoteSection {
			return nil, fmt.Errorf("%s section too large (%d bytes)", noteSection, sec.Size)
		}
		data, err := sec.Data()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", noteSection, err)
		}
		align := 4
		if sec.Addralign == 8 {
			align = 8
		}
		notes, err = parseNotes(notes, data, f.ByteOrder, f.Class, align)
		if err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, nil
	}

	var baseAddr uint64
	haveBase := false
	if s := f.Section(baseSection); s != nil {
		baseAddr, haveBase = s.Addr, true
	}
	var segs []segment
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		segs = append(segs, segment{p.Vaddr, p.Memsz, p.Off, p.Filesz, p.Flags&elf.PF_X != 0})
	}
	syms := &symbolTable{f: f}

	probes := make([]Probe, 0, len(notes))
	for _, n := range notes {
		p := Probe{
			Provider:  n.provider,
			Name:      n.name,
			Location:  n.pc,
			Semaphore: n.sema,
			ArgsText:  n.args,
		}
		if haveBase && n.base != 0 {
			p.Location += baseAddr - n.base
			if p.Semaphore != 0 {
				p.Semaphore += baseAddr - n.base
			}
		}
		p.Err = resolveProbe(&p, f, segs, syms)
		if p.Err != nil {
			p.Args = nil
		}
		probes = append(probes, p)
	}
	return probes, nil
}

// parseNotes appends the stapsdt notes of one note section to notes.
func parseNotes(notes []note, data []byte, bo binary.ByteOrder, class elf.Class, align int) ([]note, error) {
	addrSize := 8
	if class == elf.ELFCLASS32 {
		addrSize = 4
	}
	for count, off := 0, 0; off < len(data); count++ {
		if count >= maxNotes {
			return nil, fmt.Errorf("more than %d notes in %s", maxNotes, noteSection)
		}
		if len(data)-off < 12 {
			// Trailing padding is tolerated; anything else is truncation.
			if allZero(data[off:]) {
				break
			}
			return nil, fmt.Errorf("truncated note header at offset %#x of %s", off, noteSection)
		}
		namesz := uint64(bo.Uint32(data[off:]))
		descsz := uint64(bo.Uint32(data[off+4:]))
		typ := bo.Uint32(data[off+8:])
		rest := uint64(len(data) - off - 12)
		nameEnd := alignUp(namesz, uint64(align))
		if namesz > rest || nameEnd > rest || descsz > rest-nameEnd {
			return nil, fmt.Errorf("note at offset %#x of %s overruns the section (name %d, desc %d bytes)", off, noteSection, namesz, descsz)
		}
		name := data[off+12 : off+12+int(namesz)]
		desc := data[off+12+int(nameEnd) : off+12+int(nameEnd)+int(descsz)]
		next := uint64(off) + 12 + nameEnd + alignUp(descsz, uint64(align))
		if next > uint64(len(data)) {
			next = uint64(len(data))
		}
		noteOff := off
		off = int(next)

		if typ != noteTypeSDT || string(bytes.TrimRight(name, "\x00")) != noteOwnerSDT {
			continue
		}
		n, err := parseDesc(desc, bo, addrSize)
		if err != nil {
			return nil, fmt.Errorf("stapsdt note at offset %#x of %s: %w", noteOff, noteSection, err)
		}
		notes = append(notes, n)
	}
	return notes, nil
}

func parseDesc(desc []byte, bo binary.ByteOrder, addrSize int) (note, error) {
	var n note
	if len(desc) < 3*addrSize {
		return n, fmt.Errorf("descriptor of %d bytes is too short for three addresses", len(desc))
	}
	addr := func(i int) uint64 {
		if addrSize == 4 {
			return uint64(bo.Uint32(desc[i*4:]))
		}
		return bo.Uint64(desc[i*8:])
	}
	n.pc, n.base, n.sema = addr(0), addr(1), addr(2)
	rest := desc[3*addrSize:]
	var strs [3]string
	for i, what := range []string{"provider", "name", "arguments"} {
		end := bytes.IndexByte(rest, 0)
		if end < 0 {
			return n, fmt.Errorf("%s string is not NUL-terminated", what)
		}
		limit := maxStringLen
		if i == 2 {
			limit = maxArgsLen
		}
		if end > limit {
			return n, fmt.Errorf("%s string too long (%d bytes, at most %d)", what, end, limit)
		}
		strs[i] = string(rest[:end])
		rest = rest[end+1:]
	}
	n.provider, n.name, n.args = strs[0], strs[1], strs[2]
	if n.provider == "" || n.name == "" {
		return n, errors.New("empty provider or probe name")
	}
	return n, nil
}

func alignUp(v, a uint64) uint64 {
	return (v + a - 1) &^ (a - 1)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// resolveProbe fills the file offsets and the arguments of p.
func resolveProbe(p *Probe, f *elf.File, segs []segment, syms *symbolTable) error {
	seg, ok := findSegment(segs, p.Location, true)
	if !ok {
		return fmt.Errorf("probe %s at %#x is in no executable loadable segment", p.ID(), p.Location)
	}
	p.FileOffset = p.Location - seg.vaddr + seg.offset
	if p.Semaphore != 0 {
		seg, ok := findSegment(segs, p.Semaphore, false)
		if !ok {
			return fmt.Errorf("semaphore of probe %s at %#x is in no writable loadable segment with file contents", p.ID(), p.Semaphore)
		}
		p.SemaphoreOffset = p.Semaphore - seg.vaddr + seg.offset
	}
	args, err := parseArgs(f.Machine, p.ArgsText, true)
	if err != nil {
		return fmt.Errorf("probe %s: %w", p.ID(), err)
	}
	for i := range args {
		if err := resolveSymbol(&args[i], p, f, syms); err != nil {
			return fmt.Errorf("probe %s: argument %d: %w", p.ID(), i+1, err)
		}
	}
	p.Args = args
	return nil
}

// resolveSymbol folds the symbol of a symbolic operand into a number.
func resolveSymbol(a *Arg, p *Probe, f *elf.File, syms *symbolTable) error {
	if a.Symbol == "" {
		return nil
	}
	v, err := syms.lookup(a.Symbol)
	if err != nil {
		return err
	}
	switch {
	case a.Kind == ArgRegDeref && a.Machine == elf.EM_AARCH64:
		// [reg, #:lo12:sym+off]: reg holds the page of sym+off.
		a.Offset = int64((v + uint64(a.Offset)) & 0xfff)
	case a.Kind == ArgRegDeref: // sym+off(%rip), read at rip + (sym+off - pc)
		a.Offset = int64(v + uint64(a.Offset) - p.Location)
	case a.Kind == ArgConst: // $sym+off: an absolute address
		if f.Type != elf.ET_EXEC {
			return fmt.Errorf("the address of %s depends on the load address of this position-independent file", a.Symbol)
		}
		a.Const = int64(v + uint64(a.Const))
	}
	return nil
}

// findSegment returns the PT_LOAD segment whose file-backed part contains
// addr: an executable one when exec is set, a non-executable one otherwise
// (the kernel counts semaphores in writable mappings only).
func findSegment(segs []segment, addr uint64, exec bool) (segment, bool) {
	for _, s := range segs {
		if s.exec != exec {
			continue
		}
		if addr >= s.vaddr && addr-s.vaddr < s.filesz && addr-s.vaddr < s.memsz {
			return s, true
		}
	}
	return segment{}, false
}

// symbolTable resolves symbol names lazily from .symtab, then .dynsym.
type symbolTable struct {
	f      *elf.File
	loaded bool
	m      map[string]uint64
}

func (t *symbolTable) lookup(name string) (uint64, error) {
	if !t.loaded {
		t.loaded = true
		t.m = map[string]uint64{}
		add := func(syms []elf.Symbol) {
			for _, s := range syms {
				if s.Section == elf.SHN_UNDEF || s.Name == "" {
					continue
				}
				if _, dup := t.m[s.Name]; !dup {
					t.m[s.Name] = s.Value
				}
			}
		}
		if syms, err := t.f.Symbols(); err == nil {
			add(syms)
		}
		if syms, err := t.f.DynamicSymbols(); err == nil {
			add(syms)
		}
	}
	v, ok := t.m[name]
	if !ok {
		return 0, fmt.Errorf("symbol %q not found (stripped binary?)", name)
	}
	return v, nil
}

// Find returns the probes matching provider and name (provider "" matches
// any provider), all locations of each. When nothing matches, the error
// lists the available probes and suggests close names.
func Find(probes []Probe, provider, name string) ([]Probe, error) {
	var out []Probe
	for _, p := range probes {
		if p.Name == name && (provider == "" || p.Provider == provider) {
			out = append(out, p)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	want := name
	if provider != "" {
		want = provider + ":" + name
	}
	if len(probes) == 0 {
		return nil, fmt.Errorf("usdt: probe %s not found: the file has no USDT probes", want)
	}
	seen := map[string]bool{}
	var ids []string
	for i := range probes {
		id := probes[i].ID()
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)

	type cand struct {
		id   string
		dist int
	}
	var cands []cand
	for _, id := range ids {
		prov, nm, _ := strings.Cut(id, ":")
		d := suggest.Distance(strings.ToLower(name), strings.ToLower(nm))
		if provider != "" {
			d += suggest.Distance(strings.ToLower(provider), strings.ToLower(prov))
		}
		limit := max(2, len(name)/3)
		if d <= limit || (len(name) >= 3 && strings.Contains(strings.ToLower(nm), strings.ToLower(name))) {
			cands = append(cands, cand{id, d})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].dist < cands[j].dist })
	if len(cands) > 5 {
		cands = cands[:5]
	}

	var b strings.Builder
	fmt.Fprintf(&b, "usdt: probe %s not found", want)
	if len(cands) > 0 {
		b.WriteString("; did you mean ")
		for i, c := range cands {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c.id)
		}
		b.WriteString("?")
	}
	const maxList = 50
	b.WriteString("; available probes: ")
	for i, id := range ids {
		if i == maxList {
			fmt.Fprintf(&b, " ... and %d more", len(ids)-maxList)
			break
		}
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(id)
	}
	return nil, errors.New(b.String())
}
