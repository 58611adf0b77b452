package aggregate

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Log writes snapshots of aggregations as JSON lines, one per aggregation
// each time [Log.Write] is called:
//
//	{"aggregate": NAME, "time_ns": NOW, "final": BOOL, ...the snapshot's JSON}
//
// "record --aggregate" keeps one beside its trace (tracedir.Aggregates),
// a line every second and final ones at the end, so that viewers show the
// aggregates over time. It may be written from several goroutines.
type Log struct {
	mu      sync.Mutex
	w       io.Writer
	readers []*Reader
	now     func() time.Time
}

// NewLog returns a log of readers' snapshots into w.
func NewLog(w io.Writer, readers []*Reader) *Log {
	return &Log{w: w, readers: readers, now: time.Now}
}

// Write appends a snapshot of every aggregation.
func (l *Log) Write(final bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now().UnixNano()
	for _, r := range l.readers {
		snap, err := r.Read()
		if err != nil {
			return err
		}
		if err := l.write(snap, now, final); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) write(snap *Snapshot, now int64, final bool) error {
	body, err := JSON(snap, Format{})
	if err != nil {
		return err
	}
	name, _ := json.Marshal(snap.Name)
	_, err = fmt.Fprintf(l.w, "{\"aggregate\":%s,\"time_ns\":%d,\"final\":%v,%s\n", name, now, final, body[1:])
	return err
}

// WriteSnapshots appends snapshots taken elsewhere (a script's maps),
// stamped with the time of the call.
func (l *Log) WriteSnapshots(snaps []*Snapshot, final bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now().UnixNano()
	for _, snap := range snaps {
		if err := l.write(snap, now, final); err != nil {
			return err
		}
	}
	return nil
}
