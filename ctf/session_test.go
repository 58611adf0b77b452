package ctf

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// An LTTng session's output directory holds one CTF trace per domain and
// buffer owner: kernel/ and ust/uid/<uid>/<bits>-bit/, each with its own
// metadata, trace UUID, stream classes and per-CPU streams. The tests below
// read such a directory as babeltrace2 does: every event of every trace,
// merged in time order.

// sessEvent is one event written into the session by sessWrite.
type sessEvent struct {
	ts     uint64
	domain string // "kernel" or "ust"
	cpu    int
	class  string
	values []any
	want   string // the payload as babeltrace2 prints it
}

const sessOffset = 1_700_000_000_000_000_000

// sessEvents interleaves the two domains and both CPUs, so that no trace
// or stream can be read in one piece and still come out in time order.
func sessEvents() []sessEvent {
	var evs []sessEvent
	ts := uint64(1000)
	for i := range 12 {
		cpu := (i / 2) % 2
		switch i % 4 {
		case 0:
			evs = append(evs, sessEvent{ts, "kernel", cpu, "sched_switch", []any{int32(i), int32(i + 1)},
				fmt.Sprintf("{ prev_tid = %d, next_tid = %d }", i, i+1)})
		case 1:
			evs = append(evs, sessEvent{ts, "ust", cpu, "app:tick", []any{uint64(i)}, fmt.Sprintf("{ n = %d }", i)})
		case 2:
			evs = append(evs, sessEvent{ts, "kernel", cpu, "syscall_entry_openat", []any{fmt.Sprintf("/f%d", i)},
				fmt.Sprintf(`{ filename = "/f%d" }`, i)})
		case 3:
			evs = append(evs, sessEvent{ts, "ust", cpu, "app:msg", []any{fmt.Sprintf("m%d", i)}, fmt.Sprintf(`{ msg = "m%d" }`, i)})
		}
		ts += uint64(7 + i) // uneven gaps
	}
	return evs
}

// sessWrite writes sessEvents as an LTTng session output under root: a
// kernel trace in root/kernel and a user-space trace in
// root/ust/uid/0/64-bit, whose stream class is 1 (the kernel's is 0) and
// whose streams have the same instance ids as the kernel's.
func sessWrite(t *testing.T, root string) []sessEvent {
	t.Helper()
	evs := sessEvents()
	type dom struct {
		dir     string
		opts    Options
		classes map[string]*Type
	}
	const clockUUID = "2b3c8f6e-6a4f-4d2b-9f0e-5f1c2d3e4a5b"
	doms := map[string]*dom{
		"kernel": {filepath.Join(root, "kernel"),
			Options{Hostname: "testhost", TracerName: "lttng-modules", TracerMajor: 2, TracerMinor: 13, Domain: "kernel"},
			map[string]*Type{
				"sched_switch":         Struct(F("prev_tid", Int(32)), F("next_tid", Int(32))),
				"syscall_entry_openat": Struct(F("filename", String())),
			}},
		"ust": {filepath.Join(root, "ust", "uid", "0", "64-bit"),
			Options{Hostname: "testhost", TracerName: "lttng-ust", TracerMajor: 2, TracerMinor: 13, Domain: "ust"},
			map[string]*Type{
				"app:tick": Struct(F("n", Uint(64))),
				"app:msg":  Struct(F("msg", String())),
			}},
	}
	for _, name := range []string{"kernel", "ust"} {
		d := doms[name]
		d.opts.Clock = func() uint64 { return 500 }
		d.opts.ClockOffset = sessOffset
		d.opts.ClockUUID = clockUUID
		w, err := Create(d.dir, d.opts)
		if err != nil {
			t.Fatal(err)
		}
		ecs := map[string]*EventClass{}
		for _, cn := range []string{"sched_switch", "syscall_entry_openat", "app:tick", "app:msg"} {
			if ft, ok := d.classes[cn]; ok {
				if ecs[cn], err = w.AddEventClass(cn, ft); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, e := range evs {
			if e.domain != name {
				continue
			}
			s, err := w.Stream(e.cpu)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Write(ecs[e.class], e.ts, e.values...); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	sessSetStreamClass(t, doms["ust"].dir, 1)
	return evs
}

// sessSetStreamClass renumbers the one stream class of the trace in dir
// (written by [Writer], whose stream class is 0) to id, in the metadata
// and in every packet header.
func sessSetStreamClass(t *testing.T, dir string, id uint32) {
	t.Helper()
	mp := filepath.Join(dir, "metadata")
	m, err := os.ReadFile(mp)
	if err != nil {
		t.Fatal(err)
	}
	s := string(m)
	n1, n2 := strings.Count(s, "stream {\n\tid = 0;"), strings.Count(s, "\tstream_id = 0;")
	if n1 != 1 || n2 == 0 {
		t.Fatalf("metadata of %s: %d stream classes 0, %d event classes in it", dir, n1, n2)
	}
	s = strings.ReplaceAll(s, "stream {\n\tid = 0;", fmt.Sprintf("stream {\n\tid = %d;", id))
	s = strings.ReplaceAll(s, "\tstream_id = 0;", fmt.Sprintf("\tstream_id = %d;", id))
	if err := os.WriteFile(mp, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	// The writer's packet header: magic, uuid[16], stream_id (u32 at 20),
	// stream_instance_id; its context's packet_size (bits) is at 56.
	files, _ := filepath.Glob(filepath.Join(dir, "stream_*"))
	if len(files) == 0 {
		t.Fatalf("no streams in %s", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(b); {
			binary.LittleEndian.PutUint32(b[off+20:], id)
			size := int(binary.LittleEndian.Uint64(b[off+56:]) / 8)
			if size <= 0 {
				t.Fatalf("%s: packet at %d has size %d", f, off, size)
			}
			off += size
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// sessWant is the session as babeltrace2 --clock-seconds prints it:
// "SECONDS.NS NAME cpu=CPU PAYLOAD" per event.
func sessWant(evs []sessEvent) []string {
	var out []string
	for _, e := range evs {
		ns := sessOffset + int64(e.ts)
		out = append(out, fmt.Sprintf("%d.%09d %s cpu=%d %s", ns/1e9, ns%1e9, e.class, e.cpu, e.want))
	}
	return out
}

func TestLTTngSessionDir(t *testing.T) {
	root := t.TempDir()
	evs := sessWrite(t, root)
	want := sessWant(evs)

	dirs, err := Find(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 2 || dirs[0] != filepath.Join(root, "kernel") || dirs[1] != filepath.Join(root, "ust", "uid", "0", "64-bit") {
		t.Fatalf("Find = %q", dirs)
	}
	tr, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Parts) != 2 || len(tr.Streams) != 4 {
		t.Fatalf("%d parts, %d streams; want 2 and 4", len(tr.Parts), len(tr.Streams))
	}
	if tr.Parts[0].Metadata.UUID == tr.Parts[1].Metadata.UUID {
		t.Fatal("the two traces have one UUID")
	}
	if n := tr.StreamName(tr.Streams[2]); n != "ust/uid/0/64-bit/stream_0" {
		t.Errorf("StreamName = %q, want ust/uid/0/64-bit/stream_0", n)
	}
	var got []string
	_, err = tr.Each(func(e *Event) error {
		got = append(got, fmt.Sprintf("%d.%09d %s cpu=%d %s", e.Ns/1e9, e.Ns%1e9, e.Class.Name, e.CPU, e.Payload.String()))
		if e.Class.Name == "app:tick" && e.Stream.Class.ID != 1 {
			t.Errorf("%s read with stream class %d, want 1", e.Class.Name, e.Stream.Class.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sessCompare(t, "ctf.Open", got, want)

	wtNeed(t, "babeltrace2")
	sessCompare(t, "babeltrace2", sessBabeltrace(t, "babeltrace2", root), want)
}

// sessLine is an event line of babeltrace2 --clock-seconds --no-delta.
var sessLine = regexp.MustCompile(`^\[(\d+\.\d{9})\] \S+ (\S+): \{ cpu_id = (\d+) \}, (\{.*\})$`)

// sessBabeltrace runs babeltrace2 on dir and returns its events in the
// form of sessWant.
func sessBabeltrace(t *testing.T, bt, dir string) []string {
	t.Helper()
	cmd := exec.Command(bt, "--clock-seconds", "--no-delta", "--color=never", dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("babeltrace2 %s: %v\n%s", dir, err, stderr.String())
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		m := sessLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("babeltrace2 line not understood: %q", l)
		}
		got = append(got, fmt.Sprintf("%s %s cpu=%s %s", m[1], m[2], m[3], m[4]))
	}
	return got
}

func sessCompare(t *testing.T, who string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d events, want %d:\n%s", who, len(got), len(want), strings.Join(got, "\n"))
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: event %d:\n got %s\nwant %s", who, i, got[i], want[i])
		}
	}
}
