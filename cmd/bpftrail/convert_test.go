package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/analyze/tracetest"
)

func TestConvertFormats(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	b := tracetest.New(t, dir, tracetest.Tracefs, 0)
	c := tracetest.Ctx{PID: 5, TID: 5, Comm: "five"}
	b.OpenatEnter(0, 10, c, "/etc/hosts")
	b.OpenatExit(0, 20, c, 3)
	b.Switch(0, 30, c, 1, tracetest.Ctx{Comm: "swapper/0"})
	b.Close()

	var printed, stderr bytes.Buffer
	if err := printTrace(dir, true, &printed, &stderr); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		to    string
		check func(t *testing.T, out []byte)
	}{
		{"jsonl", func(t *testing.T, out []byte) {
			if !bytes.Equal(out, printed.Bytes()) {
				t.Errorf("jsonl differs from print --json:\n%s\nwant:\n%s", out, printed.Bytes())
			}
		}},
		{"chrome", func(t *testing.T, out []byte) {
			var doc struct {
				TraceEvents []map[string]any `json:"traceEvents"`
			}
			if err := json.Unmarshal(out, &doc); err != nil || len(doc.TraceEvents) == 0 {
				t.Errorf("chrome output: %v, %d events", err, len(doc.TraceEvents))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := convertTrace(dir, tt.to, "-", &out, &errOut); err != nil {
				t.Fatal(err)
			}
			tt.check(t, out.Bytes())
			file := filepath.Join(t.TempDir(), "out")
			if err := convertTrace(dir, tt.to, file, &out, &errOut); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(file); err != nil || st.Size() == 0 {
				t.Errorf("-o %s: %v", file, err)
			}
		})
	}
	// No stack samples: an error and no output file.
	file := filepath.Join(t.TempDir(), "out.folded")
	err := convertTrace(dir, "folded", file, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no stack samples") {
		t.Errorf("folded without samples: %v", err)
	}
	if _, serr := os.Stat(file); serr == nil {
		t.Errorf("%s left behind", file)
	}
}
