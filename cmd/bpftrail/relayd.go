package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpftrail/bpftrail/internal/engine"
	"github.com/bpftrail/bpftrail/internal/relayd"
)

// relaydOptions are the flags that stream a trace to lttng-relayd
// (record's, run's).
type relaydOptions struct {
	relayd  string
	live    time.Duration
	session string
}

// addRelaydFlags declares --relayd, --live and --session.
func addRelaydFlags(c *cobra.Command, f *relaydOptions) {
	fl := c.Flags()
	fl.StringVar(&f.relayd, "relayd", "", "stream the trace to lttng-relayd at net://HOST[:CONTROL_PORT[:DATA_PORT]] (relayd keeps a copy; -o still writes the local one, none without -o)")
	fl.DurationVar(&f.live, "live", 0, "with --relayd, a live session: partial packets are sent every PERIOD (default 1s) so that live viewers follow the recording")
	fl.Lookup("live").NoOptDefVal = "1s"
	fl.StringVar(&f.session, "session", "", "with --relayd, the session's name on relayd (default: the base name of -o)")
}

// relaydFlags sets the streaming of a trace to lttng-relayd from the
// flags of c.
func relaydFlags(c *cobra.Command, f relaydOptions, t *engine.TraceOutput) error {
	fl := c.Flags()
	if f.relayd == "" {
		if fl.Changed("live") || fl.Changed("session") {
			return errors.New("--live and --session need --relayd")
		}
		return nil
	}
	if t.Rotate != nil || t.Snapshot != nil {
		return errors.New("--relayd does not combine with --rotate or --snapshot yet")
	}
	addr, err := relayd.ParseURL(f.relayd)
	if err != nil {
		return fmt.Errorf("--relayd: %w", err)
	}
	if fl.Changed("live") && f.live < 10*time.Millisecond {
		return fmt.Errorf("--live %s: the live period must be at least 10ms", f.live)
	}
	name := f.session
	if name == "" && t.Dir != "" {
		name = filepath.Base(filepath.Clean(t.Dir))
	}
	if name == "" {
		name = "bpftrail-" + time.Now().Format("20060102-150405")
	}
	if name == "." || name == "/" || filepath.Base(name) != name {
		return fmt.Errorf("--session %q: a session name is one path component", name)
	}
	t.Relayd = &engine.Relayd{Addr: addr, Session: name, Live: f.live, Logf: func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bpftrail: "+format+"\n", args...)
	}}
	return nil
}

// reportRelayd says what went to lttng-relayd and what it missed.
func reportRelayd(out *os.File, res *engine.Result) {
	r := res.Relayd
	if r == nil {
		return
	}
	fmt.Fprintf(out, "  streamed to lttng-relayd (protocol 2.%d): %d packets, %s, into %s", r.Minor, r.Packets, humanBytes(int64(r.Bytes)), r.Output)
	if r.Reconnects > 0 {
		fmt.Fprintf(out, " (and %d later sessions after reconnecting)", r.Reconnects)
	}
	fmt.Fprintln(out)
	if r.Missed > 0 || r.MissedPackets > 0 {
		fmt.Fprintf(out, "  lttng-relayd missed %d events (%d packets) while the connection was lost: its copy reports them as discarded\n", r.Missed, r.MissedPackets)
	}
}
