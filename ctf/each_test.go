package ctf

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestEach(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trace")
	w, err := Create(dir, Options{Clock: func() uint64 { return 0 }, ClockOffset: 1})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := w.AddEventClass("e", Struct(F("v", Int(32))))
	if err != nil {
		t.Fatal(err)
	}
	st, err := w.Stream(0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := st.Begin(ec, uint64(10+i)).I32(int32(i)).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var seen []int64
	n, err := tr.Each(func(e *Event) error {
		v, _ := e.Payload.Get("v")
		seen = append(seen, v.Int)
		return nil
	})
	if err != nil || n != 3 || len(seen) != 3 || seen[2] != 2 {
		t.Errorf("Each: %d events %v, %v", n, seen, err)
	}
	stop := errors.New("stop")
	n, err = tr.Each(func(e *Event) error {
		if v, _ := e.Payload.Get("v"); v.Int == 1 {
			return stop
		}
		return nil
	})
	if n != 1 || !errors.Is(err, stop) {
		t.Errorf("Each stopped after %d events with %v, want 1 and the callback's error", n, err)
	}
}
