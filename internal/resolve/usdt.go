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
func USDT(sp probe.Spec, pid int) (*Probe, error) {
	path, err := FindBinary(sp.Path, pid)
	if err != nil {
		return nil, err
	}
	if _, err := ptregs.ForFile(path); err != nil {
		return nil, fmt.Errorf("usdt binary %w", err)
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
	p := &Probe{
		Event:  &event.Schema{Name: "usdt:" + path + ":" + first.ID()},
		Target: Target{Kind: TargetUSDT, Path: path, RefCtr: first.SemaphoreOffset},
	}
	for _, loc := range found {
		p.Target.Addresses = append(p.Target.Addresses, loc.FileOffset)
	}
	for i, a := range first.Args {
		f := event.Field{Name: "arg" + strconv.Itoa(i), Kind: event.Int, Size: a.Size, Signed: a.Signed, CType: a.String()}
		var r Read
		switch a.Kind {
		case usdt.ArgConst:
			r = Read{Src: FromConst, Const: a.Const}
		case usdt.ArgReg:
			r = Read{Src: FromContext, Offset: a.RegOffset, Size: 8, Shift: a.BitShift}
		case usdt.ArgRegDeref:
			r = Read{Src: FromUserDeref, Offset: a.RegOffset, Disp: a.Offset}
		default:
			return nil, fmt.Errorf("usdt %s: argument %d: unsupported kind %v", first.ID(), i, a.Kind)
		}
		p.Event.Fields = append(p.Event.Fields, f)
		p.Reads = append(p.Reads, r)
	}
	return p, nil
}
