// Test program for package symbolize. Built by the tests with gcc in
// several variants (non-PIE, PIE, stripped, MiniDebugInfo).
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) int symbolize_global_fn(int x) {
	return x * 3 + 1;
}

__attribute__((noinline)) static int symbolize_static_fn(int x) {
	return x * 5 + symbolize_global_fn(x);
}

int main(int argc, char **argv) {
	(void)argv;
	// Print runtime addresses, then wait to be symbolized (and killed).
	printf("symbolize_global_fn %p\n", (void *)symbolize_global_fn);
	printf("symbolize_static_fn %p\n", (void *)symbolize_static_fn);
	fflush(stdout);
	if (argc > 1) {
		sleep(600);
	}
	return symbolize_static_fn(argc) == 42;
}
