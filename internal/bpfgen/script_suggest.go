package bpfgen

import (
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/bpftrail/bpftrail/internal/lang"
	"github.com/bpftrail/bpftrail/internal/suggest"
)

// didYouMean is the hint an error about an unknown name ends with: the
// closest of names, when one is close enough to be a typo.
func didYouMean(name string, names []string) string {
	best, bestD := "", max(2, len(name)/3)+1
	for _, n := range names {
		if d := suggest.Distance(name, n); d < bestD || d == bestD && n < best {
			best, bestD = n, d
		}
	}
	if best == "" || best == name {
		return ""
	}
	return "; did you mean '" + best + "'?"
}

// memberNames lists the members a `.` or `->` on t can name, those of its
// anonymous members included.
func memberNames(t *Type) []string {
	var out []string
	for _, f := range t.Fields {
		if f.Name == "" && (f.T.Kind == TStruct) {
			out = append(out, memberNames(f.T)...)
		} else if f.Name != "" {
			out = append(out, f.Name)
		}
	}
	return out
}

// noMember is the error of a member access naming no member of st.
func (c *checker) noMember(p lang.Pos, st *Type, name string) error {
	return c.errorf(p, "Struct/union of type '%s' does not contain a field named '%s'%s", st.CName, name, didYouMean(name, memberNames(st)))
}

// typeNames lists the struct and union names (with their keyword) the
// script's C definitions and the kernel's BTF give, for a hint.
func (s *Script) typeNames(kw string) []string {
	var out []string
	if ct, err := s.cTypes(); err == nil {
		for n := range ct.byName {
			if strings.HasPrefix(n, kw+" ") {
				out = append(out, n)
			}
		}
	}
	kernelOnce.Do(func() { kernelSpec, kernelErr = btf.LoadKernelSpec() })
	if kernelErr != nil {
		return out
	}
	for t, err := range kernelSpec.All() {
		if err != nil {
			break
		}
		switch t := t.(type) {
		case *btf.Struct:
			if kw == "struct" && t.Name != "" {
				out = append(out, "struct "+t.Name)
			}
		case *btf.Union:
			if kw == "union" && t.Name != "" {
				out = append(out, "union "+t.Name)
			}
		case *btf.Enum:
			if kw == "enum" && t.Name != "" {
				out = append(out, "enum "+t.Name)
			}
		}
	}
	return out
}

// unknownType is the error of a cast or declaration naming a type that
// neither the script nor the kernel defines.
func (c *checker) unknownType(p lang.Pos, name string) error {
	hint := ""
	if kw, _, ok := strings.Cut(name, " "); ok && (kw == "struct" || kw == "union" || kw == "enum") {
		hint = didYouMean(name, c.s.typeNames(kw))
	}
	return c.errorf(p, "Cannot resolve unknown type \"%s\"%s", name, hint)
}
