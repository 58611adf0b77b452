package ctf

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/bpftrail/bpftrail/ctf/internal/tsdl"
)

// Limits that keep ParseMetadata bounded on hostile input.
const (
	tsdlMaxDepth     = 64      // nesting of type specifiers and blocks
	tsdlMaxDims      = 16      // array dimensions of one declarator
	tsdlMaxArrayLen  = 1 << 24 // elements of a static array
	tsdlMaxNodes     = 1 << 18 // type nodes copied from named types
	tsdlMaxAliasWord = 8       // words in a type alias name
)

// ParseMetadata parses CTF 1.8 TSDL metadata, either plain text (with or
// without the "/* CTF 1.8 */" signature) or packetized as LTTng writes it.
//
// Every event class is listed in the Events of its stream class; a trace
// without a stream block gets an implicit stream class 0. A byte_order of
// "native" in a type is returned as [DefaultOrder] (the trace's order) and
// "network" as [BigEndian]. Integers without an explicit alignment get the
// CTF default, without a base get 10; strings default to UTF-8.
//
// Errors name the metadata line, as in
// `metadata line 12: syntax error: expected ';', got '}'`.
func ParseMetadata(data []byte) (*Metadata, error) {
	text := data
	if tsdl.IsPacketized(data) {
		var err error
		text, err = tsdl.Depacketize(data)
		if err != nil {
			return nil, err
		}
	}
	if tsdl.IsCTF2(text) {
		return nil, fmt.Errorf("metadata: %w (JSON fragments; only CTF 1.8 is read)", ErrCTF2)
	}
	if len(text) > tsdl.MaxText {
		return nil, tsdl.Limitf(0, "text larger than %d bytes", tsdl.MaxText)
	}
	toks, err := tsdl.Lex(text)
	if err != nil {
		return nil, err
	}
	p := &tsdlParser{toks: toks, md: &Metadata{}}
	p.push()
	if err := p.parseTop(); err != nil {
		return nil, err
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return p.md, nil
}

// ErrCTF2 reports a trace whose metadata is CTF 2 (a JSON text sequence),
// which the reader does not read.
var ErrCTF2 = errors.New("CTF 2 is not supported")

// tsdlScope holds the type names declared in one lexical scope.
type tsdlScope struct {
	aliases  map[string]*Type // typealias and typedef names, words joined by ' '
	structs  map[string]*Type
	variants map[string]*Type
	enums    map[string]*Type
}

// tsdlValue is the right-hand side of an attribute assignment.
type tsdlValue struct {
	kind tsdl.TokKind // tsdl.Int, tsdl.String, tsdl.Ident (a dotted path) or tsdl.CharLit
	neg  bool         // tsdl.Int: a '-' preceded it
	u    uint64       // tsdl.Int magnitude
	s    string       // string, char literal or path
	line int
}

// tsdlAttr is one "name = value;" or "name := type;" of a block.
type tsdlAttr struct {
	name string
	val  tsdlValue
	typ  *Type // set for ":="
	line int
}

type tsdlPendingStream struct {
	sc   *StreamClass
	line int
}

type tsdlPendingEvent struct {
	ec   *EventClass
	line int
}

type tsdlClockRef struct {
	name string
	line int
}

// tsdlParser turns tokens into a Metadata.
type tsdlParser struct {
	toks   []tsdl.Token
	pos    int
	depth  int
	nodes  int
	sizes  map[*Type][2]int // node count and depth of cloned templates
	scopes []*tsdlScope

	md           *Metadata
	traceLine    int
	hasByteOrder bool
	streams      []tsdlPendingStream
	events       []tsdlPendingEvent
	clockRefs    []tsdlClockRef
}

func (p *tsdlParser) push() {
	p.scopes = append(p.scopes, &tsdlScope{
		aliases:  map[string]*Type{},
		structs:  map[string]*Type{},
		variants: map[string]*Type{},
		enums:    map[string]*Type{},
	})
}

func (p *tsdlParser) pop() { p.scopes = p.scopes[:len(p.scopes)-1] }

func (p *tsdlParser) scope() *tsdlScope { return p.scopes[len(p.scopes)-1] }

// lookup finds a declared name, innermost scope first.
func (p *tsdlParser) lookup(pick func(*tsdlScope) map[string]*Type, name string) *Type {
	for i := len(p.scopes) - 1; i >= 0; i-- {
		if t, ok := pick(p.scopes[i])[name]; ok {
			return t
		}
	}
	return nil
}

func (p *tsdlParser) peek() tsdl.Token { return p.toks[p.pos] }

func (p *tsdlParser) peekAt(k int) tsdl.Token {
	if p.pos+k >= len(p.toks) {
		return p.toks[len(p.toks)-1]
	}
	return p.toks[p.pos+k]
}

func (p *tsdlParser) next() tsdl.Token {
	t := p.toks[p.pos]
	if t.Kind != tsdl.EOF {
		p.pos++
	}
	return t
}

func (p *tsdlParser) isPunct(s string) bool {
	t := p.peek()
	return t.Kind == tsdl.Punct && t.Text == s
}

func (p *tsdlParser) isWord(s string) bool {
	t := p.peek()
	return t.Kind == tsdl.Ident && t.Text == s
}

func (p *tsdlParser) syntaxError(want string) error {
	t := p.peek()
	return tsdl.Errorf(t.Line, "syntax error: expected %s, got %s", want, t.Describe())
}

func (p *tsdlParser) expect(s string) error {
	if !p.isPunct(s) {
		return p.syntaxError("'" + s + "'")
	}
	p.next()
	return nil
}

func (p *tsdlParser) expectIdent(what string) (tsdl.Token, error) {
	if p.peek().Kind != tsdl.Ident {
		return tsdl.Token{}, p.syntaxError(what)
	}
	return p.next(), nil
}

func (p *tsdlParser) enter() error {
	p.depth++
	if p.depth > tsdlMaxDepth {
		return tsdl.Limitf(p.peek().Line, "nesting deeper than %d levels", tsdlMaxDepth)
	}
	return nil
}

func (p *tsdlParser) leave() { p.depth-- }

// clone deep-copies a named type for a new use, within the node budget.
func (p *tsdlParser) clone(t *Type, line int) (*Type, error) {
	sz, ok := p.sizes[t]
	if !ok {
		sz = [2]int{tsdlCount(t), tsdlDepth(t)}
		if p.sizes == nil {
			p.sizes = map[*Type][2]int{}
		}
		p.sizes[t] = sz
	}
	n := sz[0]
	if p.depth+sz[1]-1 > tsdlMaxDepth {
		return nil, tsdl.Limitf(line, "nesting deeper than %d levels", tsdlMaxDepth)
	}
	if p.nodes+n > tsdlMaxNodes {
		return nil, tsdl.Limitf(line, "types too large (more than %d nodes)", tsdlMaxNodes)
	}
	p.nodes += n
	return tsdlCopy(t), nil
}

func tsdlCount(t *Type) int {
	if t == nil {
		return 0
	}
	n := 1 + tsdlCount(t.Container) + tsdlCount(t.Elem)
	for _, f := range t.Fields {
		n += tsdlCount(f.Type)
	}
	return n
}

// tsdlDepth is the nesting depth of t as written in TSDL: array dimensions
// belong to their declarator and add no level.
func tsdlDepth(t *Type) int {
	if t == nil {
		return 0
	}
	if t.Kind == KindArray || t.Kind == KindSequence {
		return tsdlDepth(t.Elem)
	}
	d := tsdlDepth(t.Container)
	for _, f := range t.Fields {
		d = max(d, tsdlDepth(f.Type))
	}
	return 1 + d
}

func tsdlCopy(t *Type) *Type {
	if t == nil {
		return nil
	}
	c := *t
	c.Container = tsdlCopy(t.Container)
	c.Elem = tsdlCopy(t.Elem)
	if t.Mappings != nil {
		c.Mappings = append([]EnumMapping(nil), t.Mappings...)
	}
	if t.Fields != nil {
		c.Fields = make([]Field, len(t.Fields))
		for i, f := range t.Fields {
			c.Fields[i] = Field{Name: f.Name, Type: tsdlCopy(f.Type)}
		}
	}
	return &c
}

// parseTop parses top-level declarations and blocks up to the end.
func (p *tsdlParser) parseTop() error {
	for {
		t := p.peek()
		switch {
		case t.Kind == tsdl.EOF:
			return nil
		case t.Kind == tsdl.Punct && t.Text == ";":
			p.next()
		case t.Kind == tsdl.Ident && p.peekAt(1).Kind == tsdl.Punct && p.peekAt(1).Text == "{" &&
			(t.Text == "trace" || t.Text == "env" || t.Text == "clock" || t.Text == "stream" ||
				t.Text == "event" || t.Text == "callsite"):
			if err := p.parseBlock(t.Text); err != nil {
				return err
			}
		case t.Kind == tsdl.Ident:
			if err := p.parseDeclaration(); err != nil {
				return err
			}
		default:
			return p.syntaxError("declaration")
		}
	}
}

// parseDeclaration parses a typealias, typedef or type declaration (such as
// "struct name { ... };") with its ';'.
func (p *tsdlParser) parseDeclaration() error {
	switch {
	case p.isWord("typealias"):
		if err := p.parseTypealias(); err != nil {
			return err
		}
	case p.isWord("typedef"):
		if err := p.parseTypedef(); err != nil {
			return err
		}
	case p.isWord("struct") || p.isWord("variant") || p.isWord("enum"):
		if _, err := p.parseTypeSpec(); err != nil {
			return err
		}
	default:
		return p.syntaxError("declaration")
	}
	return p.expect(";")
}

// parseTypealias parses "typealias TYPE := NAME WORDS" (without ';'). The
// name may hold pointer declarators, as in "void *" (a C-style name the
// metadata then uses as a type, as babeltrace2 accepts it).
func (p *tsdlParser) parseTypealias() error {
	p.next()
	t, err := p.parseTypeSpec()
	if err != nil {
		return err
	}
	if t, err = p.parseDims(t); err != nil {
		return err
	}
	if err := p.expect(":="); err != nil {
		return err
	}
	var words []string
	line := p.peek().Line
	for p.peek().Kind == tsdl.Ident || p.isPunct("*") && len(words) > 0 {
		if len(words) == tsdlMaxAliasWord {
			return tsdl.Limitf(line, "type alias name longer than %d words", tsdlMaxAliasWord)
		}
		words = append(words, p.next().Text)
	}
	if len(words) == 0 {
		return p.syntaxError("type alias name")
	}
	if t, err = p.parseDims(t); err != nil {
		return err
	}
	p.scope().aliases[strings.Join(words, " ")] = t
	return nil
}

// parseTypedef parses "typedef TYPE name[dims], ..." (without ';').
func (p *tsdlParser) parseTypedef() error {
	p.next()
	base, err := p.parseTypeSpec()
	if err != nil {
		return err
	}
	for first := true; ; first = false {
		name, err := p.expectIdent("type name")
		if err != nil {
			return err
		}
		t := base
		if !first {
			if t, err = p.clone(base, name.Line); err != nil {
				return err
			}
		}
		if t, err = p.parseDims(t); err != nil {
			return err
		}
		p.scope().aliases[name.Text] = t
		if !p.isPunct(",") {
			return nil
		}
		p.next()
	}
}

// parseDims parses array dimensions "[N]" or "[path]" after a declarator and
// wraps t accordingly; "x[2][3]" is an array of two arrays of three.
func (p *tsdlParser) parseDims(t *Type) (*Type, error) {
	type dim struct {
		n    int
		path string
	}
	var dims []dim
	for p.isPunct("[") {
		p.next()
		if len(dims) == tsdlMaxDims {
			return nil, tsdl.Limitf(p.peek().Line, "more than %d array dimensions", tsdlMaxDims)
		}
		tok := p.peek()
		switch tok.Kind {
		case tsdl.Int:
			p.next()
			if tok.Val > tsdlMaxArrayLen {
				return nil, tsdl.Limitf(tok.Line, "array length %d larger than %d", tok.Val, tsdlMaxArrayLen)
			}
			dims = append(dims, dim{n: int(tok.Val)})
		case tsdl.Ident:
			path, err := p.parsePath()
			if err != nil {
				return nil, err
			}
			dims = append(dims, dim{path: path})
		default:
			return nil, p.syntaxError("array length")
		}
		if err := p.expect("]"); err != nil {
			return nil, err
		}
	}
	for i := len(dims) - 1; i >= 0; i-- {
		if dims[i].path != "" {
			t = Sequence(t, dims[i].path)
		} else {
			t = Array(t, dims[i].n)
		}
	}
	return t, nil
}

// parsePath parses a dotted identifier path such as event.fields.x.
func (p *tsdlParser) parsePath() (string, error) {
	tok, err := p.expectIdent("identifier")
	if err != nil {
		return "", err
	}
	parts := []string{tok.Text}
	for p.isPunct(".") && p.peekAt(1).Kind == tsdl.Ident {
		p.next()
		parts = append(parts, p.next().Text)
		if len(parts) > tsdlMaxDepth {
			return "", tsdl.Limitf(tok.Line, "path longer than %d components", tsdlMaxDepth)
		}
	}
	return strings.Join(parts, "."), nil
}

// parseTypeSpec parses a type specifier and returns a type the caller owns.
func (p *tsdlParser) parseTypeSpec() (*Type, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	for p.isWord("const") {
		p.next()
	}
	tok := p.peek()
	if tok.Kind != tsdl.Ident {
		return nil, p.syntaxError("type")
	}
	switch tok.Text {
	case "integer":
		p.next()
		return p.parseInteger(tok.Line)
	case "floating_point":
		p.next()
		return p.parseFloat(tok.Line)
	case "string":
		p.next()
		return p.parseString()
	case "struct":
		return p.parseStruct()
	case "variant":
		return p.parseVariant()
	case "enum":
		return p.parseEnum()
	}
	return p.parseTypeName()
}

// parseTypeName resolves a (possibly multi-word) alias such as "unsigned
// long", taking the longest declared match.
func (p *tsdlParser) parseTypeName() (*Type, error) {
	tok := p.peek()
	var words []string
	best, bestLen := (*Type)(nil), 0
	for k := 0; k < tsdlMaxAliasWord; k++ {
		w := p.peekAt(k)
		if w.Kind != tsdl.Ident && !(k > 0 && w.Kind == tsdl.Punct && w.Text == "*") {
			break
		}
		words = append(words, w.Text)
		if t := p.lookup(func(s *tsdlScope) map[string]*Type { return s.aliases }, strings.Join(words, " ")); t != nil {
			best, bestLen = t, k+1
		}
	}
	if best == nil {
		name := tok.Text
		if tsdlCTypeWord(name) {
			for k := 1; k < len(words) && tsdlCTypeWord(words[k]); k++ {
				name += " " + words[k]
			}
		} else if tsdl.Keywords[name] {
			return nil, p.syntaxError("type")
		}
		return nil, tsdl.Errorf(tok.Line, "unknown type %q", name)
	}
	p.pos += bestLen
	return p.clone(best, tok.Line)
}

func tsdlCTypeWord(w string) bool {
	switch w {
	case "unsigned", "signed", "long", "short", "int", "char", "float", "double", "_Bool", "void":
		return true
	}
	return false
}

// parseAttrs parses "{ name = value; ... }". With blocks set it also accepts
// "name := type;" and type declarations, as the top-level blocks do.
func (p *tsdlParser) parseAttrs(blocks bool) ([]tsdlAttr, error) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	var attrs []tsdlAttr
	for !p.isPunct("}") {
		tok := p.peek()
		if tok.Kind == tsdl.Punct && tok.Text == ";" {
			p.next()
			continue
		}
		if blocks && tok.Kind == tsdl.Ident {
			switch tok.Text {
			case "typealias", "typedef", "struct", "variant", "enum":
				if err := p.parseDeclaration(); err != nil {
					return nil, err
				}
				continue
			}
		}
		if tok.Kind != tsdl.Ident {
			return nil, p.syntaxError("attribute name")
		}
		name, err := p.parsePath()
		if err != nil {
			return nil, err
		}
		a := tsdlAttr{name: name, line: tok.Line}
		switch {
		case p.isPunct("="):
			p.next()
			if a.val, err = p.parseValue(); err != nil {
				return nil, err
			}
		case blocks && p.isPunct(":="):
			p.next()
			if a.typ, err = p.parseTypeSpec(); err != nil {
				return nil, err
			}
		default:
			if blocks {
				return nil, p.syntaxError("'=' or ':='")
			}
			return nil, p.syntaxError("'='")
		}
		if err := p.expect(";"); err != nil {
			return nil, err
		}
		attrs = append(attrs, a)
	}
	p.next()
	return attrs, nil
}

// parseValue parses an attribute value: a signed integer, a string or
// character literal, or a dotted identifier path.
func (p *tsdlParser) parseValue() (tsdlValue, error) {
	tok := p.peek()
	v := tsdlValue{line: tok.Line}
	switch tok.Kind {
	case tsdl.Punct:
		if tok.Text != "-" && tok.Text != "+" {
			return v, p.syntaxError("value")
		}
		p.next()
		if p.peek().Kind != tsdl.Int {
			return v, p.syntaxError("integer")
		}
		v.neg = tok.Text == "-"
		v.kind, v.u = tsdl.Int, p.next().Val
	case tsdl.Int:
		v.kind, v.u = tsdl.Int, p.next().Val
	case tsdl.String, tsdl.CharLit:
		v.kind, v.s = tok.Kind, p.next().Text
	case tsdl.Ident:
		path, err := p.parsePath()
		if err != nil {
			return v, err
		}
		v.kind, v.s = tsdl.Ident, path
	default:
		return v, p.syntaxError("value")
	}
	return v, nil
}

func (a tsdlAttr) errorf(format string, args ...any) error {
	return tsdl.Errorf(a.line, "%s: %s", a.name, fmt.Sprintf(format, args...))
}

func (a tsdlAttr) uint64() (uint64, error) {
	if a.typ != nil || a.val.kind != tsdl.Int || a.val.neg && a.val.u != 0 {
		return 0, a.errorf("expected an unsigned integer")
	}
	return a.val.u, nil
}

func (a tsdlAttr) int64() (int64, error) {
	if a.typ != nil || a.val.kind != tsdl.Int {
		return 0, a.errorf("expected an integer")
	}
	return tsdlSigned(a.val, a)
}

func tsdlSigned(v tsdlValue, a tsdlAttr) (int64, error) {
	if v.neg {
		if v.u > 1<<63 {
			return 0, a.errorf("integer out of range")
		}
		return -int64(v.u), nil
	}
	if v.u > math.MaxInt64 {
		return 0, a.errorf("integer out of range")
	}
	return int64(v.u), nil
}

// smallInt returns an integer attribute in [lo, hi].
func (a tsdlAttr) smallInt(lo, hi int64) (int, error) {
	v, err := a.int64()
	if err != nil {
		return 0, err
	}
	if v < lo || v > hi {
		return 0, a.errorf("%d out of range [%d, %d]", v, lo, hi)
	}
	return int(v), nil
}

func (a tsdlAttr) str() (string, error) {
	if a.typ != nil || a.val.kind != tsdl.String {
		return "", a.errorf("expected a string")
	}
	return a.val.s, nil
}

// label returns a string or a bare identifier.
func (a tsdlAttr) label() (string, error) {
	if a.typ == nil && (a.val.kind == tsdl.String || a.val.kind == tsdl.Ident) {
		return a.val.s, nil
	}
	return "", a.errorf("expected a name")
}

func (a tsdlAttr) boolean() (bool, error) {
	if a.typ == nil {
		switch a.val.kind {
		case tsdl.Ident:
			switch a.val.s {
			case "true", "TRUE":
				return true, nil
			case "false", "FALSE":
				return false, nil
			}
		case tsdl.Int:
			if !a.val.neg && a.val.u <= 1 {
				return a.val.u == 1, nil
			}
		}
	}
	return false, a.errorf("expected true or false")
}

func (a tsdlAttr) byteOrder() (ByteOrder, error) {
	if a.typ == nil && a.val.kind == tsdl.Ident {
		switch a.val.s {
		case "le":
			return LittleEndian, nil
		case "be", "network":
			return BigEndian, nil
		case "native":
			return DefaultOrder, nil
		}
	}
	return 0, a.errorf("expected le, be, native or network")
}

func (a tsdlAttr) encoding() (Encoding, error) {
	if a.typ == nil && a.val.kind == tsdl.Ident {
		switch strings.ToUpper(a.val.s) {
		case "NONE":
			return EncodingNone, nil
		case "UTF8":
			return EncodingUTF8, nil
		case "ASCII":
			return EncodingASCII, nil
		}
	}
	return 0, a.errorf("expected none, UTF8 or ASCII")
}

func (a tsdlAttr) align() (int, error) {
	v, err := a.smallInt(1, 1<<30)
	if err != nil {
		return 0, err
	}
	if v&(v-1) != 0 {
		return 0, a.errorf("alignment %d is not a power of two", v)
	}
	return v, nil
}

func (p *tsdlParser) parseInteger(line int) (*Type, error) {
	attrs, err := p.parseAttrs(false)
	if err != nil {
		return nil, err
	}
	t := &Type{Kind: KindInteger, Base: 10}
	for _, a := range attrs {
		switch a.name {
		case "size":
			t.Size, err = a.smallInt(1, 64)
		case "align":
			t.Align, err = a.align()
		case "signed":
			t.Signed, err = a.boolean()
		case "byte_order":
			t.ByteOrder, err = a.byteOrder()
		case "encoding":
			t.Encoding, err = a.encoding()
		case "base":
			t.Base, err = tsdlBase(a)
		case "map":
			const pre, suf = "clock.", ".value"
			s := a.val.s
			if a.val.kind != tsdl.Ident || !strings.HasPrefix(s, pre) || !strings.HasSuffix(s, suf) ||
				len(s) <= len(pre)+len(suf) || strings.Contains(s[len(pre):len(s)-len(suf)], ".") {
				return nil, a.errorf("expected clock.NAME.value")
			}
			t.Clock = s[len(pre) : len(s)-len(suf)]
			p.clockRefs = append(p.clockRefs, tsdlClockRef{name: t.Clock, line: a.line})
		}
		if err != nil {
			return nil, err
		}
	}
	if t.Size == 0 {
		return nil, tsdl.Errorf(line, "integer without size")
	}
	if t.Align == 0 {
		t.Align = t.Alignment()
	}
	return t, nil
}

func tsdlBase(a tsdlAttr) (int, error) {
	switch a.val.kind {
	case tsdl.Int:
		if !a.val.neg {
			switch a.val.u {
			case 2, 8, 10, 16:
				return int(a.val.u), nil
			}
		}
	case tsdl.Ident:
		switch a.val.s {
		case "decimal", "dec", "d", "i", "u":
			return 10, nil
		case "hexadecimal", "hex", "x", "X", "p":
			return 16, nil
		case "octal", "oct", "o":
			return 8, nil
		case "binary", "b":
			return 2, nil
		}
	}
	return 0, a.errorf("invalid base")
}

func (p *tsdlParser) parseFloat(line int) (*Type, error) {
	attrs, err := p.parseAttrs(false)
	if err != nil {
		return nil, err
	}
	t := &Type{Kind: KindFloat}
	for _, a := range attrs {
		switch a.name {
		case "exp_dig":
			t.ExpDig, err = a.smallInt(1, 64)
		case "mant_dig":
			t.MantDig, err = a.smallInt(1, 64)
		case "align":
			t.Align, err = a.align()
		case "byte_order":
			t.ByteOrder, err = a.byteOrder()
		}
		if err != nil {
			return nil, err
		}
	}
	t.Size = t.ExpDig + t.MantDig
	if !(t.ExpDig == 8 && t.MantDig == 24) && !(t.ExpDig == 11 && t.MantDig == 53) {
		return nil, tsdl.Errorf(line, "floating_point with exp_dig = %d, mant_dig = %d is not supported (only 8/24 and 11/53)", t.ExpDig, t.MantDig)
	}
	if t.Align == 0 {
		t.Align = t.Alignment()
	}
	return t, nil
}

func (p *tsdlParser) parseString() (*Type, error) {
	t := String()
	if !p.isPunct("{") {
		return t, nil
	}
	attrs, err := p.parseAttrs(false)
	if err != nil {
		return nil, err
	}
	for _, a := range attrs {
		if a.name == "encoding" {
			if t.Encoding, err = a.encoding(); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// parseMembers parses "{ members }" of a struct or variant.
func (p *tsdlParser) parseMembers() ([]Field, error) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	p.push()
	defer p.pop()
	var fields []Field
	for !p.isPunct("}") {
		tok := p.peek()
		switch {
		case tok.Kind == tsdl.Punct && tok.Text == ";":
			p.next()
			continue
		case tok.Kind == tsdl.EOF:
			return nil, p.syntaxError("'}'")
		case tok.Kind == tsdl.Ident && (tok.Text == "typealias" || tok.Text == "typedef"):
			if err := p.parseDeclaration(); err != nil {
				return nil, err
			}
			continue
		}
		base, err := p.parseTypeSpec()
		if err != nil {
			return nil, err
		}
		if p.isPunct(";") {
			// A declaration such as "struct name { ... };" in this scope.
			p.next()
			continue
		}
		for first := true; ; first = false {
			name, err := p.expectIdent("field name")
			if err != nil {
				return nil, err
			}
			t := base
			if !first {
				if t, err = p.clone(base, name.Line); err != nil {
					return nil, err
				}
			}
			if t, err = p.parseDims(t); err != nil {
				return nil, err
			}
			fields = append(fields, Field{Name: name.Text, Type: t})
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
		if err := p.expect(";"); err != nil {
			return nil, err
		}
	}
	p.next()
	return fields, nil
}

// parseOptionalName returns the name after struct/variant/enum, if any.
func (p *tsdlParser) parseOptionalName() string {
	t := p.peek()
	if t.Kind == tsdl.Ident && !tsdl.Keywords[t.Text] {
		p.next()
		return t.Text
	}
	return ""
}

func (p *tsdlParser) parseStruct() (*Type, error) {
	kw := p.next()
	name := p.parseOptionalName()
	var t *Type
	if p.isPunct("{") {
		fields, err := p.parseMembers()
		if err != nil {
			return nil, err
		}
		t = &Type{Kind: KindStruct, Fields: fields}
	} else {
		if name == "" {
			return nil, p.syntaxError("'{' or structure name")
		}
		named := p.lookup(func(s *tsdlScope) map[string]*Type { return s.structs }, name)
		if named == nil {
			return nil, tsdl.Errorf(kw.Line, "unknown type \"struct %s\"", name)
		}
		var err error
		if t, err = p.clone(named, kw.Line); err != nil {
			return nil, err
		}
		name = "" // a reference, not a declaration
	}
	if p.isWord("align") && p.peekAt(1).Kind == tsdl.Punct && p.peekAt(1).Text == "(" {
		p.next()
		p.next()
		tok := p.peek()
		if tok.Kind != tsdl.Int {
			return nil, p.syntaxError("alignment")
		}
		p.next()
		if tok.Val == 0 || tok.Val > 1<<30 || tok.Val&(tok.Val-1) != 0 {
			return nil, tsdl.Errorf(tok.Line, "alignment %d is not a power of two", tok.Val)
		}
		t.MinAlign = int(tok.Val)
		if err := p.expect(")"); err != nil {
			return nil, err
		}
	}
	if name != "" {
		// The caller may use t itself: templates are only ever copied.
		p.scope().structs[name] = t
	}
	return t, nil
}

func (p *tsdlParser) parseVariant() (*Type, error) {
	kw := p.next()
	name := p.parseOptionalName()
	tag := ""
	if p.isPunct("<") {
		p.next()
		// One field name, as babeltrace2 2.0's grammar takes it: it
		// refuses a path such as event.fields.tag here.
		tok, err := p.expectIdent("variant tag")
		if err != nil {
			return nil, err
		}
		if tsdl.Keywords[tok.Text] || p.isPunct(".") {
			return nil, tsdl.Errorf(tok.Line, "variant tag: a field name is expected, not a path")
		}
		tag = tok.Text
		if err := p.expect(">"); err != nil {
			return nil, err
		}
	}
	if p.isPunct("{") {
		fields, err := p.parseMembers()
		if err != nil {
			return nil, err
		}
		t := &Type{Kind: KindVariant, Tag: tag, Fields: fields}
		if name != "" {
			p.scope().variants[name] = t
		}
		return t, nil
	}
	if name == "" {
		return nil, p.syntaxError("'{' or variant name")
	}
	named := p.lookup(func(s *tsdlScope) map[string]*Type { return s.variants }, name)
	if named == nil {
		return nil, tsdl.Errorf(kw.Line, "unknown type \"variant %s\"", name)
	}
	t, err := p.clone(named, kw.Line)
	if err != nil {
		return nil, err
	}
	if tag != "" {
		t.Tag = tag
	}
	return t, nil
}

func (p *tsdlParser) parseEnum() (*Type, error) {
	kw := p.next()
	name := p.parseOptionalName()
	var container *Type
	if p.isPunct(":") {
		p.next()
		var err error
		if container, err = p.parseTypeSpec(); err != nil {
			return nil, err
		}
		if container.Kind != KindInteger {
			return nil, tsdl.Errorf(kw.Line, "enum container must be an integer, not %v", container.Kind)
		}
	}
	if !p.isPunct("{") {
		if name == "" || container != nil {
			return nil, p.syntaxError("'{'")
		}
		named := p.lookup(func(s *tsdlScope) map[string]*Type { return s.enums }, name)
		if named == nil {
			return nil, tsdl.Errorf(kw.Line, "unknown type \"enum %s\"", name)
		}
		return p.clone(named, kw.Line)
	}
	if container == nil {
		c := p.lookup(func(s *tsdlScope) map[string]*Type { return s.aliases }, "int")
		if c == nil || c.Kind != KindInteger {
			return nil, tsdl.Errorf(kw.Line, "unknown type \"int\" (enum without container type)")
		}
		container = tsdlCopy(c)
	}
	maps, err := p.parseEnumerators(container)
	if err != nil {
		return nil, err
	}
	t := &Type{Kind: KindEnum, Container: container, Mappings: maps}
	if name != "" {
		p.scope().enums[name] = t
	}
	return t, nil
}

// parseEnumerators parses "{ LABEL = A ... B, ... }". A label without a value
// takes the previous end plus one (0 for the first).
func (p *tsdlParser) parseEnumerators(container *Type) ([]EnumMapping, error) {
	p.next() // '{'
	var maps []EnumMapping
	var next int64
	for !p.isPunct("}") {
		tok := p.peek()
		var label string
		switch tok.Kind {
		case tsdl.String, tsdl.Ident:
			label = p.next().Text
		default:
			return nil, p.syntaxError("enumerator")
		}
		m := EnumMapping{Label: label, Start: next, End: next}
		if p.isPunct("=") {
			p.next()
			var err error
			if m.Start, err = p.parseEnumValue(container); err != nil {
				return nil, err
			}
			m.End = m.Start
			if p.isPunct("...") {
				p.next()
				if m.End, err = p.parseEnumValue(container); err != nil {
					return nil, err
				}
			}
			if container.Signed && m.Start > m.End || !container.Signed && uint64(m.Start) > uint64(m.End) {
				return nil, tsdl.Errorf(tok.Line, "enumerator %q: range start greater than end", label)
			}
		}
		next = m.End + 1
		maps = append(maps, m)
		if p.isPunct(",") {
			p.next()
			continue
		}
		if !p.isPunct("}") {
			return nil, p.syntaxError("',' or '}'")
		}
	}
	p.next()
	return maps, nil
}

// parseEnumValue parses an enumerator bound: int64 for signed containers,
// the uint64 bit pattern for unsigned ones.
func (p *tsdlParser) parseEnumValue(container *Type) (int64, error) {
	v, err := p.parseValue()
	if err != nil {
		return 0, err
	}
	a := tsdlAttr{name: "enumerator", val: v, line: v.line}
	if v.kind != tsdl.Int {
		return 0, a.errorf("expected an integer")
	}
	if !container.Signed && !v.neg {
		return int64(v.u), nil
	}
	return tsdlSigned(v, a)
}

// parseBlock parses trace, env, clock, stream, event and callsite blocks.
func (p *tsdlParser) parseBlock(kind string) error {
	kw := p.next()
	if err := p.enter(); err != nil {
		return err
	}
	p.push()
	attrs, err := p.parseAttrs(true)
	p.pop()
	p.leave()
	if err != nil {
		return err
	}
	if p.isPunct(";") {
		p.next()
	}
	switch kind {
	case "trace":
		return p.trace(kw.Line, attrs)
	case "env":
		return p.env(attrs)
	case "clock":
		return p.clock(kw.Line, attrs)
	case "stream":
		return p.stream(kw.Line, attrs)
	case "event":
		return p.event(kw.Line, attrs)
	}
	return nil // callsite
}

func (p *tsdlParser) trace(line int, attrs []tsdlAttr) error {
	if p.traceLine != 0 {
		return tsdl.Errorf(line, "duplicate trace block (first on line %d)", p.traceLine)
	}
	p.traceLine = line
	md := p.md
	var err error
	var hasMajor, hasMinor bool
	versionLine := line
	for _, a := range attrs {
		switch a.name {
		case "major":
			md.Major, err = a.smallInt(0, math.MaxInt32)
			hasMajor, versionLine = true, a.line
		case "minor":
			md.Minor, err = a.smallInt(0, math.MaxInt32)
			hasMinor = true
		case "uuid":
			var s string
			if s, err = a.str(); err == nil {
				var ok bool
				if md.UUID, ok = tsdl.ParseUUID(s); !ok {
					err = a.errorf("invalid UUID %q", s)
				}
				md.HasUUID = true
			}
		case "byte_order":
			md.ByteOrder, err = a.byteOrder()
			if err == nil && md.ByteOrder == DefaultOrder {
				err = a.errorf("the trace byte order must be le or be")
			}
			p.hasByteOrder = true
		case "packet.header":
			md.PacketHeader, err = tsdlScopeType(a)
		}
		if err != nil {
			return err
		}
	}
	if !p.hasByteOrder {
		return tsdl.Errorf(line, "trace block without byte_order")
	}
	// babeltrace2 2.0 refuses a trace block without major and minor, and
	// any version but 1.8.
	switch {
	case !hasMajor || !hasMinor:
		return tsdl.Errorf(line, "trace block without major and minor (CTF version 1.8)")
	case md.Major != 1 || md.Minor != 8:
		return tsdl.Errorf(versionLine, "CTF %d.%d is not supported (only 1.8)", md.Major, md.Minor)
	}
	return nil
}

// tsdlScopeType returns the type assigned with ":=".
func tsdlScopeType(a tsdlAttr) (*Type, error) {
	if a.typ == nil {
		return nil, a.errorf("expected ':=' and a type")
	}
	if a.typ.Kind != KindStruct {
		return nil, a.errorf("expected a structure, got %v", a.typ.Kind)
	}
	return a.typ, nil
}

func (p *tsdlParser) env(attrs []tsdlAttr) error {
	for _, a := range attrs {
		e := EnvValue{Key: a.name}
		switch {
		case a.typ != nil:
			return a.errorf("env values must be integers or strings")
		case a.val.kind == tsdl.Int:
			v, err := a.int64()
			if err != nil {
				return err
			}
			e.Int, e.IsInt = v, true
		default:
			e.Str = a.val.s
		}
		p.md.Env = append(p.md.Env, e)
	}
	return nil
}

func (p *tsdlParser) clock(line int, attrs []tsdlAttr) error {
	c := &Clock{}
	var err error
	for _, a := range attrs {
		switch a.name {
		case "name":
			c.Name, err = a.label()
		case "uuid":
			c.UUID, err = a.str()
		case "description":
			c.Description, err = a.str()
		case "freq":
			c.Freq, err = a.uint64()
			if err == nil && c.Freq == 0 {
				err = a.errorf("frequency must not be zero")
			}
		case "precision":
			c.Precision, err = a.uint64()
		case "offset_s":
			c.OffsetS, err = a.int64()
		case "offset":
			// Cycles; babeltrace2 refuses a negative value (offset_s
			// may be negative).
			var u uint64
			if u, err = a.uint64(); err == nil && u > math.MaxInt64 {
				err = a.errorf("integer out of range")
			}
			c.Offset = int64(u)
		case "absolute":
			c.Absolute, err = a.boolean()
		}
		if err != nil {
			return err
		}
	}
	if c.Name == "" {
		return tsdl.Errorf(line, "clock block without name")
	}
	if p.md.Clock(c.Name) != nil {
		return tsdl.Errorf(line, "duplicate clock %q", c.Name)
	}
	if _, err := rdNewClock(c); err != nil {
		// babeltrace2 cannot give its events a time either.
		return tsdl.Errorf(line, "%v", err)
	}
	p.md.Clocks = append(p.md.Clocks, c)
	return nil
}

func (p *tsdlParser) stream(line int, attrs []tsdlAttr) error {
	s := &StreamClass{}
	var err error
	for _, a := range attrs {
		switch a.name {
		case "id":
			s.ID, err = a.uint64()
		case "event.header":
			s.EventHeader, err = tsdlScopeType(a)
		case "packet.context":
			s.PacketContext, err = tsdlScopeType(a)
		case "event.context":
			s.EventContext, err = tsdlScopeType(a)
		}
		if err != nil {
			return err
		}
	}
	for _, o := range p.streams {
		if o.sc.ID == s.ID {
			return tsdl.Errorf(line, "duplicate stream id %d (first on line %d)", s.ID, o.line)
		}
	}
	p.streams = append(p.streams, tsdlPendingStream{sc: s, line: line})
	return nil
}

func (p *tsdlParser) event(line int, attrs []tsdlAttr) error {
	e := &EventClass{}
	var err error
	for _, a := range attrs {
		switch a.name {
		case "name":
			e.Name, err = a.label()
		case "id":
			e.ID, err = a.uint64()
		case "stream_id":
			e.StreamID, err = a.uint64()
		case "loglevel":
			e.LogLevel, err = a.int64()
			e.HasLevel = true
		case "context":
			e.Context, err = tsdlScopeType(a)
		case "fields":
			e.Fields, err = tsdlScopeType(a)
		}
		if err != nil {
			return err
		}
	}
	p.events = append(p.events, tsdlPendingEvent{ec: e, line: line})
	return nil
}

// finish checks the whole trace and links event classes to stream classes.
func (p *tsdlParser) finish() error {
	md := p.md
	if p.traceLine == 0 {
		return errors.New("metadata: no trace block")
	}
	for _, r := range p.clockRefs {
		if md.Clock(r.name) == nil {
			return tsdl.Errorf(r.line, "unknown clock %q", r.name)
		}
	}
	if len(p.streams) == 0 {
		p.streams = append(p.streams, tsdlPendingStream{sc: &StreamClass{}})
	}
	for _, s := range p.streams {
		md.Streams = append(md.Streams, s.sc)
	}
	type key struct{ stream, id uint64 }
	seen := map[key]*EventClass{}
	for _, pe := range p.events {
		e := pe.ec
		s := md.Stream(e.StreamID)
		if s == nil {
			return tsdl.Errorf(pe.line, "event %q: unknown stream_id %d", e.Name, e.StreamID)
		}
		k := key{s.ID, e.ID}
		if o := seen[k]; o != nil {
			return tsdl.Errorf(pe.line, "event %q: duplicate id %d in stream %d (also %q)", e.Name, e.ID, s.ID, o.Name)
		}
		seen[k] = e
		s.Events = append(s.Events, e)
	}
	return p.checkReferences()
}

// checkReferences resolves every sequence length and variant tag, as
// babeltrace2 does when it reads the metadata: a reference to a field that
// does not exist, or to a length that is not an unsigned integer or a tag
// that is not an enum, is an error of the metadata, not of an event.
func (p *tsdlParser) checkReferences() error {
	md := p.md
	var roots [decNumScopes]*Type
	roots[decScopePacketHeader] = md.PacketHeader
	if _, err := decCompileRoot(decScopePacketHeader, roots, false, false); err != nil {
		return tsdl.Errorf(p.traceLine, "trace: %v", err)
	}
	for _, ps := range p.streams {
		sc := ps.sc
		roots[decScopePacketContext] = sc.PacketContext
		roots[decScopeEventHeader] = sc.EventHeader
		roots[decScopeStreamContext] = sc.EventContext
		for s := decScopePacketContext; s <= decScopeStreamContext; s++ {
			if _, err := decCompileRoot(s, roots, false, false); err != nil {
				return tsdl.Errorf(ps.line, "stream %d: %v", sc.ID, err)
			}
		}
	}
	for _, pe := range p.events {
		sc := md.Stream(pe.ec.StreamID)
		r := roots
		r[decScopePacketContext] = sc.PacketContext
		r[decScopeEventHeader] = sc.EventHeader
		r[decScopeStreamContext] = sc.EventContext
		r[decScopeEventContext] = pe.ec.Context
		r[decScopePayload] = pe.ec.Fields
		for s := decScopeEventContext; s <= decScopePayload; s++ {
			if _, err := decCompileRoot(s, r, false, false); err != nil {
				return tsdl.Errorf(pe.line, "event %q: %v", pe.ec.Name, err)
			}
		}
	}
	return nil
}
