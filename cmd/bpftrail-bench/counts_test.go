package main

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckCounts(t *testing.T) {
	const n = 2000000
	for name, tc := range map[string]struct {
		res  result
		fail bool
	}{
		"all_kept":                {result{kept: n, expected: n}, false},
		"most_lost":               {result{kept: 644840, lost: 1355320, expected: n}, false},
		"other_processes_too":     {result{kept: n + 142, expected: n}, false},
		"at_the_threshold":        {result{kept: 1700000, lost: 100000, expected: n}, false},
		"just_below":              {result{kept: 1700000, lost: 99999, expected: n}, true},
		"nothing_recorded":        {result{kept: 0, lost: 0, expected: n}, true},
		"filter_kept_5_percent":   {result{kept: 106455, expected: n}, true},
		"silent_loss_system_wide": {result{kept: 987307, lost: 102886, expected: n}, true},
		"both_cpus_short":         {result{kept: 3000000, lost: 500000, expected: 2 * n}, true},
		"both_cpus_mostly_lost":   {result{kept: 3850000, lost: 150000, expected: 2 * n}, false},
		"untraced_has_no_counts":  {result{kept: -1, lost: -1, expected: n}, false},
		"unknown_expected_passes": {result{kept: 0, expected: 0}, false},
	} {
		t.Run(name, func(t *testing.T) {
			err := checkCounts(tracerPerf, tc.res)
			if !tc.fail {
				if err != nil {
					t.Fatalf("checkCounts = %v, want nil", err)
				}
				return
			}
			var ce *countError
			if !errors.As(err, &ce) {
				t.Fatalf("checkCounts = %v, want a *countError", err)
			}
			// The message names the tracer and the counts.
			for _, want := range []string{tracerPerf, "kept", "lost"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestCountErrorMessage(t *testing.T) {
	err := &countError{tracer: "perf record", kept: 106455, lost: 0, expected: 2000000, others: []string{"bpftrail[42] prog 7"}}
	want := "perf record kept 106455 and lost 0 of the 2000000 getpid calls the loads made: kept + lost is 5.3%, below 90%"
	if got := err.Error(); !strings.HasPrefix(got, want) || !strings.Contains(got, "bpftrail[42] prog 7") {
		t.Errorf("Error() = %q, want it to start with %q and name bpftrail[42]", got, want)
	}
}

func TestRetryShortCount(t *testing.T) {
	short := &countError{tracer: "perf record", expected: 10}
	for name, tc := range map[string]struct {
		errs  []error // what each run returns; nil ends the runs
		runs  int
		isErr bool
	}{
		"short_then_good":     {[]error{short, nil}, 2, false},
		"short_twice_fails":   {[]error{short, short, nil}, 2, true},
		"not_attached_thrice": {[]error{errNotAttached, errNotAttached, errNotAttached, nil}, 3, true},
		"not_attached_short":  {[]error{errNotAttached, short, nil}, 3, false},
		"other_error":         {[]error{errors.New("boom"), nil}, 1, true},
	} {
		t.Run(name, func(t *testing.T) {
			runs := 0
			_, err := retry(func() (result, error) {
				runs++
				return result{}, tc.errs[runs-1]
			})
			if runs != tc.runs || (err != nil) != tc.isErr {
				t.Errorf("retry ran %d times and returned %v; want %d runs, error %v", runs, err, tc.runs, tc.isErr)
			}
		})
	}
}
