package ctftrace

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/bpftrail/bpftrail/internal/symbolize"
)

// SymbolsFile is where a recording with stacks keeps the names of their
// addresses, in the trace's bpftrail/ sub-directory (which CTF readers do
// not read as a stream).
const SymbolsFile = "bpftrail/symbols.json"

// Symbols maps the stack addresses of a trace to frames: kernel addresses,
// and user addresses per process.
type Symbols struct {
	Kernel map[string]string            `json:"kernel"`
	User   map[string]map[string]string `json:"user"`
}

// Stacks gathers the addresses of recorded stacks and snapshots each
// process's mappings when it is first seen, so that a process that exits
// before the recording ends is still symbolized.
type Stacks struct {
	mu     sync.Mutex
	procs  map[int]*symbolize.Process
	user   map[int]map[uint64]bool
	kernel map[uint64]bool
}

// NewStacks returns an empty collection.
func NewStacks() *Stacks {
	return &Stacks{procs: map[int]*symbolize.Process{}, user: map[int]map[uint64]bool{}, kernel: map[uint64]bool{}}
}

// Add records a stack (the Writer's OnStack hook).
func (s *Stacks) Add(pid int, user bool, addrs []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !user {
		for _, a := range addrs {
			s.kernel[a] = true
		}
		return
	}
	if _, ok := s.procs[pid]; !ok {
		p, err := symbolize.NewProcess(pid)
		if err != nil {
			p = nil
		}
		s.procs[pid] = p
		s.user[pid] = map[uint64]bool{}
	}
	for _, a := range addrs {
		s.user[pid][a] = true
	}
}

// Write symbolizes every address seen and writes dir/bpftrail/symbols.json.
func (s *Stacks) Write(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.kernel) == 0 && len(s.user) == 0 {
		return nil
	}
	out := Symbols{Kernel: map[string]string{}, User: map[string]map[string]string{}}
	if len(s.kernel) > 0 {
		k, err := symbolize.LoadKernel()
		for a := range s.kernel {
			if err == nil {
				out.Kernel[hexAddr(a)] = k.Symbolize(a).String()
			}
		}
	}
	for pid, addrs := range s.user {
		m := map[string]string{}
		for a := range addrs {
			if p := s.procs[pid]; p != nil {
				m[hexAddr(a)] = p.Symbolize(a).String()
			}
		}
		out.User[strconv.Itoa(pid)] = m
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, SymbolsFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write symbols: %w", err)
	}
	return nil
}

func hexAddr(a uint64) string { return strconv.FormatUint(a, 16) }

// LoadSymbols reads a trace's symbols file; a trace without one gives nil.
func LoadSymbols(dir string) (*Symbols, error) {
	b, err := os.ReadFile(filepath.Join(dir, SymbolsFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s Symbols
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", SymbolsFile, err)
	}
	return &s, nil
}

// Frame names the address of a stack of process pid (user) or of the kernel;
// unknown addresses are shown in hex.
func (s *Symbols) Frame(pid int, user bool, addr uint64) string {
	if s != nil {
		if user {
			if f, ok := s.User[strconv.Itoa(pid)][hexAddr(addr)]; ok {
				return f
			}
		} else if f, ok := s.Kernel[hexAddr(addr)]; ok {
			return f
		}
	}
	return "0x" + hexAddr(addr)
}
