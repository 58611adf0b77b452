package scriptrun_test

// TestBPFRuntimeCases runs bpftrail's own language cases, in
// testdata/runtime/*.txt, written in the format of bpftrace's runtime
// tests (tests/runtime/engine/parser.py): cases of NAME, PROG or RUN,
// EXPECT..., TIMEOUT... lines, separated by blank lines. The same files
// can be run by bpftrace's Python engine. A PROG case runs as
// `bpftrail run --verify-llvm-ir -e PROG`; in a RUN case, {{BPFTRACE}} is
// the binary started under the name bpftrace (a symbolic link). The
// expectations are checked as bpftrace's engine checks them, on stdout and
// stderr together.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bpftrail/bpftrail/internal/bpftest"
)

// runtimeCase is one case of a suite.
type runtimeCase struct {
	suite, name string
	line        int // where it starts in its file
	run, prog   string
	expects     []runtimeExpect
	timeout     time.Duration
	willFail    bool
	returnCode  int
	after       string
	requires    []string
	env         []string
}

type runtimeExpect struct {
	mode string // text, text_none, regex, regex_none
	text string
}

// parseRuntimeSuite reads a file of cases as bpftrace's parser.py does.
func parseRuntimeSuite(path string) ([]runtimeCase, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	suite := filepath.Base(path)
	var cases []runtimeCase
	var block []string
	start := 0
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if l != "\n" {
			if len(block) == 0 {
				start = i + 1
			}
			block = append(block, l)
		}
		if (l == "\n" || i == len(lines)-1) && len(block) > 0 {
			c, err := parseRuntimeCase(block)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, start, err)
			}
			c.suite, c.line = suite, start
			cases = append(cases, c)
			block = nil
		}
	}
	return cases, nil
}

func parseRuntimeCase(block []string) (runtimeCase, error) {
	c := runtimeCase{timeout: 5 * time.Second}
	prev := ""
	timeoutSet := false
	for _, item := range block {
		item = strings.TrimSuffix(item, "\n")
		// A line starting with as many blanks as the previous directive
		// and its space continues it.
		if n := len(prev) + 1; prev != "" && len(item) >= n && strings.TrimSpace(item[:n]) == "" {
			rest := item[n:]
			switch prev {
			case "PROG":
				c.prog += "\n" + rest
				continue
			case "EXPECT", "EXPECT_REGEX":
				c.expects[len(c.expects)-1].text += "\n" + rest
				continue
			}
		}
		fields := strings.SplitN(strings.TrimSpace(item), " ", 2)
		name, arg := fields[0], ""
		if len(fields) > 1 {
			arg = strings.TrimLeft(fields[1], " \t")
		}
		prev = name
		switch name {
		case "NAME":
			c.name = arg
		case "RUN":
			c.run = arg
		case "PROG":
			c.prog = arg
		case "EXPECT":
			c.expects = append(c.expects, runtimeExpect{"text", arg})
		case "EXPECT_NONE":
			c.expects = append(c.expects, runtimeExpect{"text_none", arg})
		case "EXPECT_REGEX":
			c.expects = append(c.expects, runtimeExpect{"regex", arg})
		case "EXPECT_REGEX_NONE":
			c.expects = append(c.expects, runtimeExpect{"regex_none", arg})
		case "TIMEOUT":
			n, err := strconv.Atoi(strings.TrimSpace(arg))
			if err != nil {
				return c, fmt.Errorf("TIMEOUT %q: %v", arg, err)
			}
			c.timeout, timeoutSet = time.Duration(n)*time.Second, true
		case "WILL_FAIL":
			c.willFail = true
		case "RETURN_CODE":
			n, err := strconv.Atoi(strings.TrimSpace(arg))
			if err != nil {
				return c, fmt.Errorf("RETURN_CODE %q: %v", arg, err)
			}
			c.returnCode = n
		case "AFTER":
			c.after = arg
		case "REQUIRES":
			c.requires = append(c.requires, arg)
		case "ENV":
			c.env = append(c.env, strings.Fields(arg)...)
		default:
			// bpftrace's engine knows more directives; these files use
			// only the ones above.
			return c, fmt.Errorf("directive %s is not supported by this runner", name)
		}
	}
	switch {
	case c.name == "":
		return c, fmt.Errorf("NAME is required")
	case c.run == "" && c.prog == "":
		return c, fmt.Errorf("%s: RUN or PROG is required", c.name)
	case c.run != "" && c.prog != "":
		return c, fmt.Errorf("%s: RUN and PROG both given", c.name)
	case len(c.expects) == 0 && c.returnCode == 0:
		return c, fmt.Errorf("%s: at least one EXPECT is required", c.name)
	case !timeoutSet:
		return c, fmt.Errorf("%s: TIMEOUT is missing", c.name)
	case c.willFail && c.returnCode != 0:
		return c, fmt.Errorf("%s: WILL_FAIL and RETURN_CODE together", c.name)
	}
	return c, nil
}

// check reports whether output meets e, as bpftrace's runner.py does.
func (e runtimeExpect) check(output string) (bool, error) {
	switch e.mode {
	case "text", "text_none":
		re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(e.text) + `\s*$`)
		return re.MatchString(output) == (e.mode == "text"), nil
	}
	re, err := regexp.Compile("(?m)" + e.text)
	if err != nil {
		return false, err
	}
	return re.MatchString(output) == (e.mode == "regex"), nil
}

const notifyLine = "__BPFTRACE_NOTIFY_PROBES_ATTACHED"

func TestBPFRuntimeCases(t *testing.T) {
	bpftest.Require(t)
	files, err := filepath.Glob("testdata/runtime/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases in testdata/runtime: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bpftrail")
	if err := bpftest.Build("github.com/bpftrail/bpftrail/cmd/bpftrail", bin, true); err != nil {
		t.Fatal(err)
	}
	asBpftrace := filepath.Join(dir, "bpftrace")
	if err := os.Symlink(bin, asBpftrace); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		cases, err := parseRuntimeSuite(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(strings.TrimSuffix(c.suite, ".txt")+"/"+c.name, func(t *testing.T) {
				runRuntimeCase(t, c, bin, asBpftrace)
			})
		}
	}
}

func runRuntimeCase(t *testing.T, c runtimeCase, bin, asBpftrace string) {
	for _, r := range c.requires {
		if exec.Command("/bin/sh", "-c", r).Run() != nil {
			t.Skipf("requirement not met: %s", r)
		}
	}
	cmdline := strings.ReplaceAll(c.run, "{{BPFTRACE}}", asBpftrace+" --verify-llvm-ir")
	if c.prog != "" {
		cmdline = fmt.Sprintf("%s run --verify-llvm-ir -e '%s'", bin, strings.ReplaceAll(c.prog, "'", `'\''`))
	}
	cmd := exec.Command("/bin/sh", "-c", cmdline)
	cmd.Env = append([]string{notifyLine + "=1", "PATH=" + os.Getenv("PATH")}, c.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var (
		mu       sync.Mutex
		out      bytes.Buffer
		attached = make(chan struct{})
		eof      = make(chan struct{})
	)
	go func() {
		defer close(eof)
		r := bufio.NewReader(pr)
		seen := false
		for {
			line, err := r.ReadString('\n')
			mu.Lock()
			out.WriteString(line)
			mu.Unlock()
			if !seen && line == notifyLine+"\n" {
				seen = true
				close(attached)
			}
			if err != nil {
				return
			}
		}
	}()
	waited := make(chan error, 1)
	go func() { <-eof; waited <- cmd.Wait() }()
	// As runner.py: up to 30s to attach, then the case's timeout.
	timedOut := false
	var werr error
	select {
	case <-attached:
		if c.after != "" {
			after := exec.Command("/bin/sh", "-c", c.after)
			after.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := after.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				syscall.Kill(-after.Process.Pid, syscall.SIGKILL)
				after.Wait()
			}()
		}
		select {
		case werr = <-waited:
		case <-time.After(c.timeout):
			timedOut = true
		}
	case werr = <-waited:
	case <-time.After(30 * time.Second):
		timedOut = true
	}
	if timedOut {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-waited
		}
	}
	mu.Lock()
	output := out.String()
	mu.Unlock()
	describe := func() string {
		return fmt.Sprintf("%s:%d: %s\ncommand: %s\noutput:\n%s", c.suite, c.line, c.name, cmdline, output)
	}
	for _, e := range c.expects {
		ok, err := e.check(output)
		if err != nil {
			t.Fatalf("%s %q: %v\n%s", e.mode, e.text, err, describe())
		}
		if !ok {
			t.Errorf("expectation not met: %s %q\n%s", e.mode, e.text, describe())
		}
	}
	if timedOut {
		return // as runner.py: the exit status of a run that timed out is not checked
	}
	code := 0
	if ee, ok := werr.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if werr != nil {
		t.Fatalf("%v\n%s", werr, describe())
	}
	switch {
	case c.willFail && code == 0:
		t.Errorf("exit status 0, want a failure (WILL_FAIL)\n%s", describe())
	case !c.willFail && code != c.returnCode:
		t.Errorf("exit status %d, want %d\n%s", code, c.returnCode, describe())
	}
}

// TestRuntimeExpect: the expectations are checked as runner.py does.
func TestRuntimeExpect(t *testing.T) {
	out := "Attached 1 probe\n  @a: 1  \n@b[x]: 22\n"
	for _, tt := range []struct {
		e    runtimeExpect
		want bool
	}{
		{runtimeExpect{"text", "@a: 1"}, true},
		{runtimeExpect{"text", "@b[x]: 2"}, false}, // a whole line
		{runtimeExpect{"text", "@b[x]: 22"}, true},
		{runtimeExpect{"text_none", "@a: 1"}, false},
		{runtimeExpect{"regex", `^@b\[x\]: \d+$`}, true},
		{runtimeExpect{"regex", `probe\n\s+@a`}, true},
		{runtimeExpect{"regex_none", "@c"}, true},
	} {
		if got, err := tt.e.check(out); err != nil || got != tt.want {
			t.Errorf("%s %q = %v, %v; want %v", tt.e.mode, tt.e.text, got, err, tt.want)
		}
	}
}
