package hist

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/golden"
)

// TestRenderLog2Hand compares with output written by hand from bcc's
// formats: "     %-19s : count     distribution" and
// "%10d -> %-10d : %-8d |%-40s|" with floor(40*count/max) stars.
func TestRenderLog2Hand(t *testing.T) {
	h := &Histogram{Scheme: Log2{}}
	for i, c := range map[int]uint64{1: 3, 3: 8, 4: 16, 5: 1} {
		mustAdd(t, h, i, c)
	}
	want := "" +
		"     usecs               : count     distribution\n" +
		"         1 -> 1          : 3        |*******                                 |\n" +
		"         2 -> 3          : 0        |                                        |\n" +
		"         4 -> 7          : 8        |********************                    |\n" +
		"         8 -> 15         : 16       |****************************************|\n" +
		"        16 -> 31         : 1        |**                                      |\n"
	var b bytes.Buffer
	if err := h.Render(&b, "usecs"); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestRenderEmpty(t *testing.T) {
	var b bytes.Buffer
	for _, s := range []Scheme{Log2{}, LogLinear{}, Linear{0, 10, 1}} {
		h := &Histogram{Scheme: s}
		if err := h.Render(&b, "value"); err != nil {
			t.Fatal(err)
		}
		if err := h.RenderScaled(&b, "us"); err != nil && s != (Linear{0, 10, 1}) {
			t.Fatal(err)
		}
	}
	if b.Len() != 0 {
		t.Errorf("empty histograms rendered %q", b.String())
	}
	if err := (&Histogram{Scheme: Log2{}}).RenderScaled(&b, "minutes"); err == nil {
		t.Error("RenderScaled accepted unit minutes")
	}
	if err := (&Histogram{Scheme: Linear{0, 10, 1}}).RenderScaled(&b, "us"); err == nil {
		t.Error("RenderScaled accepted a linear histogram")
	}
}

func TestRenderGolden(t *testing.T) {
	type sample struct {
		v     uint64
		count uint64
	}
	fill := func(s Scheme, samples ...sample) *Histogram {
		h := &Histogram{Scheme: s}
		for _, x := range samples {
			var i int
			switch s := s.(type) {
			case Log2:
				i = Log2Index(x.v)
			case LogLinear:
				i = LogLinearIndex(x.v)
			case Linear:
				i = s.Index(int64(x.v))
			}
			mustAdd(t, h, i, x.count)
		}
		return h
	}
	tests := []struct {
		name   string
		h      *Histogram
		unit   string
		scaled bool
	}{
		// index 32 ends at 2^32-1: still the narrow layout.
		{"log2_narrow", fill(Log2{}, sample{0, 2}, sample{1, 1}, sample{5, 7}, sample{100, 30}, sample{1 << 31, 3}), "value", false},
		// index 33 starts at 2^32: the wide layout, 20-char columns and bars.
		{"log2_wide", fill(Log2{}, sample{1 << 30, 5}, sample{1 << 32, 10}, sample{1<<64 - 1, 1}), "nsecs", false},
		{"loglinear", fill(LogLinear{}, sample{3, 1}, sample{12, 4}, sample{16, 2}, sample{30, 9}, sample{40, 3}), "nsecs", false},
		// ns buckets shown in us: equal scaled ranges are merged.
		{"loglinear_us", fill(LogLinear{}, sample{300, 1}, sample{900, 2}, sample{1500, 8}, sample{2600, 4}, sample{9000, 1}), "us", true},
		{"log2_ms", fill(Log2{}, sample{3000, 1}, sample{600000, 3}, sample{1500000, 7}, sample{9000000, 2}), "ms", true},
		{"linear_step1", fill(Linear{Min: 0, Max: 5, Step: 1}, sample{0, 4}, sample{2, 8}, sample{4, 1}, sample{7, 2}), "cpu", false},
		{"linear_step10", fill(Linear{Min: 0, Max: 50, Step: 10}, sample{1 << 62, 1}, sample{5, 3}, sample{25, 6}, sample{60, 2}), "value", false},
	}
	var all bytes.Buffer
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			var err error
			if tt.scaled {
				err = tt.h.RenderScaled(&b, tt.unit)
			} else {
				err = tt.h.Render(&b, tt.unit)
			}
			if err != nil {
				t.Fatal(err)
			}
			all.Write(b.Bytes())
			golden.Check(t, filepath.Join("testdata", tt.name+".golden"), b.Bytes())
		})
	}
	// Every bar is |...| of 40 or 20 characters.
	for _, line := range strings.Split(strings.TrimSpace(all.String()), "\n") {
		if strings.HasSuffix(line, "distribution") {
			continue
		}
		i := strings.IndexByte(line, '|')
		if n := len(line) - i - 2; n != 40 && n != 20 || line[len(line)-1] != '|' {
			t.Errorf("bad bar in %q", line)
		}
	}
}

func TestStars(t *testing.T) {
	tests := []struct {
		val, max uint64
		width    int
		want     int
	}{
		{0, 10, 40, 0}, {1, 10, 40, 4}, {10, 10, 40, 40}, {1, 3, 40, 13}, {2, 3, 40, 26},
		{1, 41, 40, 0}, {1<<64 - 1, 1<<64 - 1, 40, 40}, {1<<63 - 1, 1<<64 - 1, 20, 9},
		{20, 10, 40, 40}, {5, 0, 40, 0},
	}
	for _, tt := range tests {
		if got := len(stars(tt.val, tt.max, tt.width)); got != tt.want {
			t.Errorf("stars(%d, %d, %d) = %d, want %d", tt.val, tt.max, tt.width, got, tt.want)
		}
	}
}
