// Package probe parses probe specs, the text that names what to attach to
// ("tracepoint:sched:sched_switch", "uprobe:/bin/bash:readline",
// "usdt:/usr/bin/node:node:http__server__request", "profile:hz:99"), into a
// [Spec]. It only reads text: whether the target exists is decided later by
// the resolver.
//
// Accepted forms (TYPE may be abbreviated as in bpftrace):
//
//	tracepoint:CAT:NAME    t:CAT:NAME    CAT:NAME     globs allowed in CAT and NAME
//	syscall:NAME                                      syscalls:sys_enter_NAME and sys_exit_NAME (see [Spec.Expand])
//	rawtracepoint:NAME     rt:NAME
//	uprobe:PATH:SYMBOL[+OFF]  u:...    uprobe:PATH:ADDRESS
//	uretprobe:PATH:SYMBOL     ur:...
//	usdt:PATH:[PROVIDER:]NAME U:...
//	kprobe:FUNC[+OFF]      k:...         globs allowed in FUNC (without +OFF)
//	kretprobe:FUNC         kr:...
//	profile:hz:99          p:hz:99       units hz, s, ms, us; profile:99 means hz
//
// Error contract: every error returned by [Parse] is a [*SpecError] that
// names the 1-based column of the offending text.
package probe

import (
	"fmt"
	"github.com/bpftrail/bpftrail/internal/suggest"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the type of probe.
type Kind int

// Probe kinds.
const (
	Tracepoint Kind = iota + 1
	RawTracepoint
	Uprobe
	Uretprobe
	USDT
	Kprobe
	Kretprobe
	Profile
	// Syscall is the shorthand syscall:NAME for the pair of tracepoints
	// syscalls:sys_enter_NAME and syscalls:sys_exit_NAME; [Spec.Expand]
	// turns it into those two.
	Syscall
)

var kindInfo = [...]struct {
	name, short string
}{
	Tracepoint:    {"tracepoint", "t"},
	RawTracepoint: {"rawtracepoint", "rt"},
	Uprobe:        {"uprobe", "u"},
	Uretprobe:     {"uretprobe", "ur"},
	USDT:          {"usdt", "U"},
	Kprobe:        {"kprobe", "k"},
	Kretprobe:     {"kretprobe", "kr"},
	Profile:       {"profile", "p"},
	Syscall:       {"syscall", ""},
}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindInfo) {
		return kindInfo[k].name
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

func kindOf(s string) (Kind, bool) {
	for k, info := range kindInfo {
		if k > 0 && (s == info.name || s != "" && s == info.short) {
			return Kind(k), true
		}
	}
	return 0, false
}

// Spec is a parsed probe spec. Which fields are set depends on Kind:
//
//	Tracepoint     Category, Name
//	Syscall        Name (the syscall, e.g. "openat")
//	RawTracepoint  Name
//	Uprobe         Path, Symbol, Offset (from Symbol; an absolute address when Symbol is empty)
//	Uretprobe      Path, Symbol
//	USDT           Path, Provider (empty: any), Name
//	Kprobe         Symbol, Offset
//	Kretprobe      Symbol
//	Profile        Unit ("hz", "s", "ms", "us"), Rate
type Spec struct {
	Kind           Kind
	Category, Name string
	Path, Symbol   string
	Offset         uint64
	Provider       string
	Unit           string
	Rate           uint64
	// Raw is the text the spec was parsed from.
	Raw string
}

// String returns the canonical text of s, which [Parse] reads back to the
// same Spec (except Raw).
func (s Spec) String() string {
	withOff := func(sym string) string {
		switch {
		case sym == "":
			return fmt.Sprintf("%#x", s.Offset)
		case s.Offset != 0:
			return fmt.Sprintf("%s+%#x", sym, s.Offset)
		}
		return sym
	}
	switch s.Kind {
	case Tracepoint:
		return "tracepoint:" + s.Category + ":" + s.Name
	case Syscall, RawTracepoint:
		return s.Kind.String() + ":" + s.Name
	case Uprobe:
		return "uprobe:" + s.Path + ":" + withOff(s.Symbol)
	case Uretprobe:
		return "uretprobe:" + s.Path + ":" + s.Symbol
	case USDT:
		if s.Provider == "" {
			return "usdt:" + s.Path + ":" + s.Name
		}
		return "usdt:" + s.Path + ":" + s.Provider + ":" + s.Name
	case Kprobe:
		return "kprobe:" + withOff(s.Symbol)
	case Kretprobe:
		return "kretprobe:" + s.Symbol
	case Profile:
		return fmt.Sprintf("profile:%s:%d", s.Unit, s.Rate)
	}
	return s.Raw
}

// IsGlob reports whether s names several targets through a wildcard in a
// category, name, symbol or provider.
func (s Spec) IsGlob() bool {
	for _, v := range []string{s.Category, s.Name, s.Symbol, s.Provider} {
		if strings.ContainsAny(v, "*?[") {
			return true
		}
	}
	return false
}

// Expand returns the specs s stands for: the enter and exit tracepoints for
// a [Syscall] spec, s itself otherwise. Raw is kept.
func (s Spec) Expand() []Spec {
	if s.Kind != Syscall {
		return []Spec{s}
	}
	enter := Spec{Kind: Tracepoint, Category: "syscalls", Name: "sys_enter_" + s.Name, Raw: s.Raw}
	exit := enter
	exit.Name = "sys_exit_" + s.Name
	return []Spec{enter, exit}
}

// SpecError reports a probe spec that cannot be parsed.
type SpecError struct {
	Spec string
	Col  int // 1-based, in characters
	Msg  string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("invalid probe %q: %s at column %d", e.Spec, e.Msg, e.Col)
}

// part is one ':'-separated piece of a spec and its byte offset in Raw.
type part struct {
	text string
	off  int
}

type parser struct {
	raw   string
	parts []part
	end   int // byte offset just past the trimmed spec
}

func (p *parser) errAt(off int, format string, args ...any) *SpecError {
	return &SpecError{Spec: p.raw, Col: utf8.RuneCountInString(p.raw[:off]) + 1, Msg: fmt.Sprintf(format, args...)}
}

// joined returns parts[i:j] joined by ':' and the offset of the first.
func (p *parser) joined(i, j int) part {
	start := p.parts[i].off
	last := p.parts[j-1]
	return part{p.raw[start : last.off+len(last.text)], start}
}

// Parse parses one probe spec. Surrounding white space is ignored.
func Parse(spec string) (Spec, error) {
	p := &parser{raw: spec}
	lead := len(spec) - len(strings.TrimLeft(spec, " \t\n"))
	trimmed := strings.TrimSpace(spec)
	p.end = lead + len(trimmed)
	if trimmed == "" {
		return Spec{}, p.errAt(0, "empty probe spec")
	}
	off := lead
	for t := range strings.SplitSeq(trimmed, ":") {
		p.parts = append(p.parts, part{t, off})
		off += len(t) + 1
	}
	s, err := p.parse()
	if err != nil {
		return Spec{}, err
	}
	s.Raw = spec
	return s, nil
}

func (p *parser) parse() (Spec, error) {
	first := p.parts[0]
	kind, known := kindOf(first.text)
	if !known {
		return p.untyped()
	}
	args := p.parts[1:]
	switch kind {
	case Tracepoint:
		if err := p.count(args, 2, 2, "CATEGORY:NAME"); err != nil {
			return Spec{}, err
		}
		return p.tracepoint(args[0], args[1])
	case Syscall:
		return p.syscall(args)
	case RawTracepoint:
		if err := p.count(args, 1, 1, "NAME (e.g. rawtracepoint:sched_switch)"); err != nil {
			return Spec{}, err
		}
		if err := p.ident(args[0], "NAME", false); err != nil {
			return Spec{}, err
		}
		return Spec{Kind: RawTracepoint, Name: args[0].text}, nil
	case Kprobe, Kretprobe:
		return p.kprobe(kind, args)
	case Uprobe, Uretprobe:
		return p.uprobe(kind, args)
	case USDT:
		return p.usdt(args)
	case Profile:
		return p.profile(args)
	}
	return Spec{}, p.errAt(first.off, "unsupported probe type %q", first.text)
}

// untyped parses a spec whose first part is not a probe type: a bare
// CATEGORY:NAME tracepoint, or else an error suggesting a type.
func (p *parser) untyped() (Spec, error) {
	first := p.parts[0]
	switch len(p.parts) {
	case 1:
		return Spec{}, p.errAt(p.end, "expected CATEGORY:NAME or TYPE:TARGET (types: %s)", typeList())
	case 2:
		return p.tracepoint(p.parts[0], p.parts[1])
	}
	msg := fmt.Sprintf("unknown probe type %q", first.text)
	if s := closestKind(first.text); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	} else {
		msg += fmt.Sprintf(" (types: %s)", typeList())
	}
	return Spec{}, p.errAt(first.off, "%s", msg)
}

// syscall parses syscall:NAME, NAME without the sys_enter_ or sys_exit_ of
// its tracepoints.
func (p *parser) syscall(args []part) (Spec, error) {
	if err := p.count(args, 1, 1, "SYSCALL (e.g. syscall:openat)"); err != nil {
		return Spec{}, err
	}
	if err := p.ident(args[0], "SYSCALL", false); err != nil {
		return Spec{}, err
	}
	for _, pre := range []string{"sys_enter_", "sys_exit_"} {
		if strings.HasPrefix(args[0].text, pre) {
			return Spec{}, p.errAt(args[0].off, "syscall takes the name without %q (syscall:%s, or tracepoint:syscalls:%s)",
				pre, strings.TrimPrefix(args[0].text, pre), args[0].text)
		}
	}
	return Spec{Kind: Syscall, Name: args[0].text}, nil
}

// kprobe parses kprobe:FUNCTION[+OFFSET] and kretprobe:FUNCTION.
func (p *parser) kprobe(kind Kind, args []part) (Spec, error) {
	if err := p.count(args, 1, 1, "FUNCTION"); err != nil {
		return Spec{}, err
	}
	sym, offset, err := p.symbolOffset(args[0], "FUNCTION", kind == Kprobe, false)
	if err != nil {
		return Spec{}, err
	}
	if err := p.ident(part{sym, args[0].off}, "FUNCTION", true); err != nil {
		return Spec{}, err
	}
	return Spec{Kind: kind, Symbol: sym, Offset: offset}, nil
}

// uprobe parses uprobe:PATH:SYMBOL[+OFFSET] (or an address) and
// uretprobe:PATH:SYMBOL; PATH may itself hold colons.
func (p *parser) uprobe(kind Kind, args []part) (Spec, error) {
	if err := p.count(args, 2, -1, "PATH:SYMBOL"); err != nil {
		return Spec{}, err
	}
	file := p.joined(1, len(p.parts)-1)
	if file.text == "" {
		return Spec{}, p.errAt(file.off, "expected PATH")
	}
	last := args[len(args)-1]
	sym, offset, err := p.symbolOffset(last, "SYMBOL", kind == Uprobe, kind == Uprobe)
	if err != nil {
		return Spec{}, err
	}
	if strings.ContainsAny(sym, " \t") {
		return Spec{}, p.errAt(last.off+strings.IndexAny(sym, " \t"), "unexpected space in SYMBOL")
	}
	return Spec{Kind: kind, Path: file.text, Symbol: sym, Offset: offset}, nil
}

// usdt parses usdt:PATH:[PROVIDER:]NAME; with three or more parts after
// the type, the one before NAME is the provider.
func (p *parser) usdt(args []part) (Spec, error) {
	if err := p.count(args, 2, -1, "PATH:[PROVIDER:]NAME"); err != nil {
		return Spec{}, err
	}
	name := args[len(args)-1]
	var provider part
	pathEnd := len(p.parts) - 1
	if len(args) >= 3 {
		provider = args[len(args)-2]
		pathEnd--
	}
	file := p.joined(1, pathEnd)
	if file.text == "" {
		return Spec{}, p.errAt(file.off, "expected PATH")
	}
	if len(args) >= 3 {
		if err := p.ident(provider, "PROVIDER", false); err != nil {
			return Spec{}, err
		}
	}
	if err := p.ident(name, "NAME", false); err != nil {
		return Spec{}, err
	}
	return Spec{Kind: USDT, Path: file.text, Provider: provider.text, Name: name.text}, nil
}

// profile parses profile:[UNIT:]RATE, UNIT defaulting to hz.
func (p *parser) profile(args []part) (Spec, error) {
	if err := p.count(args, 1, 2, "UNIT:RATE (e.g. profile:hz:99)"); err != nil {
		return Spec{}, err
	}
	unit, rate := part{"hz", args[0].off}, args[0]
	if len(args) == 2 {
		unit, rate = args[0], args[1]
		switch unit.text {
		case "hz", "s", "ms", "us":
		default:
			return Spec{}, p.errAt(unit.off, "unknown profile unit %q (want hz, s, ms or us)", unit.text)
		}
	}
	n, err := strconv.ParseUint(rate.text, 10, 64)
	if err != nil || n == 0 {
		return Spec{}, p.errAt(rate.off, "expected a positive integer RATE, got %q", rate.text)
	}
	return Spec{Kind: Profile, Unit: unit.text, Rate: n}, nil
}

// count checks that there are between lo and hi (-1: any) arguments after
// the type and reports what was expected.
func (p *parser) count(args []part, lo, hi int, want string) error {
	if len(args) < lo {
		return p.errAt(p.end, "expected %s", want)
	}
	if hi >= 0 && len(args) > hi {
		extra := args[hi]
		return p.errAt(extra.off-1, "unexpected \":%s\" after %s", extra.text, want)
	}
	return nil
}

func (p *parser) tracepoint(cat, name part) (Spec, error) {
	if err := p.ident(cat, "CATEGORY", false); err != nil {
		return Spec{}, err
	}
	if err := p.ident(name, "NAME", false); err != nil {
		return Spec{}, err
	}
	return Spec{Kind: Tracepoint, Category: cat.text, Name: name.text}, nil
}

// ident checks that pt is an identifier, optionally with glob characters
// (* ? [...]) and, for kernel symbols, dots ("foo.isra.0").
func (p *parser) ident(pt part, what string, dots bool) error {
	if pt.text == "" {
		return p.errAt(pt.off, "expected %s", what)
	}
	for i, r := range pt.text {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
		case r == '*' || r == '?' || r == '[' || r == ']' || r == '!' || r == '-' && strings.Contains(pt.text[:i], "["):
		case r == '.' && dots:
		default:
			return p.errAt(pt.off+i, "unexpected %q in %s", r, what)
		}
	}
	if _, err := path.Match(pt.text, ""); err != nil {
		return p.errAt(pt.off, "malformed wildcard in %s %q", what, pt.text)
	}
	return nil
}

// symbolOffset splits "SYMBOL+OFF". allowOff says whether an offset is
// allowed; allowAddr whether SYMBOL may be a bare address (uprobe).
func (p *parser) symbolOffset(pt part, what string, allowOff, allowAddr bool) (string, uint64, error) {
	sym, offText, hasOff := strings.Cut(pt.text, "+")
	if allowAddr && !hasOff && sym != "" && sym[0] >= '0' && sym[0] <= '9' {
		addr, err := strconv.ParseUint(sym, 0, 64)
		if err != nil {
			return "", 0, p.errAt(pt.off, "invalid address %q", sym)
		}
		return "", addr, nil
	}
	if allowAddr && hasOff && sym != "" && sym[0] >= '0' && sym[0] <= '9' {
		return "", 0, p.errAt(pt.off+len(sym), "an ADDRESS takes no offset")
	}
	if sym == "" {
		return "", 0, p.errAt(pt.off, "expected %s", what)
	}
	if !hasOff {
		return sym, 0, nil
	}
	offCol := pt.off + len(sym)
	if !allowOff {
		return "", 0, p.errAt(offCol, "return probes take no offset")
	}
	if strings.ContainsAny(sym, "*?[") {
		return "", 0, p.errAt(offCol, "an offset cannot be combined with a wildcard")
	}
	off, err := strconv.ParseUint(offText, 0, 64)
	if err != nil {
		return "", 0, p.errAt(offCol+1, "expected an OFFSET after \"+\" (decimal or 0x hex), got %q", offText)
	}
	return sym, off, nil
}

func typeList() string {
	var names []string
	for k, info := range kindInfo {
		if k > 0 {
			names = append(names, info.name)
		}
	}
	return strings.Join(names, ", ")
}

// closestKind returns the kind name within edit distance 2 of s, if any.
func closestKind(s string) string {
	best, bestD := "", 3
	for k, info := range kindInfo {
		if k == 0 {
			continue
		}
		if d := suggest.Distance(strings.ToLower(s), info.name); d < bestD {
			best, bestD = info.name, d
		}
	}
	return best
}
