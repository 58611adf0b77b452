package resolve

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"github.com/bpftrail/bpftrail/internal/suggest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/ptregs"
)

// FieldSpec is one value to record at a uprobe: argN or retval, as an
// integer or, with str(), as the user string it points to.
type FieldSpec struct {
	Name   string // "arg0".."arg5" or "retval"
	String bool
}

// ParseFields reads --fields: a comma-separated list of argN, retval,
// str(argN), str(retval).
func ParseFields(s string) ([]FieldSpec, error) {
	var out []FieldSpec
	for _, part := range strings.Split(s, ",") {
		p := strings.TrimSpace(part)
		if p == "" {
			continue
		}
		f := FieldSpec{}
		if inner, ok := strings.CutPrefix(p, "str("); ok {
			inner, ok = strings.CutSuffix(inner, ")")
			if !ok {
				return nil, fmt.Errorf("--fields: %q: missing )", p)
			}
			f.String, p = true, strings.TrimSpace(inner)
		}
		switch {
		case p == "retval":
		case len(p) == 4 && strings.HasPrefix(p, "arg") && p[3] >= '0' && p[3] <= '5':
		default:
			return nil, fmt.Errorf("--fields: %q: want arg0..arg5, retval, str(argN) or str(retval)", part)
		}
		f.Name = p
		out = append(out, f)
	}
	return out, nil
}

// Uprobe resolves a uprobe or uretprobe spec into a probe: the binary is
// found (a bare library name like "libc" as the dynamic linker would, or
// through the mappings of pid), the symbol checked, and the fields laid out
// from the argument registers.
func Uprobe(sp probe.Spec, fields []FieldSpec, pid int, o Options) (*Probe, error) {
	path, err := FindBinary(sp.Path, pid)
	if err != nil {
		return nil, err
	}
	regs, err := ptregs.ForFile(path)
	if err != nil {
		return nil, fmt.Errorf("uprobe binary %w", err)
	}
	if sp.Symbol != "" {
		if err := checkSymbol(path, sp.Symbol); err != nil {
			return nil, err
		}
	}
	ret := sp.Kind == probe.Uretprobe
	t := Target{Kind: TargetUprobe, Path: path, Symbol: sp.Symbol, Offset: sp.Offset}
	if ret {
		t.Kind = TargetUretprobe
	}
	where := sp.Symbol
	if where == "" {
		where = fmt.Sprintf("%#x", sp.Offset)
	} else if sp.Offset != 0 {
		where = fmt.Sprintf("%s+%#x", sp.Symbol, sp.Offset)
	}
	p := &Probe{Event: &event.Schema{Name: t.Kind.String() + ":" + path + ":" + where}, Target: t}
	regFields(p, regs, ret, fields, o.stringSize(), FromUserPtr)
	return p, nil
}

// Kprobe resolves a kprobe or kretprobe spec: the kernel function must be
// in /proc/kallsyms; fields come from the argument registers as for
// uprobes (str() reads kernel strings).
func Kprobe(sp probe.Spec, fields []FieldSpec, o Options) (*Probe, error) {
	regs, err := ptregs.Native()
	if err != nil {
		return nil, err
	}
	if err := checkKernelSymbol(sp.Symbol); err != nil {
		return nil, err
	}
	ret := sp.Kind == probe.Kretprobe
	t := Target{Kind: TargetKprobe, Symbol: sp.Symbol, Offset: sp.Offset}
	if ret {
		t.Kind = TargetKretprobe
	}
	p := &Probe{Event: &event.Schema{Name: t.Kind.String() + ":" + sp.Symbol}, Target: t}
	regFields(p, regs, ret, fields, o.stringSize(), FromKernelPtr)
	return p, nil
}

// checkKernelSymbol looks name up in /proc/kallsyms.
func checkKernelSymbol(name string) error {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return fmt.Errorf("kprobe %s: %w", name, err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || (fields[1] != "t" && fields[1] != "T") {
			continue
		}
		if fields[2] == name {
			return nil
		}
		names = append(names, fields[2])
	}
	return fmt.Errorf("kernel function %s not found in /proc/kallsyms%s", name, closeNames(name, names))
}

// regFields adds the argument and return-value fields of a probe whose
// programs get pt_regs (laid out as regs says); strings are read from
// memory with strSrc.
func regFields(p *Probe, regs *ptregs.Layout, ret bool, fields []FieldSpec, stringSize int, strSrc Source) {
	if len(fields) == 0 {
		if ret {
			fields = []FieldSpec{{Name: "retval"}}
		} else {
			for i := 0; i < 6; i++ {
				fields = append(fields, FieldSpec{Name: "arg" + strconv.Itoa(i)})
			}
		}
	}
	for _, f := range fields {
		var off int
		switch {
		case f.Name == "retval":
			if !ret {
				continue // a return value exists only at a uretprobe
			}
			off = regs.Ret.Offset
		default:
			if ret {
				continue // argument registers are clobbered at return
			}
			off = regs.Args[f.Name[3]-'0'].Offset
		}
		fld := event.Field{Name: f.Name, CType: "register"}
		rd := Read{Src: FromContext, Offset: off, Size: 8}
		if f.String {
			fld.Kind, fld.Size, rd.Src = event.String, stringSize, strSrc
		} else {
			fld.Kind, fld.Size, fld.Signed = event.Int, 8, true
		}
		p.Event.Fields = append(p.Event.Fields, fld)
		p.Reads = append(p.Reads, rd)
	}
}

// multiarch is Debian's library directory name of each architecture.
var multiarch = map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}

// FindBinary turns a uprobe path into a file: an existing path as is; a
// bare name ("bash", "libc") through pid's mappings when pid is set, then
// the library directories the dynamic linker searches, then $PATH.
func FindBinary(name string, pid int) (string, error) {
	if strings.Contains(name, "/") {
		_, err := os.Stat(name)
		if err != nil && pid > 0 {
			// The process may see another mount namespace: its root.
			abs, aerr := filepath.Abs(name)
			if aerr == nil {
				inNS := fmt.Sprintf("/proc/%d/root%s", pid, abs)
				if _, serr := os.Stat(inNS); serr == nil {
					return inNS, nil
				}
			}
		}
		if err != nil {
			return "", fmt.Errorf("uprobe binary %s: %w", name, err)
		}
		return name, nil
	}
	match := func(base string) bool {
		return base == name || strings.HasPrefix(base, name+".so") || strings.HasPrefix(base, "lib"+name+".so") ||
			strings.HasPrefix(base, name+"-") && strings.Contains(base, ".so")
	}
	if pid > 0 {
		f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
		if err != nil {
			return "", fmt.Errorf("-p %d: %w", pid, err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 6 && strings.HasPrefix(fields[5], "/") && match(filepath.Base(fields[5])) {
				return fmt.Sprintf("/proc/%d/root%s", pid, fields[5]), nil
			}
		}
	}
	dirs := []string{"/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"}
	if triplet, ok := multiarch[runtime.GOARCH]; ok {
		dirs = append([]string{"/lib/" + triplet, "/usr/lib/" + triplet}, dirs...)
	}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		var found []string
		for _, e := range ents {
			if match(e.Name()) && !e.IsDir() {
				found = append(found, e.Name())
			}
		}
		if len(found) > 0 {
			// Prefer the runtime name (libc.so.6) over a linker script (libc.so).
			sort.Slice(found, func(i, j int) bool { return len(found[i]) > len(found[j]) })
			for _, f := range found {
				p := filepath.Join(d, f)
				if isELF(p) {
					return p, nil
				}
			}
		}
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(d, name)
		if isELF(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("uprobe binary %q not found (give a path, or -p PID to search the process's mappings)", name)
}

func isELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// FunctionNames returns the names of the functions an ELF file defines,
// from its symbol tables, once each.
func FunctionNames(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable ELF file: %w", path, err)
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []string
	for _, get := range []func() ([]elf.Symbol, error){f.Symbols, f.DynamicSymbols} {
		syms, _ := get()
		for _, s := range syms {
			t := elf.ST_TYPE(s.Info)
			name, _, _ := strings.Cut(s.Name, "@")
			if (t == elf.STT_FUNC || t == elf.STT_GNU_IFUNC) && s.Value != 0 && name != "" && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// checkSymbol reports a symbol missing from path's symbol tables, with the
// closest names.
func checkSymbol(path, sym string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("uprobe binary %s: not a readable ELF file: %w", path, err)
	}
	defer f.Close()
	var names []string
	for _, get := range []func() ([]elf.Symbol, error){f.Symbols, f.DynamicSymbols} {
		syms, err := get()
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			continue
		}
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) != elf.STT_FUNC && elf.ST_TYPE(s.Info) != elf.STT_GNU_IFUNC {
				continue
			}
			name, _, _ := strings.Cut(s.Name, "@")
			if name == sym && s.Value != 0 {
				return nil
			}
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("uprobe binary %s has no symbols: give an address (uprobe:%s:0xADDR)", path, path)
	}
	return fmt.Errorf("symbol %s not found in %s%s", sym, path, closeNames(sym, names))
}

// closeNames suggests up to three names near want.
func closeNames(want string, names []string) string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		d := suggest.Distance(want, n)
		if strings.Contains(n, want) || strings.Contains(want, n) && len(n) > 3 {
			d = min(d, 2)
		}
		if d <= max(2, len(want)/3) {
			cs = append(cs, cand{n, d})
		}
	}
	if len(cs) == 0 {
		return ""
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].d < cs[j].d || cs[i].d == cs[j].d && cs[i].name < cs[j].name })
	var out []string
	for i := 0; i < len(cs) && i < 3; i++ {
		out = append(out, cs[i].name)
	}
	return "; did you mean " + strings.Join(out, ", ") + "?"
}
