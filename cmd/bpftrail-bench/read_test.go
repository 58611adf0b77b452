package main

import "testing"

func TestCounterEvents(t *testing.T) {
	out := `           9765 Event messages
              2 Stream beginning messages
          10005 messages (TOTAL)

         300000 Event messages
              2 Stream beginning messages
         307200 messages (TOTAL)
`
	if n := counterEvents(out); n != 300000 {
		t.Errorf("counterEvents = %d, want the last total 300000", n)
	}
	if n := counterEvents("no counts\n"); n != -1 {
		t.Errorf("counterEvents of no counts = %d, want -1", n)
	}
}
