package scriptout

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// A histogram is shown as bpftrace builds it: the buckets from the first to
// the last non-empty one, each with a label that is the bucket's exclusive
// upper bound, and a lower bound for the first bucket shown (none when
// that is the negative bucket, "(..., 0)"). The last lhist bucket has no
// label: it is "[max, ...)".

// hlabel is one bound. Plain bounds are integers, and two adjacent plain
// bounds make a one-value bucket ("[3]"); the others are symbolic, written
// with a K/M/G... suffix and, in JSON, as their unsigned number.
type hlabel struct {
	text  string
	num   int64
	plain bool
}

func plainLabel(n int64) hlabel { return hlabel{text: strconv.FormatInt(n, 10), num: n, plain: true} }

type histView struct {
	lower  *hlabel
	labels []hlabel
	counts []uint64
}

// span returns the first and last non-empty bucket, -1 if none. bpftrace
// reads each count into an int, so only counts that are positive as 32-bit
// ints count as non-empty.
func span(b []uint64) (int, int) {
	lo, hi := -1, -1
	for i, v := range b {
		if int32(uint32(v)) > 0 {
			if lo == -1 {
				lo = i
			}
			hi = i
		}
	}
	return lo, hi
}

// log2Label is the lower bound of log2 bucket index (for index >= 2^k):
// each power of 2 has 2^k buckets.
func log2Label(index, k int) hlabel {
	n := uint64(1) << uint(k)
	interval := uint64(index) & (n - 1)
	power := uint(index>>uint(k)) - 1
	value := (uint64(1) << power) * (n + interval)
	decade := power / 10
	power -= 10 * decade
	text := strconv.FormatUint((uint64(1)<<power)*(n+interval), 10)
	if decade > 0 && decade < 7 {
		text += string("KMGTPE"[decade-1])
	}
	return hlabel{text: text, num: int64(value)}
}

func buildHist(b []uint64, div uint64, k int) histView {
	var h histView
	lo, hi := span(b)
	if lo == -1 {
		return h
	}
	small := 2 << uint(k)
	if lo != 0 {
		var l hlabel
		if lo-1 <= small {
			l = plainLabel(int64(lo - 1))
		} else {
			l = log2Label(lo-1, k)
		}
		h.lower = &l
	}
	for i := lo; i <= hi; i++ {
		switch {
		case i <= small:
			h.labels = append(h.labels, plainLabel(int64(i)))
		default:
			h.labels = append(h.labels, log2Label(i, k))
		}
		h.counts = append(h.counts, b[i]/div)
	}
	return h
}

func lhistLabel(n, step int64) hlabel {
	const kilo, mega = 1024, 1024 * 1024
	if step%kilo != 0 {
		return plainLabel(n)
	}
	var text string
	switch {
	case n == 0:
		text = "0"
	case n%mega == 0:
		text = strconv.FormatInt(n/mega, 10) + "M"
	case n%kilo == 0:
		text = strconv.FormatInt(n/kilo, 10) + "K"
	default:
		text = strconv.FormatInt(n, 10)
	}
	return hlabel{text: text, num: n}
}

func buildLinear(b []uint64, lmin, lmax, step int64) histView {
	var h histView
	lo, hi := span(b)
	if lo == -1 || step == 0 {
		return h
	}
	if lo != 0 {
		l := lhistLabel(lmin+int64(lo-1)*step, step)
		h.lower = &l
	}
	for i := lo; i <= hi; i++ {
		if lmin+int64(i)*step <= lmax {
			h.labels = append(h.labels, lhistLabel(lmin+int64(i)*step, step))
		}
		h.counts = append(h.counts, b[i])
	}
	return h
}

func single(a, b hlabel) bool { return a.plain && b.plain && a.num+1 == b.num }

const barWidth = 52

func (h histView) writeText(b *strings.Builder) {
	var maxv uint64
	for _, c := range h.counts {
		maxv = max(maxv, c)
	}
	for i, c := range h.counts {
		var head string
		switch {
		case i == 0 && h.lower == nil:
			head = "(..., " + h.labels[0].text + ")"
		case i == 0 && len(h.labels) == 0:
			head = "[" + h.lower.text + ", ...)"
		case i == 0:
			head = interval(*h.lower, h.labels[0])
		case i >= len(h.labels):
			head = "[" + h.labels[i-1].text + ", ...)"
		default:
			head = interval(h.labels[i-1], h.labels[i])
		}
		n := 0
		if maxv > 0 {
			// bpftrace computes the bar in single precision.
			n = int(float32(c) / float32(maxv) * float32(barWidth))
		}
		fmt.Fprintf(b, "%-16s%8d |%-52s|\n", head, c, strings.Repeat("@", n))
	}
}

func interval(lo, hi hlabel) string {
	if single(lo, hi) {
		return "[" + lo.text + "]"
	}
	return "[" + lo.text + ", " + hi.text + ")"
}

func (l hlabel) writeJSON(b *strings.Builder) {
	if l.plain {
		jsonInt(b, l.num)
	} else {
		jsonUint(b, uint64(l.num))
	}
}

// oneLess is a bucket's inclusive maximum, from its exclusive label.
func (l hlabel) oneLess() int64 {
	if !l.plain && l.num == 0 {
		return -1
	}
	return l.num - 1
}

func (h histView) writeJSON(b *strings.Builder) {
	b.WriteByte('[')
	for i, c := range h.counts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		if i == 0 && h.lower != nil {
			b.WriteString(`"min": `)
			h.lower.writeJSON(b)
			b.WriteString(", ")
		} else if i > 0 {
			b.WriteString(`"min": `)
			h.labels[i-1].writeJSON(b)
			b.WriteString(", ")
		}
		if i < len(h.labels) {
			b.WriteString(`"max": `)
			jsonInt(b, h.labels[i].oneLess())
			b.WriteString(", ")
		}
		b.WriteString(`"count": `)
		b.WriteString(strconv.FormatUint(c, 10))
		b.WriteByte('}')
	}
	b.WriteByte(']')
}

// Log2Index is the bucket index bpftrace's kernel code gives v in
// hist(v, k): 0 for v < 0, 1+v below 2^k, then 2^k buckets per power of 2.
func Log2Index(v int64, k int) int {
	if v < 0 {
		return 0
	}
	mask := int64(1)<<uint(k) - 1
	if v <= mask {
		return int(v + 1)
	}
	l := 63 - bits.LeadingZeros64(uint64(v)) - k
	x := (v >> uint(l)) & mask
	return int((int64(l+1) << uint(k)) + x + 1)
}

// LinearIndex is the bucket index of v in lhist(v, min, max, step): 0
// below min, 1+(v-min)/step up to max, and 1+(max-min)/step above it.
func LinearIndex(v, lmin, lmax, step int64) int {
	switch {
	case v < lmin:
		return 0
	case v > lmax:
		return int(1 + (lmax-lmin)/step)
	}
	return int(1 + (v-lmin)/step)
}
