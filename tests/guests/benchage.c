/* benchage: what aging guest memory costs the hypervisor (mmu_age_gfn_range, reached through HC_AGE), in TSC cycles
 * (exact instruction counts under Bochs or QEMU -icount). A companion of benchfault.c for bench/run.py. A region of
 * fresh RAM (`mb=`, default 16 MiB) is written page by page, so that the TDP MMU maps it (2M leaves; 4K leaves in a VM
 * with pages=4k), then each figure is taken `rounds=` times (default 4) over the same region. Lines `BENCH <name> <x>`:
 *   age_call     one HC_AGE of 2 MiB of unbacked space: the hypercall round trip and a walk that finds nothing (per
 *                call); subtracted from the two below
 *   age_young    HC_AGE of the region right after it was written: every leaf young and aged (per gfn of the region)
 *   age_old      HC_AGE of the region again: nothing young, the walk alone (per gfn)
 *   age_young_leaf  age_young per leaf instead of per gfn (the same for 4K leaves)
 *   touch_young  a write to each 4K page of the region, its leaves young: no exit (per page)
 *   touch_aged   the same writes right after an age (per page): with hardware A/D the CPU sets A again without an
 *                exit; with access tracking (EPT without A/D) the first access to each leaf faults and the lockless
 *                fast path restores it
 *   acc_track_fault  touch_aged - touch_young, per leaf: one access-tracking fault (only where it happened)
 * The counters are checked: HC_AGE answers young then old; AGED_LEAVES grows by the region's leaf count (from the
 * MAPPED counters of the first touch) on each young age and not at all on an old one; ACCESS_TRACK_FAULTS grows by
 * that count on each aged touch, or by 0 on every one (hardware A/D); nothing takes the MMU lock meanwhile
 * (TDP_FAULTS does not grow after the first touch). The line `bench: age: MODE` says which of the two it was.
 * Under shadow paging every leaf is a 4K shadow leaf with hardware A/D, one per page of the region. */
#include "guest.h"

const char test_name[] = "benchage";

static u32 failures;

static void fail(const char *what, u64 got, u64 want)
{
	printf("bench: FAIL %s: %lu, want %lu\n", what, got, want);
	failures++;
}

static void report(const char *name, u64 cycles, u64 ops)
{
	printf("BENCH %s %lu.%lu\n", name, cycles / ops, (cycles % ops) * 10 / ops);
	printf("bench: %s: %lu cycles for %lu operations\n", name, cycles, ops);
}

static u64 age(u64 gpa, u64 len, u64 *cycles)
{
	u64 t0 = rdtsc();
	u64 r = hypercall3(HC_AGE, gpa, len, 0);
	*cycles += rdtsc() - t0;
	return r;
}

static u64 touch(u64 r, u64 pages, u8 v)
{
	u64 t0 = rdtsc();
	for (u64 i = 0; i < pages; i++)
		*(volatile u8 *)(r + i * PAGE_SIZE) = v;
	return rdtsc() - t0;
}

int test_main(void)
{
	u64 mb = 16, rounds = 4, r, pages, leaves, unbacked = 0xc0000000;
	u64 call = 0, young = 0, old = 0, t_young = 0, t_aged = 0, tracked = 0;

	cmdline_u64("mb", &mb);
	cmdline_u64("rounds", &rounds);
	if (!mb || mb > 64 || !rounds || rounds > 64)
		test_fail("mb=%lu rounds=%lu: want 1-64 each", mb, rounds);
	if (!counters_available())
		test_fail("the bench checks its counts: it needs the test device");
	r = ram_find_free(mb << 20, SIZE_2M, 0, 4 * GiB);
	if (!r)
		test_fail("no %lu MiB of free RAM", mb);
	pages = (mb << 20) / PAGE_SIZE;
	cli();

	u64 m0 = stat_read(VM_STAT_TDP_MAPPED_4K) + stat_read(VM_STAT_TDP_MAPPED_2M) + stat_read(VM_STAT_TDP_MAPPED_1G);
	u64 f0 = stat_read(VM_STAT_TDP_FAULTS);
	touch(r, pages, 1);
	leaves = stat_read(VM_STAT_TDP_MAPPED_4K) + stat_read(VM_STAT_TDP_MAPPED_2M) + stat_read(VM_STAT_TDP_MAPPED_1G) -
		 m0;
	/* Under shadow paging (hv.tdp=0) the first touch of fresh RAM takes no TDP fault: the shadow MMU maps each
	 * 4K page of the region with one leaf (shadow leaves are 4K; the boot tables map it once, with 2 MiB pages),
	 * and its aging walk goes through the rmaps of those gfns (mm/shadow/sage.c). */
	bool shadow = leaves == 0 && stat_read(VM_STAT_TDP_FAULTS) == f0;
	if (shadow)
		leaves = pages;
	if (leaves != pages && leaves != pages / 512)
		test_fail("the first touch of %lu pages mapped %lu leaves: neither all 4K nor all 2M", pages, leaves);
	printf("bench: age: %lu MiB at 0x%lx, %lu leaves of %s%s\n", mb, r, leaves, leaves == pages ? "4K" : "2M",
	       shadow ? " (shadow paging)" : "");
	if (hypercall3(HC_AGE, r, 0, 0) != (u64)-22)
		fail("HC_AGE of length 0", 0, -22);

	u64 faults = stat_read(VM_STAT_TDP_FAULTS), aged0 = stat_read(VM_STAT_AGED_LEAVES);
	u64 at0 = stat_read(VM_STAT_ACCESS_TRACK_FAULTS);
	for (u64 i = 0; i < rounds; i++) {
		u64 a = stat_read(VM_STAT_AGED_LEAVES);

		age(unbacked, SIZE_2M, &call);
		t_young += touch(r, pages, 2);
		if (age(r, mb << 20, &young) != 1)
			fail("HC_AGE of the young region", 0, 1);
		if (stat_read(VM_STAT_AGED_LEAVES) - a != leaves)
			fail("leaves aged", stat_read(VM_STAT_AGED_LEAVES) - a, leaves);
		a = stat_read(VM_STAT_AGED_LEAVES);
		if (age(r, mb << 20, &old) != 0)
			fail("HC_AGE of the aged region", 1, 0);
		if (stat_read(VM_STAT_AGED_LEAVES) != a)
			fail("leaves aged again", stat_read(VM_STAT_AGED_LEAVES) - a, 0);
		u64 f = stat_read(VM_STAT_ACCESS_TRACK_FAULTS);
		t_aged += touch(r, pages, 3);
		f = stat_read(VM_STAT_ACCESS_TRACK_FAULTS) - f;
		tracked += f;
		if (f != 0 && f != leaves)
			fail("access-tracking faults on one touch", f, leaves);
	}
	if (tracked != 0 && tracked != rounds * leaves)
		fail("access-tracking faults", tracked, rounds * leaves);
	if (stat_read(VM_STAT_TDP_FAULTS) != faults)
		fail("locked TDP faults after the first touch", stat_read(VM_STAT_TDP_FAULTS) - faults, 0);
	if (stat_read(VM_STAT_AGED_LEAVES) - aged0 != rounds * leaves)
		fail("leaves aged in all", stat_read(VM_STAT_AGED_LEAVES) - aged0, rounds * leaves);
	if (stat_read(VM_STAT_ACCESS_TRACK_FAULTS) - at0 != tracked)
		fail("access-tracking faults in all", stat_read(VM_STAT_ACCESS_TRACK_FAULTS) - at0, tracked);
	for (u64 i = 0; i < pages; i++)
		if (*(volatile u8 *)(r + i * PAGE_SIZE) != 3) {
			fail("a page lost its write", i, pages);
			break;
		}
	printf("bench: age: %s\n", tracked ? "access tracking" : "hardware A/D");

	report("age_call", call, rounds);
	report("age_young", young > call ? young - call : 0, rounds * pages);
	report("age_old", old > call ? old - call : 0, rounds * pages);
	report("age_young_leaf", young > call ? young - call : 0, rounds * leaves);
	report("touch_young", t_young, rounds * pages);
	report("touch_aged", t_aged, rounds * pages);
	if (tracked)
		report("acc_track_fault", t_aged > t_young ? t_aged - t_young : 0, tracked);
	if (failures)
		test_fail("%u checks failed (see above)", failures);
	test_pass();
}
