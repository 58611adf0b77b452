package engine

import (
	"github.com/bpftrail/bpftrail/internal/bpfgen"
	"github.com/bpftrail/bpftrail/internal/ctftrace"
	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/resolve"
	"github.com/bpftrail/bpftrail/internal/tracefs"
	"github.com/bpftrail/bpftrail/internal/usdt"
)

// FieldInfo describes a field an event records.
type FieldInfo struct {
	Name  string
	Type  string // as it is written in traces: int32, uint64 (hex), string, char[16], ...
	CType string // the C type the probe declares
}

// Builtins are the values every event carries besides its fields.
func Builtins() []FieldInfo {
	var out []FieldInfo
	for _, b := range bpfgen.Builtins {
		f := event.Field{Kind: event.Int, Size: b.Info.Size, Signed: b.Info.Signed}
		if b.Info.Type == filter.String {
			f = event.Field{Kind: event.String, Size: b.Info.Size}
		}
		out = append(out, FieldInfo{Name: b.Info.Name, Type: ctftrace.TypeName(ctftrace.FieldType(f)), CType: "(builtin)"})
	}
	return out
}

// TracepointFields returns the fields a tracepoint's events record.
func TracepointFields(fsys tracefs.FS, category, name string) ([]FieldInfo, error) {
	f, err := fsys.Format(category, name)
	if err != nil {
		return nil, err
	}
	p, err := resolve.Tracepoint(f, resolve.Options{})
	if err != nil {
		return nil, err
	}
	var out []FieldInfo
	for _, fl := range p.Event.Fields {
		out = append(out, FieldInfo{Name: fl.Name, Type: ctftrace.TypeName(ctftrace.FieldType(fl)), CType: fl.CType})
	}
	return out, nil
}

// USDTProbes returns the USDT probes of a binary, found as uprobes find
// theirs (a path, or a bare name through the library directories and
// $PATH), and the file they were read from.
func USDTProbes(name string) (string, []usdt.Probe, error) {
	file, err := resolve.FindBinary(name, 0)
	if err != nil {
		return "", nil, err
	}
	probes, err := usdt.Probes(file)
	return file, probes, err
}
