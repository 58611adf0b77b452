package bpfgen

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/filter"
	"github.com/bpftrail/bpftrail/internal/hist"
	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/resolve"
)

// In-kernel aggregation: the program fills the record as for recording and
// runs the filter, then, instead of copying the record to the ring buffer,
// builds a key from it (in the scratch value, after the record) and counts
// in a per-CPU hash map: per key, per key and histogram bucket, or per key
// and latency bucket with start times kept in an LRU map.

// AggMode selects what an aggregation program does with a record.
type AggMode uint8

// Aggregation modes.
const (
	AggCount AggMode = iota + 1 // counts[key]++
	AggHist                     // counts[key, bucket(value)]++; with Sums, sums[key] += value
	AggStart                    // starts[match] = now
	AggEnd                      // d = now - starts[match]; counts[key, bucket(d)]++; sums[key] += d
)

// Agg describes one aggregation program.
type Agg struct {
	Mode   AggMode
	Keys   record.KeyLayout
	Value  string      // AggHist: the field whose value is bucketed
	Scheme hist.Scheme // AggHist, AggEnd: the buckets (any hist scheme)
	Match  string      // AggStart/AggEnd: the field or builtin matching starts to ends

	Counts *ebpf.Map // per-CPU hash: key (+ u32 bucket) → u64
	Sums   *ebpf.Map // AggEnd, and AggHist when set: per-CPU hash: key → {count, sum, min, max} u64s
	Starts *ebpf.Map // AggStart/AggEnd: LRU hash: u64 match → u64 start ns
	Stats  *ebpf.Map // per-CPU array of u64: [0] map full, [1] starts, [2] matched
}

// KeySize returns the size of the key an Agg builds (a u32 bucket last for
// histograms and latencies).
func (a *Agg) KeySize() int {
	n := a.SumsKeySize()
	if a.Mode == AggHist || a.Mode == AggEnd {
		n += 8 // u32 bucket + padding
	}
	return n
}

// SumsKeySize is the key size of the Sums map (the key without its bucket).
func (a *Agg) SumsKeySize() int { return a.Keys.Size() }

// AggProgram returns the program aggregating the records of probe p, laid
// out by l. The scratch value must hold maxRecord + the key size.
func AggProgram(p *resolve.Probe, l record.Layout, m Maps, maxRecord int, o Options, a *Agg) (*ebpf.ProgramSpec, error) {
	s := p.Event
	g := &gen{taskComm: o.TaskComm}
	g.emit(asm.Mov.Reg(rCtx, asm.R1))
	if err := g.prologue(m, o); err != nil {
		return nil, err
	}
	if err := g.scratch(m); err != nil {
		return nil, err
	}
	// Fill only what the filter, key, value and match read: an aggregate
	// keeps no record, so a field (a user string, say) nobody reads is
	// never copied.
	need := map[string]bool{a.Value: true, a.Match: true}
	for _, k := range a.Keys {
		need[k.Name] = true
	}
	if o.Filter != nil {
		for _, name := range o.Filter.Fields() {
			need[name] = true
		}
	}
	g.emit(asm.StoreImm(rRec, record.OffClass, int64(o.ClassID), asm.Word))
	g.headerOnly(need["time"] || a.Mode == AggStart || a.Mode == AggEnd, need["cpu"], need["comm"])
	if err := g.fields(p, l, need); err != nil {
		return nil, err
	}
	if o.Filter != nil {
		if err := g.filter(o.Filter, s, l); err != nil {
			return nil, fmt.Errorf("bpfgen: %s: %w", s.Name, err)
		}
	}
	keyOff := (maxRecord + 7) &^ 7
	r := recordOf{s, l}
	var err error
	switch a.Mode {
	case AggCount:
		err = g.aggCount(r, a, keyOff, nil)
	case AggHist:
		err = g.aggHist(r, a, keyOff)
	case AggStart:
		err = g.aggStart(r, a, keyOff)
	case AggEnd:
		err = g.aggEnd(r, a, keyOff)
	default:
		err = fmt.Errorf("unknown aggregation mode %d", a.Mode)
	}
	if err != nil {
		return nil, fmt.Errorf("bpfgen: %s: %w", s.Name, err)
	}
	g.emit(asm.Mov.Imm(asm.R0, 0).WithSymbol(labelExit), asm.Return())
	return g.spec(p), nil
}

// recordOf is a schema with its record layout: what key and value code
// reads fields from.
type recordOf struct {
	s *event.Schema
	l record.Layout
}

// loadInt loads the integer field or builtin name of the record into dst,
// sign-extended when signed.
func (g *gen) loadInt(r recordOf, name string, dst asm.Register) error {
	off, size, signed := 0, 0, false
	if b, ok := BuiltinOf(r.s, name); ok && b.Info.Type == filter.Int {
		off, size, signed = b.Off, b.Info.Size, b.Info.Signed
	} else {
		i := r.s.Index(name)
		if i < 0 || r.s.Fields[i].Kind != event.Int {
			return fmt.Errorf("%q is not an integer field of %s", name, r.s.Name)
		}
		f := r.s.Fields[i]
		off, size, signed = r.l.Off[i], f.Size, f.Signed
	}
	g.emit(asm.LoadMem(dst, rRec, int16(off), sizeOf(size)))
	if signed && size < 8 {
		shift := int32(64 - 8*size)
		g.emit(asm.LSh.Imm(dst, shift), asm.ArSh.Imm(dst, shift))
	}
	return nil
}

// buildKey writes the key parts at rec+keyOff and returns the offset after
// them.
func (g *gen) buildKey(r recordOf, a *Agg, keyOff int) (int, error) {
	off := keyOff
	if len(a.Keys) == 0 {
		g.emit(storeImm64(rRec, int16(off), 0))
		return off + 8, nil
	}
	for _, k := range a.Keys {
		switch {
		case k.Kind == record.KeyClass:
			g.emit(
				asm.LoadMem(asm.R1, rRec, record.OffClass, asm.Word),
				asm.StoreMem(rRec, int16(off), asm.R1, asm.DWord),
			)
		case k.Kind == record.KeyInt:
			if err := g.loadInt(r, k.Name, asm.R1); err != nil {
				return 0, err
			}
			g.emit(asm.StoreMem(rRec, int16(off), asm.R1, asm.DWord))
		case k.Name == "comm" && k.Size >= 16 && r.s.Index("comm") < 0:
			// The header's comm is zero-padded by bpf_get_current_comm.
			for i := 0; i < k.Size; i += 8 {
				if i < 16 {
					g.emit(
						asm.LoadMem(asm.R1, rRec, int16(record.OffComm+i), asm.DWord),
						asm.StoreMem(rRec, int16(off+i), asm.R1, asm.DWord),
					)
				} else {
					g.emit(storeImm64(rRec, int16(off+i), 0))
				}
			}
		default:
			srcOff, srcSize, err := locate(r.s, r.l, k.Name)
			if err != nil {
				return 0, err
			}
			// Zero the key slot, then copy the string up to its NUL: bytes
			// after the NUL in the record are left over from other events.
			for i := 0; i < k.Size; i += 8 {
				g.emit(storeImm64(rRec, int16(off+i), 0))
			}
			n := k.Size
			if srcSize < n {
				n = srcSize
			}
			g.emit(
				asm.Mov.Reg(asm.R1, rRec),
				asm.Add.Imm(asm.R1, int32(off)),
				asm.Mov.Imm(asm.R2, int32(n)),
				asm.Mov.Reg(asm.R3, rRec),
				asm.Add.Imm(asm.R3, int32(srcOff)),
				asm.FnProbeReadKernelStr.Call(),
			)
		}
		off += k.Size
	}
	return off, nil
}

// aggCount counts the key (with the bucket in R6.. already stored when
// bucketed); bucket, when set, emits the code that stores the bucket index
// at the key's end.
func (g *gen) aggCount(r recordOf, a *Agg, keyOff int, bucket func(at int) error) error {
	end, err := g.buildKey(r, a, keyOff)
	if err != nil {
		return err
	}
	if bucket != nil {
		if err := bucket(end); err != nil {
			return err
		}
	}
	g.increment(a.Counts, keyOff, a.Stats)
	return nil
}

// increment emits map[rec+keyOff] += 1 for a per-CPU hash, inserting the key
// when missing and counting a full map in stats[record.StatMapFull].
func (g *gen) increment(m *ebpf.Map, keyOff int, stats *ebpf.Map) {
	insert := g.label("ins")
	done := g.label("done")
	g.emit(
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, insert),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Ja.Label(done),
		storeImm64(asm.RFP, -16, 1).WithSymbol(insert),
		asm.LoadMapPtr(asm.R1, m.FD()),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -16),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY: per-CPU values, no race on this CPU
		asm.FnMapUpdateElem.Call(),
		asm.JEq.Imm(asm.R0, 0, done),
	)
	g.stat(stats, record.StatMapFull)
	g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(done))
}

// stat emits stats[idx]++ (a per-CPU array).
func (g *gen) stat(stats *ebpf.Map, idx int) {
	if stats == nil {
		return
	}
	skip := g.label("st")
	g.emit(
		asm.StoreImm(asm.RFP, stackKey, int64(idx), asm.Word),
		asm.LoadMapPtr(asm.R1, stats.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, skip),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(skip),
	)
}

// bucketIndex turns the value in R1 into a bucket index in R1 (R2..R5 are
// clobbered).
func (g *gen) bucketIndex(sc hist.Scheme, signed bool) error {
	switch sc := sc.(type) {
	case hist.Log2:
		g.logIndex(false, signed)
		return nil
	case hist.LogLinear:
		g.logIndex(true, signed)
		return nil
	case hist.Log2Upper:
		g.upperIndex(false, signed)
		return nil
	case hist.LogLinearUpper:
		g.upperIndex(true, signed)
		return nil
	case hist.Linear:
		return g.linearIndex(sc, signed)
	}
	return fmt.Errorf("no bucket scheme")
}

// logIndex computes the Log2 index of R1 (0 → 0; [2^(i-1), 2^i) → i), or
// with linear the LogLinear one (v < 8 → v; else 8*(k-2) + ((v >> (k-3))
// & 7), k = floor(log2 v)). Negative signed values count as 0.
func (g *gen) logIndex(linear, signed bool) {
	if signed {
		pos := g.label("pos")
		g.emit(asm.JSGE.Imm(asm.R1, 0, pos), asm.Mov.Imm(asm.R1, 0), asm.Mov.Reg(asm.R1, asm.R1).WithSymbol(pos))
	}
	// R2 = floor(log2(R1)) for R1 > 0, by halving search; R3 = R1.
	zero := g.label("zero")
	done := g.label("bdone")
	g.emit(
		asm.JEq.Imm(asm.R1, 0, zero),
		asm.Mov.Reg(asm.R3, asm.R1),
		asm.Mov.Imm(asm.R2, 0),
	)
	for _, sh := range []int32{32, 16, 8, 4, 2, 1} {
		skip := g.label("l2")
		g.emit(
			asm.Mov.Reg(asm.R4, asm.R3),
			asm.RSh.Imm(asm.R4, sh),
			asm.JEq.Imm(asm.R4, 0, skip),
			asm.Mov.Reg(asm.R3, asm.R4),
			asm.Add.Imm(asm.R2, sh),
			asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(skip),
		)
	}
	if !linear {
		g.emit(asm.Add.Imm(asm.R2, 1), asm.Mov.Reg(asm.R1, asm.R2), asm.Ja.Label(done))
	} else {
		small := g.label("small")
		g.emit(
			asm.JLT.Imm(asm.R2, 3, small),
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, -3),
			asm.RSh.Reg(asm.R1, asm.R4),
			asm.And.Imm(asm.R1, 7),
			asm.Add.Imm(asm.R2, -2),
			asm.LSh.Imm(asm.R2, 3),
			asm.Add.Reg(asm.R1, asm.R2),
			asm.Ja.Label(done),
			asm.Mov.Reg(asm.R1, asm.R1).WithSymbol(small), // v < 8: idx = v
			asm.Ja.Label(done),
		)
	}
	g.emit(
		asm.Mov.Imm(asm.R1, 0).WithSymbol(zero),
		asm.Mov.Reg(asm.R1, asm.R1).WithSymbol(done),
	)
}

// upperIndex computes the Log2Upper index of R1 (0 → 0; else 1 + the Log2
// index of R1-1), or with linear the LogLinearUpper one. Negative signed
// values count as 0.
func (g *gen) upperIndex(linear, signed bool) {
	if signed {
		pos := g.label("upos")
		g.emit(asm.JSGE.Imm(asm.R1, 0, pos), asm.Mov.Imm(asm.R1, 0), asm.Mov.Reg(asm.R1, asm.R1).WithSymbol(pos))
	}
	zero := g.label("uzero")
	g.emit(asm.JEq.Imm(asm.R1, 0, zero), asm.Add.Imm(asm.R1, -1))
	g.logIndex(linear, false)
	g.emit(
		asm.Add.Imm(asm.R1, 1),
		asm.Mov.Reg(asm.R1, asm.R1).WithSymbol(zero),
	)
}

// linearIndex computes the Linear index of R1: v < Min → 0;
// [Min+j*Step, Min+(j+1)*Step) → 1+j; v ≥ Max → the last. An unsigned value
// is never below a negative Min, and always at or above a Max ≤ 0 (the
// verifier refuses code that cannot run, so those branches are left out).
func (g *gen) linearIndex(sc hist.Linear, signed bool) error {
	if err := sc.Validate(); err != nil {
		return err
	}
	last := int32(sc.Buckets() - 1)
	if !signed && sc.Max <= 0 {
		g.emit(asm.Mov.Imm(asm.R1, last))
		return nil
	}
	low := g.label("low")
	high := g.label("high")
	done := g.label("ldone")
	jlt, jge := asm.JLT, asm.JGE
	if signed {
		jlt, jge = asm.JSLT, asm.JSGE
	}
	checkLow := signed || sc.Min >= 0
	if checkLow {
		g.emit(asm.LoadImm(asm.R2, sc.Min, asm.DWord), jlt.Reg(asm.R1, asm.R2, low))
	}
	g.emit(asm.LoadImm(asm.R3, sc.Max, asm.DWord), jge.Reg(asm.R1, asm.R3, high))
	if !checkLow {
		g.emit(asm.LoadImm(asm.R2, sc.Min, asm.DWord))
	}
	// (v - Min) / Step + 1: v - Min is not negative here.
	g.emit(
		asm.Sub.Reg(asm.R1, asm.R2),
		asm.LoadImm(asm.R3, sc.Step, asm.DWord),
		asm.Div.Reg(asm.R1, asm.R3),
		asm.Add.Imm(asm.R1, 1),
		asm.Ja.Label(done),
	)
	if checkLow {
		g.emit(asm.Mov.Imm(asm.R1, 0).WithSymbol(low), asm.Ja.Label(done))
	}
	g.emit(
		asm.Mov.Imm(asm.R1, last).WithSymbol(high),
		asm.Mov.Reg(asm.R1, asm.R1).WithSymbol(done),
	)
	return nil
}

func (g *gen) aggHist(r recordOf, a *Agg, keyOff int) error {
	signed := false
	if f, ok := r.s.Lookup(a.Value); ok {
		signed = f.Signed
	}
	return g.aggCount(r, a, keyOff, func(at int) error {
		if err := g.loadInt(r, a.Value, asm.R1); err != nil {
			return err
		}
		if a.Sums != nil {
			// The exact sum beside the buckets (two's complement: a
			// signed value's sum reads back as an int64).
			g.emit(asm.StoreMem(asm.RFP, -24, asm.R1, asm.DWord))
			g.summary(a, keyOff)
			g.emit(asm.LoadMem(asm.R1, asm.RFP, -24, asm.DWord))
		}
		if err := g.bucketIndex(a.Scheme, signed); err != nil {
			return err
		}
		g.emit(
			asm.StoreMem(rRec, int16(at), asm.R1, asm.Word),
			asm.StoreImm(rRec, int16(at+4), 0, asm.Word),
		)
		return nil
	})
}

// matchKey stores the 8-byte match key at rec+keyOff.
func (g *gen) matchKey(r recordOf, a *Agg, keyOff int) error {
	if err := g.loadInt(r, a.Match, asm.R1); err != nil {
		return err
	}
	g.emit(asm.StoreMem(rRec, int16(keyOff), asm.R1, asm.DWord))
	return nil
}

func (g *gen) aggStart(r recordOf, a *Agg, keyOff int) error {
	if err := g.matchKey(r, a, keyOff); err != nil {
		return err
	}
	g.emit(
		asm.LoadMapPtr(asm.R1, a.Starts.FD()),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.Mov.Reg(asm.R3, rRec),
		asm.Add.Imm(asm.R3, record.OffTime),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
	)
	g.stat(a.Stats, record.StatStarts)
	return nil
}

func (g *gen) aggEnd(r recordOf, a *Agg, keyOff int) error {
	if err := g.matchKey(r, a, keyOff); err != nil {
		return err
	}
	// R1 = starts[match] or exit; the delta goes to fp-24.
	g.emit(
		asm.LoadMapPtr(asm.R1, a.Starts.FD()),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, labelExit),
		asm.LoadMem(asm.R2, asm.R0, 0, asm.DWord),
		asm.LoadMem(asm.R1, rRec, record.OffTime, asm.DWord),
		asm.JLT.Reg(asm.R1, asm.R2, labelExit),
		asm.Sub.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.RFP, -24, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, a.Starts.FD()),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapDeleteElem.Call(),
	)
	g.stat(a.Stats, record.StatMatched)
	end, err := g.buildKey(r, a, keyOff)
	if err != nil {
		return err
	}
	g.summary(a, keyOff)
	// Histogram bucket of the delta.
	g.emit(asm.LoadMem(asm.R1, asm.RFP, -24, asm.DWord))
	if err := g.bucketIndex(a.Scheme, false); err != nil {
		return err
	}
	g.emit(
		asm.StoreMem(rRec, int16(end), asm.R1, asm.Word),
		asm.StoreImm(rRec, int16(end+4), 0, asm.Word),
	)
	g.increment(a.Counts, keyOff, a.Stats)
	return nil
}

// summary adds the value at fp-24 (a latency's delta, a hist's value) to
// the key's {count, sum, min, max} in the Sums map (min and max compared
// unsigned).
func (g *gen) summary(a *Agg, keyOff int) {
	ins := g.label("sins")
	upd := g.label("supd")
	g.emit(
		asm.LoadMapPtr(asm.R1, a.Sums.FD()),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapLookupElem.Call(),
		asm.JNE.Imm(asm.R0, 0, upd),
		// Insert {0, 0, max, 0} then look up again.
		storeImm64(asm.RFP, -64, 0).WithSymbol(ins),
		storeImm64(asm.RFP, -56, 0),
		storeImm64(asm.RFP, -48, -1),
		storeImm64(asm.RFP, -40, 0),
		asm.LoadMapPtr(asm.R1, a.Sums.FD()),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -64),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
		asm.LoadMapPtr(asm.R1, a.Sums.FD()),
		asm.Mov.Reg(asm.R2, rRec),
		asm.Add.Imm(asm.R2, int32(keyOff)),
		asm.FnMapLookupElem.Call(),
	)
	skipSum := g.label("nosum")
	noMin := g.label("nomin")
	noMax := g.label("nomax")
	counted := g.label("counted")
	g.emit(
		asm.JEq.Imm(asm.R0, 0, skipSum).WithSymbol(upd),
		asm.LoadMem(asm.R2, asm.RFP, -24, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		// The first sample on this CPU sets min: the kernel zeroes the
		// other CPUs' values of a per-CPU element a program inserts, so
		// only the inserting CPU's value starts with min = max u64.
		asm.JNE.Imm(asm.R1, 0, counted),
		asm.StoreMem(asm.R0, 16, asm.R2, asm.DWord),
		asm.Add.Imm(asm.R1, 1).WithSymbol(counted),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, 8, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, 16, asm.DWord),
		asm.JLE.Reg(asm.R1, asm.R2, noMin),
		asm.StoreMem(asm.R0, 16, asm.R2, asm.DWord),
		asm.LoadMem(asm.R1, asm.R0, 24, asm.DWord).WithSymbol(noMin),
		asm.JGE.Reg(asm.R1, asm.R2, noMax),
		asm.StoreMem(asm.R0, 24, asm.R2, asm.DWord),
		asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(noMax),
	)
	g.emit(asm.Mov.Reg(asm.R0, asm.R0).WithSymbol(skipSum))
}

// storeImm64 emits *(u64 *)(dst + off) = v (sign-extended 32-bit), which
// the asm package's StoreImm does not build.
func storeImm64(dst asm.Register, off int16, v int32) asm.Instruction {
	return asm.Instruction{OpCode: asm.StoreImmOp(asm.DWord), Dst: dst, Offset: off, Constant: int64(v)}
}
