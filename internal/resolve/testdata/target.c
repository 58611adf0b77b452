/* target is the binary the uprobe tests of package resolve resolve
 * symbols in; it is built by the tests with gcc and never run. */
#include <string.h>

__attribute__((noinline)) long add3(long a, int b, const char *s)
{
	return a + b + (long)strlen(s);
}

__attribute__((noinline)) long add4(long a, long b, long c, long d)
{
	return a + b + c + d;
}

int main(int argc, char **argv)
{
	return (int)add3(argc, 1, argv[0]) + (int)add4(1, 2, 3, argc);
}
