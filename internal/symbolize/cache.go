package symbolize

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Cache shares ELF symbol tables (keyed by device, inode, size and mtime of
// the file), process snapshots (by pid) and the kernel symbol table. It is
// safe for concurrent use. Entries are kept until Forget or Reset.
type Cache struct {
	debugDirs []string

	mu     sync.Mutex
	elfs   map[fileKey]*elfEntry
	vdsos  map[string]*ELF
	procs  map[int]*Process
	kernel *Kernel
}

type fileKey struct {
	dev, ino   uint64
	size, mtim int64
}

type elfEntry struct {
	done chan struct{}
	elf  *ELF
	err  error
}

// NewCache returns an empty cache. debugDirs are the roots searched for
// separate debug info (".build-id/xx/yyyy.debug"); DefaultDebugDirs if none
// are given.
func NewCache(debugDirs ...string) *Cache {
	if len(debugDirs) == 0 {
		debugDirs = DefaultDebugDirs
	}
	return &Cache{
		debugDirs: debugDirs,
		elfs:      map[fileKey]*elfEntry{},
		vdsos:     map[string]*ELF{},
		procs:     map[int]*Process{},
	}
}

// OpenELF returns the ELF file at path, loading it once per file identity.
func (c *Cache) OpenELF(path string) (*ELF, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return c.openFile(f, path)
}

func (c *Cache) openFile(f *os.File, path string) (*ELF, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return newELF(f, path, c.debugDirs)
	}
	key := fileKey{dev: st.Dev, ino: st.Ino, size: st.Size, mtim: st.Mtim.Nano()}
	c.mu.Lock()
	e, ok := c.elfs[key]
	if !ok {
		e = &elfEntry{done: make(chan struct{})}
		c.elfs[key] = e
	}
	c.mu.Unlock()
	if ok {
		<-e.done
		return e.elf, e.err
	}
	e.elf, e.err = newELF(f, path, c.debugDirs)
	close(e.done)
	return e.elf, e.err
}

// openMapped opens the file of a mapping the way the process sees it: via
// map_files (works for deleted files), its root (containers), then the
// plain path. It returns nil when none is a readable ELF file.
func (c *Cache) openMapped(pid int, m Mapping) *ELF {
	for _, p := range []string{
		fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, m.Start, m.End),
		fmt.Sprintf("/proc/%d/root%s", pid, m.Path),
		m.Path,
	} {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		e, err := c.openFile(f, m.Path)
		f.Close()
		if err == nil {
			return e
		}
		return nil // the file opened but is not ELF: the others are the same file
	}
	return nil
}

// vdso reads the vDSO image from the process's memory.
func (c *Cache) vdso(pid int, m Mapping) *ELF {
	if m.End <= m.Start || m.End-m.Start > 1<<20 {
		return nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	buf := make([]byte, m.End-m.Start)
	if _, err := f.ReadAt(buf, int64(m.Start)); err != nil {
		return nil
	}
	key := string(buf)
	c.mu.Lock()
	e, ok := c.vdsos[key]
	c.mu.Unlock()
	if ok {
		return e
	}
	e, err = newELF(bytesReaderAt(buf), "[vdso]", nil)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	c.vdsos[key] = e
	c.mu.Unlock()
	return e
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, fmt.Errorf("symbolize: read at %d out of range", off)
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, fmt.Errorf("symbolize: short read at %d", off)
	}
	return n, nil
}

// Process returns the cached snapshot of pid, taking one if there is none.
func (c *Cache) Process(pid int) (*Process, error) {
	c.mu.Lock()
	p, ok := c.procs[pid]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	return c.Refresh(pid)
}

// Refresh takes a new snapshot of pid (e.g. after it mapped new libraries)
// and caches it. On error the previous snapshot, if any, is kept.
func (c *Cache) Refresh(pid int) (*Process, error) {
	p, err := c.newProcess(pid)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs[pid] = p
	c.mu.Unlock()
	return p, nil
}

// Forget drops the snapshot of pid.
func (c *Cache) Forget(pid int) {
	c.mu.Lock()
	delete(c.procs, pid)
	c.mu.Unlock()
}

// Reset drops everything cached.
func (c *Cache) Reset() {
	c.mu.Lock()
	c.elfs = map[fileKey]*elfEntry{}
	c.vdsos = map[string]*ELF{}
	c.procs = map[int]*Process{}
	c.kernel = nil
	c.mu.Unlock()
}

// Kernel returns the cached kernel symbols, loading them on first use.
func (c *Cache) Kernel() (*Kernel, error) {
	c.mu.Lock()
	k := c.kernel
	c.mu.Unlock()
	if k != nil {
		return k, nil
	}
	return c.RefreshKernel()
}

// RefreshKernel reloads /proc/kallsyms (new modules and BPF programs).
func (c *Cache) RefreshKernel() (*Kernel, error) {
	k, err := LoadKernel()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.kernel = k
	c.mu.Unlock()
	return k, nil
}
