package ptregs

import "debug/elf"

// nativeMachine is the ELF machine of the host.
const nativeMachine = elf.EM_AARCH64
