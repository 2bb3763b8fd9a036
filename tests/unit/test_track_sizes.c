/* The memory write tracking costs, measured on the real code: nothing before a VM's first add, then 2 bytes per 4K
 * gfn of every slot. `make bench` prints the SIZE line this test writes (bench/run.py, host-side sizes). */
#include <stdio.h>

#include "tdp_mmu_fixture.h"

#define GIB_PAGES (1ULL << 18)

TEST(track_metadata_is_zero_until_first_add_then_two_bytes_per_gfn)
{
	setup(&pt_format_ept);
	/* Two slots as a 5 GiB VM has them: 3 GiB below the PCI hole, 2 GiB from 4 GiB. */
	fake_slot(0, 3 * GIB_PAGES, FAKE_HPA, true, 0);
	fake_slot(4 * GIB_PAGES, 2 * GIB_PAGES, FAKE_HPA + (3ULL << 30), true, 0);
	u64 before = track_write_bytes(&fx.mmu.slots);
	CHECK_EQ(before, 0);
	CHECK_EQ(mmu_track_add_gfn(&fx.mmu, 5), 0);
	u64 after = track_write_bytes(&fx.mmu.slots);
	CHECK_EQ(after, 5 * GIB_PAGES * 2);
	printf("SIZE track_bytes_per_gib before_first_add=%llu after_first_add=%llu per_gfn=%llu\n",
	       (unsigned long long)(before / 5), (unsigned long long)(after / 5),
	       (unsigned long long)(after / (5 * GIB_PAGES)));
	CHECK_EQ(mmu_track_remove_gfn(&fx.mmu, 5), 0);
	/* The counts stay once allocated (a VM that tracked once is likely to again). */
	CHECK_EQ(track_write_bytes(&fx.mmu.slots), after);
	teardown();
}
