package resolve

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bpftrail/bpftrail/internal/probe"
	"github.com/bpftrail/bpftrail/internal/ptregs"
)

// TestForeignBinaryRefused checks that uprobes and USDT probes on a binary
// built for another architecture fail with one line naming both
// architectures, instead of reading the host's register offsets.
func TestForeignBinaryRefused(t *testing.T) {
	foreign := elf.EM_AARCH64
	if runtime.GOARCH == "arm64" {
		foreign = elf.EM_X86_64
	}
	h := make([]byte, 64)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS], h[elf.EI_DATA], h[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	binary.LittleEndian.PutUint16(h[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(h[18:], uint16(foreign))
	binary.LittleEndian.PutUint32(h[20:], uint32(elf.EV_CURRENT))
	binary.LittleEndian.PutUint16(h[52:], 64)
	path := filepath.Join(t.TempDir(), "foreign")
	if err := os.WriteFile(path, h, 0o755); err != nil {
		t.Fatal(err)
	}
	_, uerr := Uprobe(probe.Spec{Kind: probe.Uprobe, Path: path, Offset: 0x1000}, nil, 0, Options{})
	_, serr := USDT(probe.Spec{Kind: probe.USDT, Path: path, Name: "n"}, 0)
	want := ptregs.ErrForeign
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		want = ptregs.ErrUnsupported
	}
	for what, err := range map[string]error{"uprobe": uerr, "usdt": serr} {
		if !errors.Is(err, want) || !strings.Contains(err.Error(), runtime.GOARCH) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s on a %v binary: error %v, want one line wrapping %v", what, foreign, err, want)
		}
	}
}
