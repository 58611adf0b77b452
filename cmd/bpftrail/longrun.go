package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/engine"
)

// longRunFlags sets the rotation or the flight recorder of a recording's
// trace from record's flags.
func longRunFlags(c *cobra.Command, f recordFlags, t *engine.TraceOutput) error {
	fl := c.Flags()
	if f.rotate != "" && f.snapshot {
		return errors.New("--rotate and --snapshot exclude each other: rotate keeps everything in chunks, a snapshot keeps the newest events")
	}
	if fl.Changed("keep") && f.rotate == "" {
		return errors.New("--keep needs --rotate")
	}
	if (fl.Changed("snapshot-size") || f.snapAtExit || f.snapOn != "") && !f.snapshot {
		return errors.New("--snapshot-size, --snapshot-at-exit and --snapshot-on need --snapshot")
	}
	if f.rotate != "" {
		rot, err := parseRotate(f.rotate)
		if err != nil {
			return err
		}
		if f.keep < 0 {
			return fmt.Errorf("--keep %d: want a number of chunks, 1 or more", f.keep)
		}
		rot.Keep = f.keep
		t.Rotate = rot
	}
	if f.snapshot {
		size, err := parseSize(f.snapSize)
		if err != nil {
			return fmt.Errorf("--snapshot-size: %w", err)
		}
		if size < 8<<10 {
			return fmt.Errorf("--snapshot-size %s: the ring needs at least 8KiB (two packets)", f.snapSize)
		}
		t.Snapshot = &engine.SnapshotRing{Size: int64(size), AtExit: f.snapAtExit}
		if f.snapOn != "" {
			spec, filter := splitTrigger(f.snapOn)
			if spec == "" {
				return fmt.Errorf("--snapshot-on %q: want SPEC[:FILTER], e.g. 'syscalls:sys_enter_kill:sig == 9'", f.snapOn)
			}
			t.SnapshotOn = &engine.SnapshotTrigger{Spec: spec, Filter: filter}
		}
	}
	return nil
}

// splitTrigger splits --snapshot-on's SPEC[:FILTER]. A probe spec has
// colons but never a blank, a quote, a parenthesis or any of = ! < > & |,
// and a filter always has one of them (a comparison): the filter starts
// after the last colon before the first such character. Without one, the
// whole text is the spec.
func splitTrigger(s string) (spec, filter string) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, " \t\"()=!<>&|")
	if i < 0 {
		return s, ""
	}
	c := strings.LastIndexByte(s[:i], ':')
	if c < 0 {
		return "", s // a filter without a spec
	}
	return strings.TrimSpace(s[:c]), strings.TrimSpace(s[c+1:])
}

// parseRotate reads --rotate: a duration (30s, 10m, 1h) or a size (64MiB).
func parseRotate(s string) (*engine.Rotation, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 10*time.Millisecond {
			return nil, fmt.Errorf("--rotate %s: a chunk must last at least 10ms", s)
		}
		return &engine.Rotation{Every: d}, nil
	}
	n, err := parseSize(s)
	if err != nil {
		return nil, fmt.Errorf("--rotate %q: want a size (64MiB) or a duration (10m)", s)
	}
	if n < 4<<10 {
		return nil, fmt.Errorf("--rotate %s: a chunk must hold at least 4KiB (one packet)", s)
	}
	return &engine.Rotation{Size: int64(n)}, nil
}

// reportWritten says on stderr where each chunk and snapshot went; on a
// terminal it first clears the progress line.
func reportWritten(progress bool) func(engine.Written) {
	return func(w engine.Written) {
		if progress {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
		switch w.Kind {
		case "deleted":
			fmt.Fprintf(os.Stderr, "bpftrail: deleted chunk %s (--keep)\n", w.Dir)
		default:
			fmt.Fprintf(os.Stderr, "bpftrail: %s written to %s (%d events, %d discarded, %s)\n",
				w.Kind, w.Dir, w.Events, w.Discarded, humanBytes(w.Bytes))
		}
	}
}
