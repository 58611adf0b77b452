package plan

import (
	"fmt"

	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// Trigger resolves the spec of a snapshot trigger against a recording
// made of p: it returns, by class id, the filter each recorded event of
// spec must pass to trigger (nil: every record of the class triggers).
// The events of spec must be recorded, and filterSrc must type-check
// against each of them; errors name the event.
func Trigger(rec *Recording, p Probes, spec, filterSrc string, opts Options) (map[uint32]*filter.Expr, error) {
	o, err := opts.resolveOptions(p)
	if err != nil {
		return nil, err
	}
	probes, err := resolve.Specs(opts.FS, []string{spec}, o)
	if err != nil {
		return nil, err
	}
	out := map[uint32]*filter.Expr{}
	for _, pr := range probes {
		found := false
		for _, c := range rec.Classes {
			if c.Schema.Name != pr.Event.Name {
				continue
			}
			found = true
			var e *filter.Expr
			if filterSrc != "" {
				if e, err = filter.Parse(filterSrc, bpfgen.FilterFields(c.Schema)); err != nil {
					if len(probes) > 1 {
						return nil, fmt.Errorf("%s: %w", c.Schema.Name, err)
					}
					return nil, err
				}
			}
			out[c.ID] = e
		}
		if !found {
			return nil, fmt.Errorf("%s is not among the recorded events", pr.Event.Name)
		}
	}
	return out, nil
}
