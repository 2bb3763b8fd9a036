/* tablecache: the TDP MMU takes new page tables from a per-vCPU cache of zeroed frames, refilled in batches before
 * the MMU lock (mm/frame_cache.h; issue 15). This is the hypervisor's design, not an architectural rule: the guest
 * sees it only through the test device's counters. Each read at the start of a fresh 2 MiB region of unbacked
 * guest-physical space (0xC0000000 up, mapped uncached by the guest library) makes one TDP fault that links one
 * level-1 table and installs an MMIO SPTE. Over 48 such regions:
 *   - every region adds exactly 1 fault and 1 table (TDP_FAULTS, TDP_TABLES), and the read returns all ones;
 *   - the tables come from the cache: the frames refills cleared (TDP_CACHE_ZEROED) cover every table linked, less
 *     the at most 16 frames the cache held before, and exceed them by at most those 16;
 *   - refills come in batches: the counter moves on at most a quarter of the faults (one refill serves 13 tables or
 *     more), never on every one, as it would if each table were cleared on its own. */
#include "guest.h"

const char test_name[] = "tablecache";

#define BASE 0xc0000000UL
#define REGIONS 48
#define CAPACITY 16 /* FRAME_CACHE_CAPACITY */

int test_main(void)
{
	u64 t0, z0, f0, refills = 0;

	if (!counters_available())
		test_fail("no test device: the counters are the test");
	if (mmap_overlaps(BASE, BASE + (REGIONS + 1) * SIZE_2M))
		test_fail("0x%lx is inside the memory map: not unbacked", (u64)BASE);
	/* The 1G region's level-2 table first, so that each region below links exactly one table. */
	(void)*(volatile u32 *)BASE;
	t0 = stat_read(VM_STAT_TDP_TABLES);
	z0 = stat_read(VM_STAT_TDP_CACHE_ZEROED);
	for (u64 i = 1; i <= REGIONS; i++) {
		u64 f = stat_read(VM_STAT_TDP_FAULTS), t = stat_read(VM_STAT_TDP_TABLES);
		u64 z = stat_read(VM_STAT_TDP_CACHE_ZEROED);
		u32 v = *(volatile u32 *)(BASE + i * SIZE_2M);

		if (v != 0xffffffffu)
			test_fail("region %lu read 0x%x, want all ones (unbacked)", i, v);
		if (stat_read(VM_STAT_TDP_FAULTS) != f + 1 || stat_read(VM_STAT_TDP_TABLES) != t + 1)
			test_fail("region %lu: %lu faults and %lu tables, want 1 and 1", i,
				  stat_read(VM_STAT_TDP_FAULTS) - f, stat_read(VM_STAT_TDP_TABLES) - t);
		refills += stat_read(VM_STAT_TDP_CACHE_ZEROED) != z;
	}
	f0 = stat_read(VM_STAT_TDP_TABLES) - t0;
	u64 zeroed = stat_read(VM_STAT_TDP_CACHE_ZEROED) - z0;
	printf("tablecache: %lu tables linked, %lu frames zeroed by %lu refills\n", f0, zeroed, refills);
	if (f0 != REGIONS)
		test_fail("%lu tables linked, want %u", f0, REGIONS);
	if (zeroed + CAPACITY < f0 || zeroed > f0 + CAPACITY)
		test_fail("%lu frames zeroed for %lu tables: not taken from a cache of %u", zeroed, f0, CAPACITY);
	if (!refills || refills > REGIONS / 4)
		test_fail("%lu refills over %u tables: want batches (1 to %u)", refills, REGIONS, REGIONS / 4);
	test_pass();
}
