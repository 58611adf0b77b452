package ctf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bpftrail/bpftrail/ctf/internal/tsdl"
)

// FuzzParseMetadata checks that ParseMetadata never panics and that whatever
// it accepts, TSDL writes back as metadata that parses again and reaches a
// fixed point after one round.
func FuzzParseMetadata(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "metadata", "*"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, m := range tsdlRoundTripCases() {
		f.Add(m.TSDL())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetadata(data)
		if err != nil {
			var te *tsdl.Error
			if errors.As(err, &te) && te.Line < 0 {
				t.Fatalf("negative line in %v", err)
			}
			return
		}
		text := m.TSDL()
		m2, err := ParseMetadata(text)
		if err != nil {
			var te *tsdl.Error
			if errors.As(err, &te) && te.Limit {
				return // the written form is larger than the input
			}
			t.Fatalf("TSDL output does not parse: %v\n%s", err, text)
		}
		if again := m2.TSDL(); !bytes.Equal(text, again) {
			t.Fatalf("TSDL is not a fixed point:\n%s\n---\n%s", text, again)
		}
	})
}
