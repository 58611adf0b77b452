package engine

import (
	"github.com/bpftrail/bpftrail/internal/ctftrace"
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
var Builtins = []FieldInfo{
	{"pid", "int32", "(builtin)"},
	{"tid", "int32", "(builtin)"},
	{"comm", "string", "(builtin)"},
	{"cpu", "uint32", "(builtin)"},
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
