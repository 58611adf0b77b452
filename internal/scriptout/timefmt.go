package scriptout

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeFormat is time()'s format when none is given.
const DefaultTimeFormat = "%H:%M:%S\n"

// timeBufSize is the buffer bpftrace formats time() into: a result that
// does not fit with its NUL is an error, as is an empty one.
const timeBufSize = 64

// StrftimeMax is bpftrace's max_strlen default, strftime()'s buffer.
const StrftimeMax = 1024

// FormatTime formats t as time(format) does, with C strftime's
// conversions and no extensions. It fails as bpftrace does when the
// result is empty or 64 bytes or longer.
func FormatTime(format string, t time.Time) (string, error) {
	s := cStrftime(format, t)
	if s == "" || len(s) >= timeBufSize {
		return "", errors.New("strftime returned zero")
	}
	return s, nil
}

// Strftime formats a timestamp as strftime(format, nsecs) shows it. nsecs
// is what the probe recorded; offset is added to make it wall-clock time
// (the boot time for nsecs since boot, 0 for TAI/realtime stamps). The
// result is in loc (time.Local if nil). bpftrace's extensions come first:
// %f is the microseconds (6 digits), %k the nanoseconds (9), %l the
// milliseconds (3), each replaced textually before C strftime runs. A zero
// time, an empty result or one of max or more bytes show as "(?)".
func Strftime(format string, nsecs uint64, offset time.Duration, loc *time.Location) string {
	return StrftimeMaxLen(format, nsecs, offset, loc, StrftimeMax)
}

// StrftimeMaxLen is Strftime with max_strlen set to maxLen.
func StrftimeMaxLen(format string, nsecs uint64, offset time.Duration, loc *time.Location, maxLen int) string {
	if loc == nil {
		loc = time.Local
	}
	total := int64(nsecs) + int64(offset)
	sec := total / 1e9
	ns := total % 1e9
	if ns < 0 {
		sec--
		ns += 1e9
	}
	if sec == 0 {
		return "(?)"
	}
	t := time.Unix(sec, ns).In(loc)
	f := strings.ReplaceAll(format, "%f", pad0(ns/1000, 6))
	f = strings.ReplaceAll(f, "%k", pad0(ns, 9))
	f = strings.ReplaceAll(f, "%l", pad0(ns/1e6, 3))
	s := cStrftime(f, t)
	if s == "" || len(s) >= maxLen {
		return "(?)"
	}
	return s
}

func pad0(n int64, w int) string {
	s := strconv.FormatInt(n, 10)
	if len(s) < w {
		s = strings.Repeat("0", w-len(s)) + s
	}
	return s
}

var (
	cDays   = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	cMonths = []string{"January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"}
)

// cStrftime is C's strftime in the C locale, as glibc implements it,
// including glibc's flags ("_" pad with spaces, "-" no padding, "0" pad
// with zeros, "^" upper case, "#" swap case), a field width, and the E and
// O modifiers (ignored in the C locale). An unknown conversion is copied
// as it is.
func cStrftime(format string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		start := i
		i++
		var flag byte
		for i < len(format) && strings.IndexByte("_-0^#", format[i]) >= 0 {
			flag = format[i]
			i++
		}
		width := -1
		for i < len(format) && format[i] >= '0' && format[i] <= '9' {
			if width < 0 {
				width = 0
			}
			width = width*10 + int(format[i]-'0')
			i++
		}
		for i < len(format) && (format[i] == 'E' || format[i] == 'O') {
			i++
		}
		if i >= len(format) {
			b.WriteString(format[start:])
			break
		}
		s, ok := convert(format[i], t, flag, width)
		if !ok {
			b.WriteString(format[start : i+1])
			continue
		}
		b.WriteString(s)
	}
	return b.String()
}

func convert(c byte, t time.Time, flag byte, width int) (string, bool) {
	num := func(n, w int, padc byte) string {
		s := strconv.Itoa(n)
		neg := n < 0
		if neg {
			s = s[1:]
		}
		switch flag {
		case '-':
			padc = 0
		case '_':
			padc = ' '
		case '0':
			padc = '0'
		}
		if width >= 0 {
			w = width
			if neg {
				w--
			}
		}
		if padc != 0 && len(s) < w {
			s = strings.Repeat(string(padc), w-len(s)) + s
		}
		if neg {
			s = "-" + s
		}
		return s
	}
	str := func(s string, upper bool) string {
		if flag == '^' || (flag == '#' && upper) {
			s = strings.ToUpper(s)
		}
		if width > len(s) {
			padc := " "
			if flag == '0' {
				padc = "0"
			}
			s = strings.Repeat(padc, width-len(s)) + s
		}
		return s
	}
	sub := func(f string) string { return str(cStrftime(f, t), false) }
	hour12 := t.Hour() % 12
	if hour12 == 0 {
		hour12 = 12
	}
	switch c {
	case 'a':
		return str(cDays[t.Weekday()][:3], true), true
	case 'A':
		return str(cDays[t.Weekday()], true), true
	case 'b', 'h':
		return str(cMonths[t.Month()-1][:3], true), true
	case 'B':
		return str(cMonths[t.Month()-1], true), true
	case 'c':
		return sub("%a %b %e %H:%M:%S %Y"), true
	case 'C':
		return num(t.Year()/100, 2, '0'), true
	case 'd':
		return num(t.Day(), 2, '0'), true
	case 'D':
		return sub("%m/%d/%y"), true
	case 'e':
		return num(t.Day(), 2, ' '), true
	case 'F':
		return sub("%Y-%m-%d"), true
	case 'g':
		y, _ := t.ISOWeek()
		return num(((y%100)+100)%100, 2, '0'), true
	case 'G':
		y, _ := t.ISOWeek()
		return num(y, 1, '0'), true
	case 'H':
		return num(t.Hour(), 2, '0'), true
	case 'I':
		return num(hour12, 2, '0'), true
	case 'j':
		return num(t.YearDay(), 3, '0'), true
	case 'k':
		return num(t.Hour(), 2, ' '), true
	case 'l':
		return num(hour12, 2, ' '), true
	case 'm':
		return num(int(t.Month()), 2, '0'), true
	case 'M':
		return num(t.Minute(), 2, '0'), true
	case 'n':
		return "\n", true
	case 'p':
		p := "AM"
		if t.Hour() >= 12 {
			p = "PM"
		}
		if flag == '#' {
			p = strings.ToLower(p)
		}
		return str(p, false), true
	case 'P':
		if t.Hour() >= 12 {
			return str("pm", false), true
		}
		return str("am", false), true
	case 'r':
		return sub("%I:%M:%S %p"), true
	case 'R':
		return sub("%H:%M"), true
	case 's':
		return num(int(t.Unix()), 1, '0'), true
	case 'S':
		return num(t.Second(), 2, '0'), true
	case 't':
		return "\t", true
	case 'T':
		return sub("%H:%M:%S"), true
	case 'u':
		return num((int(t.Weekday())+6)%7+1, 1, '0'), true
	case 'U':
		return num((t.YearDay()+6-int(t.Weekday()))/7, 2, '0'), true
	case 'V':
		_, w := t.ISOWeek()
		return num(w, 2, '0'), true
	case 'w':
		return num(int(t.Weekday()), 1, '0'), true
	case 'W':
		return num((t.YearDay()+6-(int(t.Weekday())+6)%7)/7, 2, '0'), true
	case 'x':
		return sub("%m/%d/%y"), true
	case 'X':
		return sub("%H:%M:%S"), true
	case 'y':
		return num(((t.Year()%100)+100)%100, 2, '0'), true
	case 'Y':
		return num(t.Year(), 1, '0'), true
	case 'z':
		_, off := t.Zone()
		sign := "+"
		if off < 0 {
			sign, off = "-", -off
		}
		return sign + pad0(int64(off/3600*100+off%3600/60), 4), true
	case 'Z':
		name, _ := t.Zone()
		return str(name, true), true
	case '%':
		return "%", true
	}
	return "", false
}
