/* A minimal host unit-test harness. Each TEST registers itself; the runner (harness.c) runs every test, prints one
 * `TEST <name> PASS|FAIL <reason>` line per test and closes with `N passed, N failed`. A BUG_ON reached inside a test
 * fails that test (or satisfies EXPECT_BUG) and the runner goes on with the next one. */
#ifndef TEST_H
#define TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));

/* Set while an EXPECT_BUG body runs: bug_report() longjmps here instead of failing the test. */
extern jmp_buf *test_bug_expect;

#define TEST(name)                                                                                                     \
	static void name(void);                                                                                        \
	__attribute__((constructor)) static void test_reg_##name(void) { test_register(#name, name); }               \
	static void name(void)

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			test_fail(__FILE__, __LINE__, "%s", #cond);                                                    \
	} while (0)

#define CHECK_EQ(a, b)                                                                                                 \
	do {                                                                                                           \
		uint64_t __a = (uint64_t)(a), __b = (uint64_t)(b);                                                     \
		if (__a != __b)                                                                                        \
			test_fail(__FILE__, __LINE__, "%s == %s: 0x%" PRIx64 " != 0x%" PRIx64, #a, #b, __a, __b);      \
	} while (0)

#define CHECK_STR(a, b)                                                                                                \
	do {                                                                                                           \
		const char *__a = (a), *__b = (b);                                                                     \
		if (!__a || !__b || strcmp(__a, __b) != 0)                                                             \
			test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, __a ? __a : "(null)",      \
				  __b ? __b : "(null)");                                                               \
	} while (0)

/* Run `stmt` and require that it hits a BUG_ON. */
#define EXPECT_BUG(stmt)                                                                                               \
	do {                                                                                                           \
		jmp_buf __jb;                                                                                          \
		if (setjmp(__jb) == 0) {                                                                               \
			test_bug_expect = &__jb;                                                                       \
			stmt;                                                                                          \
			test_bug_expect = NULL;                                                                        \
			test_fail(__FILE__, __LINE__, "expected a BUG from %s", #stmt);                                \
		}                                                                                                      \
		test_bug_expect = NULL;                                                                                \
	} while (0)

#endif
