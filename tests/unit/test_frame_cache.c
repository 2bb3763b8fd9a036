/* Unit tests of the per-vCPU cache of zeroed table frames (mm/frame_cache.c) and of its use by the TDP fault path:
 * refill only below the minimum and then up to capacity, frames handed out zeroed, the fallback to the allocator
 * when the cache is empty, the race loser's table going back, a refill cut short by an exhausted allocator, and
 * every frame accounted for: linked, cached, or back with the allocator after the vCPU's teardown. */
#include "tdp_mmu_fixture.h"
#include "mm/frame_cache.h"

static bool frame_is_zero(hpa_t f)
{
	const u64 *p = phys_to_virt(f);

	for (unsigned int i = 0; i < PAGE_SIZE / 8; i++)
		if (p[i])
			return false;
	return true;
}

TEST(frame_cache_refills_below_min_only_and_to_capacity)
{
	struct frame_cache c = { 0 };
	u64 base = fake_mem_frames_in_use();

	CHECK_EQ(frame_cache_topup(&c, 3), FRAME_CACHE_CAPACITY);
	CHECK_EQ(c.nobjs, FRAME_CACHE_CAPACITY);
	CHECK_EQ(fake_mem_frames_in_use(), base + FRAME_CACHE_CAPACITY);
	for (u32 i = 0; i < c.nobjs; i++)
		CHECK(frame_is_zero(c.frames[i]));
	/* At or above the minimum nothing happens: the refill is a batch, not a frame per allocation. */
	for (u32 i = 0; i < FRAME_CACHE_CAPACITY - 3; i++)
		frame_free(frame_cache_alloc(&c), 0);
	CHECK_EQ(c.nobjs, 3);
	CHECK_EQ(frame_cache_topup(&c, 3), 0);
	CHECK_EQ(c.nobjs, 3);
	frame_free(frame_cache_alloc(&c), 0);
	CHECK_EQ(frame_cache_topup(&c, 3), FRAME_CACHE_CAPACITY - 2);
	CHECK_EQ(c.nobjs, FRAME_CACHE_CAPACITY);
	CHECK_EQ(frame_cache_free_all(&c), FRAME_CACHE_CAPACITY);
	CHECK_EQ(c.nobjs, 0);
	CHECK_EQ(fake_mem_frames_in_use(), base);
}

TEST(frame_cache_alloc_pops_then_falls_back_and_takes_unused_back)
{
	struct frame_cache c = { 0 };
	u64 base = fake_mem_frames_in_use();

	frame_cache_topup(&c, 1);
	hpa_t last = c.frames[FRAME_CACHE_CAPACITY - 1];
	hpa_t f = frame_cache_alloc(&c);
	CHECK_EQ(f, last); /* no allocator call: the cache's own frame */
	CHECK_EQ(fake_mem_frames_in_use(), base + FRAME_CACHE_CAPACITY);
	/* A table never linked goes back, and is handed out again first. */
	frame_cache_put_unused(&c, f);
	CHECK_EQ(c.nobjs, FRAME_CACHE_CAPACITY);
	CHECK_EQ(frame_cache_alloc(&c), f);
	/* Into a full cache it goes to the allocator instead. */
	hpa_t extra = frame_alloc(0);
	frame_cache_put_unused(&c, f);
	frame_cache_put_unused(&c, extra);
	CHECK_EQ(fake_mem_frames_in_use(), base + FRAME_CACHE_CAPACITY);
	/* Empty: straight from the allocator, zeroed there. */
	frame_cache_free_all(&c);
	f = frame_cache_alloc(&c);
	CHECK(f != INVALID_HPA && frame_is_zero(f));
	CHECK_EQ(fake_mem_frames_in_use(), base + 1);
	frame_free(f, 0);
	fake_mem_fail_after(0);
	CHECK_EQ(frame_cache_alloc(&c), INVALID_HPA);
	fake_mem_fail_after(~0ULL);
	CHECK_EQ(fake_mem_frames_in_use(), base);
}

TEST(frame_cache_refill_is_best_effort)
{
	struct frame_cache c = { 0 };
	u64 base = fake_mem_frames_in_use();

	fake_mem_fail_after(5);
	CHECK_EQ(frame_cache_topup(&c, 3), 5);
	CHECK_EQ(c.nobjs, 5);
	fake_mem_fail_after(~0ULL);
	CHECK_EQ(frame_cache_topup(&c, 3), 0); /* 5 >= 3: no refill yet */
	CHECK_EQ(frame_cache_free_all(&c), 5);
	CHECK_EQ(fake_mem_frames_in_use(), base);
}

/* Through the fault path: a fault refills before the lock, its tables come from the cache, the cache is refilled
 * only once it is below what one walk may need, and the vCPU's teardown gives back what is left. */
TEST(tdp_fault_takes_tables_from_the_vcpu_cache)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fx.mmu.tdp.max_huge_level = 1;
		CHECK_EQ(fx.vcpu.tables.nobjs, 0);
		u64 frames = fake_mem_frames_in_use();
		CHECK_EQ(fault(0, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(fx.mmu.stats.table_cache_refills, 1);
		CHECK_EQ(fx.mmu.stats.table_cache_zeroed, FRAME_CACHE_CAPACITY);
		CHECK_EQ(fx.mmu.stats.tables_allocated, 3);
		CHECK_EQ(fx.vcpu.tables.nobjs, FRAME_CACHE_CAPACITY - 3);
		CHECK_EQ(fake_mem_frames_in_use(), frames + FRAME_CACHE_CAPACITY); /* nothing but the refill allocated */
		/* Each further 2M region takes one level-1 table; the 13 left last until fewer than 3 remain. */
		u32 faults = 0;
		for (gfn_t g = M2; fx.mmu.stats.table_cache_refills == 1; g += M2) {
			CHECK_EQ(fault(g, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
			faults++;
		}
		/* Refilled at the top of the fault that found 2 (< 3), which then took one. */
		CHECK_EQ(faults, FRAME_CACHE_CAPACITY - 3 - 2 + 1);
		CHECK_EQ(fx.mmu.stats.table_cache_zeroed, FRAME_CACHE_CAPACITY + FRAME_CACHE_CAPACITY - 2);
		CHECK_EQ(fx.vcpu.tables.nobjs, FRAME_CACHE_CAPACITY - 1);
		CHECK_EQ(fx.mmu.stats.tables_allocated, 3 + faults);
		/* Every frame is linked or cached. */
		CHECK_EQ(fake_mem_frames_in_use(), frames + fx.mmu.stats.tables_allocated + fx.vcpu.tables.nobjs);
		/* A fault that links nothing new takes nothing. */
		CHECK_EQ(fault(1, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(fx.vcpu.tables.nobjs, FRAME_CACHE_CAPACITY - 1);
		u32 cached = fx.vcpu.tables.nobjs;
		teardown(); /* proves every frame went back: the cached ones through mmu_vcpu_put_roots */
		CHECK_EQ(fx.mmu.stats.table_cache_freed, cached);
	}
}

/* A refill the allocator cannot fill leaves the fault to allocate under the lock, and to fail as it always did. */
TEST(tdp_fault_with_short_refill_falls_back_to_the_allocator)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
		fx.mmu.tdp.max_huge_level = 1;
		fake_mem_fail_after(1); /* the refill gets one frame, the walk needs three */
		CHECK_EQ(fault(0, SPTE_ACC_READ, &level), -ENOMEM);
		CHECK_EQ(fx.mmu.stats.table_cache_zeroed, 1);
		CHECK_EQ(fx.vcpu.tables.nobjs, 0);
		fake_mem_fail_after(~0ULL);
		CHECK_EQ(fault(0, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		CHECK_EQ(lookup(0, &level) != 0, true);
		CHECK_EQ(level, 1);
		teardown();
	}
}
