/* Unit tests of the TDP MMU's roots and zaps (mm/ept/tdp_root.c, tdp_zap.c, tdp_change.c): zapping ranges, roots
 * shared between vCPUs and their invalidation, isolation (no leaf ever maps memory outside its memslot), the atomic
 * SPTE update losing a race, and the EPTP. */
#include "tdp_mmu_fixture.h"
#include "arch/x86/vmx/vmx_caps.h"

TEST(tdp_zap_range_removes_only_that_range_and_frees_tables)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		fx.mmu.tdp.max_huge_level = 1;
		for (gfn_t g = 0; g < 2 * M2; g++)
			CHECK_EQ(fault(g, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(fx.mmu.stats.tables_allocated, 4);
		mmu_zap_gfn_range(&fx.mmu, M2, 2 * M2);
		for (gfn_t g = 0; g < M2; g += 7)
			check_translation(g, 1);
		CHECK_EQ(lookup(M2, &level), 0);
		CHECK_EQ(level, 2); /* the directory entry went: its page table was freed */
		CHECK_EQ(lookup(2 * M2 - 1, &level), 0);
		CHECK_EQ(fx.mmu.stats.zapped_leaves, M2);
		CHECK_EQ(fx.mmu.stats.tables_freed, 1);
		CHECK_EQ(fx.flushes, 1);
		/* The root and 3 tables, and the zeroed frames the vCPU's table cache still holds (mm/frame_cache.h). */
		CHECK_EQ(fake_mem_frames_in_use(), fx.base_frames + 4 + fx.vcpu.tables.nobjs);
		/* Part of a table: the leaves go, the table stays. */
		mmu_zap_gfn_range(&fx.mmu, 0, 100);
		CHECK_EQ(lookup(99, &level), 0);
		CHECK_EQ(level, 1);
		check_translation(100, 1);
		CHECK_EQ(fx.mmu.stats.zapped_leaves, M2 + 100);
		CHECK_EQ(fx.flushes, 2);
		/* Nothing there: no flush. */
		mmu_zap_gfn_range(&fx.mmu, 3 * M2, 4 * M2);
		CHECK_EQ(fx.flushes, 2);
		/* Zapped gfns fault in again. */
		CHECK_EQ(fault(50, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		check_translation(50, 1);
		teardown();
	}
}

TEST(tdp_zap_partial_huge_leaf_zaps_it_whole)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		CHECK_EQ(fault(600, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 2);
		CHECK_EQ(fault(1, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		mmu_zap_gfn_range(&fx.mmu, 700, 701);
		CHECK_EQ(lookup(512, &level), 0);
		CHECK_EQ(lookup(1023, &level), 0);
		check_translation(1, 2);
		CHECK_EQ(fx.mmu.stats.zapped_leaves, 1);
		CHECK_EQ(fault(700, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
		check_translation(600, 2);
		teardown();
	}
}

TEST(tdp_long_zap_yields_the_lock_and_finishes)
{
	const struct pt_format *f;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		fx.mmu.tdp.max_huge_level = 1;
		for (gfn_t g = 0; g < 4 * M2; g++)
			CHECK_EQ(fault(g, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		/* Zap leaf by leaf (a range that covers no table whole until the end). */
		mmu_zap_gfn_range(&fx.mmu, 1, 4 * M2);
		CHECK(fx.mmu.stats.yields >= 1);
		CHECK(!rwlock_is_write_held_by_me(&fx.mmu.lock));
		check_translation(0, 1);
		for (gfn_t g = 1; g < 4 * M2; g += 5)
			CHECK_EQ(lookup(g, &level), 0);
		CHECK_EQ(fx.mmu.stats.zapped_leaves, 4 * M2 - 1);
		teardown();
	}
}

/*
 * Roots: vCPU A holds a current root of role Y and a cached one of role X, which vCPU B shares as its current one.
 * After an invalidation each vCPU drops only the obsolete roots it holds; a root goes with its last reference; roots
 * built afterwards are valid; a still-valid cached root survives everything that is not an invalidation.
 */
TEST(tdp_root_invalidation_and_refcounts)
{
	const struct pt_format *f;
	struct mmu_vcpu b = { 0 };
	int level;

	for_each_format(f) {
		setup(f); /* fx.vcpu is vCPU A: current RX0 of role 0 */
		struct mmu_vcpu *a = &fx.vcpu;
		fake_slot(0, 4 * M2, FAKE_HPA, true, 0);
		struct mmu_root *rx0 = a->current;
		CHECK_EQ(fault(1, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, a, 0, role(1)), 0);
		struct mmu_root *ry0 = a->current;
		CHECK(ry0 != rx0);
		CHECK(a->cached[0] == rx0);
		CHECK_EQ(fault(M2 + 1, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, &b, 0, role(0)), 0);
		CHECK(b.current == rx0); /* found on the MMU's list */
		CHECK_EQ(rx0->refcount, 2);
		CHECK_EQ(fx.mmu.stats.roots_allocated, 2);
		/* Loading the current role again is a no-op. */
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, &b, 0, role(0)), 0);
		CHECK_EQ(rx0->refcount, 2);

		mmu_invalidate_all_roots(&fx.mmu);
		CHECK_EQ(fx.root_requests, 1);
		CHECK(mmu_root_is_obsolete(&fx.mmu, rx0) && mmu_root_is_obsolete(&fx.mmu, ry0));
		CHECK_EQ(fx.mmu.stats.roots_freed, 0); /* both still held */
		CHECK_EQ(fault(2, SPTE_ACC_WRITE, &level), MMU_FAULT_RETRY);

		/* B drops its current RX0; A's cache still holds it. */
		CHECK(mmu_vcpu_free_obsolete_roots(&fx.mmu, &b));
		CHECK(!b.current);
		CHECK_EQ(rx0->refcount, 1);
		CHECK_EQ(fx.mmu.stats.roots_freed, 0);
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, &b, 0, role(0)), 0);
		struct mmu_root *rx1 = b.current;
		CHECK(!mmu_root_is_obsolete(&fx.mmu, rx1));
		CHECK_EQ(fx.mmu.stats.roots_allocated, 3);

		/* A moves to role 0: its obsolete current RY0 goes at once, RX1 is shared, obsolete RX0 isn't taken. */
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, a, 0, role(0)), 0);
		CHECK(a->current == rx1);
		CHECK_EQ(rx1->refcount, 2);
		CHECK_EQ(fx.mmu.stats.roots_freed, 1);
		CHECK(a->cached[0] == rx0);
		CHECK(!mmu_vcpu_free_obsolete_roots(&fx.mmu, a));
		CHECK(!a->cached[0]);
		CHECK_EQ(fx.mmu.stats.roots_freed, 2); /* RX0's last reference */

		/* A valid cached root stays through everything but an invalidation. */
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, a, 0, role(1)), 0);
		struct mmu_root *ry1 = a->current;
		CHECK(a->cached[0] == rx1);
		CHECK_EQ(fault(M2 + 2, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		mmu_zap_gfn_range(&fx.mmu, 0, 4 * M2);
		CHECK(!mmu_vcpu_free_obsolete_roots(&fx.mmu, a));
		CHECK(a->current == ry1 && a->cached[0] == rx1);
		CHECK_EQ(rx1->refcount, 2);
		CHECK_EQ(fx.mmu.stats.roots_freed, 2);

		/* A valid root nobody holds stays on the list and is reused. */
		mmu_vcpu_put_roots(&fx.mmu, &b);
		mmu_vcpu_put_roots(&fx.mmu, a);
		CHECK_EQ(fx.mmu.stats.roots_freed, 2);
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, a, 0, role(0)), 0);
		CHECK(a->current == rx1);
		CHECK_EQ(fx.mmu.stats.roots_allocated, 4);
		/* ... until an invalidation, which frees the unheld one (RY1) at once. */
		mmu_invalidate_all_roots(&fx.mmu);
		CHECK_EQ(fx.mmu.stats.roots_freed, 3);
		CHECK(mmu_vcpu_free_obsolete_roots(&fx.mmu, a));
		CHECK_EQ(fx.mmu.stats.roots_freed, 4);
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, a, 0, role(0)), 0);
		CHECK_EQ(fault(3, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		teardown(); /* every table and root freed exactly once (a double free aborts the fake allocator) */
	}
}

TEST(tdp_load_root_takes_cached_root_back)
{
	const struct pt_format *f;

	for_each_format(f) {
		setup(f);
		struct mmu_root *r0 = fx.vcpu.current;
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, &fx.vcpu, 0, role(1)), 0);
		struct mmu_root *r1 = fx.vcpu.current;
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, &fx.vcpu, 0, role(0)), 0);
		CHECK(fx.vcpu.current == r0);
		CHECK(fx.vcpu.cached[0] == r1 && !fx.vcpu.cached[1]);
		CHECK_EQ(r0->refcount, 1);
		CHECK_EQ(r1->refcount, 1);
		CHECK_EQ(fx.mmu.stats.roots_allocated, 2);
		union mmu_role bad = role(0);
		bad.level = 5;
		CHECK_EQ(mmu_vcpu_load_root(&fx.mmu, &fx.vcpu, 0, bad), -EINVAL);
		fake_mem_fail_after(0);
		union mmu_role other = role(1);
		other.quadrant = 3; /* any role not built yet */
		int r = mmu_vcpu_load_root(&fx.mmu, &fx.vcpu, 0, other);
		fake_mem_fail_after(~0ULL);
		CHECK_EQ(r, -ENOMEM);
		CHECK(fx.vcpu.current == r0); /* unchanged */
		teardown();
	}
}

/* Isolation: fault in every gfn of a slot, then walk the whole tree; every leaf maps exactly its slot's memory, and
 * nothing else: not a table of the tree, not another slot, not another VM's memory. */
static void isolation_run(int max_level)
{
	struct memslots other = { 0 };
	struct pt_iter iter;
	hpa_t tables[256];
	int ntables = 0, level;
	u64 leaves = 0, mapped = 0;

	fx.real_slots = true;
	CHECK_EQ(memslot_add(&fx.mmu.slots, 0, 4 * M2), 0);
	CHECK_EQ(memslot_add(&fx.mmu.slots, 16 * M2, 2 * M2), 0);
	CHECK_EQ(memslot_add(&other, 0, 4 * M2), 0);
	struct memslot *a = memslot_find(&fx.mmu.slots, 0), *b = memslot_find(&fx.mmu.slots, 16 * M2);
	fx.mmu.tdp.max_huge_level = max_level;
	for (gfn_t g = 0; g < a->npages; g++) {
		int r = fault(g, SPTE_ACC_WRITE, &level);
		CHECK(r == MMU_FAULT_FIXED || r == MMU_FAULT_SPURIOUS);
	}
	tables[ntables++] = fx.vcpu.current->hpa;
	for_each_tdp_pte(iter, &fx.mmu, fx.vcpu.current, 0, PT_MAX_PFN) {
		if (spte_is_present(iter.old_spte) && !spte_is_leaf(iter.old_spte, iter.level)) {
			CHECK(ntables < 256);
			tables[ntables++] = spte_pfn(iter.old_spte) << PAGE_SHIFT;
		}
	}
	for_each_tdp_pte(iter, &fx.mmu, fx.vcpu.current, 0, PT_MAX_PFN) {
		if (!spte_is_present(iter.old_spte) || !spte_is_leaf(iter.old_spte, iter.level))
			continue;
		u64 size = pt_level_size(iter.level);
		hpa_t lo = pt_leaf_hpa(iter.old_spte, iter.level), hi = lo + size;
		leaves++;
		mapped += size >> PAGE_SHIFT;
		/* Inside slot a, and exactly its translation, within one chunk. */
		CHECK(iter.gfn >= a->base_gfn && iter.gfn + pt_level_pages(iter.level) <= a->base_gfn + a->npages);
		CHECK_EQ(lo, memslot_gfn_to_hpa(a, iter.gfn));
		hpa_t chunk = a->chunks[(iter.gfn - a->base_gfn) >> MEMSLOT_CHUNK_SHIFT];
		CHECK(lo >= chunk && hi <= chunk + (MEMSLOT_CHUNK_PAGES << PAGE_SHIFT));
		for (int t = 0; t < ntables; t++)
			CHECK(tables[t] + PAGE_SIZE <= lo || tables[t] >= hi);
		for (u64 c = 0; c < b->npages / M2; c++)
			CHECK(b->chunks[c] + (M2 << PAGE_SHIFT) <= lo || b->chunks[c] >= hi);
		for (u64 c = 0; c < other.slots[0].npages / M2; c++)
			CHECK(other.slots[0].chunks[c] + (M2 << PAGE_SHIFT) <= lo || other.slots[0].chunks[c] >= hi);
	}
	CHECK_EQ(mapped, a->npages);
	CHECK_EQ(leaves, max_level == 1 ? a->npages : a->npages / M2);
	memslots_destroy(&other);
}

TEST(tdp_isolation_every_leaf_inside_its_slot)
{
	const struct pt_format *f;

	for_each_format(f) {
		for (int max_level = 1; max_level <= 2; max_level++) {
			setup(f);
			isolation_run(max_level);
			teardown();
		}
	}
}

TEST(tdp_set_spte_atomic_loses_to_a_concurrent_change)
{
	const struct pt_format *f;
	struct pt_iter iter;
	int level;

	for_each_format(f) {
		setup(f);
		fake_slot(0, 2 * M2, FAKE_HPA, true, 0);
		fx.mmu.tdp.max_huge_level = 1;
		CHECK_EQ(fault(9, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		write_lock(&fx.mmu.lock);
		for_each_tdp_pte(iter, &fx.mmu, fx.vcpu.current, 9, 10) {
			if (iter.level > 1)
				continue;
			u64 seen = iter.old_spte, now = seen & ~(f->writable | f->dirty);
			*iter.sptep = now; /* someone else (a lockless walker) write-protected it meanwhile */
			CHECK_EQ(__tdp_set_spte_atomic(&fx.mmu, &iter, 0), -EBUSY);
			CHECK_EQ(iter.old_spte, now);
			CHECK_EQ(*iter.sptep, now);
			CHECK_EQ(fx.mmu.stats.zapped_leaves, 0);
			CHECK_EQ(__tdp_set_spte_atomic(&fx.mmu, &iter, 0), 0);
			CHECK_EQ(*iter.sptep, 0);
			CHECK_EQ(fx.mmu.stats.zapped_leaves, 1);
		}
		CHECK(fx.mmu.flush_pending);
		__mmu_flush_and_free(&fx.mmu);
		write_unlock(&fx.mmu.lock);
		CHECK_EQ(fx.flushes, 1);
		teardown();
	}
}

TEST(tdp_eptp_encoding)
{
	setup(&pt_format_ept);
	CHECK_EQ(vmx_eptp(fx.vcpu.current->hpa, fx.vcpu.current->role.level, fx.mmu.fmt->ad_enabled),
		 fx.vcpu.current->hpa | 6 | (3 << 3) | BIT(6));
	teardown();
	setup(&pt_format_ept_noad);
	CHECK_EQ(vmx_eptp(fx.vcpu.current->hpa, fx.vcpu.current->role.level, fx.mmu.fmt->ad_enabled),
		 fx.vcpu.current->hpa | 6 | (3 << 3));
	teardown();
}
