//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf/link"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/recorder"
)

// TestBPFOpensnoop runs the example as a user does, on a shell that runs a
// copy of cat with a name of its own twice, and reads the trace with the
// package's reader and babeltrace2: each file cat opened is there once,
// typed, with cat's comm and pid; nothing else than the shell and its
// children is.
func TestBPFOpensnoop(t *testing.T) {
	bpftest.Require(t)
	bt := bpftest.RequireTool(t, "babeltrace2")
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "opensnoop")
	if err := bpftest.Build(".", bin, false); err != nil {
		t.Fatal(err)
	}
	comm := fmt.Sprintf("osn%d", os.Getpid()%100000)
	cat := filepath.Join(tmp, comm)
	catBin, err := exec.LookPath("cat")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(catBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cat, b, 0o755); err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(tmp, "first"), filepath.Join(tmp, "second")}
	for _, f := range files {
		if err := os.WriteFile(f, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	trace := filepath.Join(tmp, "trace")
	out, err := exec.Command(bin, "-o", trace, "--", "/bin/sh", "-c", fmt.Sprintf("%s %s >/dev/null; %s %s >/dev/null", cat, files[0], cat, files[1])).CombinedOutput()
	if err != nil {
		t.Fatalf("opensnoop: %v\n%s", err, out)
	}
	t.Logf("opensnoop printed:\n%s", out)

	tr, err := ctf.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]uint64{}
	_, err = tr.Each(func(e *ctf.Event) error {
		pid, _ := e.Payload.Get("pid")
		c, _ := e.Payload.Get("comm")
		name, _ := e.Payload.Get("filename")
		if pid.Type.Kind != ctf.KindInteger || pid.Type.Size != 32 || !c.Type.IsText() || !name.Type.IsText() {
			t.Fatalf("fields not typed: %v", e.Payload)
		}
		if string(c.Bytes) != comm && string(c.Bytes) != "sh" {
			t.Errorf("an open of another process: %v", e.Payload)
		}
		for _, f := range files {
			if string(name.Bytes) == f {
				if _, dup := pids[f]; dup || string(c.Bytes) != comm {
					t.Errorf("open of %s: %v", f, e.Payload)
				}
				pids[f] = pid.Uint
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) != 2 || pids[files[0]] == pids[files[1]] {
		t.Fatalf("opens of the two files by two children: %v", pids)
	}

	txt, err := exec.Command(bt, trace).CombinedOutput()
	if err != nil {
		t.Fatalf("babeltrace2: %v\n%s", err, txt)
	}
	for _, f := range files {
		want := fmt.Sprintf(`{ pid = %d, ts = `, pids[f])
		line := ""
		for _, l := range strings.Split(string(txt), "\n") {
			if strings.Contains(l, `filename = "`+f+`"`) {
				line = l
			}
		}
		if !strings.Contains(line, want) || !strings.Contains(line, `comm = "`+comm+`"`) {
			t.Errorf("babeltrace2's line for %s:\n%s\nwant %s and comm = %q", f, line, want, comm)
		}
	}
}

// TestBPFLostEvents floods a ring buffer of one page, read only after the
// flood, with opens: the trace's discarded count is the BPF side's count,
// and recorded plus discarded opens are the opens made.
func TestBPFLostEvents(t *testing.T) {
	bpftest.Require(t)
	bt := bpftest.RequireTool(t, "babeltrace2")
	spec, err := loadOpensnoop()
	if err != nil {
		t.Fatal(err)
	}
	spec.Maps["events"].MaxEntries = uint32(os.Getpagesize())
	var objs opensnoopObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	l, err := link.Tracepoint("syscalls", "sys_enter_openat", objs.HandleOpenat, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ev, err := recorder.LookupEvent(spec.Types, "event")
	if err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(t.TempDir(), "trace")
	rec, err := recorder.Create(trace, []recorder.Event{ev}, &recorder.Options{TimeField: "ts", Lost: objs.EventsLost})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()

	const n = 2000
	prefix := fmt.Sprintf("/nonexistent-bpftrail-%d/", os.Getpid())
	self := uint32(os.Getpid())
	if err := objs.Targets.Put(self, uint8(1)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		syscall.Open(prefix+strconv.Itoa(i), syscall.O_RDONLY, 0)
	}
	if err := objs.Targets.Delete(self); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // read what the ring holds, and stop
	if err := rec.ReadRingBuf(ctx, objs.Events); err != nil {
		t.Fatal(err)
	}
	var perCPU []uint64
	if err := objs.EventsLost.Lookup(uint32(0), &perCPU); err != nil {
		t.Fatal(err)
	}
	var counted uint64
	for _, c := range perCPU {
		counted += c
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	st := rec.Stats()
	if st.Lost != counted || counted == 0 {
		t.Fatalf("recorder lost %d, the BPF side counted %d", st.Lost, counted)
	}

	tr, err := ctf.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	ours := uint64(0)
	all, err := tr.Each(func(e *ctf.Event) error {
		name, _ := e.Payload.Get("filename")
		if strings.HasPrefix(string(name.Bytes), prefix) {
			ours++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.DiscardedTotal(); got != counted {
		t.Errorf("trace discarded %d, the BPF side counted %d", got, counted)
	}
	// Every open of the flood is either in the trace or counted; the
	// test's own runtime may have opened a few more files meanwhile.
	if ours == 0 || ours+counted < n || all+counted > n+20 {
		t.Errorf("%d of our %d opens recorded (%d events in all), %d lost", ours, n, all, counted)
	}

	out, err := exec.Command(bt, trace).CombinedOutput()
	if err != nil {
		t.Fatalf("babeltrace2: %v\n%s", err, out)
	}
	var warned uint64
	for _, m := range regexp.MustCompile(`discarded (\d+) events`).FindAllStringSubmatch(string(out), -1) {
		k, _ := strconv.ParseUint(m[1], 10, 64)
		warned += k
	}
	if warned != counted {
		t.Errorf("babeltrace2 reports %d discarded events, the BPF side counted %d", warned, counted)
	}
	t.Logf("%d of %d opens recorded, %d lost", ours, n, counted)
}
