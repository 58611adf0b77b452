package stacks

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"
)

// WriteFolded writes one "comm;root;...;leaf count" line per distinct
// stack, processes of the same comm merged, sorted, for flamegraph.pl and
// speedscope. Frames are named by [FrameName]; ';' in a name becomes ':',
// newlines and tabs spaces, so that every line parses.
func (p *Profile) WriteFolded(w io.Writer) error {
	counts := map[string]int64{}
	var sb strings.Builder
	for _, s := range p.Stacks {
		sb.Reset()
		sb.WriteString(sanitize(s.Comm))
		for i := len(s.Frames) - 1; i >= 0; i-- {
			sb.WriteByte(';')
			sb.WriteString(sanitize(FrameName(s.Frames[i])))
		}
		counts[sb.String()] += s.Count
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	bw := bufio.NewWriter(w)
	for _, k := range keys {
		bw.WriteString(k)
		bw.WriteByte(' ')
		bw.WriteString(strconv.FormatInt(counts[k], 10))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// sanitize keeps a folded line parseable: no ';' inside a frame, no line
// breaks or tabs; spaces stay (the count is after the last one).
func sanitize(s string) string {
	if !strings.ContainsAny(s, ";\n\r\t") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ';':
			return ':'
		case '\n', '\r', '\t':
			return ' '
		}
		return r
	}, s)
}
