package ctf

import (
	"fmt"
	"os"
	"path/filepath"
)

// Recover truncates every stream file of the trace in dir to its last
// complete packet boundary, removing a torn tail (a trailing partial packet,
// or a zero-filled tail) so that babeltrace2 and other readers accept the
// trace again. It returns the bytes removed per file path (files left alone
// are not listed). A stream that is corrupt elsewhere is an error, and no file
// is changed then.
func Recover(dir string) (map[string]int64, error) {
	data, err := os.ReadFile(filepath.Join(dir, "metadata"))
	if err != nil {
		return nil, fmt.Errorf("ctf: %w", err)
	}
	m, err := ParseMetadata(data)
	if err != nil {
		return nil, fmt.Errorf("ctf: %s: %w", filepath.Join(dir, "metadata"), err)
	}
	return rdRecover(dir, m)
}

func rdRecover(dir string, m *Metadata) (map[string]int64, error) {
	t, err := rdOpen(dir, m)
	if err != nil {
		return nil, err
	}
	removed := map[string]int64{}
	for _, s := range t.Streams {
		if s.TornBytes <= 0 {
			continue
		}
		keep := s.size - s.TornBytes
		fi, err := os.Stat(s.Path)
		if err != nil {
			return removed, fmt.Errorf("ctf: %w", err)
		}
		if fi.Size() != s.size {
			return removed, fmt.Errorf("ctf: %s: size changed from %d to %d bytes while recovering", s.Path, s.size, fi.Size())
		}
		if err := os.Truncate(s.Path, keep); err != nil {
			return removed, fmt.Errorf("ctf: %w", err)
		}
		removed[s.Path] = s.TornBytes
	}
	return removed, nil
}
