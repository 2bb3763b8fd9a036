/* The ager thread of the aging stress tests (test_tdp_mmu_age_stress.c, test_sage_stress.c): on fake CPU 2, without
 * the MMU lock, it ages or test-ages a random part of [base, base + n), or ages all of [all_start, all_end), in a
 * loop until *stop. Whatever the engine, the walk it runs is the one mmu_age_gfn_range picks. */
#ifndef TESTS_UNIT_AGE_STRESS_H
#define TESTS_UNIT_AGE_STRESS_H

#include <sched.h>

#include "fake_platform.h"
#include "mm/mmu.h"

struct age_stress_ager {
	struct mmu *mmu;
	gfn_t base, all_start, all_end;
	u64 n;
	int *stop;	 /* atomic, the test's */
	u64 ages, young; /* the ager's; read after the join */
};

static __attribute__((unused)) void *age_stress_ager(void *arg)
{
	struct age_stress_ager *g = arg;
	u64 s = 0x2545f4914f6cdd1dULL;

	fake_cpu_id = 2;
	while (!__atomic_load_n(g->stop, __ATOMIC_RELAXED)) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		gfn_t a = g->base + s % g->n, b = a + 1 + (s >> 24) % g->n;

		if (s % 4 == 0)
			g->young += mmu_test_age_gfn_range(g->mmu, a, b);
		else
			g->young += mmu_age_gfn_range(g->mmu, s % 3 ? g->all_start : a, s % 3 ? g->all_end : b);
		/* With fewer host CPUs than threads, give the CPU away often: ages in a row with no access between find
		 * nothing young, and race with nothing. */
		if (++g->ages % 4 == 0)
			sched_yield();
	}
	return NULL;
}

#endif
