//go:build !amd64 && !arm64

package ptregs

import "debug/elf"

// nativeMachine is EM_NONE where no layout is known: [Native] fails.
const nativeMachine = elf.EM_NONE
