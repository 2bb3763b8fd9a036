/* Shared by the threaded stress tests (test_*_stress.c): failures seen while threads run are recorded, not raised
 * (test_fail() would longjmp away from live threads), and they stop every thread through the test's stop flag. */
#ifndef TESTS_UNIT_STRESS_H
#define TESTS_UNIT_STRESS_H

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "hv/types.h"

static char stress_err[256];
static int failed;             /* atomic */
static int *stress_stop_flag;  /* the test's stop flag, set before its threads start */

static __attribute__((format(printf, 1, 2), unused)) void stress_fail(const char *fmt, ...)
{
	va_list ap;

	if (__atomic_exchange_n(&failed, 1, __ATOMIC_SEQ_CST))
		return;
	va_start(ap, fmt);
	vsnprintf(stress_err, sizeof(stress_err), fmt, ap);
	va_end(ap);
	__atomic_store_n(stress_stop_flag, 1, __ATOMIC_SEQ_CST);
}

static __attribute__((unused)) u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000 + (u64)ts.tv_nsec / 1000000;
}

#endif
