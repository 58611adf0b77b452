package filter

import "strings"

// Eval reports whether e holds for the values that value returns by field
// name: an int64 for an Int field (sign-extended when the field is signed,
// its bits otherwise) and a string for a String field, as the code
// generator compares them in kernel: unsigned fields compare as uint64,
// strings up to their NUL, a prefix literal as a prefix. A comparison
// whose field has no value, or a value of another type, is false.
func (e *Expr) Eval(value func(name string) (any, bool)) bool {
	switch e.Op {
	case OpAnd:
		return e.L.Eval(value) && e.R.Eval(value)
	case OpOr:
		return e.L.Eval(value) || e.R.Eval(value)
	case OpNot:
		return !e.L.Eval(value)
	case OpCmp:
		return e.Cmp.eval(value)
	}
	return false
}

func (c *Compare) eval(value func(string) (any, bool)) bool {
	v, ok := value(c.Field.Name)
	if !ok {
		return false
	}
	switch c.Field.Type {
	case Int:
		x, ok := v.(int64)
		if !ok {
			return false
		}
		var d int
		if c.Field.Signed {
			d = cmp3(x, c.Int)
		} else {
			d = cmp3(uint64(x), uint64(c.Int))
		}
		switch c.Op {
		case CmpEq:
			return d == 0
		case CmpNe:
			return d != 0
		case CmpLt:
			return d < 0
		case CmpLe:
			return d <= 0
		case CmpGt:
			return d > 0
		case CmpGe:
			return d >= 0
		}
	case String:
		s, ok := v.(string)
		if !ok {
			return false
		}
		if i := strings.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		eq := s == c.Str
		if c.Prefix {
			eq = strings.HasPrefix(s, c.Str)
		}
		return eq == (c.Op == CmpEq)
	}
	return false
}

func cmp3[T int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
