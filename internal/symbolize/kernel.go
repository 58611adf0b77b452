package symbolize

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"sync"
)

// Kernel is a snapshot of /proc/kallsyms. It is safe for concurrent use.
// Modules and BPF programs loaded later are not in it: load a new one.
type Kernel struct {
	syms    []ksym // sorted by address, unique addresses
	buildID string // of vmlinux, from /sys/kernel/notes

	modIDs sync.Map // module name → build id (string)
}

type ksym struct {
	addr   uint64
	name   string
	module string // "" for the core kernel, else the name in brackets without them
	text   bool   // t/T/w/W; other symbols only end the one before them
}

// ErrKallsymsRestricted is returned (wrapped) by LoadKernel when every
// address in /proc/kallsyms reads as zero.
var ErrKallsymsRestricted = errors.New("symbolize: /proc/kallsyms addresses are all zero: " +
	"need root/CAP_SYSLOG and kernel.kptr_restrict < 2")

// LoadKernel reads /proc/kallsyms and the kernel's build id.
func LoadKernel() (*Kernel, error) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return nil, fmt.Errorf("symbolize: %w", err)
	}
	defer f.Close()
	k, err := parseKallsyms(f)
	if err != nil {
		return nil, err
	}
	if d, err := os.ReadFile("/sys/kernel/notes"); err == nil {
		k.buildID = noteBuildID(d, binary.NativeEndian)
	}
	return k, nil
}

// parseKallsyms parses lines "addr type name [module]".
func parseKallsyms(r io.Reader) (*Kernel, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var syms []ksym
	modules := map[string]string{} // intern module names
	nonzero := false
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if s, ok := parseKallsymsLine(line, modules); ok {
				if s.addr != 0 {
					nonzero = true
				}
				syms = append(syms, s)
			}
		}
		if err == io.EOF {
			break
		}
		if err == bufio.ErrBufferFull {
			// Absurdly long line: skip the rest of it.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("symbolize: reading kallsyms: %w", err)
		}
	}
	if len(syms) == 0 {
		return nil, errors.New("symbolize: kallsyms is empty")
	}
	if !nonzero {
		return nil, ErrKallsymsRestricted
	}
	// Sort by address; at one address prefer text over other symbols,
	// global (upper-case type) over local, then file order.
	sort.SliceStable(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	out := syms[:0]
	for _, s := range syms {
		if n := len(out); n > 0 && out[n-1].addr == s.addr {
			if s.text && !out[n-1].text {
				out[n-1] = s
			}
			continue
		}
		out = append(out, s)
	}
	return &Kernel{syms: out[:len(out):len(out)]}, nil
}

func parseKallsymsLine(line []byte, modules map[string]string) (ksym, bool) {
	line = bytes.TrimRight(line, "\r\n")
	f := bytes.Fields(line)
	if len(f) < 3 || len(f[1]) != 1 {
		return ksym{}, false
	}
	addr, err := strconv.ParseUint(string(f[0]), 16, 64)
	if err != nil {
		return ksym{}, false
	}
	s := ksym{addr: addr, name: string(f[2])}
	switch f[1][0] {
	case 't', 'T', 'w', 'W':
		s.text = true
	}
	if len(f) >= 4 && len(f[3]) > 2 && f[3][0] == '[' && f[3][len(f[3])-1] == ']' {
		m := f[3][1 : len(f[3])-1]
		name, ok := modules[string(m)]
		if !ok {
			name = string(m)
			modules[name] = name
		}
		s.module = name
	}
	return s, true
}

// BuildID returns the build id of the running kernel image, or "".
func (k *Kernel) BuildID() string { return k.buildID }

// NumSymbols returns the number of symbols loaded.
func (k *Kernel) NumSymbols() int { return len(k.syms) }

// Address returns the address of the named text symbol (the first one if
// the name is not unique).
func (k *Kernel) Address(name string) (uint64, bool) {
	for _, s := range k.syms {
		if s.text && s.name == name {
			return s.addr, true
		}
	}
	return 0, false
}

// Symbolize resolves a kernel address. Kallsyms has no sizes: a function
// extends to the next symbol.
func (k *Kernel) Symbolize(addr uint64) Frame {
	f := Frame{Addr: addr, ModuleOffset: addr, Module: ModuleUnknown}
	i := sort.Search(len(k.syms), func(i int) bool { return k.syms[i].addr > addr }) - 1
	if i < 0 || !k.syms[i].text {
		return f
	}
	s := k.syms[i]
	f.Function, f.Offset = s.name, addr-s.addr
	if s.module == "" {
		f.Module, f.BuildID = ModuleKernel, k.buildID
	} else {
		f.Module, f.BuildID = "["+s.module+"]", k.moduleBuildID(s.module)
	}
	return f
}

// moduleBuildID reads /sys/module/NAME/notes/.note.gnu.build-id once.
func (k *Kernel) moduleBuildID(mod string) string {
	if v, ok := k.modIDs.Load(mod); ok {
		return v.(string)
	}
	id := ""
	if mod != "bpf" {
		if d, err := os.ReadFile("/sys/module/" + mod + "/notes/.note.gnu.build-id"); err == nil {
			id = noteBuildID(d, binary.NativeEndian)
		}
	}
	k.modIDs.Store(mod, id)
	return id
}
