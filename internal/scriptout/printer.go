package scriptout

import (
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Printer writes a script's output in bpftrace's text format or as its
// NDJSON (-f json): the run loop calls one method per event, in order.
// In text mode the notices bpftrace writes to stderr ("Attached 2 probes",
// "Lost 3 events", errorf/warnf) go to Err (os.Stderr when nil); in JSON
// mode everything is a record on W.
type Printer struct {
	W    io.Writer
	Err  io.Writer
	JSON bool
	// Loc is the time zone of tseries plots' text (time.Local when nil,
	// as bpftrace's localtime); their JSON is in UTC.
	Loc *time.Location
}

func (p *Printer) errw() io.Writer {
	if p.Err != nil {
		return p.Err
	}
	return os.Stderr
}

// record writes {"type": "<typ>", "data": <data>}.
func (p *Printer) record(typ, data string) error {
	_, err := io.WriteString(p.W, `{"type": "`+typ+`", "data": `+data+"}\n")
	return err
}

func jsonStr(s string) string {
	var b strings.Builder
	appendJSONString(&b, s)
	return b.String()
}

func (p *Printer) str(typ, s, textSuffix string) error {
	if p.JSON {
		return p.record(typ, jsonStr(s))
	}
	_, err := io.WriteString(p.W, s+textSuffix)
	return err
}

// Printf writes printf()'s formatted text.
func (p *Printer) Printf(text string) error { return p.str("printf", text, "") }

// Time writes time()'s formatted text.
func (p *Printer) Time(text string) error { return p.str("time", text, "") }

// Cat writes the content cat() read.
func (p *Printer) Cat(text string) error { return p.str("cat", text, "") }

// Join writes join()'s joined string; text mode ends it with a newline.
func (p *Printer) Join(text string) error { return p.str("join", text, "\n") }

// Syscall writes system()'s command output; text mode adds a newline.
func (p *Printer) Syscall(text string) error { return p.str("syscall", text, "\n") }

// Value writes print(v) of a non-map value: its text and a newline, or a
// "value" record.
func (p *Printer) Value(v Value) error {
	if p.JSON {
		return p.record("value", JSONString(v))
	}
	_, err := io.WriteString(p.W, textString(v)+"\n")
	return err
}

// Map writes a map, as at exit (top 0, div 0) or by print(@m, top, div).
func (p *Printer) Map(m *Map, top, div int) error {
	if p.JSON {
		return WriteMapJSON(p.W, m, top, div)
	}
	return WriteMapIn(p.W, m, top, div, p.Loc)
}

// AttachedProbes reports how many probes were attached.
func (p *Printer) AttachedProbes(n uint64) error {
	if p.JSON {
		c := strconv.FormatUint(n, 10)
		_, err := io.WriteString(p.W, `{"type": "attached_probes", "count": `+c+`, "data": {"probes": `+c+"}}\n")
		return err
	}
	s := "Attached " + strconv.FormatUint(n, 10) + " probe"
	if n != 1 {
		s += "s"
	}
	_, err := io.WriteString(p.errw(), s+"\n")
	return err
}

// Lost reports events lost from the ring buffer.
func (p *Printer) Lost(n uint64) error {
	c := strconv.FormatUint(n, 10)
	if p.JSON {
		_, err := io.WriteString(p.W, `{"type": "lost_events", "count": `+c+`, "data": {"events": `+c+"}}\n")
		return err
	}
	_, err := io.WriteString(p.errw(), "Lost "+c+" events\n")
	return err
}

// Location is where in the script an errorf/warnf or runtime error is.
// Text is the location as bpftrace's diagnostics show it ("stdin:1:32-75");
// File, Line and Col are what JSON records carry.
type Location struct {
	Text      string
	File      string
	Line, Col uint64
}

func (p *Printer) diag(kind, jsonType, msg string, loc Location) error {
	if p.JSON {
		var b strings.Builder
		b.WriteString(`{"type": "` + jsonType + `", "msg": `)
		appendJSONString(&b, msg)
		b.WriteString(`, "filename": `)
		appendJSONString(&b, loc.File)
		b.WriteString(`, "line": ` + strconv.FormatUint(loc.Line, 10))
		b.WriteString(`, "col": ` + strconv.FormatUint(loc.Col, 10) + "}\n")
		_, err := io.WriteString(p.W, b.String())
		return err
	}
	msg = strings.TrimSuffix(msg, "\n")
	prefix := ""
	if loc.Text != "" {
		prefix = loc.Text + ": "
	}
	_, err := io.WriteString(p.errw(), prefix+kind+": "+msg+"\n")
	return err
}

// Errorf writes errorf()'s formatted message.
func (p *Printer) Errorf(msg string, loc Location) error {
	return p.diag("ERROR", "errorf", msg, loc)
}

// Warnf writes warnf()'s formatted message.
func (p *Printer) Warnf(msg string, loc Location) error {
	return p.diag("WARNING", "warnf", msg, loc)
}

// RuntimeError writes a runtime error message (text: a warning on Err;
// JSON: a "runtime_error" record).
func (p *Printer) RuntimeError(msg string, loc Location) error {
	return p.diag("WARNING", "runtime_error", msg, loc)
}

// End marks the end of the main loop, before the maps print at exit: text
// mode writes two newlines, JSON nothing.
func (p *Printer) End() error {
	if p.JSON {
		return nil
	}
	_, err := io.WriteString(p.W, "\n\n")
	return err
}
