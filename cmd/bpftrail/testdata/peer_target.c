/* peer_target is the traced program of TestBPFRunPeer (cmd/bpftrail): the
 * same program runs under bpftrace and under `bpftrail run`, and both must
 * see exactly the same events. It makes a known sequence of system calls
 * and calls a noinline function with known arguments, and writes nothing
 * to stdout (its output would mix with the tracer's).
 *
 * Usage: peer_target [-wait]
 *
 * With -wait it writes "ready" to stderr, then waits for a line on stdin
 * before the sequence, so that a tracer can attach to its pid first.
 *
 * The sequence, in order:
 *   getpid() 7 times (raw system calls);
 *   write(2) to /dev/null of each size in sizes[] (5, 12, 100, 1, 40,
 *     300, 12, 2000), each once;
 *   openat(2) of each path in paths[], none of which exists;
 *   scale(a, b) for each pair in calls[]; scale returns a * b.
 * Built by the test with gcc -static -O0 (no dynamic loader: no opens of
 * libraries before main). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline)) long scale(long a, int b)
{
	return a * b;
}

static const int sizes[] = {5, 12, 100, 1, 40, 300, 12, 2000};

static const char *paths[] = {
	"/nonexistent/peer-alpha",
	"/nonexistent/peer-bravo",
	"/nonexistent/peer-alpha",
	"/nonexistent/x",
};

static const struct {
	long a;
	int b;
} calls[] = {{1, 1}, {2, 3}, {-4, 5}, {10, 10}, {7, 0}, {3, 3}};

int main(int argc, char **argv)
{
	static char buf[4096];
	if (argc > 1 && strcmp(argv[1], "-wait") == 0) {
		char line[64];
		fprintf(stderr, "ready\n");
		if (!fgets(line, sizeof line, stdin))
			return 2;
	}
	/* Touch the strings first: a BPF program cannot fault in a page
	 * that is not mapped yet. */
	volatile char warm = 0;
	for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++)
		warm += paths[k][0];
	for (int k = 0; k < 7; k++)
		syscall(SYS_getpid);
	int fd = open("/dev/null", O_WRONLY);
	if (fd < 0)
		return 1;
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
		if (write(fd, buf, sizes[k]) != sizes[k])
			return 1;
	close(fd);
	for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++)
		openat(AT_FDCWD, paths[k], O_RDONLY);
	long sum = 0;
	for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++)
		sum += scale(calls[k].a, calls[k].b);
	return sum == 96 ? 0 : 3;
}
