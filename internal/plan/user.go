package plan

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/usdt"
)

// noMatchError is an attach point that matches no probe; Script reports
// it as config missing_probes says (an error, a warning or nothing).
type noMatchError struct {
	ap  *lang.AttachPoint
	msg string // "No matches for uprobe ./prog:func"
}

func (e *noMatchError) Error() string { return e.msg }

func noMatch(ap *lang.AttachPoint, prov, what string) error {
	return &noMatchError{ap: ap, msg: "No matches for " + prov + " " + what}
}

// WildcardMatch reports whether s matches pattern, where '*' (bpftrace's
// only wildcard) stands for any run of characters.
func WildcardMatch(pattern, s string) bool {
	toks := strings.Split(pattern, "*")
	if len(toks) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, toks[0]) {
		return false
	}
	s = s[len(toks[0]):]
	last := toks[len(toks)-1]
	for _, t := range toks[1 : len(toks)-1] {
		i := strings.Index(s, t)
		if i < 0 {
			return false
		}
		s = s[i+len(t):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// UserTarget is the split of a uprobe or USDT attach point.
type UserTarget struct {
	File     string // "" for usdt:PROBE or usdt::NS:PROBE
	Provider string // USDT only
	Func     string // function, address, symbol+offset, or USDT probe name
}

// SplitUser splits the parts of a uprobe or USDT attach point after the
// provider: uprobe:FILE:FUNC, usdt:NAME, usdt:FILE:NAME,
// usdt:FILE:PROVIDER:NAME.
func SplitUser(prov string, rest []string) (UserTarget, error) {
	if prov == "usdt" {
		switch len(rest) {
		case 1:
			return UserTarget{Func: rest[0]}, nil
		case 2:
			return UserTarget{File: rest[0], Func: rest[1]}, nil
		case 3:
			return UserTarget{File: rest[0], Provider: rest[1], Func: rest[2]}, nil
		}
		return UserTarget{}, errors.New("usdt probes take the form usdt:[FILE:[PROVIDER:]]NAME")
	}
	if len(rest) != 2 {
		return UserTarget{}, fmt.Errorf("%s probes take the form %s:FILE:FUNCTION", prov, prov)
	}
	return UserTarget{File: rest[0], Func: rest[1]}, nil
}

// userPaths are the binaries a uprobe or USDT target stands for: with -p,
// the files the process maps when the target is "*" or empty; a glob
// expanded; else the one binary.
func userPaths(file string, pid int) ([]string, error) {
	if file == "" || file == "*" {
		if pid <= 0 {
			if file == "" {
				return nil, errors.New("a probe without a file needs -p PID")
			}
			return resolve.BinaryPaths(file, pid)
		}
		return resolve.MappedPaths(pid)
	}
	return resolve.BinaryPaths(file, pid)
}

// funcAddress reads a uprobe function given as an address (0x401000, 10)
// or as symbol+offset; ok is false for a plain symbol.
func funcAddress(fn string) (sym string, off uint64, ok bool, err error) {
	if fn != "" && fn[0] >= '0' && fn[0] <= '9' {
		v, err := strconv.ParseUint(fn, 0, 64)
		return "", v, true, err
	}
	if s, o, found := strings.Cut(fn, "+"); found {
		v, err := strconv.ParseUint(o, 0, 64)
		return s, v, true, err
	}
	return fn, 0, false, nil
}

// userProbes resolves a uprobe, uretprobe or USDT attach point: every
// binary its file names (a glob, or with -p the process's mappings), and
// in each every function or USDT probe its name matches.
func userProbes(prog *lang.Program, block int, ap *lang.AttachPoint, prov string, rest []string, o ScriptOptions) ([]bpfgen.ScriptProbe, error) {
	ut, err := SplitUser(prov, rest)
	if err != nil {
		return nil, apError(prog, ap, "%v", err)
	}
	what := strings.Join(rest, ":")
	paths, err := userPaths(ut.File, o.PID)
	if err != nil {
		return nil, err
	}
	ro := resolve.Options{PID: o.PID, StringSize: strSize(prog) + 2}
	var out []bpfgen.ScriptProbe
	add := func(rp *resolve.Probe, name string) {
		out = append(out, bpfgen.ScriptProbe{Block: block, Name: name, Func: rp.Target.Symbol, Probe: rp})
	}
	many := len(paths) > 1 || ut.File == "" || ut.File == "*"
	if prov == "usdt" {
		provPat := ut.Provider
		if provPat == "" {
			provPat = "*"
		}
		for _, path := range paths {
			probes, err := usdt.Probes(path)
			if err != nil {
				if many {
					continue
				}
				return nil, err
			}
			seen := map[string]bool{}
			for _, p := range probes {
				if !WildcardMatch(provPat, p.Provider) || !WildcardMatch(ut.Func, p.Name) || seen[p.ID()] {
					continue
				}
				seen[p.ID()] = true
				rp, err := resolve.USDT(probe.Spec{Kind: probe.USDT, Path: path, Provider: p.Provider, Name: p.Name}, o.PID)
				if err != nil {
					return nil, err
				}
				add(rp, "usdt:"+path+":"+p.ID())
			}
		}
		if len(out) == 0 {
			return nil, noMatch(ap, prov, what)
		}
		return out, nil
	}
	kind := probe.Uprobe
	if prov == "uretprobe" {
		kind = probe.Uretprobe
	}
	sym, off, isAddr, err := funcAddress(ut.Func)
	if err != nil {
		return nil, apError(prog, ap, "%s: invalid address or offset %q", prov, ut.Func)
	}
	var names []string
	for _, path := range paths {
		names = names[:0]
		if isAddr || !strings.Contains(sym, "*") {
			names = append(names, sym)
		} else {
			all, err := resolve.FunctionNames(path)
			if err != nil {
				if many {
					continue
				}
				return nil, err
			}
			for _, n := range all {
				if WildcardMatch(sym, n) {
					names = append(names, n)
				}
			}
		}
		for _, n := range names {
			foff, err := resolve.UprobeOffset(path, n, off, kind == probe.Uretprobe, o.Unsafe)
			if errors.Is(err, resolve.ErrSymbolNotFound) {
				continue
			} else if err != nil {
				return nil, err
			}
			rp, err := resolve.Uprobe(probe.Spec{Kind: kind, Path: path, Symbol: n, Offset: off}, nil, o.PID, ro)
			if err != nil {
				return nil, err
			}
			rp.Target.Addresses = []uint64{foff}
			name := prov + ":" + path + ":" + ut.Func
			if !isAddr {
				name = prov + ":" + path + ":" + n
			}
			add(rp, name)
		}
	}
	if len(out) == 0 {
		return nil, noMatch(ap, prov, what)
	}
	return out, nil
}
