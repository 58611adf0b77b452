package bpftrail_test

// The import rules of the pipeline, checked from "go list": data flows one
// way (probe specs → resolve → program generation → attach → collect →
// sinks; traces → ctf reader → analyze → views), so a package imports only
// packages of an earlier stage. A new package must be given its stage here.

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/bpftrail/bpftrail/"

// stage gives each package of the module its place in the pipeline: a
// package may import only packages of a lower stage.
var stage = map[string]int{
	// Models and leaves: they import no package of the project but these.
	"ctf":               0,
	"ctf/internal/tsdl": 0, // ctf's TSDL lexer, metadata framing, name rules
	"internal/suggest":  0,
	"internal/golden":   0,
	"internal/event":    1,
	"recorder":          1, // public: a user's BPF records into ctf
	"internal/probe":    1,
	"internal/hist":     1,
	"internal/lttng":    1,
	"internal/syscalls": 1,
	"internal/tracedir": 1,
	"internal/ptregs":   1,
	"internal/relayd":   1, // streams a trace (ctf packets) to lttng-relayd
	// Reading the host: tracefs, ELF, USDT notes, symbols; filters.
	"internal/tracefs":   2,
	"internal/usdt":      2,
	"internal/symbolize": 2,
	"internal/filter":    2,
	"internal/preset":    2,
	"internal/lang":      2,
	"internal/scriptout": 2,
	"internal/bpftest":   3,
	// Write side.
	"internal/resolve":           3,
	"internal/record":            3,
	"internal/record/recordtest": 4,
	"internal/bpfgen":            4,
	"internal/attach":            5,
	"internal/collect":           5,
	"internal/ctftrace":          5,
	"internal/traceout":          6,
	"internal/command":           5,
	"internal/aggregate":         4,
	"internal/plan":              6,
	"internal/sink/table":        6,
	"internal/engine":            7,
	"internal/tools":             8,
	"internal/scriptrun":         8,
	"internal/metrics":           8,
	"internal/analyze":           6,
	"internal/analyze/tracetest": 7,
	"internal/sink/chrome":       7,
	"internal/sink/stacks":       7,
	"internal/sink/text":         7,
	"internal/sink/jsonl":        7,
	"internal/web":               8,
	"cmd/bpftrail-bench":         10,
	"cmd/bpftrail":               10,
	"examples/opensnoop":         10,
}

// readSide and writeSide may not import each other, except through the
// shared models (stage ≤ 2) and the trace writer's context type
// (ctftrace, for test traces).
var (
	writeSide = []string{"internal/resolve", "internal/record", "internal/bpfgen", "internal/plan", "internal/attach", "internal/collect",
		"internal/command", "internal/aggregate", "internal/traceout", "internal/relayd", "internal/engine", "internal/tools", "internal/metrics", "internal/sink/table"}
	readSide = []string{"internal/analyze", "internal/sink/chrome", "internal/sink/stacks", "internal/sink/text",
		"internal/sink/jsonl", "internal/web"}
	// cmdForbidden are the pipeline's internals: the command layer wires
	// flags to the engine, the sinks and the read side, and reaches no
	// further.
	cmdForbidden = []string{"internal/bpfgen", "internal/collect", "internal/ctftrace", "internal/event", "internal/plan",
		"internal/record", "internal/resolve", "internal/attach", "internal/traceout"}
)

type pkg struct {
	ImportPath  string
	Imports     []string
	TestImports []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go list needs the go tool: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	return pkgs
}

func inModule(path string) (string, bool) {
	return strings.CutPrefix(path, module)
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		name, ok := inModule(p.ImportPath)
		if !ok {
			continue // the module root (this test)
		}
		rank, known := stage[name]
		if !known {
			t.Errorf("%s has no stage in imports_test.go: give it its place in the pipeline", name)
			continue
		}
		for _, imp := range p.Imports {
			dep, ours := inModule(imp)
			if !ours {
				if (name == "ctf" || strings.HasPrefix(name, "ctf/")) && strings.Contains(imp, ".") {
					t.Errorf("%s imports %s: the public CTF library imports only the standard library", name, imp)
				}
				continue
			}
			if msg := importError(name, rank, dep); msg != "" {
				t.Error(msg)
			}
		}
	}
}

// importError says what is wrong with package name (of stage rank)
// importing dep, or "".
func importError(name string, rank int, dep string) string {
	if strings.HasPrefix(dep, name+"/internal/") {
		return "" // a package's own internals
	}
	drank, known := stage[dep]
	switch {
	case !known:
		return fmt.Sprintf("%s imports %s, which has no stage", name, dep)
	case drank >= rank:
		return fmt.Sprintf("%s (stage %d) imports %s (stage %d): against the pipeline's direction", name, rank, dep, drank)
	case slices.Contains(readSide, name) && slices.Contains(writeSide, dep),
		slices.Contains(writeSide, name) && slices.Contains(readSide, dep):
		return fmt.Sprintf("%s imports %s: the read and write sides share only the models", name, dep)
	case name == "cmd/bpftrail" && slices.Contains(cmdForbidden, dep):
		return fmt.Sprintf("cmd/bpftrail imports %s: the command layer only wires (go through internal/engine)", dep)
	}
	return ""
}

// TestImportRulesCatch checks that the rules reject what they must.
func TestImportRulesCatch(t *testing.T) {
	for _, c := range []struct{ name, dep string }{
		{"internal/engine", "internal/metrics"},
		{"internal/ctftrace", "internal/engine"},
		{"cmd/bpftrail", "internal/bpfgen"},
		{"internal/web", "internal/engine"},
		{"internal/event", "internal/record"},
	} {
		if importError(c.name, stage[c.name], c.dep) == "" {
			t.Errorf("%s importing %s was not refused", c.name, c.dep)
		}
	}
}
