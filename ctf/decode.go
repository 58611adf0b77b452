package ctf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// This file holds the binary decoder: metadata types are compiled once into
// decNode trees (alignment, byte order, resolved sequence lengths and variant
// tags), which a decoder then walks over a window of one packet's bytes,
// filling Values whose storage is reused from one event to the next.

// The dynamic scopes of CTF 1.8, in the order they are decoded.
const (
	decScopePacketHeader = iota
	decScopePacketContext
	decScopeEventHeader
	decScopeStreamContext
	decScopeEventContext
	decScopePayload
	decNumScopes
)

var decScopeNames = [decNumScopes]string{
	"packet header", "packet context", "event header",
	"stream event context", "event context", "event payload",
}

// decAbsPrefixes are the absolute path prefixes of each scope.
var decAbsPrefixes = [decNumScopes]string{
	"trace.packet.header.",
	"stream.packet.context.",
	"stream.event.header.",
	"stream.event.context.",
	"event.context.",
	"event.fields.",
}

// decWindow is the most bytes of a packet held in memory at once (larger
// packets are read in windows of this size).
const decWindow = 1 << 20

// decNode is a compiled field type.
type decNode struct {
	t      *Type
	kind   Kind
	align  int64 // bits, a power of two
	size   int   // integers and floats, bits
	signed bool
	be     bool
	fast   bool // size is 8, 16, 32 or 64 and align a multiple of 8
	clock  bool // mapped to a clock

	container *decNode // enum

	elem    *decNode // array, sequence
	length  int64    // array
	text    bool     // array or sequence shown as text
	minBits int64    // a lower bound of the element's size in bits, >= 1
	lenRef  *decRef  // sequence

	fields []decField // struct members, variant options
	tagRef *decRef    // variant
}

type decField struct {
	name string
	node *decNode
	isID bool // event header: an integer or enum called id
	isTS bool // event header: timestamp mapped to the only clock implicitly
}

// decRef locates the field a sequence length or a variant tag refers to.
type decRef struct {
	path  string
	typ   *Type // the type of the field referred to
	up    int   // frames up from the innermost struct, or -1 for a root scope
	root  int   // with up == -1
	steps []decStep
}

type decStep struct {
	idx     int
	variant bool   // the step selects a variant option, which must be the selected one
	name    string // option name
}

// decError is a decoding error located in a file and one of its packets.
type decError struct {
	Path      string
	Packet    int   // index of the packet in the file
	PacketOff int64 // byte offset of the packet in the file
	Offset    int64 // byte offset of the error in the file
	Err       error
}

func (e *decError) Error() string {
	return fmt.Sprintf("ctf: %s: packet %d (at offset %d), offset %d: %v", e.Path, e.Packet, e.PacketOff, e.Offset, e.Err)
}

func (e *decError) Unwrap() error { return e.Err }

// errDecShort is the cause of a decError when the data ends (the file while
// indexing, the content while decoding events).
var errDecShort = errors.New("read beyond end of data")

// decCompiler compiles the types of one scope.
type decCompiler struct {
	scope      int
	roots      [decNumScopes]*Type
	stack      []decCFrame
	implicitTS bool
	beDefault  bool
	depth      int
}

type decCFrame struct {
	t   *Type
	cur int // index of the field being compiled
}

// decCompileScope compiles the root type of scope; roots holds every scope's
// type (nil when absent).
func decCompileScope(scope int, roots [decNumScopes]*Type, implicitTS, beDefault bool) (*decNode, error) {
	n, err := decCompileRoot(scope, roots, implicitTS, beDefault)
	if err != nil {
		return nil, fmt.Errorf("ctf: %w", err)
	}
	return n, nil
}

// decCompileRoot is decCompileScope with errors that start with the scope.
func decCompileRoot(scope int, roots [decNumScopes]*Type, implicitTS, beDefault bool) (*decNode, error) {
	t := roots[scope]
	if t == nil {
		return nil, nil
	}
	if t.Kind != KindStruct {
		return nil, fmt.Errorf("%s is a %v, not a struct", decScopeNames[scope], t.Kind)
	}
	c := &decCompiler{scope: scope, roots: roots, implicitTS: implicitTS, beDefault: beDefault}
	n, err := c.compile(t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", decScopeNames[scope], err)
	}
	return n, nil
}

// decPow2 reports whether a is a usable alignment: a power of two of at most
// 2^32 bits.
func decPow2(a int) bool { return a > 0 && a <= 1<<32 && a&(a-1) == 0 }

func (c *decCompiler) compile(t *Type) (*decNode, error) {
	if t == nil {
		return nil, errors.New("nil type")
	}
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > 64 {
		return nil, errors.New("types nested too deeply")
	}
	n := &decNode{t: t, kind: t.Kind}
	var err error
	switch t.Kind {
	case KindInteger, KindFloat:
		err = c.compileNumber(n, t)
	case KindString:
		n.align = 8
	case KindEnum:
		err = c.compileEnum(n, t)
	case KindArray, KindSequence:
		err = c.compileList(n, t)
	case KindStruct:
		err = c.compileStruct(n, t)
	case KindVariant:
		err = c.compileVariant(n, t)
	default:
		err = fmt.Errorf("unknown type kind %v", t.Kind)
	}
	if err != nil {
		return nil, err
	}
	return n, nil
}

func (c *decCompiler) compileNumber(n *decNode, t *Type) error {
	if t.Kind == KindInteger && (t.Size < 1 || t.Size > 64) {
		return fmt.Errorf("integer size %d out of 1..64", t.Size)
	}
	if t.Kind == KindFloat && t.Size != 32 && t.Size != 64 {
		return fmt.Errorf("floating point size %d (only 32 and 64 are supported)", t.Size)
	}
	a := t.Alignment()
	if !decPow2(a) {
		return fmt.Errorf("alignment %d is not a power of two", a)
	}
	n.align = int64(a)
	n.size = t.Size
	n.signed = t.Signed
	n.be = t.ByteOrder == BigEndian || t.ByteOrder == DefaultOrder && c.beDefault
	n.clock = t.Clock != ""
	n.fast = (t.Size == 8 || t.Size == 16 || t.Size == 32 || t.Size == 64) && a%8 == 0
	return nil
}

func (c *decCompiler) compileEnum(n *decNode, t *Type) error {
	if t.Container == nil || t.Container.Kind != KindInteger {
		return errors.New("enum container is not an integer")
	}
	cn, err := c.compile(t.Container)
	if err != nil {
		return err
	}
	n.container = cn
	n.align = cn.align
	return nil
}

// compileList compiles an array or a sequence, whose length field is
// resolved in the scopes compiled so far.
func (c *decCompiler) compileList(n *decNode, t *Type) error {
	en, err := c.compile(t.Elem)
	if err != nil {
		return err
	}
	n.elem = en
	n.align = en.align
	n.text = t.IsText()
	n.minBits = decMinBits(t.Elem, 0)
	if n.minBits < 1 {
		n.minBits = 1
	}
	if t.Kind == KindArray {
		if t.Length < 0 {
			return fmt.Errorf("negative array length %d", t.Length)
		}
		n.length = int64(t.Length)
		return nil
	}
	r, err := c.resolve(t.LengthField)
	if err != nil {
		return fmt.Errorf("sequence length: %w", err)
	}
	if !decUnsigned(r.typ) {
		return fmt.Errorf("sequence length %q is %s, not an unsigned integer", t.LengthField, decDescribe(r.typ))
	}
	n.lenRef = r
	return nil
}

// compileStruct compiles the fields in order, with the struct on the stack
// that field references are resolved against. In the event header it marks
// the id field and, when timestamps are implicit, the timestamp field.
func (c *decCompiler) compileStruct(n *decNode, t *Type) error {
	a := t.Alignment()
	if !decPow2(a) {
		return fmt.Errorf("alignment %d is not a power of two", a)
	}
	n.align = int64(a)
	n.fields = make([]decField, len(t.Fields))
	c.stack = append(c.stack, decCFrame{t: t})
	for i, f := range t.Fields {
		c.stack[len(c.stack)-1].cur = i
		fn, err := c.compile(f.Type)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		df := decField{name: f.Name, node: fn}
		if c.scope == decScopeEventHeader {
			k := f.Type.Kind
			if (k == KindInteger || k == KindEnum) && StripName(f.Name) == "id" {
				df.isID = true
			}
			if c.implicitTS && k == KindInteger && StripName(f.Name) == "timestamp" && f.Type.Clock == "" {
				df.isTS = true
			}
		}
		n.fields[i] = df
	}
	c.stack = c.stack[:len(c.stack)-1]
	return nil
}

func (c *decCompiler) compileVariant(n *decNode, t *Type) error {
	n.align = 1
	r, err := c.resolve(t.Tag)
	if err != nil {
		return fmt.Errorf("variant tag: %w", err)
	}
	if r.typ == nil || r.typ.Kind != KindEnum {
		return fmt.Errorf("variant tag %q is %s, not an enum", t.Tag, decDescribe(r.typ))
	}
	n.tagRef = r
	n.fields = make([]decField, len(t.Fields))
	for i, f := range t.Fields {
		fn, err := c.compile(f.Type)
		if err != nil {
			return fmt.Errorf("option %s: %w", f.Name, err)
		}
		n.fields[i] = decField{name: f.Name, node: fn}
	}
	return nil
}

// decUnsigned reports whether t is an unsigned integer or an enum with an
// unsigned container, what babeltrace2 takes as a sequence length.
func decUnsigned(t *Type) bool {
	if t != nil && t.Kind == KindEnum {
		t = t.Container
	}
	return t != nil && t.Kind == KindInteger && !t.Signed
}

// decDescribe names the kind of t for errors ("a signed integer").
func decDescribe(t *Type) string {
	switch {
	case t == nil:
		return "untyped"
	case t.Kind == KindInteger && t.Signed:
		return "a signed integer"
	case t.Kind == KindEnum && t.Container != nil && t.Container.Signed:
		return "an enum of signed integers"
	case t.Kind == KindInteger || t.Kind == KindEnum || t.Kind == KindArray:
		return "an " + t.Kind.String()
	}
	return "a " + t.Kind.String()
}

// decMinBits returns a lower bound of the size of a value of type t.
func decMinBits(t *Type, depth int) int64 {
	if t == nil || depth > 64 {
		return 0
	}
	switch t.Kind {
	case KindInteger, KindFloat:
		return int64(t.Size)
	case KindEnum:
		return decMinBits(t.Container, depth+1)
	case KindString:
		return 8
	case KindArray:
		e := decMinBits(t.Elem, depth+1)
		if e > 0 && int64(t.Length) > math.MaxInt32/e {
			return math.MaxInt32
		}
		return e * int64(t.Length)
	case KindStruct:
		var s int64
		for _, f := range t.Fields {
			s += decMinBits(f.Type, depth+1)
			if s > math.MaxInt32 {
				return math.MaxInt32
			}
		}
		return s
	case KindVariant:
		var m int64 = -1
		for _, f := range t.Fields {
			if b := decMinBits(f.Type, depth+1); m < 0 || b < m {
				m = b
			}
		}
		if m < 0 {
			return 0
		}
		return m
	}
	return 0
}

// decFieldIndex finds name among fields (exact name first, then ignoring one
// leading underscore on either side).
func decFieldIndex(fields []Field, name string) int {
	for i := range fields {
		if fields[i].Name == name {
			return i
		}
	}
	s := StripName(name)
	for i := range fields {
		if StripName(fields[i].Name) == s {
			return i
		}
	}
	return -1
}

// resolve locates the field named by path as seen from the field being
// compiled: an absolute path from its scope, a relative one among the
// fields before it in its enclosing structs, innermost first.
func (c *decCompiler) resolve(path string) (*decRef, error) {
	if path == "" {
		return nil, errors.New("empty field reference")
	}
	for s, p := range decAbsPrefixes {
		if strings.HasPrefix(path, p) {
			if s > c.scope {
				return nil, fmt.Errorf("%q refers to a later scope", path)
			}
			r := &decRef{path: path, up: -1, root: s}
			if err := c.walk(r, c.roots[s], strings.Split(path[len(p):], ".")); err != nil {
				return nil, fmt.Errorf("%q: %w", path, err)
			}
			return r, nil
		}
	}
	parts := strings.Split(path, ".")
	// The enclosing structs of the current scope, innermost first.
	for k := len(c.stack) - 1; k >= 0; k-- {
		f := c.stack[k]
		if i := decFieldIndex(f.t.Fields[:f.cur], parts[0]); i >= 0 {
			r := &decRef{path: path, up: len(c.stack) - 1 - k, steps: []decStep{{idx: i}}}
			if err := c.walk(r, f.t.Fields[i].Type, parts[1:]); err != nil {
				return nil, fmt.Errorf("%q: %w", path, err)
			}
			return r, nil
		}
	}
	// A relative path does not reach into the previous scopes (as in
	// babeltrace2 2.0): those take an absolute path.
	return nil, fmt.Errorf("field %q not found", path)
}

// walk appends to r the steps that lead from a value of type t down the
// member names parts.
func (c *decCompiler) walk(r *decRef, t *Type, parts []string) error {
	for _, p := range parts {
		if t == nil || (t.Kind != KindStruct && t.Kind != KindVariant) {
			return fmt.Errorf("%q is not a member of a struct", p)
		}
		i := decFieldIndex(t.Fields, p)
		if i < 0 {
			return fmt.Errorf("member %q not found", p)
		}
		r.steps = append(r.steps, decStep{idx: i, variant: t.Kind == KindVariant, name: t.Fields[i].Name})
		t = t.Fields[i].Type
	}
	if len(r.steps) == 0 {
		return errors.New("path names a scope, not a field")
	}
	r.typ = t
	return nil
}

// decoder decodes one packet at a time from a window of its bytes.
type decoder struct {
	path string
	pkt  int // index of the packet in the file, for errors

	src    io.ReaderAt
	srcOff int64 // file offset of the packet
	srcLen int64 // bytes of the packet that may be read (from the packet start)
	buf    []byte
	winOff int64 // packet offset of buf[0], in bytes
	keep   int64 // packet offset (bytes) the window must keep when it moves
	pos    int64 // packet offset in bits
	limit  int64 // bits that may be decoded: content size, or the data size

	// Read-ahead for packets that follow each other (event iteration).
	chunk    []byte
	chunkOff int64
	chunkMax int64 // file size; 0: no read-ahead
	ahead    int64 // bytes a chunk holds at least (the size of the packets seen)

	scope  int
	frames []*Value
	roots  [decNumScopes]*Value

	clock   uint64
	clockOn bool
	haveID  bool
	evID    uint64
}

func (d *decoder) errf(format string, args ...any) error {
	return &decError{Path: d.path, Packet: d.pkt, PacketOff: d.srcOff, Offset: d.srcOff + d.pos/8, Err: fmt.Errorf(format, args...)}
}

func (d *decoder) short(what string) error {
	return &decError{Path: d.path, Packet: d.pkt, PacketOff: d.srcOff, Offset: d.srcOff + d.pos/8, Err: fmt.Errorf("%s: %w (%d bits of content)", what, errDecShort, d.limit)}
}

// start prepares decoding the packet at file offset off: limitBits may be
// decoded and first bytes are read now.
func (d *decoder) start(src io.ReaderAt, off, limitBits, first int64) error {
	d.src, d.srcOff, d.limit = src, off, limitBits
	d.srcLen = (limitBits + 7) / 8
	d.pos, d.winOff, d.keep = 0, 0, 0
	if first > d.srcLen {
		first = d.srcLen
	}
	if d.chunkMax > 0 {
		if off < d.chunkOff || off+first > d.chunkOff+int64(len(d.chunk)) {
			n := int64(256 << 10)
			if n < d.ahead {
				n = d.ahead
			}
			if n < first {
				n = first
			}
			if off+n > d.chunkMax {
				n = d.chunkMax - off
			}
			if n < first {
				n = first
			}
			if int64(cap(d.chunk)) >= n {
				d.chunk = d.chunk[:n]
			} else {
				d.chunk = make([]byte, n)
			}
			d.chunkOff = off
			if err := d.read(d.chunk, off); err != nil {
				d.chunk = d.chunk[:0]
				return err
			}
		}
		i := off - d.chunkOff
		d.buf = d.chunk[i : i+first : i+first]
		return nil
	}
	if int64(cap(d.buf)) >= first {
		d.buf = d.buf[:first]
	} else {
		d.buf = make([]byte, first)
	}
	return d.read(d.buf, off)
}

func (d *decoder) read(b []byte, off int64) error {
	n, err := d.src.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &decError{Path: d.path, Packet: d.pkt, PacketOff: d.srcOff, Offset: off + int64(n), Err: fmt.Errorf("read: %w", err)}
}

// fill makes the window hold the packet up to bit end.
func (d *decoder) fill(end int64) error {
	if end > d.limit {
		return d.short("field")
	}
	need := (end + 7) / 8
	start := d.keep
	if start < d.winOff || start > d.pos/8 {
		start = d.pos / 8
	}
	n := need - start
	if n < decWindow {
		n = decWindow
	}
	if start+n > d.srcLen {
		n = d.srcLen - start
	}
	// A new buffer: values already decoded may alias the old one.
	nb := make([]byte, n)
	if err := d.read(nb, d.srcOff+start); err != nil {
		return err
	}
	d.buf, d.winOff = nb, start
	return nil
}

// eventStart marks the start of an event: the window may drop what is
// before it; a large packet's window moves forward here.
func (d *decoder) eventStart() error {
	d.keep = d.pos / 8
	if rem := d.winOff + int64(len(d.buf)) - d.keep; rem < 64<<10 && d.winOff+int64(len(d.buf)) < d.srcLen {
		// Refill in place: the previous event of this stream is no
		// longer valid, and packet scopes were detached.
		n := int64(decWindow)
		if d.keep+n > d.srcLen {
			n = d.srcLen - d.keep
		}
		if rem > 0 {
			copy(d.buf[:cap(d.buf)], d.buf[d.keep-d.winOff:])
		} else {
			rem = 0
		}
		if int64(cap(d.buf)) < n {
			nb := make([]byte, n)
			copy(nb, d.buf[:rem])
			d.buf = nb
		}
		d.buf = d.buf[:n]
		if err := d.read(d.buf[rem:], d.srcOff+d.keep+rem); err != nil {
			return err
		}
		d.winOff = d.keep
	}
	return nil
}

func (d *decoder) alignTo(a int64) {
	if a > 1 {
		d.pos = (d.pos + a - 1) &^ (a - 1)
	}
}

// bits reads n (1..64) bits at the current position.
func (d *decoder) bits(n int, be bool) (uint64, error) {
	end := d.pos + int64(n)
	if end > d.limit || end > (d.winOff+int64(len(d.buf)))*8 {
		if err := d.fill(end); err != nil {
			return 0, err
		}
	}
	i := d.pos>>3 - d.winOff
	sh := uint(d.pos & 7)
	nb := (int(sh) + n + 7) >> 3
	b := d.buf[i : i+int64(nb)]
	var v uint64
	if !be {
		for j := 0; j < nb && j < 8; j++ {
			v |= uint64(b[j]) << (8 * j)
		}
		v >>= sh
		if nb == 9 {
			v |= uint64(b[8]) << (64 - sh)
		}
		if n < 64 {
			v &= 1<<uint(n) - 1
		}
	} else {
		if nb == 9 {
			for j := 0; j < 8; j++ {
				v = v<<8 | uint64(b[j])
			}
			v = v<<sh | uint64(b[8])>>(8-sh)
			v >>= uint(64 - n)
		} else {
			for j := 0; j < nb; j++ {
				v = v<<8 | uint64(b[j])
			}
			v >>= uint(nb*8 - int(sh) - n)
			if n < 64 {
				v &= 1<<uint(n) - 1
			}
		}
	}
	d.pos = end
	return v, nil
}

// integer reads the integer of node n (aligned first).
func (d *decoder) integer(n *decNode) (uint64, error) {
	d.alignTo(n.align)
	be := n.be
	if n.fast && d.pos&7 == 0 {
		end := d.pos + int64(n.size)
		if end <= d.limit && end <= (d.winOff+int64(len(d.buf)))*8 {
			i := d.pos>>3 - d.winOff
			d.pos = end
			b := d.buf[i:]
			if be {
				switch n.size {
				case 8:
					return uint64(b[0]), nil
				case 16:
					return uint64(binary.BigEndian.Uint16(b)), nil
				case 32:
					return uint64(binary.BigEndian.Uint32(b)), nil
				default:
					return binary.BigEndian.Uint64(b), nil
				}
			}
			switch n.size {
			case 8:
				return uint64(b[0]), nil
			case 16:
				return uint64(binary.LittleEndian.Uint16(b)), nil
			case 32:
				return uint64(binary.LittleEndian.Uint32(b)), nil
			default:
				return binary.LittleEndian.Uint64(b), nil
			}
		}
	}
	return d.bits(n.size, be)
}

// setInt stores raw integer bits u of node n in v.
func (d *decoder) setInt(n *decNode, u uint64, v *Value) {
	if n.signed {
		if n.size < 64 {
			sh := uint(64 - n.size)
			v.Int = int64(u<<sh) >> sh
		} else {
			v.Int = int64(u)
		}
		v.Uint = uint64(v.Int)
	} else {
		v.Uint = u
		v.Int = int64(u)
	}
	if n.clock && d.clockOn {
		d.updateClock(n.size, u)
	}
}

// updateClock applies a clock-mapped field of size bits to the stream clock,
// assuming at most one wrap of the lower bits.
func (d *decoder) updateClock(size int, u uint64) {
	if size >= 64 {
		d.clock = u
		return
	}
	mask := uint64(1)<<uint(size) - 1
	prev := d.clock
	nv := prev&^mask | u
	if u < prev&mask {
		nv += mask + 1
	}
	d.clock = nv
}

// value decodes a value of node n into v.
func (d *decoder) value(n *decNode, v *Value) error {
	v.Type = n.t
	switch n.kind {
	case KindInteger:
		u, err := d.integer(n)
		if err != nil {
			return err
		}
		d.setInt(n, u, v)
	case KindEnum:
		c := n.container
		u, err := d.integer(c)
		if err != nil {
			return err
		}
		d.setInt(c, u, v)
		v.Label = ""
		ms := n.t.Mappings
		for i := range ms {
			m := &ms[i]
			if c.signed {
				if m.Start <= v.Int && v.Int <= m.End {
					v.Label = m.Label
					break
				}
			} else if uint64(m.Start) <= v.Uint && v.Uint <= uint64(m.End) {
				v.Label = m.Label
				break
			}
		}
	case KindFloat:
		d.alignTo(n.align)
		be := n.be
		u, err := d.bits(n.size, be)
		if err != nil {
			return err
		}
		if n.size == 32 {
			v.Float = float64(math.Float32frombits(uint32(u)))
		} else {
			v.Float = math.Float64frombits(u)
		}
	case KindString:
		d.alignTo(8)
		return d.str(v)
	case KindArray:
		return d.array(n, n.length, v)
	case KindSequence:
		lv, err := d.lookup(n.lenRef)
		if err != nil {
			return err
		}
		if lv.Type == nil || (lv.Type.Kind != KindInteger && lv.Type.Kind != KindEnum) {
			return d.errf("sequence length %q is not an integer", n.lenRef.path)
		}
		l := lv.Uint
		if lv.Type.Kind == KindInteger && lv.Type.Signed && lv.Int < 0 ||
			lv.Type.Kind == KindEnum && lv.Type.Container.Signed && lv.Int < 0 {
			return d.errf("negative sequence length %d (%s)", lv.Int, n.lenRef.path)
		}
		if l > math.MaxInt64 {
			return d.errf("sequence length %d too large (%s)", l, n.lenRef.path)
		}
		return d.array(n, int64(l), v)
	case KindStruct:
		return d.structure(n, v)
	case KindVariant:
		return d.variant(n, v)
	default:
		return d.errf("unknown type kind %v", n.kind)
	}
	return nil
}

func (d *decoder) str(v *Value) error {
	for {
		i := d.pos>>3 - d.winOff
		if i <= int64(len(d.buf)) {
			if j := bytes.IndexByte(d.buf[i:], 0); j >= 0 {
				end := d.pos + int64(j+1)*8
				if end > d.limit {
					return d.short("string")
				}
				v.Bytes = d.buf[i : i+int64(j) : i+int64(j)]
				d.pos = end
				return nil
			}
		}
		we := d.winOff + int64(len(d.buf))
		if we*8 >= d.limit || we >= d.srcLen {
			return d.short("unterminated string")
		}
		if p := d.pos / 8; p > we {
			we = p
		}
		next := we*8 + decWindow*8
		if next > d.limit {
			next = d.limit
		}
		if err := d.fill(next); err != nil {
			return err
		}
	}
}

// array decodes l elements of n.elem.
func (d *decoder) array(n *decNode, l int64, v *Value) error {
	d.alignTo(n.align)
	if rem := d.limit - d.pos; rem < 0 || l > rem/n.minBits {
		return d.errf("%s of %d elements does not fit in the %d bits left", n.kind, l, d.limit-d.pos)
	}
	if n.text {
		e := n.elem
		if d.pos&7 == 0 {
			end := d.pos + l*8
			if end > (d.winOff+int64(len(d.buf)))*8 {
				if err := d.fill(end); err != nil {
					return err
				}
			}
			i := d.pos>>3 - d.winOff
			b := d.buf[i : i+l : i+l]
			if j := bytes.IndexByte(b, 0); j >= 0 {
				b = b[:j:j]
			}
			v.Bytes = b
			d.pos = end
			return nil
		}
		b := make([]byte, 0, l)
		nul := false
		for k := int64(0); k < l; k++ {
			d.alignTo(e.align)
			u, err := d.bits(8, false)
			if err != nil {
				return err
			}
			if u == 0 {
				nul = true
			}
			if !nul {
				b = append(b, byte(u))
			}
		}
		v.Bytes = b
		return nil
	}
	if int64(cap(v.Elems)) >= l {
		v.Elems = v.Elems[:l]
	} else {
		ne := make([]Value, l)
		copy(ne, v.Elems[:cap(v.Elems)])
		v.Elems = ne
	}
	for k := range v.Elems {
		if err := d.value(n.elem, &v.Elems[k]); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) structure(n *decNode, v *Value) error {
	d.alignTo(n.align)
	nf := len(n.fields)
	if cap(v.Elems) >= nf {
		v.Elems = v.Elems[:nf]
	} else {
		ne := make([]Value, nf)
		copy(ne, v.Elems[:cap(v.Elems)])
		v.Elems = ne
	}
	d.frames = append(d.frames, v)
	for i := range n.fields {
		f := &n.fields[i]
		ev := &v.Elems[i]
		if fn := f.node; fn.kind == KindInteger {
			ev.Type = fn.t
			u, err := d.integer(fn)
			if err != nil {
				return err
			}
			d.setInt(fn, u, ev)
		} else if err := d.value(fn, ev); err != nil {
			return err
		}
		if f.isID {
			d.evID, d.haveID = ev.Uint, true
		}
		if f.isTS && d.clockOn {
			d.updateClock(f.node.size, ev.Uint&(^uint64(0)>>(64-uint(f.node.size))))
		}
	}
	d.frames = d.frames[:len(d.frames)-1]
	return nil
}

func (d *decoder) variant(n *decNode, v *Value) error {
	tv, err := d.lookup(n.tagRef)
	if err != nil {
		return err
	}
	if tv.Type == nil || tv.Type.Kind != KindEnum {
		return d.errf("variant tag %q is not an enum", n.tagRef.path)
	}
	sel := -1
	for i := range n.fields {
		if n.fields[i].name == tv.Label {
			sel = i
			break
		}
	}
	if sel < 0 {
		for i := range n.fields {
			if StripName(n.fields[i].name) == StripName(tv.Label) {
				sel = i
				break
			}
		}
	}
	if sel < 0 {
		if tv.Label == "" {
			return d.errf("variant tag %q value %d has no label", n.tagRef.path, tv.Int)
		}
		return d.errf("variant has no option %q (tag %q)", tv.Label, n.tagRef.path)
	}
	if cap(v.Elems) >= 1 {
		v.Elems = v.Elems[:1]
	} else {
		v.Elems = make([]Value, 1)
	}
	v.Label = n.fields[sel].name
	return d.value(n.fields[sel].node, &v.Elems[0])
}

// lookup returns the value a reference points to.
func (d *decoder) lookup(r *decRef) (*Value, error) {
	var v *Value
	if r.up >= 0 {
		if r.up >= len(d.frames) {
			return nil, d.errf("field %q is out of scope", r.path)
		}
		v = d.frames[len(d.frames)-1-r.up]
	} else if r.root == d.scope {
		if len(d.frames) == 0 {
			return nil, d.errf("field %q is out of scope", r.path)
		}
		v = d.frames[0]
	} else {
		v = d.roots[r.root]
		if v == nil {
			return nil, d.errf("field %q: %s is absent", r.path, decScopeNames[r.root])
		}
	}
	for _, s := range r.steps {
		if s.variant {
			if v.Label != s.name || len(v.Elems) != 1 {
				return nil, d.errf("field %q: variant option %q is not selected", r.path, s.name)
			}
			v = &v.Elems[0]
			continue
		}
		if s.idx >= len(v.Elems) {
			return nil, d.errf("field %q is not decoded yet", r.path)
		}
		v = &v.Elems[s.idx]
	}
	return v, nil
}

// root decodes scope s of node n into v.
func (d *decoder) root(s int, n *decNode, v *Value) error {
	d.scope = s
	d.frames = d.frames[:0]
	if n == nil {
		d.roots[s] = nil
		*v = Value{}
		return nil
	}
	if err := d.value(n, v); err != nil {
		d.frames = d.frames[:0]
		return err
	}
	d.roots[s] = v
	return nil
}

// decDetach copies the bytes a value aliases so that it survives its buffer.
func decDetach(v *Value) {
	if v.Bytes != nil {
		v.Bytes = append([]byte(nil), v.Bytes...)
	}
	for i := range v.Elems {
		decDetach(&v.Elems[i])
	}
}
