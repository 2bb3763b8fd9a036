/* The unit-test runner shared by every test binary, and the logging/BUG sinks the portable code needs on the host. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define MAX_TESTS 512

static struct {
	const char *name;
	test_fn fn;
} tests[MAX_TESTS];
static int ntests;
static jmp_buf test_abort;
static char fail_reason[512];
jmp_buf *test_bug_expect;

/* Tests that check log output read what the code logged last. */
char test_last_log[1024];
int test_log_level_max = 4; /* echo errors and warnings; quieter levels are only recorded */

void test_register(const char *name, test_fn fn)
{
	if (ntests == MAX_TESTS) {
		fprintf(stderr, "too many tests\n");
		exit(2);
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(fail_reason, sizeof(fail_reason), "%s:%d: ", file, line);
	va_start(ap, fmt);
	vsnprintf(fail_reason + n, sizeof(fail_reason) - (size_t)n, fmt, ap);
	va_end(ap);
	longjmp(test_abort, 1);
}

void log_printf(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(test_last_log, sizeof(test_last_log), fmt, ap);
	va_end(ap);
	if (level <= test_log_level_max)
		fprintf(stderr, "  log<%d>: %s", level, test_last_log);
}

void bug_report(const char *file, int line, const char *expr)
{
	if (test_bug_expect) {
		jmp_buf *jb = test_bug_expect;
		test_bug_expect = NULL;
		longjmp(*jb, 1);
	}
	test_fail(file, line, "BUG_ON(%s)", expr);
}

void warn_report(const char *file, int line, const char *expr)
{
	fprintf(stderr, "  WARNING at %s:%d: %s\n", file, line, expr);
}

int main(int argc, char **argv)
{
	/* volatile: they live across the setjmp/longjmp of a failing test. */
	volatile int passed = 0, failed = 0;
	const char *only = argc > 1 ? argv[1] : NULL;

	for (volatile int i = 0; i < ntests; i++) {
		if (only && strcmp(only, tests[i].name) != 0)
			continue;
		if (setjmp(test_abort) == 0) {
			tests[i].fn();
			printf("TEST %s PASS\n", tests[i].name);
			passed++;
		} else {
			printf("TEST %s FAIL %s\n", tests[i].name, fail_reason);
			failed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
