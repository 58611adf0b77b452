package scriptrun_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/bpftrail/bpftrail/internal/bpftest"
	"github.com/bpftrail/bpftrail/internal/scriptrun"
)

// runJSON runs src in process with -f json and returns its map objects'
// data by map name.
func runJSON(t *testing.T, src string) map[string]json.RawMessage {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := scriptrun.Run(scriptrun.Options{Name: "stdin", Source: src, JSON: true, Out: &out, Err: &errOut, Quiet: true}); err != nil {
		t.Fatalf("%s: %v\n%s", src, err, errOut.String())
	}
	maps := map[string]json.RawMessage{}
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var o struct {
			Type string                     `json:"type"`
			Data map[string]json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(line, &o); err != nil {
			t.Fatalf("%s: %v in %q", src, err, line)
		}
		switch o.Type {
		case "map", "hist":
			for k, v := range o.Data {
				maps[k] = v
			}
		default:
			t.Errorf("%s: unexpected output %s", src, line)
		}
	}
	return maps
}

// TestBPFCachedMapsExact: count() and sum() through the per-CPU cache,
// with many more keys than its slots (so keys evict each other), and
// unkeyed histograms kept as bucket arrays, give exactly what the same
// loop computes here; zero() keeps the keys that were only in the cache,
// clear() removes them.
func TestBPFCachedMapsExact(t *testing.T) {
	bpftest.Require(t)
	const n = 3000
	got := runJSON(t, fmt.Sprintf(`BEGIN { for ($i : 0..%d) {
		@c[$i %% 700] = count(); @s[$i %% 500] = sum($i * 3); @t[$i %% 300, $i %% 7] = count();
		@l = lhist($i, 0, %d, 250); @h = hist($i); } exit(); }`, n, n))
	c, s, tk := map[string]int{}, map[string]int{}, map[string]int{}
	var l []map[string]int
	for i := range n {
		c[fmt.Sprint(i%700)]++
		s[fmt.Sprint(i%500)] += i * 3
		tk[fmt.Sprintf("%d,%d", i%300, i%7)]++
	}
	for lo := 0; lo < n; lo += 250 {
		l = append(l, map[string]int{"min": lo, "max": lo + 249, "count": 250})
	}
	check := func(name string, want any) {
		t.Helper()
		v := reflect.New(reflect.TypeOf(want))
		if err := json.Unmarshal(got[name], v.Interface()); err != nil {
			t.Fatalf("%s: %v in %s", name, err, got[name])
		}
		if !reflect.DeepEqual(v.Elem().Interface(), want) {
			t.Errorf("%s = %s\nwant %v", name, got[name], want)
		}
	}
	check("@c", c)
	check("@s", s)
	check("@t", tk)
	check("@l", l)
	var h []map[string]int
	if err := json.Unmarshal(got["@h"], &h); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, b := range h {
		total += b["count"]
		// hist's buckets below 2 hold one value, then [2^k, 2^(k+1)).
		inBucket := 0
		for i := range n {
			if i >= b["min"] && i <= b["max"] {
				inBucket++
			}
		}
		if b["count"] != inBucket {
			t.Errorf("@h bucket [%d, %d] counts %d, want %d", b["min"], b["max"], b["count"], inBucket)
		}
	}
	if total != n {
		t.Errorf("@h counts %d values, want %d", total, n)
	}

	zeroed := runJSON(t, `BEGIN { for ($i : 0..1000) { @c[$i % 600] = count(); @h = hist($i); } zero(@c); zero(@h); exit(); }`)
	var zc map[string]int
	if err := json.Unmarshal(zeroed["@c"], &zc); err != nil {
		t.Fatal(err)
	}
	if len(zc) != 600 {
		t.Errorf("zero(@c) keeps %d keys, want 600", len(zc))
	}
	for k, v := range zc {
		if v != 0 {
			t.Errorf("zero(@c): @c[%s] = %d", k, v)
		}
	}
	if h, ok := zeroed["@h"]; !ok || string(h) != "[]" {
		t.Errorf("zero(@h) leaves %q, want an empty histogram", h)
	}
	// clear() runs in user space once the record arrives, after the
	// probe has ended: @c[7] is counted, then cleared with the rest.
	cleared := runJSON(t, `BEGIN { for ($i : 0..1000) { @c[$i % 600] = count(); @h = hist($i); } clear(@c); clear(@h); @c[7] = count(); exit(); }`)
	for _, name := range []string{"@c", "@h"} {
		if v, ok := cleared[name]; ok && string(v) != "{}" && string(v) != "[]" {
			t.Errorf("clear(%s) leaves %s", name, v)
		}
	}
}
