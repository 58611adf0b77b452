package symbolize

import (
	"strconv"
	"strings"
)

// ParseFrame reads a frame back from its text, [Frame.String]:
// "func+0x12 (module)", "func (module)" or "module+0x1234" for an unknown
// function. A bare "0x1234" is an address in no known module, and any other
// text a function of no known module. The text does not hold the address:
// Addr is 0 except for "0x1234", and so is ModuleOffset of a known function.
func ParseFrame(s string) Frame {
	if i := moduleStart(s); i > 0 {
		f := Frame{Function: s[:i], Module: s[i+2 : len(s)-1]}
		if fn, off, ok := cutOffset(f.Function); ok {
			f.Function, f.Offset = fn, off
		}
		return f
	}
	if hex, ok := strings.CutPrefix(s, "0x"); ok {
		if a, err := strconv.ParseUint(hex, 16, 64); err == nil {
			return Frame{Addr: a, Module: ModuleUnknown, ModuleOffset: a}
		}
	}
	if mod, off, ok := cutOffset(s); ok {
		return Frame{Module: mod, ModuleOffset: off}
	}
	return Frame{Function: s}
}

// moduleStart returns the index of the " (" that opens the parenthesized
// module ending s, the parenthesis matching the last one, or -1.
func moduleStart(s string) int {
	if !strings.HasSuffix(s, ")") {
		return -1
	}
	depth := 0
	for i := len(s) - 1; i > 0; i-- {
		switch s[i] {
		case ')':
			depth++
		case '(':
			if depth--; depth == 0 {
				if s[i-1] == ' ' {
					return i - 1
				}
				return -1
			}
		}
	}
	return -1
}

// cutOffset splits "name+0x1f" into name and 0x1f.
func cutOffset(s string) (string, uint64, bool) {
	i := strings.LastIndex(s, "+0x")
	if i <= 0 {
		return s, 0, false
	}
	off, err := strconv.ParseUint(s[i+3:], 16, 64)
	if err != nil {
		return s, 0, false
	}
	return s[:i], off, true
}
