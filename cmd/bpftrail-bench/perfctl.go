package main

import (
	"bytes"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// perfControl waits for perf record to have enabled its events, through
// its control FIFOs (--control). perf opens its perf_event file
// descriptors well before it enables them: with -a it first writes a
// record for every process on the machine, which takes from tens of
// milliseconds to seconds on a busy machine, and a load released in
// between loses its first calls silently. perf reads its control FIFO only
// in its main loop, which it enters after enabling its events, so its
// answer to "ping" says they are on. ("-D -1" and "enable" would say the
// same, but make perf add a dummy event, and with it 8 bytes to each
// sample, when it records a command or -p PID.)
type perfControl struct {
	ctlPath, ackPath string
	ctl, ack         int // both FIFOs, opened read-write and non-blocking
	sent             bool
	answer           []byte
}

// newPerfControl makes the two FIFOs in dir, named after name.
func newPerfControl(dir, name string) (*perfControl, error) {
	c := &perfControl{
		ctlPath: filepath.Join(dir, name+".ctl"),
		ackPath: filepath.Join(dir, name+".ack"),
		ctl:     -1,
		ack:     -1,
	}
	var err error
	for _, f := range []struct {
		path string
		fd   *int
	}{{c.ctlPath, &c.ctl}, {c.ackPath, &c.ack}} {
		if err = unix.Mkfifo(f.path, 0o600); err != nil {
			break
		}
		// Read-write: neither side's open waits for the other's.
		if *f.fd, err = unix.Open(f.path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err != nil {
			break
		}
	}
	if err != nil {
		c.close()
		return nil, fmt.Errorf("perf control FIFO: %w", err)
	}
	return c, nil
}

// args returns perf record's arguments for c.
func (c *perfControl) args() []string {
	return []string{"--control", "fifo:" + c.ctlPath + "," + c.ackPath}
}

// enabled pings perf on its first call and reports, without waiting,
// whether perf has answered, that is whether its events are on.
func (c *perfControl) enabled() bool {
	if !c.sent {
		if _, err := unix.Write(c.ctl, []byte("ping\n")); err != nil {
			return false
		}
		c.sent = true
	}
	var buf [64]byte
	for {
		n, err := unix.Read(c.ack, buf[:])
		if n <= 0 || err != nil {
			break
		}
		c.answer = append(c.answer, buf[:n]...)
	}
	return bytes.Contains(c.answer, []byte("ack\n"))
}

// close closes and removes the FIFOs.
func (c *perfControl) close() {
	for _, fd := range []int{c.ctl, c.ack} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	unix.Unlink(c.ctlPath)
	unix.Unlink(c.ackPath)
}
