//go:build linux

package ctf

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Reading a real LTTng-UST 2.13 trace: a tracepoint provider built with gcc
// and recorded with lttng-sessiond, compared with python3-bt2's view.

const wlProviderH = `#undef TRACEPOINT_PROVIDER
#define TRACEPOINT_PROVIDER prov
#undef TRACEPOINT_INCLUDE
#define TRACEPOINT_INCLUDE "./tp.h"
#if !defined(_TP_H) || defined(TRACEPOINT_HEADER_MULTI_READ)
#define _TP_H
#include <stdint.h>
#include <lttng/tracepoint.h>

TRACEPOINT_ENUM(prov, colour,
	TP_ENUM_VALUES(
		ctf_enum_value("RED", 0)
		ctf_enum_value("BLUE", 1)
		ctf_enum_range("GREENISH", 10, 20)
	)
)

TRACEPOINT_EVENT(prov, ev,
	TP_ARGS(int, i, const char *, s, const char *, comm, unsigned int, n, const int *, seq,
		double, d, int, col),
	TP_FIELDS(
		ctf_integer(int, i, i)
		ctf_integer(int8_t, i8, (int8_t)(i * 37))
		ctf_integer(uint16_t, u16, (uint16_t)(i * 4099))
		ctf_integer(int64_t, i64, (int64_t)i * -1000000007LL)
		ctf_integer_hex(unsigned long, hx, (unsigned long)i * 0x1000)
		ctf_integer_network(uint32_t, net, (uint32_t)i * 0x01020304u)
		ctf_string(s, s)
		ctf_array_text(char, comm, comm, 16)
		ctf_array(uint8_t, arr, comm, 4)
		ctf_sequence(int, seq, seq, unsigned int, n)
		/* Never empty: babeltrace2 2.0.4 shows an empty string or text
		   field of a recycled event with an older event's value. */
		ctf_sequence_text(char, stxt, s, unsigned int, n + 1)
		ctf_float(double, d, d)
		ctf_float(float, f, (float)d)
		ctf_enum(prov, colour, int, col, col)
	)
)

TRACEPOINT_EVENT(prov, empty,
	TP_ARGS(),
	TP_FIELDS()
)
#endif
#include <lttng/tracepoint-event.h>
`

const wlProviderC = `#define _GNU_SOURCE
#define TRACEPOINT_CREATE_PROBES
#define TRACEPOINT_DEFINE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "tp.h"

int main(int argc, char **argv) {
	int n = atoi(argv[1]);
	int seq[8] = {1, -2, 3, -4, 5, -6, 7, -8};
	char comm[16] = "myprog";
	char s[64];
	cpu_set_t all;
	sched_getaffinity(0, sizeof all, &all);
	int cpus[CPU_SETSIZE], ncpu = 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all))
			cpus[ncpu++] = c;
	for (int i = 0; i < n; i++) {
		/* Move between CPUs so that events interleave across streams. */
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpus[(i / 3) % ncpu], &one);
		sched_setaffinity(0, sizeof one, &one);
		snprintf(s, sizeof s, "hello \"w\"\\%d\n\xc3\xa9", i);
		comm[6] = 'a' + i % 26;
		tracepoint(prov, ev, i - 3, s, comm, (unsigned)(i % 7), seq, i * 1.25, i % 22);
		if (i % 10 == 0)
			tracepoint(prov, empty);
		if (i == n / 2)
			usleep(200000); /* a time gap that needs the extended header */
	}
	return 0;
}
`

// wlLTTng runs an lttng command with env.
func wlLTTng(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("lttng", args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lttng %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// wlStartSessiond starts a session daemon and arranges for it to be
// killed at the end of the test. As root, lttng-sessiond keeps its
// sockets and pid file in /var/run/lttng whatever LTTNG_HOME says, so only
// one root session daemon can run on the machine: runs of this test (from
// several checkouts or go test processes) are serialized with a lock file,
// and when a daemon that is not ours is already running the test uses it
// and leaves it running.
func wlStartSessiond(t *testing.T, env []string, home string) {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "bpftrail-ctf-lttng-test.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() }) // runs last: unlocks
	cmd := exec.Command("lttng-sessiond", "--daemonize", "--no-kernel")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	ours := wlOurProcesses(home)
	t.Cleanup(func() { wlKillOurs(t, home) })
	if err != nil {
		if len(ours) == 0 && exec.Command("lttng", "list").Run() == nil {
			t.Logf("lttng-sessiond did not start (%v: %s); using the one already running", err, bytes.TrimSpace(out))
			return
		}
		t.Fatalf("lttng-sessiond --daemonize: %v\n%s", err, out)
	}
	if len(ours) == 0 {
		t.Fatalf("lttng-sessiond --daemonize succeeded but no process has LTTNG_HOME=%s", home)
	}
	t.Logf("lttng-sessiond pids %v", ours)
}

// wlOurProcesses returns the live processes (lttng-sessiond and its
// consumer daemons) whose environment holds LTTNG_HOME=home: the ones this
// test started, as home is its own temporary directory.
func wlOurProcesses(home string) []int {
	ents, _ := os.ReadDir("/proc")
	want := []byte("LTTNG_HOME=" + home + "\x00")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if !strings.HasPrefix(string(comm), "lttng-") {
			continue
		}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && bytes.HasPrefix(st[i+1:], []byte(" Z")) {
				continue // a zombie
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// wlKillOurs stops the daemons this test started: SIGTERM, then SIGKILL
// after 5 s.
func wlKillOurs(t *testing.T, home string) {
	pids := wlOurProcesses(home)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	for i := 0; i < 100 && len(pids) > 0; i++ {
		time.Sleep(50 * time.Millisecond)
		pids = wlOurProcesses(home)
	}
	for _, pid := range pids {
		t.Logf("lttng process %d did not exit on SIGTERM; killing it", pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func TestLTTngUST(t *testing.T) {
	wtNeed(t, "lttng", "lttng-sessiond", "gcc")
	wtNeedBT2(t)
	tmp := t.TempDir()
	for name, text := range map[string]string{"tp.h": wlProviderH, "tp.c": wlProviderC} {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	app := filepath.Join(tmp, "app")
	gcc := exec.Command("gcc", "-O1", "-I.", "-o", app, "tp.c", "-llttng-ust", "-ldl")
	gcc.Dir = tmp
	if out, err := gcc.CombinedOutput(); err != nil {
		if os.Getenv("CI") != "true" && strings.Contains(string(out), "lttng/tracepoint.h") {
			t.Skipf("liblttng-ust-dev not installed:\n%s", out)
		}
		t.Fatalf("gcc: %v\n%s", err, out)
	}

	home := filepath.Join(tmp, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "LTTNG_HOME="+home)
	wlStartSessiond(t, env, home)
	session := fmt.Sprintf("ctftest-%d", os.Getpid())
	out := filepath.Join(tmp, "trace")
	wlLTTng(t, env, "create", session, "--output="+out)
	destroyed := false
	defer func() {
		if !destroyed {
			exec.Command("lttng", "destroy", session).Run()
		}
	}()
	wlLTTng(t, env, "enable-event", "-u", "prov:*", "-s", session)
	wlLTTng(t, env, "start", session)
	const n = 200
	run := exec.Command(app, strconv.Itoa(n))
	run.Env = append(env, "LTTNG_UST_REGISTER_TIMEOUT=10000")
	if o, err := run.CombinedOutput(); err != nil {
		t.Fatalf("app: %v\n%s", err, o)
	}
	wlLTTng(t, env, "stop", session)
	wlLTTng(t, env, "destroy", session)
	destroyed = true

	var dir string
	filepath.WalkDir(filepath.Join(out, "ust"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "metadata" && !d.IsDir() {
			dir = filepath.Dir(p)
			return filepath.SkipAll
		}
		return nil
	})
	if dir == "" {
		t.Fatalf("no metadata under %s/ust", out)
	}

	// Our reader against bt2, event by event.
	events := n + (n+9)/10
	if got := wtCompareBT2(t, dir); got != events {
		t.Fatalf("%d events, the program emitted %d", got, events)
	}

	// And against what the program traced.
	got, tr := wtReadAll(t, dir)
	if err := tr.Check(); err != nil {
		t.Fatal(err)
	}
	cpus := map[int]bool{}
	i := 0
	for _, g := range got {
		cpus[g.CPU] = true
		if g.Name == "prov:empty" {
			if g.Payload != nil && !reflect.DeepEqual(g.Payload, Fields{}) {
				t.Errorf("prov:empty payload %#v", g.Payload)
			}
			continue
		}
		p := g.Payload.(Fields)
		m := map[string]any{}
		for _, kv := range p {
			m[kv.Key] = kv.Value
		}
		k := i
		i++
		seq := []any{}
		for j := 0; j < k%7; j++ {
			seq = append(seq, int64([]int{1, -2, 3, -4, 5, -6, 7, -8}[j]))
		}
		s := fmt.Sprintf("hello \"w\"\\%d\né", k)
		colour := any(int64(k % 22))
		switch {
		case k%22 == 0:
			colour = "RED"
		case k%22 == 1:
			colour = "BLUE"
		case k%22 >= 10 && k%22 <= 20:
			colour = "GREENISH"
		}
		want := map[string]any{
			"i": int64(k - 3), "i8": int64(int8(int32(k-3) * 37)), "u16": uint64(uint16((k - 3) * 4099)),
			"i64": int64(k-3) * -1000000007, "hx": uint64(int64(k-3) * 0x1000),
			// ctf_integer_network takes a value already in network
			// order: a host-order value reads back byte-swapped.
			"net": uint64(bits.ReverseBytes32(uint32(int32(k-3)) * 0x01020304)), "s": s, "comm": "myprog" + string(rune('a'+k%26)),
			"arr":         []any{uint64('m'), uint64('y'), uint64('p'), uint64('r')},
			"_seq_length": uint64(k % 7), "seq": seq, "_stxt_length": uint64(k%7 + 1), "stxt": s[:k%7+1],
			"d": float64(k) * 1.25, "f": float64(float32(float64(k) * 1.25)), "col": colour,
		}
		if !reflect.DeepEqual(m, want) {
			for key := range want {
				if !reflect.DeepEqual(m[key], want[key]) {
					t.Errorf("event %d field %s: %#v, want %#v", k, key, m[key], want[key])
				}
			}
			if len(m) != len(want) {
				t.Errorf("event %d fields %v", k, p)
			}
		}
	}
	if i != n {
		t.Fatalf("%d prov:ev events", i)
	}
	t.Logf("%d events on CPUs %v", len(got), cpus)

	// bpftrail print --json against bt2.
	bin := wtBuildCLI(t)
	cmd := exec.Command(bin, "print", "--json", dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	jout, err := cmd.Output()
	if err != nil {
		t.Fatalf("bpftrail print --json: %v\n%s", err, stderr.String())
	}
	bt := wtBT2Dump(t, dir)
	var theirs []wtBT2Line
	for _, l := range bt {
		if l.Name != "" {
			theirs = append(theirs, l)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(jout))
	sc.Buffer(nil, 1<<20)
	k := 0
	for sc.Scan() {
		var je struct {
			TimestampNs int64  `json:"timestamp_ns"`
			Name        string `json:"name"`
			CPU         *int   `json:"cpu"`
			Fields      any    `json:"fields"`
			Context     any    `json:"context"`
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&je); err != nil {
			t.Fatalf("line %d: %v: %s", k, err, sc.Bytes())
		}
		if k >= len(theirs) {
			t.Fatalf("bpftrail print printed more than bt2's %d events", len(theirs))
		}
		b := theirs[k]
		k++
		cpu := -1
		if je.CPU != nil {
			cpu = *je.CPU
		}
		fields := wtNorm(je.Fields)
		if b.Payload == nil {
			b.Payload = map[string]any{}
		}
		if je.Name != b.Name || je.TimestampNs != b.Ns || cpu != b.CPU || !reflect.DeepEqual(fields, b.Payload) || je.Context != nil {
			t.Errorf("event %d:\nbpftrail %s %d cpu %d %v %v\n     bt2 %s %d cpu %d %v", k-1,
				je.Name, je.TimestampNs, cpu, fields, je.Context, b.Name, b.Ns, b.CPU, b.Payload)
		}
	}
	if k != len(theirs) {
		t.Fatalf("bpftrail print printed %d events, bt2 %d", k, len(theirs))
	}
	if stderr.Len() != 0 {
		t.Errorf("bpftrail print stderr: %s", stderr.String())
	}
}
