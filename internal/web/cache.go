package web

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// SubDir is the trace's sub-directory for bpftrail's own files; CTF readers
// only take regular files of the trace directory itself as streams.
const SubDir = "bpftrail"

// CacheName is the view data's file name in SubDir.
const CacheName = "view-data.json"

// AggregatesName is the file "record --aggregate" writes in SubDir.
const AggregatesName = "aggregates.jsonl"

// CachePath is where the view data of the trace in dir is cached.
func CachePath(dir string) string { return filepath.Join(dir, SubDir, CacheName) }

// source describes the trace's files (name, size, modification time of the
// metadata, the streams and the aggregates file) as a hash, and returns the
// latest modification time among them.
func source(dir string) (string, time.Time, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return "", time.Time{}, err
	}
	if !fi.IsDir() {
		return "", time.Time{}, fmt.Errorf("%s is not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "metadata")); err != nil {
		return "", time.Time{}, fmt.Errorf("%s: not a CTF trace (no metadata file)", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", time.Time{}, err
	}
	h := sha256.New()
	var latest time.Time
	add := func(name, path string) {
		i, err := os.Stat(path)
		if err != nil || !i.Mode().IsRegular() {
			return
		}
		fmt.Fprintf(h, "%q %d %d\n", name, i.Size(), i.ModTime().UnixNano())
		if i.ModTime().After(latest) {
			latest = i.ModTime()
		}
	}
	for _, e := range ents {
		if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
			add(e.Name(), filepath.Join(dir, e.Name()))
		}
	}
	add(SubDir+"/"+AggregatesName, filepath.Join(dir, SubDir, AggregatesName))
	return hex.EncodeToString(h.Sum(nil)[:12]), latest, nil
}

// cacheHead is how a cache of this Version for the trace files sig starts.
func cacheHead(sig string) string {
	return `{"version":` + strconv.Itoa(Version) + `,"source":"` + sig + `",`
}

// fresh reports whether the cache at path is not older than the trace and
// was made by this Version from the same trace files.
func fresh(path, sig string, trace time.Time) bool {
	fi, err := os.Stat(path)
	if err != nil || fi.ModTime().Before(trace) {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	want := cacheHead(sig)
	head := make([]byte, len(want))
	if _, err := io.ReadFull(f, head); err != nil {
		return false
	}
	return string(head) == want
}

// Prepare returns the path of the trace's view data, building it into
// DIR/bpftrail/view-data.json unless a cache newer than the trace is there.
// When DIR/bpftrail cannot be written, the data goes to a temporary file
// (tmp reports it; the caller removes it).
func Prepare(dir string, opt Options) (path string, tmp bool, err error) {
	sig, latest, err := source(dir)
	if err != nil {
		return "", false, err
	}
	path = CachePath(dir)
	if fresh(path, sig, latest) {
		return path, false, nil
	}
	d, err := Build(dir, opt)
	if err != nil {
		return "", false, err
	}
	d.Source = sig
	if agg, err := readAggregates(dir); err != nil {
		d.Notes = append(d.Notes, "aggregates: "+err.Error())
	} else {
		d.Aggregates = agg
	}
	sub := filepath.Join(dir, SubDir)
	var f *os.File
	if err := os.MkdirAll(sub, 0o755); err == nil {
		// A trace directory we may not write to falls back to a temporary
		// file below.
		f, _ = os.CreateTemp(sub, ".view-data-*.tmp")
	}
	if f == nil {
		f, err = os.CreateTemp("", "bpftrail-view-data-*.json")
		if err != nil {
			return "", false, err
		}
		tmp = true
	}
	f.Chmod(0o644)
	if err := writeFile(f, d); err != nil {
		os.Remove(f.Name())
		return "", false, err
	}
	if tmp {
		return f.Name(), true, nil
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return "", false, err
	}
	return path, false, nil
}

func writeFile(f *os.File, d *Data) error {
	if err := d.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return nil
}

// readAggregates reads DIR/bpftrail/aggregates.jsonl as a JSON array (nil
// if there is none). Lines that are not JSON are skipped.
func readAggregates(dir string) (json.RawMessage, error) {
	f, err := os.Open(filepath.Join(dir, SubDir, AggregatesName))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out bytes.Buffer
	out.WriteByte('[')
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || !json.Valid(line) {
			continue
		}
		// record --aggregate also logs snapshots over time; the views show
		// the final ones.
		var snap struct {
			Final *bool `json:"final"`
		}
		if json.Unmarshal(line, &snap) == nil && snap.Final != nil && !*snap.Final {
			continue
		}
		var c bytes.Buffer
		if err := json.Compact(&c, line); err != nil {
			continue
		}
		if n > 0 {
			out.WriteByte(',')
		}
		json.HTMLEscape(&out, c.Bytes())
		n++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out.WriteByte(']')
	return out.Bytes(), nil
}
