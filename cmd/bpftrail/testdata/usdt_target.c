/* usdt_target is the traced program of TestBPFUSDT (cmd/bpftrail): USDT
 * probes (<sys/sdt.h>) with arguments of several sizes and signs, from
 * registers, memory and constants, and one probe guarded by a semaphore.
 *
 * Usage: usdt_target [-wait] ITERATIONS
 *
 * Each iteration fires every probe once; prov:guarded fires only while its
 * semaphore says a tracer is attached. At exit it prints
 * "enabled N" with the number of iterations in which the semaphore was set.
 * With -wait it prints "ready" and waits for a line on stdin first.
 * Built by the tests with gcc -O2 from this file and usdt_guarded.c (sys/sdt.h
 * decides per translation unit whether probes have semaphores). */
#include <sys/sdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int guarded(int k); /* usdt_guarded.c */

/* In memory, so that the compiler passes it as a memory operand. */
volatile long in_memory = -123456789012L;

int main(int argc, char **argv)
{
	int i = 1;
	if (i < argc && strcmp(argv[i], "-wait") == 0) {
		char line[64];
		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof line, stdin))
			return 2;
		i++;
	}
	int n = i < argc ? atoi(argv[i]) : 1;
	int enabled = 0;
	for (int k = 0; k < n; k++) {
		int iv = 1000 + k;
		short neg = (short)(-300 - k);
		unsigned char uc = (unsigned char)(250 + k % 5);
		DTRACE_PROBE2(prov, ints, iv, neg);
		DTRACE_PROBE1(prov, constant, 0x1122334455L);
		DTRACE_PROBE1(prov, memory, in_memory);
		DTRACE_PROBE1(prov, uchar, uc);
		DTRACE_PROBE(prov, noargs);
		enabled += guarded(k);
	}
	printf("enabled %d\n", enabled);
	return 0;
}
