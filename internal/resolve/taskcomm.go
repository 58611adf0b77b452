package resolve

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// KernelBTFPath is where the running kernel exposes its BTF.
const KernelBTFPath = "/sys/kernel/btf/vmlinux"

var (
	taskCommOff  int
	taskCommErr  error
	taskCommOnce sync.Once
)

// TaskComm returns the offset of comm (char[16]) in the kernel's struct
// task_struct. Recording programs read the current thread's name there
// with two loads from bpf_get_current_task_btf() instead of calling
// bpf_get_current_comm, which costs them a helper call and a string copy
// on every event.
//
// Decoding the whole kernel BTF takes about 40 ms of CPU, more than a short
// recording's events cost; TaskComm scans the raw BTF for the one struct
// instead (about 3 ms).
func TaskComm() (int, error) {
	taskCommOnce.Do(func() {
		raw, done, err := mapFile(KernelBTFPath)
		if err != nil {
			taskCommErr = fmt.Errorf("kernel BTF: %w", err)
			return
		}
		defer done()
		taskCommOff, taskCommErr = charArrayMember(raw, "task_struct", "comm", 16)
	})
	return taskCommOff, taskCommErr
}

// mapFile maps the file at path read-only (the kernel's BTF can be mapped
// since Linux 6.16; sysfs reads it a page per read call otherwise, about
// 10 ms for 5 MB here) or, failing that, reads it.
func mapFile(path string) ([]byte, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() > 0 {
		if b, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_PRIVATE); err == nil {
			return b, func() { _ = unix.Munmap(b) }, nil
		}
	}
	b, err := io.ReadAll(f)
	return b, func() {}, err
}

// BTF kinds (linux/btf.h).
const (
	btfKindInt      = 1
	btfKindArray    = 3
	btfKindStruct   = 4
	btfKindTypedef  = 8
	btfKindVolatile = 9
	btfKindConst    = 10
	btfKindRestrict = 11
	btfKindTypeTag  = 18
)

// btfExtra is the size of the data after a type record of each kind, per
// member (vlen) for the kinds that have members.
var btfExtra = [...]struct{ fixed, perMember int }{
	1: {4, 0}, 2: {0, 0}, 3: {12, 0}, 4: {0, 12}, 5: {0, 12}, 6: {0, 8},
	7: {0, 0}, 8: {0, 0}, 9: {0, 0}, 10: {0, 0}, 11: {0, 0}, 12: {0, 0},
	13: {0, 8}, 14: {4, 0}, 15: {0, 12}, 16: {0, 0}, 17: {4, 0}, 18: {0, 0},
	19: {0, 12},
}

// charArrayMember returns the byte offset of member in the struct named
// structName of the raw (little-endian) BTF, checking that the member is
// an array of n one-byte integers.
func charArrayMember(raw []byte, structName, member string, n int) (int, error) {
	le := binary.LittleEndian
	if len(raw) < 24 || le.Uint16(raw) != 0xeb9f {
		return 0, errors.New("kernel BTF: not little-endian BTF")
	}
	hdrLen := int(le.Uint32(raw[4:]))
	typeOff, typeLen := int(le.Uint32(raw[8:])), int(le.Uint32(raw[12:]))
	strOff, strLen := int(le.Uint32(raw[16:])), int(le.Uint32(raw[20:]))
	if hdrLen < 24 || hdrLen+typeOff+typeLen > len(raw) || hdrLen+strOff+strLen > len(raw) || typeOff < 0 || strOff < 0 {
		return 0, errors.New("kernel BTF: bad header")
	}
	types := raw[hdrLen+typeOff : hdrLen+typeOff+typeLen]
	strs := raw[hdrLen+strOff : hdrLen+strOff+strLen]
	nameIs := func(off uint32, name string) bool {
		if int(off)+len(name) >= len(strs) {
			return false
		}
		return string(strs[off:int(off)+len(name)]) == name && strs[int(off)+len(name)] == 0
	}
	// at[id] is the offset of type id's record in types (id 0 is void);
	// the types are indexed as far as the scan has gone.
	at := []int{-1}
	pos := 0
	scan := func() (kind, vlen, p int, err error) {
		p = pos
		if p+12 > len(types) {
			return 0, 0, 0, errors.New("kernel BTF: truncated type")
		}
		info := le.Uint32(types[p+4:])
		kind, vlen = int(info>>24&0x1f), int(info&0xffff)
		if kind == 0 || kind >= len(btfExtra) {
			return 0, 0, 0, fmt.Errorf("kernel BTF: type %d of unknown kind %d", len(at), kind)
		}
		next := p + 12 + btfExtra[kind].fixed + vlen*btfExtra[kind].perMember
		if next > len(types) {
			return 0, 0, 0, errors.New("kernel BTF: truncated type")
		}
		at = append(at, p)
		pos = next
		return kind, vlen, p, nil
	}
	memberType := uint32(0)
	memberOff := -1
	for memberOff < 0 {
		if pos >= len(types) {
			return 0, fmt.Errorf("kernel BTF: no struct %s", structName)
		}
		kind, vlen, p, err := scan()
		if err != nil {
			return 0, err
		}
		if kind != btfKindStruct || vlen == 0 || !nameIs(le.Uint32(types[p:]), structName) {
			continue
		}
		kflag := le.Uint32(types[p+4:])>>31 != 0
		for m := p + 12; m < p+12+12*vlen; m += 12 {
			if !nameIs(le.Uint32(types[m:]), member) {
				continue
			}
			bits := le.Uint32(types[m+8:])
			if kflag {
				bits &= 0xffffff // bitfield size in the top byte
			}
			if bits%8 != 0 {
				return 0, fmt.Errorf("kernel BTF: %s.%s is not byte-aligned", structName, member)
			}
			memberOff, memberType = int(bits/8), le.Uint32(types[m+4:])
			break
		}
		if memberOff < 0 {
			return 0, fmt.Errorf("kernel BTF: struct %s has no member %s", structName, member)
		}
	}
	// The member's type, through typedefs and qualifiers: char[n].
	underlying := func(id uint32) (kind int, p int, err error) {
		for range 32 {
			for int(id) >= len(at) && pos < len(types) {
				if _, _, _, err := scan(); err != nil {
					return 0, 0, err
				}
			}
			if id == 0 || int(id) >= len(at) {
				return 0, 0, fmt.Errorf("kernel BTF: %s.%s: bad type id %d", structName, member, id)
			}
			p = at[id]
			kind = int(le.Uint32(types[p+4:]) >> 24 & 0x1f)
			switch kind {
			case btfKindTypedef, btfKindVolatile, btfKindConst, btfKindRestrict, btfKindTypeTag:
				id = le.Uint32(types[p+8:])
				continue
			}
			return kind, p, nil
		}
		return 0, 0, fmt.Errorf("kernel BTF: %s.%s: type chain too long", structName, member)
	}
	kind, p, err := underlying(memberType)
	if err != nil {
		return 0, err
	}
	if kind != btfKindArray || int(le.Uint32(types[p+20:])) != n {
		return 0, fmt.Errorf("kernel BTF: %s.%s is not an array of %d", structName, member, n)
	}
	kind, p, err = underlying(le.Uint32(types[p+12:]))
	if err != nil {
		return 0, err
	}
	if kind != btfKindInt || le.Uint32(types[p+8:]) != 1 {
		return 0, fmt.Errorf("kernel BTF: %s.%s is not an array of chars", structName, member)
	}
	return memberOff, nil
}
