package engine

import (
	"errors"
	"fmt"

	"github.com/bpftrail/bpftrail/internal/plan"
	"github.com/bpftrail/bpftrail/internal/record"
)

// SnapshotTrigger writes a snapshot of the flight recorder when a recorded
// event of Spec fires and passes Filter (in the language of
// Probes.Filter; "" passes every event). The filter is evaluated on each
// decoded record of Spec's events, after the recording's own in-kernel
// filter, so Spec's events must be recorded (Config.Record lists them).
// At most one snapshot is written a second (SnapshotRing.MinInterval).
type SnapshotTrigger struct {
	Spec   string
	Filter string
}

// snapshotOn returns t, or a copy of it whose snapshot ring has
// t.SnapshotOn as its trigger.
func (s *Session) snapshotOn(t *TraceOutput) (*TraceOutput, error) {
	if t.SnapshotOn == nil {
		return t, nil
	}
	if t.Snapshot == nil {
		return nil, errors.New("engine: a snapshot trigger needs a snapshot ring")
	}
	if s.rec == nil {
		return nil, errors.New("engine: a snapshot trigger needs recorded events")
	}
	po := plan.Options{FS: s.tracefs}
	if s.cfg.Target.Kind == Process {
		po.PID = s.cfg.Target.PID
	}
	on, err := plan.Trigger(s.rec, *s.cfg.Record, t.SnapshotOn.Spec, t.SnapshotOn.Filter, po)
	if err != nil {
		return nil, fmt.Errorf("snapshot trigger %s: %w", t.SnapshotOn.Spec, err)
	}
	ring := *t.Snapshot
	ring.On = func(r record.Record) bool {
		e, ok := on[r.Class.ID]
		return ok && (e == nil || e.Eval(r.Value))
	}
	c := *t
	c.Snapshot = &ring
	return &c, nil
}
