package symbolize

import (
	"bytes"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ulikunitz/xz"
)

// DefaultDebugDirs are the roots searched for separate debug info.
var DefaultDebugDirs = []string{"/usr/lib/debug"}

// maxMiniDebugInfo bounds the decompressed size of .gnu_debugdata.
const maxMiniDebugInfo = 256 << 20

// ELF is the symbol table and load layout of one ELF file. It holds no open
// file and is safe for concurrent use.
type ELF struct {
	path    string
	buildID string
	typ     elf.Type
	loads   []elf.ProgHeader // PT_LOAD headers
	syms    symtab
	sources []string
}

// OpenELF reads the symbols of the ELF file at path, looking for separate
// debug info under DefaultDebugDirs.
func OpenELF(path string) (*ELF, error) {
	return openELFPath(path, path, DefaultDebugDirs)
}

// openELFPath opens file (which may be a /proc/PID/map_files or
// /proc/PID/root path) and names it path.
func openELFPath(file, path string, debugDirs []string) (*ELF, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return newELF(f, path, debugDirs)
}

// newELF parses an ELF image from r. debugDirs are searched for separate
// debug info; nil searches nothing.
func newELF(r io.ReaderAt, path string, debugDirs []string) (*ELF, error) {
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("symbolize: %s: %w", path, err)
	}
	defer ef.Close()
	e := &ELF{path: path, typ: ef.Type, buildID: buildID(ef)}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			e.loads = append(e.loads, p.ProgHeader)
		}
	}

	var syms symtab
	haveSymtab := false
	add := func(source string, list []elf.Symbol) {
		n := 0
		for _, s := range list {
			if isFunc(s) {
				syms = append(syms, symbol{addr: s.Value, size: s.Size, name: s.Name})
				n++
			}
		}
		if n > 0 {
			e.sources = append(e.sources, source)
		}
	}

	// Separate debug info first: it is the most complete.
	if dpath, dsyms := findDebugInfo(ef, path, e.buildID, debugDirs); dpath != "" {
		add("debuginfo:"+dpath, dsyms)
		haveSymtab = haveSymtab || len(dsyms) > 0
	}
	if list, err := ef.Symbols(); err == nil {
		add(".symtab", list)
		haveSymtab = haveSymtab || len(list) > 0
	}
	if list, err := miniDebugInfo(ef); err == nil && list != nil {
		add(".gnu_debugdata", list)
		haveSymtab = haveSymtab || len(list) > 0
	}
	if list, err := ef.DynamicSymbols(); err == nil {
		add(".dynsym", list)
	}
	if !haveSymtab {
		if gs := goSymbols(ef); len(gs) > 0 {
			syms = append(syms, gs...)
			e.sources = append(e.sources, ".gopclntab")
		}
	}
	e.syms = syms.finish()
	return e, nil
}

func isFunc(s elf.Symbol) bool {
	t := elf.ST_TYPE(s.Info)
	return (t == elf.STT_FUNC || t == elf.SymType(10) /* STT_GNU_IFUNC */) &&
		s.Section != elf.SHN_UNDEF && s.Value != 0 && s.Name != ""
}

// Path returns the path the file was opened as.
func (e *ELF) Path() string { return e.path }

// BuildID returns the hex GNU build id, or "".
func (e *ELF) BuildID() string { return e.buildID }

// Type returns the ELF file type (elf.ET_EXEC, elf.ET_DYN, ...).
func (e *ELF) Type() elf.Type { return e.typ }

// Sources lists where the symbols came from: "debuginfo:PATH", ".symtab",
// ".gnu_debugdata", ".dynsym", ".gopclntab".
func (e *ELF) Sources() []string { return e.sources }

// NumSymbols returns the number of function symbols known.
func (e *ELF) NumSymbols() int { return len(e.syms) }

// Lookup returns the function containing the ELF virtual address fileAddr
// and the offset of fileAddr into it. The name is as in the symbol table
// (not demangled).
func (e *ELF) Lookup(fileAddr uint64) (name string, off uint64, ok bool) {
	s, ok := e.syms.lookup(fileAddr)
	if !ok {
		return "", 0, false
	}
	return s.name, fileAddr - s.addr, true
}

// FileOffsetToVAddr converts a file offset into the ELF virtual address it
// is loaded at, using the PT_LOAD segment that contains it.
func (e *ELF) FileOffsetToVAddr(off uint64) (uint64, bool) {
	for _, p := range e.loads {
		if p.Off <= off && off < p.Off+p.Filesz {
			return off - p.Off + p.Vaddr, true
		}
	}
	return 0, false
}

// VAddrToFileOffset is the inverse of FileOffsetToVAddr (e.g. for uprobe
// offsets).
func (e *ELF) VAddrToFileOffset(vaddr uint64) (uint64, bool) {
	for _, p := range e.loads {
		if p.Vaddr <= vaddr && vaddr < p.Vaddr+p.Filesz {
			return vaddr - p.Vaddr + p.Off, true
		}
	}
	return 0, false
}

// buildID returns the GNU build id from the note sections or PT_NOTE
// segments.
func buildID(ef *elf.File) string {
	if s := ef.Section(".note.gnu.build-id"); s != nil {
		if d, err := s.Data(); err == nil {
			if id := noteBuildID(d, ef.ByteOrder); id != "" {
				return id
			}
		}
	}
	for _, s := range ef.Sections {
		if s.Type == elf.SHT_NOTE {
			if d, err := s.Data(); err == nil {
				if id := noteBuildID(d, ef.ByteOrder); id != "" {
					return id
				}
			}
		}
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_NOTE && p.Filesz > 0 && p.Filesz < 1<<20 {
			d := make([]byte, p.Filesz)
			if _, err := p.ReadAt(d, 0); err == nil {
				if id := noteBuildID(d, ef.ByteOrder); id != "" {
					return id
				}
			}
		}
	}
	return ""
}

// noteBuildID scans ELF notes for NT_GNU_BUILD_ID owned by "GNU".
func noteBuildID(d []byte, bo binary.ByteOrder) string {
	align4 := func(n uint32) uint32 { return (n + 3) &^ 3 }
	for len(d) >= 12 {
		namesz, descsz, typ := bo.Uint32(d), bo.Uint32(d[4:]), bo.Uint32(d[8:])
		d = d[12:]
		nl, dl := align4(namesz), align4(descsz)
		if uint64(nl) > uint64(len(d)) || uint64(nl)+uint64(descsz) > uint64(len(d)) {
			return ""
		}
		name := strings.TrimRight(string(d[:namesz]), "\x00")
		desc := d[nl : nl+descsz]
		if name == "GNU" && typ == 3 /* NT_GNU_BUILD_ID */ && len(desc) > 0 {
			return hex.EncodeToString(desc)
		}
		if uint64(nl)+uint64(dl) > uint64(len(d)) {
			return ""
		}
		d = d[nl+dl:]
	}
	return ""
}

// miniDebugInfo decompresses .gnu_debugdata and returns its .symtab. It
// returns nil, nil when there is no such section.
func miniDebugInfo(ef *elf.File) ([]elf.Symbol, error) {
	s := ef.Section(".gnu_debugdata")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	zr, err := xz.NewReader(s.Open())
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxMiniDebugInfo+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxMiniDebugInfo {
		return nil, errors.New("symbolize: .gnu_debugdata too large")
	}
	mf, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	defer mf.Close()
	return mf.Symbols()
}

// findDebugInfo looks for separate debug info by build id, then by
// .gnu_debuglink, and returns its path and .symtab.
func findDebugInfo(ef *elf.File, path, id string, debugDirs []string) (string, []elf.Symbol) {
	var candidates []string
	if len(id) > 2 {
		for _, dir := range debugDirs {
			candidates = append(candidates, filepath.Join(dir, ".build-id", id[:2], id[2:]+".debug"))
		}
	}
	if s := ef.Section(".gnu_debuglink"); s != nil && len(debugDirs) > 0 {
		if d, err := s.Data(); err == nil {
			if i := bytes.IndexByte(d, 0); i > 0 {
				name := string(d[:i])
				dir := filepath.Dir(path)
				candidates = append(candidates, filepath.Join(dir, name), filepath.Join(dir, ".debug", name))
				for _, dd := range debugDirs {
					candidates = append(candidates, filepath.Join(dd, dir, name))
				}
			}
		}
	}
	for _, c := range candidates {
		if c == path {
			continue
		}
		df, err := elf.Open(c)
		if err != nil {
			continue
		}
		if did := buildID(df); id != "" && did != "" && did != id {
			df.Close()
			continue
		}
		syms, err := df.Symbols()
		df.Close()
		if err == nil && len(syms) > 0 {
			return c, syms
		}
	}
	return "", nil
}

// goSymbols reads the function table of a Go binary from .gopclntab; it
// works on stripped Go binaries.
func goSymbols(ef *elf.File) []symbol {
	ps, ts := ef.Section(".gopclntab"), ef.Section(".text")
	if ps == nil || ts == nil {
		return nil
	}
	data, err := ps.Data()
	if err != nil {
		return nil
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, ts.Addr))
	if err != nil {
		return nil
	}
	out := make([]symbol, 0, len(tab.Funcs))
	for _, f := range tab.Funcs {
		if f.Entry != 0 && f.End > f.Entry {
			out = append(out, symbol{addr: f.Entry, size: f.End - f.Entry, name: f.Name})
		}
	}
	return out
}
