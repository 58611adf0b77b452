package aggregate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// logLine is one line of the aggregates log, parsed back.
type logLine struct {
	Aggregate string
	TimeNs    int64
	Final     bool
	Body      map[string]json.RawMessage // the snapshot's members
}

func parseLog(t *testing.T, b []byte) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not a JSON object: %v\n%s", err, sc.Bytes())
		}
		var l logLine
		for k, dst := range map[string]any{"aggregate": &l.Aggregate, "time_ns": &l.TimeNs, "final": &l.Final} {
			raw, ok := m[k]
			if !ok {
				t.Fatalf("log line has no %q: %s", k, sc.Bytes())
			}
			if err := json.Unmarshal(raw, dst); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			delete(m, k)
		}
		l.Body = m
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// members returns the members of a JSON object.
func members(t *testing.T, raw []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var rawCmp = cmp.Comparer(func(a, b json.RawMessage) bool { return bytes.Equal(a, b) })

func TestLogLines(t *testing.T) {
	var b bytes.Buffer
	l := NewLog(&b, nil)
	at := time.Unix(1700000000, 123456789)
	l.now = func() time.Time { return at }
	for i, s := range snapshots() {
		// The names of the synthetic snapshots, with a quote to escape.
		s.snap.Name += `"q`
		if err := l.write(s.snap, l.now().UnixNano()+int64(i), i%2 == 1); err != nil {
			t.Fatal(err)
		}
	}
	lines := parseLog(t, b.Bytes())
	snaps := snapshots()
	if len(lines) != len(snaps) {
		t.Fatalf("%d lines for %d snapshots", len(lines), len(snaps))
	}
	for i, s := range snaps {
		got := lines[i]
		if got.Aggregate != s.snap.Name+`"q` || got.TimeNs != at.UnixNano()+int64(i) || got.Final != (i%2 == 1) {
			t.Errorf("line %d: aggregate %q time_ns %d final %v; want %q %d %v", i, got.Aggregate, got.TimeNs, got.Final, s.snap.Name+`"q`, at.UnixNano()+int64(i), i%2 == 1)
		}
		// The log keeps every group and the default unit, whatever a
		// display would show.
		want, err := JSON(s.snap, Format{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(members(t, want), got.Body, rawCmp); diff != "" {
			t.Errorf("line %d: snapshot members (-want +got):\n%s", i, diff)
		}
	}
}

func TestLogWithoutReaders(t *testing.T) {
	var b bytes.Buffer
	l := NewLog(&b, nil)
	if err := l.Write(true); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 {
		t.Errorf("a log without readers wrote %q", b.String())
	}
}

type failWriter struct{}

var errWrite = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestLogWriteError(t *testing.T) {
	l := NewLog(failWriter{}, nil)
	snap := snapshots()[0].snap
	if err := l.write(snap, 1, false); !errors.Is(err, errWrite) {
		t.Errorf("write = %v, want %v", err, errWrite)
	}
	bad := &Snapshot{Name: "bad", Mode: Hist, Scheme: snapshots()[0].snap.Scheme, Groups: []*Group{{Buckets: map[int]uint64{1: 1}}}}
	var b bytes.Buffer
	if err := NewLog(&b, nil).write(bad, 1, false); err == nil || b.Len() != 0 {
		t.Errorf("write of a snapshot without a scheme = %v, wrote %q; want an error and nothing written", err, b.String())
	}
	if strings.Contains(b.String(), "\n\n") {
		t.Error("empty line in the log")
	}
}
