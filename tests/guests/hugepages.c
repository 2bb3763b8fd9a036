/* hugepages: touch a 2 MiB-aligned 64 MiB region of free RAM (from the memory map), one write per 4 KiB page, and
 * check that the hypervisor took at most one TDP fault per 2 MiB (TDP_FAULTS grows by <= 32): it must map guest RAM
 * with 2 MiB (or 1 GiB) pages where it can. The guest maps the region itself with 2 MiB pages (the boot tables).
 * Prints the TDP_MAPPED_* deltas too. Needs a VM with >= 128 MiB. SKIP without the test device. */
#include "guest.h"

const char test_name[] = "hugepages";

#define REGION	   (64 * MiB)
#define MAX_FAULTS (REGION / SIZE_2M)

int test_main(void)
{
	if (!boot.mbi)
		test_fail("no multiboot information");
	u64 base = ram_find_free(REGION, SIZE_2M, 0, 4 * GiB);
	if (!base)
		test_fail("no free 2 MiB-aligned 64 MiB region of RAM below 4 GiB (give the VM >= 128 MiB)");
	printf("hugepages: region 0x%lx-0x%lx\n", base, base + REGION);
	/* The region is under the identity map's 2 MiB pages unless something split them. */
	for (u64 a = base; a < base + REGION; a += SIZE_2M) {
		u64 *pde = pt_entry(a, 2, false);
		if (!pde || !(*pde & PTE_PS))
			pt_map(a, a, 2, PTE_W);
	}

	static const enum vm_stat stats[] = {VM_STAT_TDP_FAULTS, VM_STAT_TDP_MAPPED_4K, VM_STAT_TDP_MAPPED_2M,
					     VM_STAT_TDP_MAPPED_1G, VM_STAT_TDP_SPLITS};
	u64 before[ARRAY_SIZE(stats)], after[ARRAY_SIZE(stats)];
	for (unsigned i = 0; i < ARRAY_SIZE(stats); i++)
		before[i] = stat_read(stats[i]);
	u64 t0 = rdtsc();
	for (u64 a = base; a < base + REGION; a += PAGE_SIZE)
		*(volatile u64 *)a = a;
	u64 t1 = rdtsc();
	for (unsigned i = 0; i < ARRAY_SIZE(stats); i++)
		after[i] = stat_read(stats[i]);
	for (u64 a = base; a < base + REGION; a += PAGE_SIZE)
		if (*(volatile u64 *)a != a)
			test_fail("page 0x%lx lost its write: reads 0x%lx", a, *(volatile u64 *)a);
	printf("hugepages: %lu pages touched in %lu cycles\n", REGION / PAGE_SIZE, t1 - t0);

	if (!counters_available())
		test_skip("no test device");
	for (unsigned i = 0; i < ARRAY_SIZE(stats); i++)
		printf("hugepages: %-13s %lu -> %lu (+%lu)\n", stat_name(stats[i]), before[i], after[i],
		       after[i] - before[i]);
	u64 faults = after[0] - before[0];
	if (faults > MAX_FAULTS)
		test_fail(
		    "TDP_FAULTS +%lu for %lu pages in 64 MiB: want <= %lu (one per 2 MiB); mapped 4K +%lu 2M +%lu "
		    "1G +%lu",
		    faults, REGION / PAGE_SIZE, MAX_FAULTS, after[1] - before[1], after[2] - before[2],
		    after[3] - before[3]);
	printf("TEST hugepages PASS faults +%lu (max %lu) mapped 4K +%lu 2M +%lu 1G +%lu\n", faults, MAX_FAULTS,
	       after[1] - before[1], after[2] - before[2], after[3] - before[3]);
	return EXIT_PASS;
}
