package resolve

import (
	"fmt"
	"strconv"

	"github.com/bpftrail/bpftrail/internal/event"
	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/ptregs"
	"github.com/bpftrail/bpftrail/internal/usdt"
)

// USDT resolves a usdt:PATH:[PROVIDER:]NAME spec: the probe's locations
// (all of them, for a probe inlined in several places), its semaphore, and
// one field per argument (arg0..argN) with the argument's true size and
// sign, read from a register, from user memory or as a constant.
func USDT(sp probe.Spec, pid int) (*event.Schema, error) {
	path, err := FindBinary(sp.Path, pid)
	if err != nil {
		return nil, err
	}
	if _, err := ptregs.ForFile(path); err != nil {
		return nil, err
	}
	all, err := usdt.Probes(path)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%s has no USDT probes (no .note.stapsdt section)", path)
	}
	found, err := usdt.Find(all, sp.Provider, sp.Name)
	if err != nil {
		return nil, err
	}
	first := found[0]
	for _, p := range found {
		if p.Err != nil {
			return nil, fmt.Errorf("usdt %s in %s: %w", p.ID(), path, p.Err)
		}
	}
	s := &event.Schema{
		Name:   "usdt:" + path + ":" + first.ID(),
		Attach: event.Attach{Kind: "usdt", Path: path, Address: first.FileOffset, RefCtr: first.SemaphoreOffset},
	}
	for _, p := range found[1:] {
		s.Attach.More = append(s.Attach.More, p.FileOffset)
	}
	for i, a := range first.Args {
		f := event.Field{Name: "arg" + strconv.Itoa(i), Kind: event.Int, Size: a.Size, Signed: a.Signed, CType: a.String()}
		switch a.Kind {
		case usdt.ArgConst:
			f.Src, f.Const = event.FromConst, a.Const
		case usdt.ArgReg:
			f.Src, f.SrcOffset, f.SrcSize, f.Shift = event.FromContext, a.RegOffset, 8, a.BitShift
		case usdt.ArgRegDeref:
			f.Src, f.SrcOffset, f.Disp = event.FromUserDeref, a.RegOffset, a.Offset
		default:
			return nil, fmt.Errorf("usdt %s: argument %d: unsupported kind %v", first.ID(), i, a.Kind)
		}
		s.Fields = append(s.Fields, f)
	}
	s.Layout()
	return s, nil
}
