/* burner is the profiled program of TestBPFProfile (cmd/bpftrail): it burns
 * CPU in burn_here, called from main, for SECONDS seconds (default 2).
 * Built by the tests with gcc -O1 -fno-omit-frame-pointer. */
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* mix is a call that makes burn_here a non-leaf function: gcc sets up a
 * frame pointer (with -fno-omit-frame-pointer) in non-leaf functions only,
 * and without one a frame-pointer unwinder skips main. */
__attribute__((noinline)) unsigned long mix(unsigned long x)
{
	return x ^ (x >> 31);
}

__attribute__((noinline)) unsigned long burn_here(unsigned long n)
{
	unsigned long x = 0;
	for (unsigned long i = 0; i < n; i++)
		x = x * 6364136223846793005UL + i;
	return mix(x);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2;
	double end = now() + secs;
	while (now() < end)
		sink += burn_here(2000000);
	return 0;
}
