package web

import (
	"sort"

	"github.com/bpftrail/bpftrail/internal/sink/stacks"
)

// flameOf builds the flame graph of a profile: its stacks merged into a
// tree from the root frame, frames named as in folded stacks, children in
// name order. It is nil for a profile without samples.
func flameOf(d *Data, p *stacks.Profile) *Flame {
	if p.Samples == 0 {
		return nil
	}
	f := &flameBuilder{d: d, kids: map[[2]int32]int32{}}
	f.nodes = append(f.nodes, flameNode{nm: d.str("all"), parent: -1})
	for _, s := range p.Stacks {
		f.add(s)
	}
	out := f.finish()
	out.Samples = p.Samples
	return out
}

// flameBuilder merges stacks into a tree.
type flameBuilder struct {
	d     *Data
	nodes []flameNode
	kids  map[[2]int32]int32 // (parent, name) → node
}

type flameNode struct {
	nm, parent  int32
	value, self int64
	kernel      bool
}

// add adds the samples of one stack.
func (f *flameBuilder) add(s *stacks.Stack) {
	cur := int32(0)
	f.nodes[0].value += s.Count
	for i := len(s.Frames) - 1; i >= 0; i-- {
		nm := f.d.str(stacks.FrameName(s.Frames[i]))
		k := [2]int32{cur, nm}
		c, ok := f.kids[k]
		if !ok {
			c = int32(len(f.nodes))
			f.nodes = append(f.nodes, flameNode{nm: nm, parent: cur, kernel: i < s.Kernel})
			f.kids[k] = c
		}
		f.nodes[c].value += s.Count
		cur = c
	}
	f.nodes[cur].self += s.Count
}

// finish lays the tree out in pre-order, children by name.
func (f *flameBuilder) finish() *Flame {
	children := make([][]int32, len(f.nodes))
	for i := 1; i < len(f.nodes); i++ {
		p := f.nodes[i].parent
		children[p] = append(children[p], int32(i))
	}
	out := &Flame{}
	var walk func(i, parent int32)
	walk = func(i, parent int32) {
		idx := int32(len(out.Nm))
		nd := f.nodes[i]
		out.Nm = append(out.Nm, nd.nm)
		out.Parent = append(out.Parent, parent)
		out.Value = append(out.Value, nd.value)
		out.Self = append(out.Self, nd.self)
		out.Kernel = append(out.Kernel, nd.kernel)
		ks := children[i]
		sort.Slice(ks, func(a, b int) bool { return f.d.Strings[f.nodes[ks[a]].nm] < f.d.Strings[f.nodes[ks[b]].nm] })
		for _, k := range ks {
			walk(k, idx)
		}
	}
	walk(0, -1)
	return out
}
