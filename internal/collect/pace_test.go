package collect

import (
	"context"
	"testing"
	"time"
)

// fillRing is a batch ring that is always found filled as fill says.
type fillRing struct {
	fill    float64
	size    int
	batches int
}

func (f *fillRing) Batch(func([]byte) error) (int, error) { f.batches++; return 0, nil }
func (f *fillRing) Fill() float64                         { return f.fill }
func (f *fillRing) Capacity() int                         { return f.size }

func TestPace(t *testing.T) {
	const ms = time.Millisecond
	c := &Collector{poll: 10 * ms}
	for _, tc := range []struct {
		name      string
		size      int
		fill      float64
		cur, want time.Duration
	}{
		{"a small ring: the poll interval", 64 << 10, 0, 10 * ms, 10 * ms},
		{"a small ring, full: the poll interval", 64 << 10, 1, 10 * ms, 10 * ms},
		{"empty: twice as long", 1 << 30, 0, 10 * ms, 20 * ms},
		{"empty: up to maxPoll", 1 << 30, 0, 40 * ms, maxPoll},
		{"empty: up to the time the ring fills at fillRate", 8 << 20, 0, 20 * ms, 31250 * time.Microsecond},
		{"a quarter: as long", 1 << 30, 0.25, 30 * ms, 30 * ms},
		{"half: half as long", 1 << 30, 0.5, 30 * ms, 15 * ms},
		{"full: the poll interval", 1 << 30, 1, 30 * ms, 10 * ms},
		{"an eighth: twice as long", 1 << 30, 0.125, 20 * ms, 40 * ms},
		{"a tenth: twice as long at most", 1 << 30, 0.1, 20 * ms, 40 * ms},
	} {
		if got := c.pace(&fillRing{fill: tc.fill, size: tc.size}, tc.cur); got != tc.want {
			t.Errorf("%s: %v after %v, want %v", tc.name, got, tc.cur, tc.want)
		}
	}
}

// TestRunPaces checks that Run drains an idle ring less often than a full
// one.
func TestRunPaces(t *testing.T) {
	count := func(fill float64) int {
		r := &fillRing{fill: fill, size: 1 << 30}
		c := &Collector{batches: r, poll: 10 * time.Millisecond}
		ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
		defer cancel()
		if err := c.Run(ctx); err != nil {
			t.Fatal(err)
		}
		return r.batches
	}
	idle, full := count(0), count(1)
	// Full: a batch every 10 ms, about 60. Idle: 10, 20, 40, then 50 ms
	// apart, about 14.
	if idle*2 > full || full < 20 {
		t.Errorf("%d batches of an idle ring and %d of a full one in 600 ms", idle, full)
	}
}
