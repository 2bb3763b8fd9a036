/* Reclaim (mm/mmu_reclaim.c, mmu_reclaim_chunk): a 2 MiB chunk that reads as zero is unmapped and its frames go back
 * to the allocator; one that holds a byte is left alone; the next fault, hypervisor read or write gets a fresh zeroed
 * chunk (counted as a refault), or -ENOMEM when the allocator has none; a collapse does not bring a reclaimed chunk
 * back; read-only slots are refused. For every TDP format (shadow paging: test_shadow_zap.c). */
#include "fake_platform.h"
#include "tdp_mmu_fixture.h"

static u8 state(gfn_t gfn)
{
	return memslot_chunk_state(memslot_find(&fx.mmu.slots, gfn), gfn);
}

static void stats(u64 reclaimed, u64 refaulted)
{
	u64 r, f;

	mmu_reclaim_stats(&fx.mmu, &r, &f);
	CHECK_EQ(r, reclaimed);
	CHECK_EQ(f, refaulted);
}

TEST(reclaim_zero_chunk_and_refault)
{
	const struct pt_format *f;

	for_each_format(f) {
		int level;
		u8 buf[64];

		setup(f);
		real_ram(0, 4 * M2);
		mmu_enable_reclaim(&fx.mmu);
		CHECK_EQ(fault(M2 + 10, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		u64 frames = fake_mem_frames_in_use(), flushes = fx.flushes;

		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, M2 + 10), 1);
		CHECK_EQ(fake_mem_frames_in_use(), frames - 512); /* the chunk's 512 frames are back */
		CHECK_EQ(lookup(M2 + 10, NULL), 0);              /* unmapped, */
		CHECK(fx.flushes > flushes);                      /* and flushed */
		CHECK_EQ(state(M2), CHUNK_RECLAIMED);
		stats(1, 0);
		/* Nothing left to reclaim there, and a chunk never used is not taken either. */
		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, M2), 0);
		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, 3 * M2), 0);
		stats(1, 0);
		/* The guest's next access: a fresh chunk, zero. */
		CHECK_EQ(fault(M2 + 300, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(fake_mem_frames_in_use(), frames);
		CHECK_EQ(state(M2), CHUNK_CLEAN);
		stats(1, 1);
		CHECK_EQ(mmu_read_gpa(&fx.mmu, (M2 + 300) << PAGE_SHIFT, buf, sizeof(buf)), 0);
		for (unsigned int i = 0; i < sizeof(buf); i++)
			CHECK_EQ(buf[i], 0);
		teardown();
	}
}

TEST(reclaim_leaves_data_alone)
{
	const struct pt_format *f;

	for_each_format(f) {
		u8 one = 1, got = 0;
		int level;

		setup(f);
		real_ram(0, 4 * M2);
		mmu_enable_reclaim(&fx.mmu);
		/* The last byte of the chunk, so that the whole 2 MiB is read before it is refused. */
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, (2 * M2 << PAGE_SHIFT) - 1, &one, 1), 0);
		CHECK_EQ(fault(M2 + 1, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		u64 frames = fake_mem_frames_in_use(), leaf = lookup(M2 + 1, NULL);

		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, M2 + 1), 0);
		CHECK_EQ(fake_mem_frames_in_use(), frames);
		CHECK_EQ(lookup(M2 + 1, NULL), leaf); /* refused before anything was zapped */
		CHECK_EQ(state(M2), CHUNK_CLEAN);
		CHECK_EQ(mmu_read_gpa(&fx.mmu, (2 * M2 << PAGE_SHIFT) - 1, &got, 1), 0);
		CHECK_EQ(got, 1);
		stats(0, 0);
		teardown();
	}
}

/* The hypervisor's own accesses bring a reclaimed chunk back like a fault; without frames they fail, and so does the
 * fault, and nothing changes until frames are there again. */
TEST(reclaim_refault_by_access_and_enomem)
{
	const struct pt_format *f;

	for_each_format(f) {
		u8 buf[16], v = 0x5a;
		u64 cur;
		int level;

		setup(f);
		real_ram(0, 4 * M2);
		mmu_enable_reclaim(&fx.mmu);
		CHECK_EQ(fault(10, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(fault(M2 + 10, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(fault(2 * M2 + 10, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, 0), 1);
		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, M2), 1);
		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, 2 * M2), 1);
		stats(3, 0);

		fake_mem_fail_after(0);
		CHECK_EQ(fault(5, SPTE_ACC_READ, &level), -ENOMEM);
		CHECK_EQ(mmu_read_gpa(&fx.mmu, M2 << PAGE_SHIFT, buf, sizeof(buf)), -ENOMEM);
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, M2 << PAGE_SHIFT, &v, 1), -ENOMEM);
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, NULL, 2 * M2 << PAGE_SHIFT, 0, 1, 8, &cur), -ENOMEM);
		CHECK_EQ(state(0), CHUNK_RECLAIMED);
		CHECK_EQ(state(M2), CHUNK_RECLAIMED);
		stats(3, 0);
		fake_mem_fail_after(~0ULL);

		CHECK_EQ(mmu_read_gpa(&fx.mmu, (M2 << PAGE_SHIFT) + 8, buf, sizeof(buf)), 0);
		for (unsigned int i = 0; i < sizeof(buf); i++)
			CHECK_EQ(buf[i], 0);
		CHECK_EQ(state(M2), CHUNK_CLEAN);
		CHECK_EQ(mmu_write_gpa(&fx.mmu, NULL, 7, &v, 1), 0);
		CHECK_EQ(mmu_cmpxchg_gpa(&fx.mmu, NULL, 2 * M2 << PAGE_SHIFT, 0, 0x1234, 8, &cur), 0);
		stats(3, 3);
		CHECK_EQ(mmu_read_gpa(&fx.mmu, 7, buf, 1), 0);
		CHECK_EQ(buf[0], 0x5a);
		CHECK_EQ(mmu_read_gpa(&fx.mmu, 2 * M2 << PAGE_SHIFT, &cur, 8), 0);
		CHECK_EQ(cur, 0x1234);
		/* Now holding data: refused. */
		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, 0), 0);
		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, 2 * M2), 0);
		teardown();
	}
}

/* 4K leaves: the reclaim's zap takes them and their table, so a later collapse of the region finds nothing to turn
 * into a 2M leaf (that would bring the chunk back for nobody); the chunk stays out until the guest touches it. */
TEST(reclaim_then_collapse_leaves_the_chunk_out)
{
	const struct pt_format *f;

	for_each_format(f) {
		int level;

		setup(f);
		real_ram(0, 4 * M2);
		mmu_enable_reclaim(&fx.mmu);
		fx.mmu.tdp.max_huge_level = 1;
		for (gfn_t g = M2; g < M2 + 8; g++)
			CHECK_EQ(fault(g, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, M2), 1);
		for (gfn_t g = M2; g < M2 + 8; g++)
			CHECK_EQ(lookup(g, NULL), 0);
		fx.mmu.tdp.max_huge_level = 2;
		collapse_range(M2, 2 * M2);
		CHECK_EQ(lookup(M2, NULL), 0);
		CHECK_EQ(state(M2), CHUNK_RECLAIMED);
		stats(1, 0);
		CHECK_EQ(fault(M2 + 3, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		stats(1, 1);
		teardown();
	}
}

TEST(reclaim_refusals)
{
	const struct pt_format *f;

	for_each_format(f) {
		int level;

		setup(f);
		real_ram(0, 2 * M2);
		CHECK_EQ(mmu_add_ram(&fx.mmu, 4 * M2, M2, MEMSLOT_READONLY), 0);
		CHECK_EQ(fault(1, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, 1), -EINVAL); /* not enabled */
		CHECK_EQ(memslot_add_flags(&fx.mmu.slots, 6 * M2, M2, MEMSLOT_RECLAIM), -EINVAL); /* only by enabling */
		mmu_enable_reclaim(&fx.mmu);
		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, 8 * M2), -EINVAL); /* not RAM */
		CHECK_EQ(fault(4 * M2, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_reclaim_chunk(&fx.mmu, 4 * M2), -EINVAL); /* read-only (ROM) */
		CHECK_EQ(state(0), CHUNK_CLEAN);
		stats(0, 0);
		teardown();
	}
}
