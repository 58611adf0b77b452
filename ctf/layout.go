package ctf

import (
	"errors"
	"fmt"
)

// Layout is a fixed-size struct type compiled for [Encoder.Struct]: it
// knows how many bytes a value of the type takes and how it must be
// aligned, so that a record already in the type's memory layout (a C struct
// read from a BPF ring buffer, say) is copied in with one append.
//
// The memory layout of a type is the one CTF reads: every field aligned on
// its type's alignment, bit-packed integers (Align 1) following each other
// bit by bit, counted from a start aligned on the struct's alignment. It is
// also the C layout of the type as long as no nested struct has trailing
// padding that the field after it would use in CTF; [Compile] refuses such
// a type (declare the padding as a field), so that a C struct copied
// byte for byte can never be read back with its fields shifted.
type Layout struct {
	t     *Type
	size  int // bytes from an aligned start
	csize int // size rounded up to align: C's sizeof
	align int // bytes
}

// Compile checks that t is a struct of fixed size whose CTF layout is its C
// layout and returns its [Layout]. Strings, sequences and variants have no
// fixed size and are refused, as is a struct whose bit-packed fields do not
// end on a byte.
func Compile(t *Type) (*Layout, error) {
	if t == nil || t.Kind != KindStruct {
		return nil, errors.New("ctf: compile: not a struct type")
	}
	if err := checkType(t); err != nil {
		return nil, fmt.Errorf("ctf: compile: %w", err)
	}
	var lw layoutWalk
	if err := lw.walk(t, ""); err != nil {
		return nil, fmt.Errorf("ctf: compile: %w", err)
	}
	if lw.pos%8 != 0 {
		return nil, fmt.Errorf("ctf: compile: the struct ends %d bits into a byte", lw.pos%8)
	}
	a := t.Alignment() / 8
	if a < 1 {
		a = 1
	}
	size := int(lw.pos / 8)
	return &Layout{t: t, size: size, csize: alignUp(size, a), align: a}, nil
}

// Type returns the compiled type.
func (l *Layout) Type() *Type { return l.t }

// Size returns the bytes a value takes in the trace (no trailing padding).
func (l *Layout) Size() int { return l.size }

// CSize returns the size of the value as a C compiler lays it out: Size
// rounded up to the alignment.
func (l *Layout) CSize() int { return l.csize }

// Align returns the alignment in bytes.
func (l *Layout) Align() int { return l.align }

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// layoutWalk computes, in bits, where CTF places each field (pos) and where
// a C compiler would (cpos, which keeps a nested struct's trailing padding),
// and fails where they part.
type layoutWalk struct {
	pos, cpos int64
}

func alignBits(n, a int64) int64 { return (n + a - 1) / a * a }

func (lw *layoutWalk) walk(t *Type, path string) error {
	a := int64(t.Alignment())
	lw.pos = alignBits(lw.pos, a)
	lw.cpos = alignBits(lw.cpos, a)
	if lw.pos != lw.cpos {
		return fmt.Errorf("%s: CTF reads it at byte %d but a C compiler puts it at byte %d (the struct before it has trailing padding: declare it as a field of that struct)", path, lw.pos/8, lw.cpos/8)
	}
	switch t.Kind {
	case KindInteger, KindFloat:
		lw.pos += int64(t.Size)
		lw.cpos += int64(t.Size)
	case KindEnum:
		return lw.walk(t.Container, path)
	case KindArray:
		if t.Length == 0 {
			return nil
		}
		start := lw.pos
		if err := lw.walk(t.Elem, path+"[0]"); err != nil {
			return err
		}
		// Every element starts aligned and so takes the same bits as
		// the first; C and CTF strides agree once the first one does.
		stride := alignBits(lw.cpos-start, a)
		last := start + stride*int64(t.Length-1)
		lw.pos = last + (lw.pos - start)
		lw.cpos = last + (lw.cpos - start)
	case KindStruct:
		start := lw.pos
		for _, f := range t.Fields {
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			if err := lw.walk(f.Type, p); err != nil {
				return err
			}
		}
		// C's sizeof rounds the struct up to its alignment; CTF does not.
		lw.cpos = start + alignBits(lw.cpos-start, a)
	case KindString:
		return fmt.Errorf("%s: a string has no fixed size", path)
	case KindSequence:
		return fmt.Errorf("%s: a sequence has no fixed size", path)
	default:
		return fmt.Errorf("%s: a %v has no fixed size", path, t.Kind)
	}
	return nil
}

// classFix is what Commit checks of an event class whose context (if any)
// and payload are fixed-size: their sizes and alignments in bytes.
type classFix struct {
	ctxSize, ctxAlign int
	paySize, payAlign int
	hasCtx            bool
}

// fixedSize returns the bytes a fixed-size struct type takes from an
// aligned start, or false when it has none. A nil type takes none.
func fixedSize(t *Type) (int, bool) {
	if t == nil {
		return 0, true
	}
	var lw layoutWalk
	if lw.walk(t, "") != nil || lw.pos%8 != 0 {
		return 0, false
	}
	return int(lw.pos / 8), true
}

// newClassFix returns the Commit check of a class with payload fields
// under the stream event context ctx, or nil when either has no fixed size.
func newClassFix(ctx, fields *Type) *classFix {
	cs, ok := fixedSize(ctx)
	if !ok {
		return nil
	}
	ps, ok := fixedSize(fields)
	if !ok {
		return nil
	}
	f := &classFix{ctxSize: cs, paySize: ps, ctxAlign: 1, payAlign: 1, hasCtx: ctx != nil}
	if ctx != nil {
		f.ctxAlign = max(ctx.Alignment()/8, 1)
	}
	if fields != nil {
		f.payAlign = max(fields.Alignment()/8, 1)
	}
	return f
}

// end returns where, relative to the packet start, an event whose header
// ends at off must end.
func (f *classFix) end(off int) int {
	if f.hasCtx {
		off = alignUp(off, f.ctxAlign) + f.ctxSize
	}
	return alignUp(off, f.payAlign) + f.paySize
}

// Struct appends a value of the compiled struct type l given in its memory
// layout (see [Layout]): raw must hold l.Size() or l.CSize() bytes; the
// trailing padding of the latter is not written. The value is aligned
// relative to the packet start as readers expect. A raw of another size
// makes [Encoder.Commit] refuse the event.
func (e *Encoder) Struct(l *Layout, raw []byte) *Encoder {
	if len(raw) != l.size && len(raw) != l.csize {
		if e.err == nil {
			e.err = fmt.Errorf("record of %d bytes for a struct of %d", len(raw), l.csize)
			e.check = true
		}
		return e
	}
	s := e.s
	if l.align > 1 {
		for (len(s.buf)-s.pktStart)%l.align != 0 {
			s.buf = append(s.buf, 0)
		}
	}
	s.buf = append(s.buf, raw[:l.size]...)
	return e
}

// Align pads the payload with zero bytes to a multiple of n bytes relative
// to the packet start, as readers do before a field aligned on n bytes.
func (e *Encoder) Align(n int) *Encoder {
	s := e.s
	for n > 1 && (len(s.buf)-s.pktStart)%n != 0 {
		s.buf = append(s.buf, 0)
	}
	return e
}
