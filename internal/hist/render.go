package hist

import (
	"bufio"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"strings"
)

// Rendering follows bcc's Python _print_log2_hist / _print_linear_hist
// (src/python/bcc/table.py):
//
//	header: "     %-19s : count     distribution"             (all values < 2^32)
//	        "               %-29s : count     distribution"    (otherwise)
//	body:   "%10d -> %-10d : %-8d |%-40s|"                     (all values < 2^32)
//	        "%20d -> %-20d : %-8d |%-20s|"                     (otherwise)
//	linear: "     %-13s : count     distribution"
//	        "        %-10d : %-8d |%-40s|"
//
// Ranges are inclusive ("low -> last"). The bar has floor(width*count/max)
// stars, max being the largest count shown. Differences from bcc: rows run
// from the first to the last non-empty bucket (bcc's strip_leading_zero),
// and since 0 has its own Log2 bucket the first rows read "0 -> 0",
// "1 -> 1" where bcc prints a combined "0 -> 1". Nothing is written for an
// empty histogram. The caller prints any key line ("@[comm] ..." or
// "disk = sda") before the histogram.

const (
	starsMax   = 40
	narrowMax  = 1 << 32 // all displayed values below this: narrow layout
	narrowCol  = 10
	wideCol    = 20
	countTitle = " : count     distribution\n"
)

type row struct {
	low, last string
	count     uint64
}

// Render writes h in bcc's style; unit titles the first column ("usecs",
// "nsecs", "bytes", "value").
func (h *Histogram) Render(w io.Writer, unit string) error {
	first, last, ok := h.span()
	if !ok {
		return nil
	}
	switch s := h.Scheme.(type) {
	case Linear:
		return h.renderLinear(w, s, unit, first, last)
	default:
		var rows []row
		wide := false
		for i := first; i <= last; i++ {
			lo, hi := h.uintRange(i)
			wide = wide || hi >= narrowMax
			rows = append(rows, row{u(lo), u(hi), h.Counts[i]})
		}
		return writeRanges(w, unit, rows, wide)
	}
}

// RenderScaled writes a Log2 or LogLinear histogram of nanosecond values in
// unit (ns, us, ms or s), titled "nsecs", "usecs", "msecs" or "secs". Each
// bucket [low, last] ns is shown as low/factor -> last/factor (integer
// division: the truncated values its samples have in that unit); adjacent
// rows that show the same range are merged. Linear histograms are rejected.
func (h *Histogram) RenderScaled(w io.Writer, unit string) error {
	un, err := ParseUnit(unit)
	if err != nil {
		return err
	}
	if _, ok := h.Scheme.(Linear); ok {
		return fmt.Errorf("hist: cannot scale a linear histogram")
	}
	first, last, ok := h.span()
	if !ok {
		return nil
	}
	var rows []row
	var prevLo, prevHi uint64
	wide := false
	for i := first; i <= last; i++ {
		lo, hi := h.uintRange(i)
		lo, hi = lo/un.Factor, hi/un.Factor
		if len(rows) > 0 && lo == prevLo && hi == prevHi {
			rows[len(rows)-1].count = satAdd(rows[len(rows)-1].count, h.Counts[i])
			continue
		}
		prevLo, prevHi = lo, hi
		wide = wide || hi >= narrowMax
		rows = append(rows, row{u(lo), u(hi), h.Counts[i]})
	}
	return writeRanges(w, un.Label, rows, wide)
}

func (h *Histogram) uintRange(i int) (low, last uint64) {
	if s, ok := h.Scheme.(interface{ Range(int) (uint64, uint64) }); ok {
		return s.Range(i)
	}
	panic(fmt.Sprintf("hist: unexpected scheme %v", h.Scheme))
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }
func d(v int64) string  { return strconv.FormatInt(v, 10) }

func (h *Histogram) renderLinear(w io.Writer, l Linear, unit string, first, last int) error {
	n := len(h.Counts)
	var rows []row
	wide := false
	for i := first; i <= last; i++ {
		var r row
		lo, hi := l.Range(i)
		switch {
		case l.Step == 1 && i == 0:
			r.low = "<" + d(l.Min)
		case l.Step == 1 && i == n-1:
			r.low = ">=" + d(l.Max)
		case l.Step == 1:
			r.low = d(lo)
		case i == 0:
			r.low, r.last = "-inf", d(hi)
		case i == n-1:
			r.low, r.last = d(lo), "inf"
		default:
			r.low, r.last = d(lo), d(hi)
		}
		r.count = h.Counts[i]
		wide = wide || len(r.low) > narrowCol || len(r.last) > narrowCol
		rows = append(rows, r)
	}
	if l.Step != 1 {
		return writeRanges(w, unit, rows, wide)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "     %-13s"+countTitle, unit)
	vmax := maxCount(rows)
	for _, r := range rows {
		fmt.Fprintf(bw, "        %-10s : %-8d |%-*s|\n", r.low, r.count, starsMax, stars(r.count, vmax, starsMax))
	}
	return bw.Flush()
}

func writeRanges(w io.Writer, unit string, rows []row, wide bool) error {
	bw := bufio.NewWriter(w)
	col, width := narrowCol, starsMax
	if wide {
		col, width = wideCol, starsMax/2
		fmt.Fprintf(bw, "               %-29s"+countTitle, unit)
	} else {
		fmt.Fprintf(bw, "     %-19s"+countTitle, unit)
	}
	vmax := maxCount(rows)
	for _, r := range rows {
		fmt.Fprintf(bw, "%*s -> %-*s : %-8d |%-*s|\n", col, r.low, col, r.last, r.count, width, stars(r.count, vmax, width))
	}
	return bw.Flush()
}

func maxCount(rows []row) uint64 {
	var m uint64
	for _, r := range rows {
		m = max(m, r.count)
	}
	return m
}

// stars returns floor(width*val/vmax) stars (at most width), as bcc's _stars.
func stars(val, vmax uint64, width int) string {
	if vmax == 0 || val == 0 {
		return ""
	}
	val = min(val, vmax)
	hi, lo := bits.Mul64(uint64(width), val)
	n, _ := bits.Div64(hi, lo, vmax) // hi < vmax since val <= vmax
	return strings.Repeat("*", int(n))
}
