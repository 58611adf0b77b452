package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/analyze/tracetest"
	"github.com/bpftrail/bpftrail/internal/sink/chrome"
	"github.com/bpftrail/bpftrail/internal/tracedir"
)

// states is the time a thread spent running, runnable and blocked, in ns.
type states struct{ Running, Runnable, Blocked int64 }

// analyzedStates reads the thread states of "bpftrail analyze --json".
func analyzedStates(t *testing.T, b []byte) map[int]states {
	t.Helper()
	var r struct {
		Threads []struct {
			TID        int   `json:"tid"`
			RunningNs  int64 `json:"running_ns"`
			RunnableNs int64 `json:"runnable_ns"`
			BlockedNs  int64 `json:"blocked_ns"`
		} `json:"threads"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("analyze --json: %v", err)
	}
	m := map[int]states{}
	for _, th := range r.Threads {
		if s := (states{th.RunningNs, th.RunnableNs, th.BlockedNs}); s != (states{}) {
			m[th.TID] = s
		}
	}
	return m
}

// nsOf reads a Chrome timestamp (µs with at most 3 decimals) as exact ns.
func nsOf(t *testing.T, n json.Number) int64 {
	t.Helper()
	whole, frac, _ := strings.Cut(string(n), ".")
	if len(frac) > 3 {
		t.Fatalf("%s: more than ns precision", n)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", n, err)
	}
	f, _ := strconv.ParseInt((frac + "000")[:3], 10, 64)
	return w*1000 + f
}

// chromeStates sums the slices of the thread state tracks of a Chrome
// trace ("convert --to chrome").
func chromeStates(t *testing.T, b []byte) map[int]states {
	t.Helper()
	var doc struct {
		TraceEvents []struct {
			Ph   string      `json:"ph"`
			TID  int         `json:"tid"`
			Name string      `json:"name"`
			Cat  string      `json:"cat"`
			Dur  json.Number `json:"dur"`
		} `json:"traceEvents"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("chrome JSON: %v", err)
	}
	m := map[int]states{}
	for _, e := range doc.TraceEvents {
		if e.Ph != "X" || e.Cat != "thread_state" {
			continue
		}
		tid := e.TID - chrome.StateTID(0)
		s := m[tid]
		switch e.Name {
		case "Running":
			s.Running += nsOf(t, e.Dur)
		case "Runnable":
			s.Runnable += nsOf(t, e.Dur)
		case "Blocked":
			s.Blocked += nsOf(t, e.Dur)
		default:
			t.Fatalf("state slice %q", e.Name)
		}
		m[tid] = s
	}
	for tid, s := range m {
		if s == (states{}) {
			delete(m, tid)
		}
	}
	return m
}

func undelta(a []int64) []int64 {
	out := make([]int64, len(a))
	v := int64(0)
	for i, d := range a {
		v += d
		out[i] = v
	}
	return out
}

// viewStates sums the slices of the threads' state lanes in the view data
// (view-data.json), decoded as the page decodes it.
func viewStates(t *testing.T, b []byte) map[int]states {
	t.Helper()
	var v struct {
		Duration int64 `json:"duration"`
		Ev       struct {
			T []int64 `json:"t"`
		} `json:"ev"`
		Tracks []struct {
			Kind  string `json:"kind"`
			TID   int    `json:"tid"`
			Lanes []struct {
				ByEv  bool    `json:"byev"`
				Start []int64 `json:"start"`
				Dur   []int64 `json:"dur"`
				Ev    []int64 `json:"ev"`
				Ev2   []int64 `json:"ev2"`
				State []int   `json:"state"`
			} `json:"lanes"`
		} `json:"tracks"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("view data: %v", err)
	}
	times := undelta(v.Ev.T)
	m := map[int]states{}
	for _, tk := range v.Tracks {
		for _, l := range tk.Lanes {
			if tk.Kind != "thread" || l.State == nil {
				continue
			}
			ev := undelta(l.Ev)
			s := m[tk.TID]
			for i, st := range l.State {
				dur := int64(0)
				if l.ByEv {
					start, end := int64(0), v.Duration
					if ev[i] >= 0 {
						start = times[ev[i]]
					}
					if l.Ev2 != nil && l.Ev2[i] >= 0 {
						end = times[ev[i]+l.Ev2[i]]
					}
					dur = end - start
				} else {
					dur = l.Dur[i]
				}
				switch st {
				case 1:
					s.Running += dur
				case 2:
					s.Runnable += dur
				case 3:
					s.Blocked += dur
				default:
					t.Fatalf("thread %d: state %d", tk.TID, st)
				}
			}
			m[tk.TID] = s
		}
	}
	return m
}

// checkStatesAgree reads the thread states of the trace in dir with
// analyze --json, convert --to chrome and the view data of report, and
// checks that they are equal to the nanosecond. It returns analyze's.
func checkStatesAgree(t *testing.T, analyzed, converted []byte, dir string) map[int]states {
	t.Helper()
	want := analyzedStates(t, analyzed)
	if d := cmp.Diff(want, chromeStates(t, converted)); d != "" {
		t.Errorf("convert --to chrome: thread states differ from analyze --json (-analyze +chrome):\n%s", d)
	}
	view, err := os.ReadFile(tracedir.Path(dir, tracedir.ViewData))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, viewStates(t, view)); d != "" {
		t.Errorf("view data: thread states differ from analyze --json (-analyze +view):\n%s", d)
	}
	return want
}

// TestStatesAgree: analyze, convert --to chrome and the view (report) give
// every thread the same running, runnable and blocked time, on a trace with
// discarded events, lost switch-outs, wake-ups of blocked threads and CPUs
// whose first event is not a switch.
func TestStatesAgree(t *testing.T) {
	var (
		idle = tracetest.Ctx{Comm: "swapper"}
		a10  = tracetest.Ctx{PID: 10, TID: 10, Comm: "alpha"}
		a11  = tracetest.Ctx{PID: 10, TID: 11, Comm: "alpha-w"}
		b20  = tracetest.Ctx{PID: 20, TID: 20, Comm: "beta"}
		c30  = tracetest.Ctx{PID: 30, TID: 30, Comm: "gamma"}
	)
	for _, layout := range []tracetest.Layout{tracetest.Tracefs, tracetest.LTTng} {
		t.Run(layout.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "trace")
			b := tracetest.New(t, dir, layout, 0)
			b.Exec(0, 1000, a10, "/bin/alpha") // CPU 0 starts with an exec: alpha runs since
			b.Wakeup(1, 1200, b20, c30)        // CPU 1 starts with a wake-up
			b.Switch(0, 2000, a10, 1, b20)     // alpha blocks, beta runs
			b.Switch(1, 2500, idle, 0, c30)    // gamma runs on CPU 1
			b.OpenatEnter(1, 2600, c30, "/etc/hosts")
			b.Wakeup(1, 3000, c30, a10)         // alpha, blocked, is woken
			b.Discard(0, 5, 3100)               // CPU 0 lost events: beta's switch-out among them
			b.Switch(0, 4000, a11, 0, a10)      // so beta's run ends here; alpha runs
			b.OpenatExit(1, 4200, c30, 3)       //
			b.Switch(2, 4500, b20, 1, idle)     // CPU 2 starts with beta switched out
			b.Switch(1, 5000, c30, 0x100, a10)  // alpha on CPU 1: its switch-out on CPU 0 was lost
			b.Discard(2, 2, 5200)               //
			b.Wakeup(2, 5500, idle, b20)        // beta, blocked, is woken from idle
			b.Switch(2, 6000, idle, 0, b20)     // beta runs on CPU 2
			b.Switch(1, 6500, a10, 1, idle)     // alpha blocks
			b.Exec(0, 7000, a11, "/bin/worker") // the end
			b.Close()

			var analyzed, converted, stderr bytes.Buffer
			if err := analyzeTrace(dir, true, 0, &analyzed, &stderr); err != nil {
				t.Fatal(err)
			}
			if err := convertTrace(dir, "chrome", "-", &converted, &stderr); err != nil {
				t.Fatal(err)
			}
			if err := writeReportFile(dir, filepath.Join(t.TempDir(), "report.html")); err != nil {
				t.Fatal(err)
			}
			got := checkStatesAgree(t, analyzed.Bytes(), converted.Bytes(), dir)
			// The states themselves, by the rules of analyze.Sched.
			want := map[int]states{
				10: {Running: 1000 + 1000 + 1500, Blocked: 1000 + 500, Runnable: 1000},
				11: {Runnable: 3000},
				20: {Running: 2000 + 1000, Runnable: 500, Blocked: 1000},
				30: {Running: 2500, Runnable: 1300 + 2000},
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("thread states (-want +got):\n%s", d)
			}
		})
	}
}
