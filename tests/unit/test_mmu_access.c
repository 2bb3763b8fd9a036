/* The hypervisor's reads of guest memory for page walks (mm/mmu_access.c): RAM as it is, and all ones where the gpa
 * is not RAM, as the bus answers a CPU that walks tables in unbacked or MMIO space (so the walk meets reserved bits
 * and faults as the hardware's would, instead of ending the VM). */
#include "tdp_mmu_fixture.h"

TEST(mmu_read_gpte_reads_ram_and_all_ones_elsewhere)
{
	setup(&pt_format_npt);
	real_ram(0, M2);
	u64 v = 0x1234567890abcdefULL, got = 0;
	CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, 0x1008, &v, 8), 0);
	CHECK_EQ(mmu_read_gpte(&fx.mmu, 0x1008, &got, 8), 0);
	CHECK_EQ(got, v);
	u32 g32 = 0;
	CHECK_EQ(mmu_read_gpte(&fx.mmu, 0x100c, &g32, 4), 0);
	CHECK_EQ(g32, 0x12345678u);
	/* Beyond the slot, and far beyond what 4 levels reach: all ones, no error. */
	CHECK_EQ(mmu_read_gpte(&fx.mmu, M2 << PAGE_SHIFT, &got, 8), 0);
	CHECK_EQ(got, ~0ULL);
	CHECK_EQ(mmu_read_gpte(&fx.mmu, 1ULL << 52, &g32, 4), 0);
	CHECK_EQ(g32, ~0u);
	/* The plain read still refuses what is not RAM. */
	CHECK_EQ(mmu_read_gpa(&fx.mmu, M2 << PAGE_SHIFT, &got, 8), -EFAULT);
	teardown();
}
