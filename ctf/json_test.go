package ctf

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// jsRandString returns a string of random bytes biased toward what JSON
// escapes: control characters, quotes, HTML characters, U+2028, U+2029,
// multi-byte runes and invalid UTF-8.
func jsRandString(r *rand.Rand) string {
	pieces := []string{"a", "Z", "/", " ", "\"", "\\", "<", ">", "&", "\x00", "\x01", "\x1f", "\x7f", "\b", "\f", "\n", "\r", "\t",
		"é", "€", "\u2028", "\u2029", "\U0001F600", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf"}
	n := r.IntN(8)
	s := ""
	for range n {
		s += pieces[r.IntN(len(pieces))]
	}
	return s
}

// jsRandValue returns a random value of a random type, nested up to depth.
func jsRandValue(r *rand.Rand, depth int) Value {
	k := r.IntN(9)
	if depth <= 0 && k >= 5 {
		k = r.IntN(5)
	}
	switch k {
	case 0:
		t := Int(64)
		x := int64(r.Uint64())
		return Value{Type: t, Int: x, Uint: uint64(x)}
	case 1:
		t := Hex(Uint(64))
		x := r.Uint64()
		return Value{Type: t, Int: int64(x), Uint: x}
	case 2:
		signed := r.IntN(2) == 0
		c := Uint(32)
		if signed {
			c = Int(32)
		}
		t := Enum(c, EnumMapping{Label: jsRandString(r), Start: 0, End: 0})
		v := Value{Type: t, Int: int64(r.IntN(5)) - 2}
		v.Uint = uint64(v.Int)
		if r.IntN(2) == 0 {
			v.Label = jsRandString(r)
		}
		return v
	case 3:
		fs := []float64{0, 1, -1, 0.5, 1e21, 1e20, 1e-6, 1e-7, -2.5e-300, 123456789, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64, r.NormFloat64() * 1e10}
		return Value{Type: Float64(), Float: fs[r.IntN(len(fs))]}
	case 4:
		t := String()
		if r.IntN(2) == 0 {
			t = Text(16)
		}
		return Value{Type: t, Bytes: []byte(jsRandString(r))}
	case 5, 6:
		n := r.IntN(4)
		t := Struct()
		v := Value{Type: t}
		for i := range n {
			e := jsRandValue(r, depth-1)
			name := jsRandString(r)
			if i%2 == 0 {
				name = "_" + name
			}
			t.Fields = append(t.Fields, F(name, e.Type))
			v.Elems = append(v.Elems, e)
		}
		if r.IntN(4) == 0 {
			// A value with more members than its type names.
			v.Elems = append(v.Elems, Value{Type: Int(8)})
		}
		return v
	case 7:
		e := jsRandValue(r, depth-1)
		n := r.IntN(4)
		v := Value{Type: Sequence(e.Type, "n")}
		for range n {
			v.Elems = append(v.Elems, e)
		}
		return v
	default:
		e := jsRandValue(r, depth-1)
		v := Value{Type: Variant("tag", F("_opt", e.Type)), Label: "_opt"}
		if r.IntN(4) > 0 {
			v.Elems = []Value{e}
		}
		return v
	}
}

// TestAppendJSON checks AppendJSON against encoding/json writing the same
// value as Interface returns it, as a member of Fields, on random values.
func TestAppendJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		v := jsRandValue(r, 3)
		want, err := json.Marshal(Fields{{Key: "k", Value: v.Interface()}})
		if err != nil {
			t.Fatal(err)
		}
		got := append(v.AppendJSON([]byte(`{"k":`)), '}')
		if string(got) != string(want) {
			t.Fatalf("value %d (%v):\n got %s\nwant %s", i, v.Type.Kind, got, want)
		}
		if v.Type.Kind == KindStruct {
			want, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatal(err)
			}
			got := append(v.AppendJSONMembers([]byte{'{'}), '}')
			if string(got) != string(want) {
				t.Fatalf("members of value %d:\n got %s\nwant %s", i, got, want)
			}
			if n := v.JSONMembers(); n != len(v.Interface().(Fields)) {
				t.Fatalf("JSONMembers = %d, Interface has %d", n, len(v.Interface().(Fields)))
			}
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "<&>", "\u2028\u2029", "\xff\xfe", "é€😀", "\x00\x1f\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}
