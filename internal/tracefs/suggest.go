package tracefs

import (
	"slices"
	"strings"
)

// maxSuggestions bounds the names a NotFoundError offers.
const maxSuggestions = 3

// suggest returns up to maxSuggestions events close to category:name: the
// same name in another category, names within a small edit distance of the
// whole "category:name", and names of the same category that contain the
// requested name ("sched:switch" → "sched:sched_switch").
func suggest(category, name string, all []Event) []string {
	query := category + ":" + name
	maxDist := min(1+len(query)/8, 4)
	type cand struct {
		s    string
		dist int
	}
	var cands []cand
	for _, e := range all {
		s := e.String()
		if s == query {
			continue
		}
		d := levenshtein(query, s)
		switch {
		case e.Name == name:
			d = min(d, 1)
		case d <= maxDist:
		case e.Category == category && len(name) >= 3 && strings.Contains(e.Name, name):
			d = maxDist
		default:
			continue
		}
		cands = append(cands, cand{s, d})
	}
	if len(cands) == 0 {
		return nil
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if a.dist != b.dist {
			return a.dist - b.dist
		}
		return strings.Compare(a.s, b.s)
	})
	best := cands[0].dist
	var out []string
	for _, c := range cands {
		if c.dist > best+1 || len(out) == maxSuggestions {
			break
		}
		out = append(out, c.s)
	}
	return out
}

// levenshtein returns the edit distance between a and b, in bytes.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
