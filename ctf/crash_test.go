package ctf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Crash safety: a writer killed at any moment, a full disk, and a trace
// torn by hand.

const wtHelperEnv = "CTF_TEST_WRITER_DIR"

// TestHelperWriter is not a test: run by TestCrashSIGKILL as a child
// process (the test binary re-executed with wtHelperEnv set), it writes
// events into a trace until it is killed.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv(wtHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashSIGKILL")
	}
	seed, _ := strconv.ParseUint(os.Getenv(wtHelperEnv+"_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 1))
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	w, err := Create(dir, Options{Hostname: "crash", EventContext: Struct(F("tid", Uint(32)))})
	if err != nil {
		fail(err)
	}
	ev, err := w.AddEventClass("ev", Struct(F("i", Uint(64)), F("s", String()), F("n", Uint(16)), F("seq", Sequence(Uint(8), "n"))))
	if err != nil {
		fail(err)
	}
	al, err := w.AddEventClass("al", Struct(F("o", Uint(8)), F("b", wtAlign64(false))))
	if err != nil {
		fail(err)
	}
	classes := []*EventClass{ev}
	var streams []*StreamWriter
	for cpu := 0; cpu < 4; cpu++ {
		s, err := w.Stream(cpu)
		if err != nil {
			fail(err)
		}
		streams = append(streams, s)
	}
	fmt.Println("ready")
	os.Stdout.Sync()
	text := strings.Repeat("abcdefghijklmnopqrstuvwxyz", 400)
	seq := make([]byte, 9000)
	deadline := time.Now().Add(30 * time.Second) // never outlive the test
	for i := uint64(0); time.Now().Before(deadline); i++ {
		s := streams[rng.IntN(len(streams))]
		ts := MonotonicNow()
		switch r := rng.IntN(1000); {
		case r == 0:
			// An event larger than a packet (a multi-page packet).
			n := 4000 + rng.IntN(5000)
			e := s.Begin(ev, ts).U32(uint32(i)).U64(i).String(text[:rng.IntN(len(text))]).U16(uint16(n))
			e.Raw(seq[:n])
			if err := e.Commit(); err != nil {
				fail(err)
			}
		case r < 50:
			if err := s.Write(al, ts, uint32(i), uint8(i), i); err != nil {
				fail(err)
			}
		case r < 60:
			if err := s.Flush(); err != nil {
				fail(err)
			}
		case r < 62:
			s.AddDiscarded(uint64(rng.IntN(5)), ts)
		case r == 62 && len(classes) < 40:
			// A new class while streams are being written: the
			// metadata is replaced by a rename.
			ec, err := w.AddEventClass(fmt.Sprintf("late%d", len(classes)), Struct(F("v", Uint(32))))
			if err != nil {
				fail(err)
			}
			classes = append(classes, ec)
		case r < 70 && len(classes) > 1:
			s.Begin(classes[1+rng.IntN(len(classes)-1)], ts).U32(uint32(i)).U32(uint32(r)).Commit()
		default:
			n := rng.IntN(64)
			e := s.Begin(ev, ts).U32(uint32(i)).U64(i).String(text[:rng.IntN(200)]).U16(uint16(n))
			e.Raw(seq[:n])
			if err := e.Commit(); err != nil {
				fail(err)
			}
		}
		if i%200 == 0 {
			// Bursts and pauses, so that kills land in both.
			time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
		}
	}
	os.Exit(3)
}

// wtCheckReadable checks that babeltrace2 and our reader both read the
// whole trace in dir and agree on the number of events, which it returns.
func wtCheckReadable(t *testing.T, dir string) int {
	t.Helper()
	cmd := exec.Command("babeltrace2", dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := 0
	br := bufio.NewReaderSize(out, 1<<20)
	for {
		_, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			break
		}
		lines++
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("babeltrace2 %s: %v\n%s", dir, err, stderr.String())
	}
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Check(); err != nil {
		t.Fatal(err)
	}
	n := 0
	it := tr.Events()
	for it.Next() {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if n != lines {
		t.Fatalf("our reader read %d events, babeltrace2 printed %d lines", n, lines)
	}
	return n
}

// TestCrashSIGKILL kills a writing process at random moments; every time
// the trace it leaves is readable by babeltrace2 and by our reader.
func TestCrashSIGKILL(t *testing.T) {
	wtNeed(t, "babeltrace2")
	if testing.Short() {
		t.Skip("short")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	const iterations = 24
	total := 0
	for it := 0; it < iterations; it++ {
		dir := filepath.Join(t.TempDir(), "crash")
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), wtHelperEnv+"="+dir, fmt.Sprintf("%s_SEED=%d", wtHelperEnv, seed+uint64(it)))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan error, 1)
		go func() {
			line, err := bufio.NewReader(out).ReadString('\n')
			if err == nil && line != "ready\n" {
				err = fmt.Errorf("helper said %q", line)
			}
			ready <- err
			io.Copy(io.Discard, out)
		}()
		select {
		case err := <-ready:
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("helper: %v\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper not ready\n%s", stderr.String())
		}
		delay := time.Duration(rng.IntN(201)) * time.Millisecond
		time.Sleep(delay)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("helper did not die of SIGKILL: %v\n%s", err, stderr.String())
		}
		var size int64
		files, _ := filepath.Glob(filepath.Join(dir, "stream_*"))
		for _, f := range files {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			size += fi.Size()
		}
		n := wtCheckReadable(t, dir)
		t.Logf("kill %2d after %3v: %7d events, %6d KiB", it, delay, n, size>>10)
		total += n
		os.RemoveAll(dir)
	}
	if total == 0 {
		t.Fatal("no events survived any kill")
	}
}

// wtMountTmpfs mounts a tmpfs of the given size on a new directory.
func wtMountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// TestCrashDiskFull writes into a 256 KiB tmpfs until the disk is full: the
// write error comes back from Commit/Flush/Close, stream files end on a
// packet boundary and the trace stays readable.
func TestCrashDiskFull(t *testing.T) {
	wtNeed(t, "babeltrace2")
	// flush: Flush every 500 events into 256 KiB. batch: whole 256 KiB
	// batches into 1 MiB (a failed batch is cut off entirely, so a smaller
	// disk would keep no event at all).
	for _, mode := range []string{"flush", "batch"} {
		t.Run(mode, func(t *testing.T) {
			size := map[string]string{"flush": "256k", "batch": "1m"}[mode]
			dir := filepath.Join(wtMountTmpfs(t, size), "trace")
			w, err := Create(dir, Options{Hostname: "full", Clock: func() uint64 { return 1 }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.Close() }) // before the umount
			ec, err := w.AddEventClass("ev", Struct(F("i", Uint(64)), F("s", String())))
			if err != nil {
				t.Fatal(err)
			}
			var streams []*StreamWriter
			for cpu := 0; cpu < 2; cpu++ {
				s, err := w.Stream(cpu)
				if err != nil {
					t.Fatal(err)
				}
				streams = append(streams, s)
			}
			var failed error
			committed := 0
			for i := 0; i < 1_000_000 && failed == nil; i++ {
				s := streams[i%2]
				err := s.Begin(ec, uint64(10+i)).U64(uint64(i)).String("some text to fill the disk").Commit()
				if err == nil && mode == "flush" && i%500 == 0 {
					err = s.Flush()
				}
				if err != nil {
					failed = err
					break
				}
				committed++
			}
			if failed == nil {
				t.Fatal("the disk never filled")
			}
			if !errors.Is(failed, syscall.ENOSPC) {
				t.Errorf("error %v does not wrap ENOSPC", failed)
			}
			t.Logf("after %d events: %v", committed, failed)
			// Writing on must not grow memory without bound, and keeps
			// failing.
			s := streams[committed%2]
			for i := 0; i < 200_000; i++ {
				if err := s.Begin(ec, uint64(2_000_000+i)).U64(0).String("more").Commit(); err == nil && len(s.buf) > batchSize+2*s.pkt {
					t.Fatalf("event %d after the failure: Commit returned nil with %d bytes buffered", i, len(s.buf))
				}
			}
			if len(s.buf) > batchSize+2*s.pkt {
				t.Errorf("%d bytes buffered after the failure", len(s.buf))
			}
			if err := w.Close(); err == nil {
				t.Error("Close after ENOSPC returned nil")
			}
			for cpu := 0; cpu < 2; cpu++ {
				fi, err := os.Stat(filepath.Join(dir, fmt.Sprintf("stream_%d", cpu)))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size()%PageSize != 0 {
					t.Errorf("stream_%d: %d bytes, not a multiple of the packet size", cpu, fi.Size())
				}
			}
			n := wtCheckReadable(t, dir)
			if n == 0 || n > committed {
				t.Errorf("read %d events of %d committed", n, committed)
			}
			t.Logf("%d of %d committed events readable", n, committed)
		})
	}
}

// TestCrashTornByHand truncates stream files inside a packet: babeltrace2
// refuses the trace, our reader reads the complete packets and reports
// ErrTruncated, Recover (and bpftrail recover) repairs it.
func TestCrashTornByHand(t *testing.T) {
	wtNeed(t, "babeltrace2")
	const groups, per = 5, 10
	write := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "torn")
		w, err := Create(dir, Options{Hostname: "torn", Clock: func() uint64 { return 1 }})
		if err != nil {
			t.Fatal(err)
		}
		ec, _ := w.AddEventClass("ev", Struct(F("g", Uint(32)), F("i", Uint(32))))
		s, _ := w.Stream(0)
		s1, _ := w.Stream(1)
		ts := uint64(10)
		for g := 0; g < groups; g++ {
			for i := 0; i < per; i++ {
				ts++
				s.Begin(ec, ts).U32(uint32(g)).U32(uint32(i)).Commit()
				s1.Begin(ec, ts).U32(uint32(g)).U32(uint32(i)).Commit()
			}
			// One packet per group.
			s.Flush()
			s1.Flush()
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	cases := []struct {
		name string
		cut  int64 // bytes cut off stream_0
		want int   // events of stream_0 left
	}{
		// The final empty packet torn: every event is still there.
		{"100 bytes", 100, groups * per},
		// The last data packet torn.
		{"mid-data", PageSize + 100, (groups - 1) * per},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := write(t)
			p := filepath.Join(dir, "stream_0")
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != (groups+2)*PageSize {
				t.Fatalf("stream_0 is %d bytes", fi.Size())
			}
			if err := os.Truncate(p, fi.Size()-c.cut); err != nil {
				t.Fatal(err)
			}
			if _, stderr, code := wtBabeltrace(t, dir); code == 0 {
				t.Errorf("babeltrace2 accepted a torn trace")
			} else if !strings.Contains(stderr, "packet") {
				t.Logf("babeltrace2 error: %s", stderr)
			}
			tr, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Check(); !errors.Is(err, ErrTruncated) {
				t.Fatalf("Check() = %v, want ErrTruncated", err)
			}
			var torn int64
			for _, s := range tr.Streams {
				torn += s.TornBytes
			}
			if torn != PageSize-c.cut%PageSize {
				t.Errorf("torn bytes %d", torn)
			}
			per0 := 0
			it := tr.Events()
			n := 0
			for it.Next() {
				n++
				if it.Event().CPU == 0 {
					per0++
				}
			}
			if err := it.Err(); err != nil {
				t.Fatal(err)
			}
			if per0 != c.want || n != c.want+groups*per {
				t.Fatalf("read %d events of stream_0 (want %d), %d in all", per0, c.want, n)
			}

			if os.Getenv("CTF_TEST_NO_CLI") == "" && c.name == "mid-data" {
				// The CLI (optional: skipped when cmd/bpftrail does
				// not build right now).
				if bin := wtTryCLI(t); bin != "" {
					out, err := exec.Command(bin, "recover", dir).CombinedOutput()
					if err != nil {
						t.Fatalf("bpftrail recover: %v\n%s", err, out)
					}
					if !strings.Contains(string(out), fmt.Sprintf("removed %d bytes", PageSize-100)) {
						t.Errorf("bpftrail recover said %q", out)
					}
					out, err = exec.Command(bin, "recover", dir).CombinedOutput()
					if err != nil || !strings.Contains(string(out), "nothing to repair") {
						t.Errorf("second bpftrail recover: %v %q", err, out)
					}
				}
			}
			cut, err := Recover(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(cut) > 1 {
				t.Errorf("Recover cut %v", cut)
			}
			fi, _ = os.Stat(p)
			if fi.Size()%PageSize != 0 {
				t.Fatalf("after Recover stream_0 is %d bytes", fi.Size())
			}
			if got := wtCheckReadable(t, dir); got != n {
				t.Fatalf("after Recover %d events, before %d", got, n)
			}
			if cut, err := Recover(dir); err != nil || len(cut) != 0 {
				t.Fatalf("second Recover: %v %v", cut, err)
			}
		})
	}
}

// wtTryCLI builds the CLI, or returns "" (logging why) when it does not
// build; it never fails the caller.
func wtTryCLI(t *testing.T) string {
	var path string
	ok := t.Run("cli", func(t *testing.T) { path = wtBuildCLI(t) })
	if !ok {
		return ""
	}
	return path
}
