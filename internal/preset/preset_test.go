package preset_test

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bpftrail/bpftrail/internal/lttng"
	"github.com/bpftrail/bpftrail/internal/preset"
	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// fixtures holds the format files of a 6.18 kernel for the sched events of
// the presets and a few syscalls.
var fixtures = tracefs.FS{Root: "testdata"}

func TestNames(t *testing.T) {
	names := preset.Names()
	if diff := cmp.Diff([]string{"kernel", "sched", "syscalls"}, names); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("Names not sorted: %v", names)
	}
}

func TestLookup(t *testing.T) {
	for _, name := range preset.Names() {
		t.Run(name, func(t *testing.T) {
			p, err := preset.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != name || len(p.Specs) == 0 || p.Doc == "" {
				t.Errorf("Lookup(%q) = %+v", name, p)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		p, err := preset.Lookup("schd")
		if err == nil {
			t.Fatalf("Lookup(schd) = %+v, want an error", p)
		}
		const want = `unknown preset "schd" (presets: sched, syscalls, kernel)`
		if err.Error() != want {
			t.Errorf("err = %q, want %q", err, want)
		}
		for _, n := range preset.Names() {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("err = %q does not list %s", err, n)
			}
		}
	})
}

func TestKernelIsSchedAndSyscalls(t *testing.T) {
	get := func(name string) []string {
		p, err := preset.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		return p.Specs
	}
	want := append(append([]string(nil), get("sched")...), get("syscalls")...)
	if diff := cmp.Diff(want, get("kernel")); diff != "" {
		t.Errorf("kernel preset (-sched+syscalls +kernel):\n%s", diff)
	}
}

func TestSpecsParse(t *testing.T) {
	for _, name := range preset.Names() {
		p, err := preset.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range p.Specs {
			t.Run(name+"/"+raw, func(t *testing.T) {
				sp, err := probe.Parse(raw)
				if err != nil {
					t.Fatal(err)
				}
				if sp.Kind != probe.Tracepoint {
					t.Errorf("%s is a %v, want a tracepoint (presets are written in LTTng's kernel layout)", raw, sp.Kind)
				}
			})
		}
	}
}

// TestSpecsResolve resolves every preset against the fixture tracefs and
// checks that every event has an LTTng name and every field LTTng renames
// or rebases exists.
func TestSpecsResolve(t *testing.T) {
	for _, name := range preset.Names() {
		t.Run(name, func(t *testing.T) {
			p, err := preset.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := resolve.Specs(func() (tracefs.FS, error) { return fixtures, nil }, p.Specs, resolve.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, pr := range ps {
				got = append(got, pr.Event.Name)
				if lt, ok := lttng.Lookup(pr.Event.Name); ok {
					for from := range lt.Rename {
						if pr.Event.Index(from) < 0 {
							t.Errorf("%s: LTTng renames %s, which the event does not have", pr.Event.Name, from)
						}
					}
					for _, f := range lt.Prio {
						if pr.Event.Index(f) < 0 {
							t.Errorf("%s: LTTng rebases the priority %s, which the event does not have", pr.Event.Name, f)
						}
					}
					continue
				}
				if _, ok := lttng.SyscallName(pr.Event.Name); !ok {
					t.Errorf("%s has no LTTng name", pr.Event.Name)
				}
			}
			var want []string
			if name != "syscalls" {
				want = append(want, "sched:sched_switch", "sched:sched_wakeup", "sched:sched_wakeup_new",
					"sched:sched_process_fork", "sched:sched_process_exec", "sched:sched_process_exit")
			}
			if name != "sched" {
				want = append(want, fixtureEvents(t, "syscalls:sys_enter_*")...)
				want = append(want, fixtureEvents(t, "syscalls:sys_exit_*")...)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("resolved events (-want +got):\n%s", diff)
			}
		})
	}
}

func fixtureEvents(t *testing.T, pattern string) []string {
	t.Helper()
	evs, err := fixtures.List(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Fatalf("no fixture matches %s under %s", pattern, filepath.Join(fixtures.Root, "events"))
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.String())
	}
	return out
}
