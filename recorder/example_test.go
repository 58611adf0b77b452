package recorder_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	"github.com/cilium/ebpf"

	"github.com/bpftrail/bpftrail/recorder"
)

// A program whose C side sends a struct event to a ring buffer declared
// with BPFTRAIL_RINGBUF(events, ...) (include/bpftrail_recorder.h), which
// also counts the records the ring could not take in events_lost. The
// event class comes from the struct's BTF; events are timed by their ts
// field (bpf_ktime_get_ns()). Ctrl-C stops the recording; Close flushes
// the trace.
func Example_ringBuffer() {
	spec, err := ebpf.LoadCollectionSpec("program.o") // or bpf2go's loadProgram()
	if err != nil {
		log.Fatal(err)
	}
	ev, err := recorder.LookupEvent(spec.Types, "event")
	if err != nil {
		log.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		log.Fatal(err)
	}
	defer coll.Close()
	// ... attach the programs with package link ...

	rec, err := recorder.Create("trace", []recorder.Event{ev}, &recorder.Options{
		TimeField: "ts",
		Lost:      coll.Maps["events_lost"],
		Progress: func(s recorder.Stats) {
			log.Printf("%d events, %d lost", s.Events, s.Lost)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := rec.ReadRingBuf(ctx, coll.Maps["events"]); err != nil {
		log.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		log.Fatal(err)
	}
	log.Printf("%+v", rec.Stats())
}

// A perf event array: each CPU's records go to its own stream, and the
// samples the kernel could not write are the trace's discarded events.
// Without a time field, events are timed when they are read.
func Example_perfEventArray() {
	spec, err := ebpf.LoadCollectionSpec("program.o")
	if err != nil {
		log.Fatal(err)
	}
	ev, err := recorder.LookupEvent(spec.Types, "event")
	if err != nil {
		log.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		log.Fatal(err)
	}
	defer coll.Close()

	rec, err := recorder.Create("trace", []recorder.Event{ev}, &recorder.Options{PerCPUBuffer: 1 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer rec.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := rec.ReadPerf(ctx, coll.Maps["events"]); err != nil {
		log.Fatal(err)
	}
}

// Several event types in one ring, told apart by the type field that
// starts each of their structs.
func Example_severalEvents() {
	spec, err := ebpf.LoadCollectionSpec("program.o")
	if err != nil {
		log.Fatal(err)
	}
	var events []recorder.Event
	for id, name := range []string{"exec_event", "exit_event"} {
		ev, err := recorder.LookupEvent(spec.Types, name)
		if err != nil {
			log.Fatal(err)
		}
		ev.ID = uint64(id) // the C side's enum value for this struct
		events = append(events, ev)
	}
	rec, err := recorder.Create("trace", events, &recorder.Options{TypeField: "hdr.type", TimeField: "hdr.ts", CPUField: "hdr.cpu"})
	if err != nil {
		log.Fatal(err)
	}
	defer rec.Close()
	// ... rec.ReadRingBuf(ctx, coll.Maps["events"]) ...
}

// Records decoded by the program itself, here into bpf2go's generated
// type, are written from the Go struct: its layout is the C struct's.
func ExampleGoEvent() {
	type event struct {
		Pid      uint32
		_        [4]byte
		Ts       uint64
		Comm     [16]int8
		Filename [256]int8
	}
	ev, err := recorder.GoEvent("open", &event{})
	if err != nil {
		log.Fatal(err)
	}
	rec, err := recorder.Create("trace", []recorder.Event{ev}, &recorder.Options{TimeField: "ts"})
	if err != nil {
		log.Fatal(err)
	}
	var e event
	// ... decode a record into e ...
	if err := rec.Write(0, &e); err != nil {
		log.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		log.Fatal(err)
	}
}
