/* uprobe_target is the traced program of TestBPFUprobe* (cmd/bpftrail): it
 * calls add3 exactly 7 times with known arguments and getpid() through
 * glibc's wrapper a known number of times, so that a test can check every
 * event of a uprobe, uretprobe and library uprobe recording.
 *
 * Usage: uprobe_target [-wait] [GETPIDS]
 *
 * With -wait it prints "ready", then waits for a line on stdin before the
 * calls, so that a tracer can attach to its pid first. Built by the tests
 * with gcc -O0 -fno-omit-frame-pointer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) long add3(long a, int b, char *s)
{
	return a + b + (long)strlen(s);
}

/* The calls: arg0, arg1, arg2; add3 returns arg0 + arg1 + strlen(arg2). */
static const struct {
	long a;
	int b;
	char *s;
} calls[] = {
	{1, 1, "alpha"},
	{-2, 2, "bravo-2"},
	{1099511627776L, 3, "charlie"},
	{-1099511627776L, 1, ""},
	{40, 2, "echo echo"},
	{9223372036854775000L, 3, "foxtrot"},
	{0, 1, "golf"},
};

int main(int argc, char **argv)
{
	int getpids = 0;
	int i = 1;
	if (i < argc && strcmp(argv[i], "-wait") == 0) {
		char line[64];
		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof line, stdin))
			return 2;
		i++;
	}
	if (i < argc)
		getpids = atoi(argv[i]);
	/* Touch the strings first: right after exec the page of .rodata that
	 * holds them is not mapped yet, and a uprobe's BPF program cannot
	 * fault it in (bpf_probe_read_user_str then reads nothing). */
	volatile char warm = 0;
	for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++)
		warm += calls[k].s[0];
	long sum = 0;
	for (size_t k = 0; k < sizeof calls / sizeof calls[0]; k++)
		sum += add3(calls[k].a, calls[k].b, calls[k].s);
	for (int k = 0; k < getpids; k++)
		sum += getpid() & 1;
	printf("%ld\n", sum);
	return 0;
}
