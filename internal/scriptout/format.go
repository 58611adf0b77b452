package scriptout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Spec is one conversion of a printf format, as bpftrace parses it: flags in
// the fixed order "-", "+", " ", "#", "0", then a width and a precision ("*"
// is accepted and ignored, it consumes no argument), length modifiers (any
// run of h l L j z t), and the conversion.
type Spec struct {
	Left, Plus, Space, Alt, Zero bool
	Width                        int
	Precision                    int // -1 when absent
	Length                       string
	Verb                         string // "d", "s", "rx", "gr", ...
}

// Format is a printf format parsed once at compile time: Fragments has one
// more element than Specs, and the output is fragment, spec, fragment, ...
// "%%" is folded into the fragments.
type Format struct {
	Src       string
	Fragments []string
	Specs     []Spec
}

const specVerbs = "diouxXeEfFGaAcspn%"

// matchSpec matches bpftrace's conversion pattern at s[0] == '%'. The
// pattern's parts are disjoint character sets, so greedy matching gives the
// same result as the backtracking regex bpftrace uses.
func matchSpec(s string) (Spec, int, bool) {
	sp := Spec{Precision: -1}
	i := 1
	opt := func(c byte) bool {
		if i < len(s) && s[i] == c {
			i++
			return true
		}
		return false
	}
	sp.Left = opt('-')
	sp.Plus = opt('+')
	sp.Space = opt(' ')
	sp.Alt = opt('#')
	sp.Zero = opt('0')
	num := func() (string, bool) {
		if opt('*') {
			return "*", true
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return s[j:i], i > j
	}
	if w, ok := num(); ok && w != "*" {
		sp.Width = atoiSat(w)
	}
	if i+1 < len(s) && s[i] == '.' {
		save := i
		i++
		if p, ok := num(); ok {
			if p != "*" {
				sp.Precision = atoiSat(p)
			}
		} else {
			i = save
		}
	}
	j := i
	for i < len(s) && strings.IndexByte("hlLjzt", s[i]) >= 0 {
		i++
	}
	sp.Length = s[j:i]
	rest := s[i:]
	switch {
	case rest == "":
		return sp, 0, false
	case strings.IndexByte(specVerbs, rest[0]) >= 0:
		sp.Verb = rest[:1]
	case strings.HasPrefix(rest, "gr"):
		sp.Verb = "gr"
	case strings.HasPrefix(rest, "g"):
		sp.Verb = "g"
	case strings.HasPrefix(rest, "rh"):
		sp.Verb = "rh"
	case strings.HasPrefix(rest, "rx"):
		sp.Verb = "rx"
	case strings.HasPrefix(rest, "r"):
		sp.Verb = "r"
	default:
		return sp, 0, false
	}
	return sp, i + len(sp.Verb), true
}

func atoiSat(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 1 << 30
	}
	return n
}

// ParseFormat splits a printf format into fragments and conversions. Text
// that does not form a conversion (a lone "%", "%k") stays literal, as in
// bpftrace; unsupported conversions are reported by Check.
func ParseFormat(format string) (Format, error) {
	f := Format{Src: format}
	var frag strings.Builder
	for i := 0; i < len(format); {
		if format[i] != '%' {
			frag.WriteByte(format[i])
			i++
			continue
		}
		sp, n, ok := matchSpec(format[i:])
		if !ok {
			frag.WriteByte('%')
			i++
			continue
		}
		i += n
		if sp.Verb == "%" {
			frag.WriteByte('%')
			continue
		}
		f.Fragments = append(f.Fragments, frag.String())
		frag.Reset()
		f.Specs = append(f.Specs, sp)
	}
	f.Fragments = append(f.Fragments, frag.String())
	return f, nil
}

// ArgClass is what Check needs to know of an argument's type.
type ArgClass uint8

// Argument classes.
const (
	ArgOther   ArgClass = iota // strings, tuples, records, stacks, ...
	ArgInt                     // integers and enums
	ArgBool                    // bool
	ArgPointer                 // pointers
	ArgBuffer                  // buf()
	ArgNone                    // none or void: nothing to print
)

// ArgType describes one printf argument: its class and bpftrace's name for
// its type (typestr: "int64", "uint8", "string[13]", "buffer[6]",
// "(int64,string[4])", "struct Foo *"), used in error messages.
type ArgType struct {
	Class ArgClass
	Name  string
}

// Check checks the arguments' count and types against the conversions,
// with bpftrace's messages (the caller adds the source location).
func (f Format) Check(args []ArgType) error {
	if len(args) < len(f.Specs) {
		return fmt.Errorf("not enough arguments for format string (%d supplied, %d expected)", len(args), len(f.Specs))
	}
	if len(args) > len(f.Specs) {
		return fmt.Errorf("too many arguments for format string (%d supplied, %d expected)", len(args), len(f.Specs))
	}
	anyInt := []ArgClass{ArgInt, ArgBool, ArgPointer}
	for i, sp := range f.Specs {
		if args[i].Class == ArgNone {
			return errors.New("unable to print none type for specifier: " + sp.Verb)
		}
		var allowed []ArgClass
		switch sp.Verb {
		case "d", "i", "u", "o", "x", "X", "c", "p", "gr":
			allowed = anyInt
		case "r", "rx", "rh":
			allowed = []ArgClass{ArgBuffer}
		case "s":
		default:
			return errors.New("unsupported format specifier: " + sp.Verb)
		}
		if allowed == nil {
			continue
		}
		found := false
		for _, a := range allowed {
			found = found || a == args[i].Class
		}
		if !found {
			return fmt.Errorf("unsupported format specifier for type '%s': %s", args[i].Name, sp.Verb)
		}
	}
	return nil
}

// Sprint formats args (as many as Specs) as bpftrace's printf does. A value
// that cannot be converted is shown as "!{message}" in its place.
func (f Format) Sprint(args []Value) string {
	var b strings.Builder
	for i, a := range args {
		if i >= len(f.Specs) {
			break
		}
		b.WriteString(f.Fragments[i])
		s, err := f.Specs[i].apply(a)
		if err != nil {
			b.WriteString("!{" + err.Error() + "}")
		} else {
			b.WriteString(s)
		}
	}
	if len(f.Fragments) > 0 {
		b.WriteString(f.Fragments[len(f.Fragments)-1])
	}
	return b.String()
}

// pad pads s to the spec's width the way an iostream does: fill before
// (right aligned) or after (left aligned); '0' is just the fill character.
func (sp Spec) pad(s string) string {
	if len(s) >= sp.Width {
		return s
	}
	fill := " "
	if sp.Zero {
		fill = "0"
	}
	p := strings.Repeat(fill, sp.Width-len(s))
	if sp.Left {
		return s + p
	}
	return p + s
}

// numeric returns the value's bits for an integer conversion, and whether
// the variant bpftrace holds is signed.
func numeric(v Value) (uint64, bool, error) {
	switch v.Kind {
	case Int:
		if v.Symbol != "" {
			return uint64(v.intBits()), false, nil
		}
		return uint64(v.intBits()), v.Signed, nil
	case Bool:
		if v.Int != 0 {
			return 1, false, nil
		}
		return 0, false, nil
	case Pointer:
		return uint64(v.Int), false, nil
	}
	return 0, false, errors.New("invalid integer conversion: " + textString(v))
}

// intBits returns an Int's value as bpftrace reduces it: sign-extended
// when signed, zero-extended otherwise, from Size bytes.
func (v Value) intBits() int64 {
	switch v.Size {
	case 1:
		if v.Signed {
			return int64(int8(v.Int))
		}
		return int64(uint8(v.Int))
	case 2:
		if v.Signed {
			return int64(int16(v.Int))
		}
		return int64(uint16(v.Int))
	case 4:
		if v.Signed {
			return int64(int32(v.Int))
		}
		return int64(uint32(v.Int))
	}
	return v.Int
}

// castSigned converts like static_cast to the C type a length modifier
// names (int without one), then widens to long long.
func castSigned(u uint64, length string) int64 {
	switch length {
	case "hh":
		return int64(int8(u))
	case "h":
		return int64(int16(u))
	case "l", "ll", "j", "z", "t":
		return int64(u)
	}
	return int64(int32(u))
}

func castUnsigned(u uint64, length string) uint64 {
	switch length {
	case "hh":
		return uint64(uint8(u))
	case "h":
		return uint64(uint16(u))
	case "l", "ll", "j", "z", "t":
		return u
	}
	return uint64(uint32(u))
}

func (sp Spec) apply(v Value) (string, error) {
	switch sp.Verb {
	case "d", "i":
		u, _, err := numeric(v)
		if err != nil {
			return "", err
		}
		n := castSigned(u, sp.Length)
		s := strconv.FormatInt(n, 10)
		if sp.Plus && n >= 0 {
			s = "+" + s
		}
		return sp.pad(s), nil
	case "u", "o", "x", "X":
		u, _, err := numeric(v)
		if err != nil {
			return "", err
		}
		n := castUnsigned(u, sp.Length)
		var s string
		switch sp.Verb {
		case "u":
			s = strconv.FormatUint(n, 10)
		case "o":
			s = strconv.FormatUint(n, 8)
			if sp.Alt && n != 0 {
				s = "0" + s
			}
		case "x":
			s = strconv.FormatUint(n, 16)
			if sp.Alt && n != 0 {
				s = "0x" + s
			}
		case "X":
			s = strings.ToUpper(strconv.FormatUint(n, 16))
			if sp.Alt && n != 0 {
				s = "0X" + s
			}
		}
		return sp.pad(s), nil
	case "c":
		u, _, err := numeric(v)
		if err != nil {
			return "", err
		}
		return sp.pad(string([]byte{byte(castSigned(u, sp.Length))})), nil
	case "p":
		u, _, err := numeric(v)
		if err != nil {
			return "", err
		}
		s := "0"
		if u != 0 {
			s = "0x" + strconv.FormatUint(u, 16)
		}
		return sp.pad(s), nil
	case "gr":
		u, _, err := numeric(v)
		if err != nil || v.Kind == Bool {
			// bpftrace's GFP conversion takes only integers.
			return "", errors.New("invalid GFP flags conversion: " + textString(v))
		}
		return sp.pad(GFPFlags(u)), nil
	case "r", "rx", "rh":
		if v.Kind == Buf {
			return sp.pad(hexBuffer([]byte(v.Str), sp.Verb == "r", sp.Verb != "rh")), nil
		}
	case "f", "F", "e", "E", "g", "G", "a", "A":
		// Check rejects these; bpftrace has no floating point values.
		u, _, err := numeric(v)
		if err != nil {
			return "", err
		}
		return sp.pad(strconv.FormatUint(u, 10)), nil
	}
	// %s and anything else: the value's text form; the width applies to
	// the first piece an iostream would write ("(" of a tuple).
	s, first := textPieces(v, sp.Plus)
	return sp.pad(s[:first]) + s[first:], nil
}

// hexBuffer renders a buffer as bpftrace's %r (printable ASCII kept, other
// bytes as \xNN), %rx (every byte \xNN) and %rh ("41 42 00").
func hexBuffer(b []byte, keepASCII, escapeHex bool) string {
	var s strings.Builder
	for i, c := range b {
		switch {
		case keepASCII && c >= 32 && c <= 126:
			s.WriteByte(c)
		case escapeHex:
			fmt.Fprintf(&s, "\\x%02x", c)
		case i == len(b)-1:
			fmt.Fprintf(&s, "%02x", c)
		default:
			fmt.Fprintf(&s, "%02x ", c)
		}
	}
	return s.String()
}

// GFP flag bits, as the kernel numbers them (include/linux/gfp_types.h).
const (
	gfpDMA = 1 << iota
	gfpHighmem
	gfpDMA32
	gfpMovable
	gfpReclaimable
	gfpHigh
	gfpIO
	gfpFS
	gfpZero
	gfpUnused
	gfpDirectReclaim
	gfpKswapdReclaim
	gfpWrite
	gfpNowarn
	gfpRetryMayfail
	gfpNofail
	gfpNoretry
	gfpMemalloc
	gfpComp
	gfpNomemalloc
	gfpHardwall
	gfpThisnode
	gfpAccount
	gfpZerotags
	gfpSkipZero
	gfpSkipKasan
	gfpNoObjExt
)

const (
	gfpReclaim         = gfpDirectReclaim | gfpKswapdReclaim
	gfpAtomic          = gfpHigh | gfpKswapdReclaim
	gfpKernel          = gfpReclaim | gfpIO | gfpFS
	gfpKernelAccount   = gfpKernel | gfpAccount
	gfpNowait          = gfpKswapdReclaim | gfpNowarn
	gfpNoio            = gfpReclaim
	gfpNofs            = gfpNoio | gfpIO
	gfpUser            = gfpNofs | gfpFS | gfpHardwall
	gfpHighuser        = gfpUser | gfpHighmem
	gfpHighuserMovable = gfpHighuser | gfpMovable | gfpSkipKasan
	gfpTranshugeLight  = (gfpHighuserMovable | gfpComp | gfpNomemalloc | gfpNowarn) &^ gfpReclaim
	gfpTranshuge       = gfpTranshugeLight | gfpDirectReclaim
)

// gfpNames are matched in the kernel's order (__def_gfpflag_names):
// compound masks first, leftover single flags after.
var gfpNames = []struct {
	mask uint64
	name string
}{
	{gfpTranshuge, "GFP_TRANSHUGE"},
	{gfpTranshugeLight, "GFP_TRANSHUGE_LIGHT"},
	{gfpHighuserMovable, "GFP_HIGHUSER_MOVABLE"},
	{gfpHighuser, "GFP_HIGHUSER"},
	{gfpUser, "GFP_USER"},
	{gfpKernelAccount, "GFP_KERNEL_ACCOUNT"},
	{gfpKernel, "GFP_KERNEL"},
	{gfpNofs, "GFP_NOFS"},
	{gfpAtomic, "GFP_ATOMIC"},
	{gfpNoio, "GFP_NOIO"},
	{gfpNowait, "GFP_NOWAIT"},
	{gfpDMA, "GFP_DMA"},
	{gfpHighmem, "__GFP_HIGHMEM"},
	{gfpDMA32, "GFP_DMA32"},
	{gfpHigh, "__GFP_HIGH"},
	{gfpIO, "__GFP_IO"},
	{gfpFS, "__GFP_FS"},
	{gfpZero, "__GFP_ZERO"},
	{gfpDirectReclaim, "__GFP_DIRECT_RECLAIM"},
	{gfpKswapdReclaim, "__GFP_KSWAPD_RECLAIM"},
	{gfpWrite, "__GFP_WRITE"},
	{gfpNowarn, "__GFP_NOWARN"},
	{gfpRetryMayfail, "__GFP_RETRY_MAYFAIL"},
	{gfpNofail, "__GFP_NOFAIL"},
	{gfpNoretry, "__GFP_NORETRY"},
	{gfpMemalloc, "__GFP_MEMALLOC"},
	{gfpComp, "__GFP_COMP"},
	{gfpNomemalloc, "__GFP_NOMEMALLOC"},
	{gfpHardwall, "__GFP_HARDWALL"},
	{gfpThisnode, "__GFP_THISNODE"},
	{gfpAccount, "__GFP_ACCOUNT"},
	{gfpZerotags, "__GFP_ZEROTAGS"},
	{gfpSkipZero, "__GFP_SKIP_ZERO"},
	{gfpSkipKasan, "__GFP_SKIP_KASAN"},
	{gfpNoObjExt, "__GFP_NO_OBJ_EXT"},
}

// GFPFlags renders GFP flags as printf's %gr does: "GFP_KERNEL|__GFP_ZERO",
// unknown bits as a trailing hex number, 0 as "0".
func GFPFlags(flags uint64) string {
	if flags == 0 {
		return "0"
	}
	var parts []string
	rest := flags
	for _, n := range gfpNames {
		if rest&n.mask == n.mask {
			parts = append(parts, n.name)
			rest &^= n.mask
		}
	}
	if rest != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(rest, 16))
	}
	return strings.Join(parts, "|")
}
