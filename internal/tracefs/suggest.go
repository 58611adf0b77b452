package tracefs

import (
	"slices"
	"strings"

	"github.com/bpftrail/bpftrail/internal/suggest"
)

// maxSuggestions bounds the names a NotFoundError offers.
const maxSuggestions = 3

// suggestions returns up to maxSuggestions events close to category:name: the
// same name in another category, names within a small edit distance of the
// whole "category:name", and names of the same category that contain the
// requested name ("sched:switch" → "sched:sched_switch").
func suggestions(category, name string, all []Event) []string {
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
		d := suggest.Distance(query, s)
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
