package bpfgen

import (
	"bytes"
	"io/fs"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"

	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/bpftrail/bpftrail/internal/record"
	"github.com/bpftrail/bpftrail/internal/scriptout"
	"github.com/bpftrail/bpftrail/internal/syscalls"
)

// The read side of a script's layouts: the values of events and maps, as
// package scriptout prints them. The layouts are the ones the generated
// code writes (see script_emit.go).

var le = binary.LittleEndian

// Decoder says how user space shows the values only it can name: times
// in a format, stacks and addresses as symbols.
type Decoder struct {
	Time  func(idx int, ns uint64) string
	Stack func(user bool, pid int, addrs []uint64, mode string) string
	Sym   func(user bool, pid int, addr uint64, offset bool) string
	// Trailer marks a string cut to max_strlen (str_trunc_trailer; ".."
	// when nil).
	Trailer *string
}

// Decode returns the value of type t stored in b.
func (t *Type) Decode(b []byte) scriptout.Value {
	return t.decode(b, nil)
}

func (t *Type) decode(b []byte, format *Decoder) scriptout.Value {
	switch t.Kind {
	case TInt:
		v := int64(le.Uint64(b))
		if t.Ptr > 0 {
			return scriptout.Value{Kind: scriptout.Pointer, Int: v, Size: 8}
		}
		if t.Show != "" {
			return scriptout.Str(show(t.Show, v))
		}
		if t.Enum != nil {
			return scriptout.Value{Kind: scriptout.Int, Int: v, Signed: t.Signed, Size: t.Width, Symbol: t.Enum.Names[v]}
		}
		return scriptout.Value{Kind: scriptout.Int, Int: v, Signed: t.Signed, Size: t.Width}
	case TBool:
		return scriptout.Value{Kind: scriptout.Bool, Int: int64(le.Uint64(b))}
	case TStr:
		s := b[:t.Size]
		if i := bytes.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		if t.Trunc > 0 && len(s) > t.Trunc {
			trailer := ".."
			if format != nil && format.Trailer != nil {
				trailer = *format.Trailer
			}
			return scriptout.Str(string(s[:t.Trunc]) + trailer)
		}
		return scriptout.Str(string(s))
	case TTuple:
		v := scriptout.Value{Kind: scriptout.Tuple, Names: t.Names}
		if t.Names != nil {
			v.Kind = scriptout.Record
		}
		for i, e := range t.Elems {
			v.Elems = append(v.Elems, e.decode(b[t.Offs[i]:], format))
		}
		return v
	case TStruct:
		v := scriptout.Value{Kind: scriptout.Record}
		for _, f := range t.Fields {
			if f.Name == "" {
				continue
			}
			v.Names = append(v.Names, f.Name)
			v.Elems = append(v.Elems, decodeRaw(f, b[f.Off:]))
		}
		return v
	case TArray:
		v := scriptout.Value{Kind: scriptout.Array}
		size := rawSize(t.Elem)
		for i := range t.N {
			v.Elems = append(v.Elems, decodeRaw(Field{T: t.Elem}, b[i*size:]))
		}
		return v
	case TStack:
		pid, n := int(le.Uint64(b)), int(le.Uint64(b[8:]))
		addrs := make([]uint64, 0, n)
		for i := range min(n, (t.Size-16)/8) {
			addrs = append(addrs, le.Uint64(b[16+8*i:]))
		}
		if format == nil || format.Stack == nil {
			return scriptout.Str(fmt.Sprint(addrs))
		}
		return scriptout.Str(format.Stack(t.User, pid, addrs, t.Mode))
	case TSym:
		pid, addr := int(le.Uint64(b)), le.Uint64(b[8:])
		if format == nil || format.Sym == nil {
			return scriptout.Str(fmt.Sprintf("0x%x", addr))
		}
		return scriptout.Str(format.Sym(t.User, pid, addr, t.Mode == "offset"))
	case TInet:
		if le.Uint64(b) == 255 {
			return scriptout.Str(strings.ToUpper(net.HardwareAddr(b[8:14]).String()))
		}
		if le.Uint64(b) == 10 {
			return scriptout.Str(net.IP(b[8:24]).String())
		}
		return scriptout.Str(net.IP(b[8:12]).String())
	case TBuf:
		n := min(int(le.Uint64(b)), t.Size-8)
		return scriptout.Value{Kind: scriptout.Buf, Str: string(b[8 : 8+n])}
	case TTime:
		if format != nil && format.Time != nil {
			return scriptout.Str(format.Time(int(le.Uint64(b)), le.Uint64(b[8:])))
		}
		return scriptout.Value{Kind: scriptout.Int, Int: int64(le.Uint64(b[8:])), Size: 8}
	}
	return scriptout.Value{Kind: scriptout.None}
}

// Event returns the event of a record and its arguments.
func (s *Script) Event(r record.Record) (*ScriptEvent, []scriptout.Value, error) {
	id := r.Class.ID
	first := uint32(0)
	if len(s.Events) > 0 {
		first = s.Events[0].ID
	}
	if id < first || int(id-first) >= len(s.Events) {
		return nil, nil, fmt.Errorf("record of unknown class %d", id)
	}
	ev := s.Events[id-first]
	if len(r.B) < ev.Size() {
		return nil, nil, fmt.Errorf("short record of class %d: %d bytes", id, len(r.B))
	}
	args := make([]scriptout.Value, len(ev.Args.Elems))
	for i, t := range ev.Args.Elems {
		args[i] = t.decode(r.B[scriptHeader+ev.Args.Offs[i]:], s.Decoder)
	}
	return ev, args, nil
}

// Classes returns the record classes of the script's events, indexed by
// class id from the first event's.
func (s *Script) Classes() []*record.Class {
	out := make([]*record.Class, len(s.Events))
	type at struct {
		kind EventKind
		line int
	}
	perLine := map[at]int{}
	for _, ev := range s.Events {
		perLine[at{ev.Kind, ev.P.Line}]++
	}
	for i, ev := range s.Events {
		sch := ev.EventClass(ev.ClassName(perLine[at{ev.Kind, ev.P.Line}] > 1))
		l := record.Layout{Size: ev.Size()}
		for _, off := range ev.Args.Offs {
			l.Off = append(l.Off, scriptHeader+off)
		}
		out[i] = &record.Class{ID: ev.ID, Schema: sch, Layout: l}
		if ev.Kind == EvPrintf {
			out[i].Text = func(r record.Record) string {
				if s.PrintfText == nil {
					return ""
				}
				ev, args, err := s.Event(r)
				if err != nil {
					return ""
				}
				return s.PrintfText(ev, args)
			}
		}
	}
	return out
}

// Dump reads the whole content of m, the script's map i; maps are the
// script's BPF maps, in MapSpecs's order. format, when set, formats
// strftime() values.
func (m *ScriptMap) Dump(all []*ebpf.Map, i int, format *Decoder) (*scriptout.Map, error) {
	out := &scriptout.Map{Name: m.Name, Kind: m.Kind, Keyed: m.Key != nil, Min: m.Min, Max: m.Max, Step: m.Step, Bits: m.Bits, Signed: m.Signed,
		Interval: uint64(m.Interval), NumIntervals: uint64(m.NumIntervals), Agg: m.Agg}
	byKey := map[string]int{}
	entry := func(k []byte) *scriptout.Entry {
		i, ok := byKey[string(k)]
		if !ok {
			i = len(out.Entries)
			byKey[string(k)] = i
			e := scriptout.Entry{}
			if m.Key != nil {
				e.Key = m.Key.decode(k, format)
			}
			out.Entries = append(out.Entries, e)
		}
		return &out.Entries[i]
	}
	bm := all[i]
	if m.Buckets > 0 {
		return out, m.dumpBuckets(bm, entry)
	}
	// The amounts in the cache, by key, added to the hash map's.
	cached, err := m.cached(all)
	if err != nil {
		return nil, err
	}
	bucketed := m.Kind == scriptout.Hist || m.Kind == scriptout.LHist || m.Kind == scriptout.TSeries
	keyLen := m.KeySize()
	if bucketed {
		keyLen -= 8
	}
	var key []byte
	it := bm.Iterate()
	switch {
	case !m.PerCPU:
		var val []byte
		for it.Next(&key, &val) {
			e := entry(key[:keyLen])
			m.fold(e, key[keyLen:], [][]byte{val}, format)
		}
	case m.ValueSize() == 8:
		var vals []uint64
		for it.Next(&key, &vals) {
			per := make([][]byte, len(vals), len(vals)+1)
			for i, v := range vals {
				per[i] = le.AppendUint64(nil, v)
			}
			if n, ok := cached[string(key)]; ok {
				per = append(per, le.AppendUint64(nil, n))
				delete(cached, string(key))
			}
			m.fold(entry(key[:keyLen]), key[keyLen:], per, nil)
		}
	default:
		var vals [][2]uint64
		for it.Next(&key, &vals) {
			per := make([][]byte, len(vals))
			for i, v := range vals {
				per[i] = le.AppendUint64(le.AppendUint64(nil, v[0]), v[1])
			}
			m.fold(entry(key[:keyLen]), key[keyLen:], per, nil)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", m.Name, err)
	}
	// Keys only in the cache, in the order of their bytes.
	for _, k := range slices.Sorted(maps.Keys(cached)) {
		m.fold(entry([]byte(k)), nil, [][]byte{le.AppendUint64(nil, cached[k])}, nil)
	}
	return out, nil
}

// dumpBuckets reads an unkeyed histogram kept as a per-CPU array of
// buckets: a bucket is shown when it counted something.
func (m *ScriptMap) dumpBuckets(bm *ebpf.Map, entry func([]byte) *scriptout.Entry) error {
	var idx uint32
	var vals []uint64
	it := bm.Iterate()
	for it.Next(&idx, &vals) {
		var n uint64
		for _, v := range vals {
			n += v
		}
		switch {
		case n == 0:
		case int(idx) == m.Buckets:
			entry(nil) // zeroed, not cleared
		default:
			m.fold(entry(nil), le.AppendUint64(nil, uint64(idx)), [][]byte{le.AppendUint64(nil, n)}, nil)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read %s: %w", m.Name, err)
	}
	return nil
}

// cacheSlot is one CPU's slot of a map's cache: the key, then the amount.
type cacheSlot struct {
	key    []byte
	amount uint64
}

// cacheSlots reads every CPU's slots of m's cache, the used ones only.
func (m *ScriptMap) cacheSlots(cache *ebpf.Map) ([]cacheSlot, error) {
	var out []cacheSlot
	k := m.Key.Size
	var idx uint32
	add := func(words []uint64) {
		b := make([]byte, 0, k+8)
		for _, w := range words {
			b = le.AppendUint64(b, w)
		}
		if n := le.Uint64(b[k:]); n != 0 {
			out = append(out, cacheSlot{key: b[:k], amount: n})
		}
	}
	it := cache.Iterate()
	if k == 8 {
		var vals [][2]uint64
		for it.Next(&idx, &vals) {
			for _, v := range vals {
				add(v[:])
			}
		}
	} else {
		var vals [][3]uint64
		for it.Next(&idx, &vals) {
			for _, v := range vals {
				add(v[:])
			}
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", m.Name, err)
	}
	return out, nil
}

// cached sums the amounts in m's cache by key; nil when it has none.
func (m *ScriptMap) cached(all []*ebpf.Map) (map[string]uint64, error) {
	if m.Cache == 0 {
		return nil, nil
	}
	slots, err := m.cacheSlots(all[m.cacheAt])
	if err != nil {
		return nil, err
	}
	sums := map[string]uint64{}
	for _, sl := range slots {
		sums[string(sl.key)] += sl.amount
	}
	return sums, nil
}

// zeroArray sets every entry of a per-CPU array of n entries of size
// bytes to zero, but the one at mark (when not negative), whose first
// CPU's value it sets to 1.
func zeroArray(bm *ebpf.Map, n, size, mark int) error {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	zero := make([][]byte, cpus)
	for i := range zero {
		zero[i] = make([]byte, size)
	}
	for i := range n {
		if err := bm.Update(uint32(i), zero, ebpf.UpdateAny); err != nil {
			return err
		}
	}
	if mark >= 0 {
		zero[0][0] = 1
		return bm.Update(uint32(mark), zero, ebpf.UpdateAny)
	}
	return nil
}

// fold adds the per-CPU values of one key (and bucket) to e.
func (m *ScriptMap) fold(e *scriptout.Entry, bucket []byte, vals [][]byte, format *Decoder) {
	switch m.Kind {
	case scriptout.Plain:
		e.Value = m.Value.decode(vals[0], format)
	case scriptout.Count, scriptout.Sum:
		var n uint64
		for _, v := range vals {
			n += le.Uint64(v)
		}
		e.Value = scriptout.Value{Kind: scriptout.Int, Int: int64(n), Signed: m.Kind == scriptout.Sum && m.Signed, Size: 8}
	case scriptout.Min, scriptout.Max:
		set := false
		var best int64
		for _, v := range vals {
			if le.Uint64(v[8:]) == 0 {
				continue
			}
			x := int64(le.Uint64(v))
			if !set || m.Kind == scriptout.Min && x < best || m.Kind == scriptout.Max && x > best {
				best, set = x, true
			}
		}
		e.Value = scriptout.SInt(best)
	case scriptout.Avg, scriptout.Stats:
		for _, v := range vals {
			e.Count += int64(le.Uint64(v))
			e.Total += int64(le.Uint64(v[8:]))
		}
	case scriptout.TSeries:
		for _, v := range vals {
			e.Series = append(e.Series, scriptout.TSPoint{Bucket: le.Uint64(bucket), Value: int64(le.Uint64(v)), Epoch: le.Uint64(v[8:]), Meta: le.Uint64(v[16:])})
		}
	case scriptout.Hist, scriptout.LHist:
		idx := int(le.Uint64(bucket))
		if idx >= len(e.Buckets) {
			e.Buckets = append(e.Buckets, make([]uint64, idx+1-len(e.Buckets))...)
		}
		for _, v := range vals {
			e.Buckets[idx] += le.Uint64(v)
		}
	}
}

// keys lists the keys of bm, walking the keys only: per-CPU values do not
// fit a byte slice.
func (m *ScriptMap) keys(bm *ebpf.Map) ([][]byte, error) {
	var keys [][]byte
	next := make([]byte, m.KeySize())
	var cur any
	for {
		if err := bm.NextKey(cur, next); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				return keys, nil
			}
			return nil, err
		}
		k := bytes.Clone(next)
		keys = append(keys, k)
		cur = k
	}
}

// Clear deletes every key of m, the script's map i (maps as in Dump).
func (m *ScriptMap) Clear(all []*ebpf.Map, i int) error {
	bm := all[i]
	if m.Buckets > 0 {
		if err := zeroArray(bm, m.Buckets+1, 8, -1); err != nil {
			return fmt.Errorf("clear %s: %w", m.Name, err)
		}
		return nil
	}
	keys, err := m.keys(bm)
	if err != nil {
		return fmt.Errorf("clear %s: %w", m.Name, err)
	}
	for _, k := range keys {
		if err := bm.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("clear %s: %w", m.Name, err)
		}
	}
	if m.Cache > 0 {
		if err := zeroArray(all[m.cacheAt], m.Cache, m.Key.Size+8, -1); err != nil {
			return fmt.Errorf("clear %s: %w", m.Name, err)
		}
	}
	return nil
}

// Zero sets every value of m, the script's map i, to zero, keeping the
// keys (maps as in Dump).
func (m *ScriptMap) Zero(all []*ebpf.Map, i int) error {
	bm := all[i]
	if m.Buckets > 0 {
		if err := zeroArray(bm, m.Buckets, 8, m.Buckets); err != nil {
			return fmt.Errorf("zero %s: %w", m.Name, err)
		}
		return nil
	}
	var zero any = make([]byte, m.ValueSize())
	if m.PerCPU {
		cpus, err := ebpf.PossibleCPU()
		if err != nil {
			return err
		}
		per := make([][]byte, cpus)
		for i := range per {
			per[i] = make([]byte, m.ValueSize())
		}
		zero = per
	}
	if m.Cache > 0 {
		// The keys only in the cache are kept too: put them in the
		// hash map, with the others' zero.
		slots, err := m.cacheSlots(all[m.cacheAt])
		if err != nil {
			return err
		}
		for _, sl := range slots {
			if err := bm.Update(sl.key, zero, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
				return fmt.Errorf("zero %s: %w", m.Name, err)
			}
		}
		if err := zeroArray(all[m.cacheAt], m.Cache, m.Key.Size+8, -1); err != nil {
			return fmt.Errorf("zero %s: %w", m.Name, err)
		}
	}
	keys, err := m.keys(bm)
	if err != nil {
		return fmt.Errorf("zero %s: %w", m.Name, err)
	}
	for _, k := range keys {
		if err := bm.Update(k, zero, ebpf.UpdateExist); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("zero %s: %w", m.Name, err)
		}
	}
	return nil
}

// show is how user space shows a number that names something.
func show(how string, v int64) string {
	switch how {
	case "syscall":
		if name, ok := syscalls.Name(int(v)); ok {
			return name
		}
		return fmt.Sprintf("syscall_%d", v)
	case "strerror":
		// glibc's words are Go's with a capital letter.
		msg := syscall.Errno(v).Error()
		if msg != "" {
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
		return msg
	case "signal":
		// As strsignal(3) says it.
		switch {
		case v == 0:
			return "Unknown signal 0"
		case v < 0 || v > 64:
			return "N/A"
		case v >= 34:
			return fmt.Sprintf("Real-time signal %d", v-34)
		}
		msg := syscall.Signal(v).String()
		return strings.ToUpper(msg[:1]) + msg[1:]
	case "cgroup":
		return cgroupPath(uint64(v))
	case "username":
		if u, err := user.LookupId(fmt.Sprint(v)); err == nil {
			return u.Username
		}
		return fmt.Sprint(v)
	}
	return fmt.Sprint(v)
}

// decodeRaw decodes a member in C layout: integers of their own width.
func decodeRaw(f Field, b []byte) scriptout.Value {
	t := f.T
	switch t.Kind {
	case TInt, TBool:
		w := max(t.Width, 1)
		var u uint64
		for i := w - 1; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		if f.BitSize > 0 {
			u = u >> f.BitOff & (1<<f.BitSize - 1)
		} else if t.Signed && w < 8 {
			sh := 64 - 8*w
			u = uint64(int64(u<<sh) >> sh)
		}
		if t.Kind == TBool {
			return scriptout.Value{Kind: scriptout.Bool, Int: int64(min(u, 1))}
		}
		if t.Enum != nil {
			return scriptout.Value{Kind: scriptout.Int, Int: int64(u), Signed: t.Signed, Size: w, Symbol: t.Enum.Names[int64(u)]}
		}
		if t.Ptr > 0 {
			return scriptout.Value{Kind: scriptout.Pointer, Int: int64(u), Size: 8}
		}
		return scriptout.Value{Kind: scriptout.Int, Int: int64(u), Signed: t.Signed, Size: w}
	}
	return t.Decode(b)
}

// cgroupPath is the cgroup v2 path of a cgroup id (the inode of its
// directory), as bpftrace's cgroup_path() shows it: "unified:/path".
func cgroupPath(id uint64) string {
	const root = "/sys/fs/cgroup"
	found := ""
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || found != "" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Ino == id {
			found = "/" + strings.TrimPrefix(strings.TrimPrefix(path, root), "/")
			return filepath.SkipAll
		}
		return nil
	})
	if found == "" {
		return fmt.Sprint(id)
	}
	return "unified:" + found
}
