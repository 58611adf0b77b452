package symbolize

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Mapping is one line of /proc/PID/maps.
type Mapping struct {
	Start, End uint64 // [Start, End)
	Offset     uint64 // file offset of Start
	Perms      string // e.g. "r-xp"
	Dev        string // "major:minor" in hex, as in maps
	Inode      uint64
	Path       string // file path, pseudo path ("[vdso]", "[heap]"), or "" when anonymous
	Deleted    bool   // the path was marked " (deleted)"
	BuildID    string // of the ELF file, for executable mappings that could be read
}

type mapping struct {
	Mapping
	elf *ELF // nil unless an executable mapping of a readable ELF file
}

// Process is a snapshot of a process's executable mappings with their
// symbol tables loaded. It stays usable after the process exits and is safe
// for concurrent use.
type Process struct {
	pid     int
	maps    []mapping // sorted by Start
	perfMap symtab    // from /tmp/perf-PID.map, addresses are runtime addresses
}

// NewProcess snapshots /proc/PID/maps now and loads the symbols of every
// executable mapping, with a private cache. Use Cache.Process to share
// symbol tables between processes.
func NewProcess(pid int) (*Process, error) {
	return NewCache().newProcess(pid)
}

func (c *Cache) newProcess(pid int) (*Process, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, fmt.Errorf("symbolize: pid %d: %w", pid, err)
	}
	ms := parseMaps(raw)
	p := &Process{pid: pid}
	for i := range ms {
		m := &ms[i]
		if !strings.Contains(m.Perms, "x") {
			continue
		}
		switch {
		case m.Path == "":
		case m.Path == "[vdso]":
			m.elf = c.vdso(pid, m.Mapping)
		case strings.HasPrefix(m.Path, "["):
		default:
			m.elf = c.openMapped(pid, m.Mapping)
		}
		if m.elf != nil {
			m.BuildID = m.elf.BuildID()
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Start < ms[j].Start })
	p.maps = ms
	p.perfMap = readPerfMap(pid)
	return p, nil
}

// parseMaps parses /proc/PID/maps.
func parseMaps(raw []byte) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var fields [5]string
		rest := line
		ok := true
		for i := range fields {
			rest = strings.TrimLeft(rest, " ")
			j := strings.IndexByte(rest, ' ')
			if j < 0 {
				if i < 4 {
					ok = false
					break
				}
				j = len(rest)
			}
			fields[i], rest = rest[:j], rest[j:]
		}
		if !ok {
			continue
		}
		se := strings.SplitN(fields[0], "-", 2)
		if len(se) != 2 {
			continue
		}
		start, err1 := strconv.ParseUint(se[0], 16, 64)
		end, err2 := strconv.ParseUint(se[1], 16, 64)
		off, err3 := strconv.ParseUint(fields[2], 16, 64)
		ino, err4 := strconv.ParseUint(fields[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			continue
		}
		m := Mapping{Start: start, End: end, Offset: off, Perms: fields[1], Dev: fields[3], Inode: ino,
			Path: strings.TrimLeft(rest, " ")}
		if p, ok := strings.CutSuffix(m.Path, " (deleted)"); ok {
			m.Path, m.Deleted = p, true
		}
		out = append(out, mapping{Mapping: m})
	}
	return out
}

// PID returns the process id.
func (p *Process) PID() int { return p.pid }

// Mappings returns the snapshot of /proc/PID/maps.
func (p *Process) Mappings() []Mapping {
	out := make([]Mapping, len(p.maps))
	for i, m := range p.maps {
		out[i] = m.Mapping
	}
	return out
}

// ELF returns the ELF file mapped executable at addr, or nil.
func (p *Process) ELF(addr uint64) *ELF {
	if m := p.find(addr); m != nil {
		return m.elf
	}
	return nil
}

func (p *Process) find(addr uint64) *mapping {
	i := sort.Search(len(p.maps), func(i int) bool { return p.maps[i].Start > addr }) - 1
	if i >= 0 && addr < p.maps[i].End {
		return &p.maps[i]
	}
	return nil
}

// Symbolize resolves a user-space address of the process.
func (p *Process) Symbolize(addr uint64) Frame {
	f := Frame{Addr: addr, Module: ModuleUnknown, ModuleOffset: addr}
	m := p.find(addr)
	if m != nil {
		f.ModuleOffset = addr - m.Start
		switch {
		case m.Path == "":
			f.Module = ModuleAnon
		default:
			f.Module = m.Path
		}
		if m.elf != nil {
			f.BuildID = m.elf.BuildID()
			fileOff := addr - m.Start + m.Offset
			f.ModuleOffset = fileOff
			if vaddr, ok := m.elf.FileOffsetToVAddr(fileOff); ok {
				f.ModuleOffset = vaddr
				if name, off, ok := m.elf.Lookup(vaddr); ok {
					f.Function, f.Offset = Demangle(name), off
					return f
				}
			}
		} else if m.Path != "" && !strings.HasPrefix(m.Path, "[") {
			f.ModuleOffset = addr - m.Start + m.Offset
		}
	}
	if m == nil || m.elf == nil {
		if s, ok := p.perfMap.lookup(addr); ok {
			f.Function, f.Offset = Demangle(s.name), addr-s.addr
			f.Module = ModuleJIT
			if m != nil && m.Path != "" {
				f.Module = m.Path
			}
		}
	}
	return f
}

// readPerfMap reads /tmp/perf-PID.map ("START SIZE name", hex) as seen by
// the process (its mount namespace and its own pid).
func readPerfMap(pid int) symtab {
	nspid := pid
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
						nspid = n
					}
				}
			}
		}
	}
	var raw []byte
	for _, path := range []string{
		fmt.Sprintf("/proc/%d/root/tmp/perf-%d.map", pid, nspid),
		fmt.Sprintf("/tmp/perf-%d.map", pid),
	} {
		var err error
		if raw, err = os.ReadFile(path); err == nil {
			break
		}
	}
	if raw == nil {
		return nil
	}
	var t symtab
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.SplitN(strings.TrimSpace(line), " ", 3)
		if len(f) != 3 {
			continue
		}
		start, err1 := strconv.ParseUint(strings.TrimPrefix(f[0], "0x"), 16, 64)
		size, err2 := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
		if err1 != nil || err2 != nil || size == 0 {
			continue
		}
		t = append(t, symbol{addr: start, size: size, name: f[2]})
	}
	// Later entries win: a JIT may reuse memory for new code.
	for i, j := 0, len(t)-1; i < j; i, j = i+1, j-1 {
		t[i], t[j] = t[j], t[i]
	}
	return t.finish()
}
