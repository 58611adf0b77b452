package symbolize

import "sync"

// Collector gathers the stack addresses a recording sees and snapshots each
// process's mappings when one of its user stacks is first seen, so that a
// process that exits before the recording ends is still symbolized by
// [Collector.Table].
type Collector struct {
	mu     sync.Mutex
	procs  map[int]*Process // nil: the process was gone when first seen
	user   map[int]map[uint64]bool
	kernel map[uint64]bool
}

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	return &Collector{procs: map[int]*Process{}, user: map[int]map[uint64]bool{}, kernel: map[uint64]bool{}}
}

// Add notes the addresses of a user stack of process pid, or of a kernel
// stack.
func (c *Collector) Add(pid int, user bool, addrs []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !user {
		for _, a := range addrs {
			c.kernel[a] = true
		}
		return
	}
	if _, ok := c.procs[pid]; !ok {
		p, err := NewProcess(pid)
		if err != nil {
			p = nil // exited already: its frames stay addresses
		}
		c.procs[pid] = p
		c.user[pid] = map[uint64]bool{}
	}
	for _, a := range addrs {
		c.user[pid][a] = true
	}
}

// Empty reports whether no stack was added.
func (c *Collector) Empty() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.kernel) == 0 && len(c.user) == 0
}

// Processes is the number of processes whose user stacks were seen.
func (c *Collector) Processes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.user)
}

// Table symbolizes every address added. Kernel addresses stay unknown
// frames when /proc/kallsyms cannot be read; kerr says why.
func (c *Collector) Table() (t *Table, kerr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t = NewTable()
	if len(c.kernel) > 0 {
		k, err := LoadKernel()
		kerr = err
		for a := range c.kernel {
			if err == nil {
				t.Add(0, false, a, k.Symbolize(a))
			}
		}
	}
	for pid, addrs := range c.user {
		p := c.procs[pid]
		for a := range addrs {
			if p != nil {
				t.Add(pid, true, a, p.Symbolize(a))
			}
		}
	}
	return t, kerr
}
