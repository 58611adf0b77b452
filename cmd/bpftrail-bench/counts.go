package main

import (
	"fmt"
	"strings"
)

// minAccounted is the share of the loads' calls that a tracer must have
// kept or counted lost for its run to be reported. Losing events is a
// result (perf loses many at this rate); events neither kept nor counted
// lost mean that the tracer was not recording the whole loop, and a cost
// measured then compares nothing.
const minAccounted = 0.9

// countError is a run whose tracer kept and lost far fewer events than the
// loads made.
type countError struct {
	tracer               string
	kept, lost, expected int64
	others               []string // other processes' BPF programs on the tracepoint
}

func (e *countError) Error() string {
	msg := fmt.Sprintf("%s kept %d and lost %d of the %d getpid calls the loads made: kept + lost is %.1f%%, below %.0f%%; the tracer did not record the whole loop",
		e.tracer, e.kept, e.lost, e.expected, 100*float64(e.kept+e.lost)/float64(e.expected), 100*minAccounted)
	if len(e.others) > 0 {
		msg += fmt.Sprintf("; other processes hold BPF programs on %s (%s): a tracepoint's BPF program that returns 0 drops the event for perf as well",
			benchTracepoint, strings.Join(e.others, ", "))
	}
	return msg
}

// checkCounts returns a *countError when the events tracer kept and lost
// in res fall below minAccounted of the calls the loads made. A result
// without counts (kept < 0) or without an expected count passes.
func checkCounts(tracer string, res result) error {
	if res.kept < 0 || res.expected <= 0 {
		return nil
	}
	if float64(res.kept+res.lost) >= minAccounted*float64(res.expected) {
		return nil
	}
	return &countError{tracer: tracer, kept: res.kept, lost: res.lost, expected: res.expected}
}
