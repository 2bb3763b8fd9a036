/* Huge pages in the TDP MMU: the level a gfn may be mapped at, splitting a huge leaf into a table of smaller ones
 * when that level drops (write tracking, the disallow counts), and collapsing a table back into one huge leaf when
 * it rises again. */
#include "hv/bug.h"
#include "hv/errno.h"
#include "mm/ept/tdp_internal.h"

int __tdp_max_level(struct mmu *mmu, const struct memslot *slot, gfn_t gfn)
{
	int level;

	assert_spin_held(&mmu->lock);
	level = MIN(memslot_backing_level(slot, gfn), mmu->tdp.max_huge_level);
	return MAX(1, MIN(level, track_max_level(slot, gfn)));
}

u64 __tdp_make_ram_leaf(struct mmu *mmu, const struct memslot *slot, gfn_t gfn, int level, bool mmu_writable)
{
	bool host_writable = !(slot->flags & MEMSLOT_READONLY);

	assert_spin_held(&mmu->lock);
	/* A huge leaf never covers a tracked gfn: tracking raises the disallow counts of its regions first. */
	BUG_ON(level > 1 && track_is_write_tracked(slot, gfn));
	/* Usually clean already (mmu_page_fault clears before it takes the lock); a collapse may still find dirt. */
	memslot_prepare(slot, gfn, pt_level_pages(level));
	return make_leaf_spte(mmu->fmt, memslot_gfn_to_hpa(slot, gfn), level, SPTE_ACC_ALL, host_writable, mmu_writable);
}

/*
 * The new table is filled completely, from the very leaf value it replaces, before one compare-exchange links it:
 * a walker (a vCPU's page walk, or a lockless software walker) sees either the huge leaf or a table whose every
 * entry repeats its translation and permissions, never a hole or a partial table. If the leaf changed meanwhile
 * (the hardware set A or D), the table is refilled from the new value and the exchange retried, so not even an A/D
 * bit is lost. No flush is needed: a cached huge translation is still right. The children are then reported to
 * the hook as added leaves, so an engine's bookkeeping (and observers) see every leaf that exists.
 */
int __tdp_split_huge_leaf(struct mmu *mmu, struct pt_iter *iter)
{
	hpa_t table;
	u64 *pt;

	assert_spin_held(&mmu->lock);
	BUG_ON(iter->level < 2 || !spte_is_present(iter->old_spte) || !spte_is_leaf(iter->old_spte, iter->level));
	table = frame_alloc(0);
	if (table == INVALID_HPA)
		return -ENOMEM;
	mmu->stats.tables_allocated++;
	pt = phys_to_virt(table);
	do {
		BUG_ON(!spte_is_present(iter->old_spte) || !spte_is_leaf(iter->old_spte, iter->level));
		for (unsigned int i = 0; i < PT_ENTRIES; i++)
			pt[i] = pt_huge_child(mmu->fmt, iter->old_spte, iter->level, i);
	} while (__tdp_set_spte_atomic(mmu, iter, make_table_spte(mmu->fmt, table)));
	for (unsigned int i = 0; i < PT_ENTRIES; i++)
		__mmu_handle_changed_spte(mmu, &tdp_engine, mmu->fmt, iter->gfn + i * pt_level_pages(iter->level - 1), &pt[i], 0,
					  __atomic_load_n(&pt[i], __ATOMIC_RELAXED), iter->level - 1);
	mmu->stats.splits++;
	return 0;
}

static void __tdp_split_root_range(struct mmu *mmu, struct mmu_root *root, gfn_t start, gfn_t end)
{
	unsigned int budget = 0;
	struct pt_iter iter;

	assert_spin_held(&mmu->lock);
	/* Down to level 2 only: 4K leaves are never split. A split leaf's table is visited next, so a 1G leaf that
	 * may only be 4K pages goes through 2M on the way. */
	for_each_tdp_pte_min_level(iter, mmu, root, 2, start, end) {
		const struct memslot *slot;

		if (__tdp_iter_cond_yield(mmu, &iter, &budget))
			continue;
		if (!spte_is_present(iter.old_spte) || !spte_is_leaf(iter.old_spte, iter.level))
			continue;
		slot = memslot_find(&mmu->slots, iter.gfn);
		if (slot && __tdp_max_level(mmu, slot, iter.gfn) >= iter.level)
			continue;
		/* Out of memory (or, impossibly, no slot): zapping the leaf also ends the mapping the levels forbid;
		 * the next fault maps the allowed level. */
		if (!slot || __tdp_split_huge_leaf(mmu, &iter))
			__tdp_set_spte(mmu, &iter, 0);
	}
}

void __tdp_split_huge_range(struct mmu *mmu, gfn_t start, gfn_t end)
{
	struct mmu_root *root;

	assert_spin_held(&mmu->lock);
	for_each_mmu_root_yield_safe(mmu, root, true) {
		if (root->role.direct)
			__tdp_split_root_range(mmu, root, start, end);
	}
}

/*
 * Where a table covers a region that may now be one leaf (the backing is contiguous and aligned, and neither the
 * disallow counts nor the CPU forbid the size), the huge leaf replaces the table directly, so the guest does not
 * have to fault the region in again; the change hook frees the table and everything below it after a flush. The
 * walk is pre-order, so the largest possible leaf wins: a 1G region collapses before its 2M tables are looked at.
 */
static void __tdp_collapse_root_range(struct mmu *mmu, struct mmu_root *root, gfn_t start, gfn_t end)
{
	unsigned int budget = 0;
	struct pt_iter iter;

	assert_spin_held(&mmu->lock);
	for_each_tdp_pte_min_level(iter, mmu, root, 2, start, end) {
		const struct memslot *slot;

		if (__tdp_iter_cond_yield(mmu, &iter, &budget))
			continue;
		if (iter.level > mmu->tdp.max_huge_level || !spte_is_present(iter.old_spte) ||
		    spte_is_leaf(iter.old_spte, iter.level))
			continue;
		slot = memslot_find(&mmu->slots, iter.gfn);
		if (!slot || __tdp_max_level(mmu, slot, iter.gfn) < iter.level)
			continue;
		__tdp_set_spte(mmu, &iter, __tdp_make_ram_leaf(mmu, slot, iter.gfn, iter.level, true));
		mmu->stats.collapses++;
	}
}

void __tdp_collapse_range(struct mmu *mmu, gfn_t start, gfn_t end)
{
	struct mmu_root *root;

	assert_spin_held(&mmu->lock);
	for_each_mmu_root_yield_safe(mmu, root, true) {
		if (root->role.direct)
			__tdp_collapse_root_range(mmu, root, start, end);
	}
}
