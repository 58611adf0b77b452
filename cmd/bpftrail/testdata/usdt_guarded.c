/* The semaphore-guarded probe of usdt_target (see usdt_target.c): in its
 * own translation unit, because sys/sdt.h gives every probe of a unit a
 * semaphore when _SDT_HAS_SEMAPHORES is defined. */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

unsigned short prov_guarded_semaphore __attribute__((unused, section(".probes")));

/* guarded fires prov:guarded with k and returns 1 when a tracer has enabled
 * the probe (its semaphore is non-zero), and returns 0 otherwise. */
__attribute__((noinline)) int guarded(int k)
{
	if (!prov_guarded_semaphore)
		return 0;
	DTRACE_PROBE1(prov, guarded, k);
	return 1;
}
