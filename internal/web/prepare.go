package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bpftrail/bpftrail/ctf"
	"github.com/bpftrail/bpftrail/internal/analyze"
	"github.com/bpftrail/bpftrail/internal/tracedir"
)

// Prepare returns the path of the view data of the trace in dir. Unless the
// trace's derived sidecars are fresh (tracedir.Fresh), it reads the trace
// once and writes both the view data and the analyses ("bpftrail analyze
// --json") beside it (tracedir.ViewData and tracedir.Analysis). When the
// trace directory cannot take them, the view data goes to a temporary file
// (tmp reports it; the caller removes it) and the analyses are not kept.
func Prepare(dir string, opt Options) (path string, tmp bool, err error) {
	if err := checkTrace(dir); err != nil {
		return "", false, err
	}
	path = tracedir.Path(dir, tracedir.ViewData)
	if tracedir.Fresh(dir, tracedir.ViewData, Version) && tracedir.Fresh(dir, tracedir.Analysis, analyze.Version) {
		return path, false, nil
	}
	sig, err := tracedir.Signature(dir)
	if err != nil {
		return "", false, err
	}
	d, r, err := Build(dir, opt)
	if err != nil {
		return "", false, err
	}
	err = tracedir.WriteDerived(dir, tracedir.ViewData, Version, sig, d.WriteJSON)
	if errors.Is(err, tracedir.ErrNotWritable) {
		path, err = writeTemp(d)
		return path, err == nil, err
	}
	if err != nil {
		return "", false, err
	}
	err = tracedir.WriteDerived(dir, tracedir.Analysis, analyze.Version, sig, func(w io.Writer) error {
		return json.NewEncoder(w).Encode(r)
	})
	if err != nil {
		return "", false, err
	}
	return path, false, nil
}

// checkTrace says what is wrong when dir is not a trace directory.
func checkTrace(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if _, err := ctf.Find(dir); err != nil {
		return fmt.Errorf("%s: not a CTF trace (no metadata file, here or in a sub-directory)", dir)
	}
	return nil
}

// writeTemp writes the view data to a temporary file and returns its path.
func writeTemp(d *Data) (string, error) {
	f, err := os.CreateTemp("", "bpftrail-view-data-*.json")
	if err != nil {
		return "", err
	}
	err = d.WriteJSON(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
