package resolve

import (
	"fmt"
	"strings"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/tracefs"
)

// Tracepoints resolves tracepoint specs (globs allowed) to probes, one per
// tracepoint, in the order given and without duplicates.
func Tracepoints(fs tracefs.FS, specs []probe.Spec, o Options) ([]*Probe, error) {
	seen := map[string]bool{}
	var out []*Probe
	for _, sp := range specs {
		if sp.Kind != probe.Tracepoint {
			return nil, fmt.Errorf("%s: only tracepoints can be recorded so far", sp.Raw)
		}
		var evs []tracefs.Event
		if strings.ContainsAny(sp.Category+sp.Name, "*?[") {
			list, err := fs.List(sp.Category + ":" + sp.Name)
			if err != nil {
				return nil, err
			}
			if len(list) == 0 {
				return nil, fmt.Errorf("no tracepoint matches %s:%s (see bpftrail list)", sp.Category, sp.Name)
			}
			evs = list
		} else {
			evs = []tracefs.Event{{Category: sp.Category, Name: sp.Name}}
		}
		for _, ev := range evs {
			name := ev.Category + ":" + ev.Name
			if seen[name] {
				continue
			}
			seen[name] = true
			f, err := fs.Format(ev.Category, ev.Name)
			if err != nil {
				return nil, err
			}
			p, err := Tracepoint(f, o)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// Tracepoint builds the probe of a tracepoint from its format.
func Tracepoint(f *tracefs.Format, o Options) (*Probe, error) {
	p := &Probe{
		Event:  &event.Schema{Name: f.Category + ":" + f.Name},
		Target: Target{Kind: TargetTracepoint, Category: f.Category, Event: f.Name},
	}
	for _, ff := range f.Fields {
		fld, rd, ok := tracepointField(f.Category, ff, o.stringSize())
		if !ok {
			continue
		}
		p.Event.Fields = append(p.Event.Fields, fld)
		p.Reads = append(p.Reads, rd)
	}
	if err := p.Event.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// tracepointField returns the field and read of one tracepoint format
// field; ok is false for fields that cannot be recorded.
func tracepointField(category string, ff tracefs.FormatField, stringSize int) (fld event.Field, rd Read, ok bool) {
	fld = event.Field{Name: ff.Name, CType: ff.CType}
	rd = Read{Src: FromContext, Offset: ff.Offset, Size: ff.Size}
	switch ff.Kind {
	case tracefs.FieldInt:
		fld.Kind, fld.Size, fld.Signed = event.Int, ff.Size, ff.Signed
		if category == "syscalls" {
			// Syscall arguments are stored as longs; keep their C type.
			if n, signed, ok := cInt(ff.CType); ok && n <= ff.Size {
				fld.Size, fld.Signed = n, signed
			}
		}
		if isFlagLike(ff.Name) {
			fld.Hex = true
		}
	case tracefs.FieldPointer:
		fld.Kind, fld.Size, fld.Hex = event.Int, 8, true
		if ff.Size != 8 {
			fld.Size = ff.Size
		}
	case tracefs.FieldCharArray:
		if ff.Size == 0 {
			return fld, rd, false // flexible array at the end of the record: not recordable
		}
		fld.Kind, fld.Size = event.Text, ff.Size
	case tracefs.FieldArray:
		if ff.ArrayLen == 0 || ff.ElemSize*ff.ArrayLen != ff.Size {
			fld.Kind, fld.Size = event.Array, ff.Size
			fld.ElemSize, fld.Len = 1, ff.Size
		} else {
			fld.Kind, fld.Size, fld.ElemSize, fld.Len, fld.Signed = event.Array, ff.Size, ff.ElemSize, ff.ArrayLen, ff.Signed
		}
		if fld.ElemSize != 1 && fld.ElemSize != 2 && fld.ElemSize != 4 && fld.ElemSize != 8 {
			fld.ElemSize, fld.Len = 1, ff.Size
		}
	case tracefs.FieldBytes:
		if ff.Size == 0 {
			return fld, rd, false
		}
		fld.Kind, fld.Size, fld.ElemSize, fld.Len = event.Array, ff.Size, 1, ff.Size
		fld.Hex = true
	case tracefs.FieldDataLocString:
		if ff.RelLoc {
			return fld, rd, false // __rel_loc: rare, not yet supported
		}
		fld.Kind, fld.Size, rd.Src = event.String, stringSize, FromDataLoc
	case tracefs.FieldDataLocArray:
		if ff.RelLoc {
			return fld, rd, false
		}
		fld.Kind, fld.Size, rd.Src = event.Bytes, stringSize+2, FromDataLoc
	case tracefs.FieldUserString:
		fld.Kind, fld.Size, rd.Src = event.String, stringSize, FromUserPtr
	default:
		return fld, rd, false
	}
	return fld, rd, true
}

func isFlagLike(name string) bool {
	return name == "flags" || strings.HasSuffix(name, "_flags")
}

// cInt returns the size and signedness of common C integer types.
func cInt(ctype string) (int, bool, bool) {
	t := strings.Join(strings.Fields(strings.ReplaceAll(ctype, "const ", "")), " ")
	switch t {
	case "char", "signed char", "s8", "__s8", "int8_t":
		return 1, true, true
	case "unsigned char", "u8", "__u8", "uint8_t", "bool", "_Bool":
		return 1, false, true
	case "short", "s16", "__s16", "int16_t":
		return 2, true, true
	case "unsigned short", "u16", "__u16", "uint16_t", "umode_t":
		return 2, false, true
	case "int", "s32", "__s32", "int32_t", "pid_t", "key_t", "mqd_t", "timer_t", "clockid_t", "key_serial_t":
		return 4, true, true
	case "unsigned int", "unsigned", "u32", "__u32", "uint32_t", "uid_t", "gid_t", "qid_t", "rwf_t", "aio_context_t":
		return 4, false, true
	case "long", "long long", "s64", "__s64", "int64_t", "off_t", "loff_t", "ssize_t", "time_t":
		return 8, true, true
	case "unsigned long", "unsigned long long", "u64", "__u64", "uint64_t", "size_t":
		return 8, false, true
	}
	return 0, false, false
}
