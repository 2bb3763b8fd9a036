/* Huge pages in the TDP MMU: the level a gfn may be mapped at, splitting a huge leaf into a table of smaller ones
 * when that level drops (write tracking, a lowered max_level), and collapsing a table back into one huge leaf when
 * it rises again. */
#include "hv/bug.h"
#include "hv/errno.h"
#include "mm/ept/tdp_internal.h"
#include "vm/memslot.h"

int __tdp_max_level(struct tdp_mmu *mmu, const struct memslot *slot, gfn_t gfn)
{
	int level, owner;

	assert_spin_held(&mmu->lock);
	level = MIN(memslot_backing_level(slot, gfn), mmu->max_huge_level);
	owner = mmu->ops->max_level(mmu->owner, gfn);
	return MAX(1, MIN(level, owner));
}

u64 __tdp_make_ram_leaf(struct tdp_mmu *mmu, const struct memslot *slot, gfn_t gfn, int level)
{
	bool host_writable = !(slot->flags & MEMSLOT_READONLY), tracked;

	assert_spin_held(&mmu->lock);
	tracked = mmu->ops->gfn_write_tracked && mmu->ops->gfn_write_tracked(mmu->owner, gfn);
	/* Usually clean already (tdp_page_fault clears before it takes the lock); a collapse may still find dirt. */
	memslot_prepare(slot, gfn, pt_level_pages(level));
	return make_leaf_spte(mmu->fmt, memslot_gfn_to_hpa(slot, gfn), level, SPTE_ACC_ALL, host_writable, !tracked);
}

/*
 * The new table is filled completely, from the very leaf value it replaces, before one compare-exchange links it:
 * a walker (a vCPU's page walk, or a lockless software walker) sees either the huge leaf or a table whose every
 * entry repeats its translation and permissions, never a hole or a partial table. If the leaf changed meanwhile
 * (the hardware set A or D), the table is refilled from the new value and the exchange retried, so not even an A/D
 * bit is lost. No flush is needed: a cached huge translation is still right (change_needs_flush).
 */
int __tdp_split_huge_leaf(struct tdp_mmu *mmu, struct tdp_iter *iter)
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
	} while (__tdp_mmu_set_spte_atomic(mmu, iter, make_table_spte(mmu->fmt, table)));
	mmu->stats.splits++;
	return 0;
}

static void __tdp_split_root_range(struct tdp_mmu *mmu, struct tdp_root *root, gfn_t start, gfn_t end)
{
	unsigned int budget = 0;
	struct tdp_iter iter;

	assert_spin_held(&mmu->lock);
	/* Down to level 2 only: 4K leaves are never split. A split leaf's table is visited next, so a 1G leaf that
	 * may only be 4K pages goes through 2M on the way. */
	for_each_tdp_pte_min_level(iter, mmu, root, 2, start, end) {
		const struct memslot *slot;

		if (__tdp_iter_cond_yield(mmu, &iter, &budget))
			continue;
		if (!spte_is_present(iter.old_spte) || !spte_is_leaf(iter.old_spte, iter.level))
			continue;
		slot = memslot_find(mmu->slots, iter.gfn);
		if (slot && __tdp_max_level(mmu, slot, iter.gfn) >= iter.level)
			continue;
		/* Out of memory (or, impossibly, no slot): zapping the leaf also ends the mapping max_level forbids;
		 * the next fault maps the allowed level. */
		if (!slot || __tdp_split_huge_leaf(mmu, &iter))
			__tdp_mmu_set_spte(mmu, &iter, 0);
	}
}

void tdp_split_huge_range(struct tdp_mmu *mmu, gfn_t start, gfn_t end)
{
	struct tdp_root *root;

	spin_lock(&mmu->lock);
	for_each_tdp_root_yield_safe(mmu, root, true)
		__tdp_split_root_range(mmu, root, start, end);
	__tdp_flush_and_free(mmu);
	spin_unlock(&mmu->lock);
}

/*
 * Where a table covers a region that may now be one leaf (the backing is contiguous and aligned, and neither the
 * owner nor the CPU forbids the size), the huge leaf replaces the table directly, so the guest does not have to
 * fault the region in again; the change hook frees the table and everything below it after a flush. The walk is
 * pre-order, so the largest possible leaf wins: a 1G region collapses before its 2M tables are looked at.
 */
static void __tdp_collapse_root_range(struct tdp_mmu *mmu, struct tdp_root *root, gfn_t start, gfn_t end)
{
	unsigned int budget = 0;
	struct tdp_iter iter;

	assert_spin_held(&mmu->lock);
	for_each_tdp_pte_min_level(iter, mmu, root, 2, start, end) {
		const struct memslot *slot;

		if (__tdp_iter_cond_yield(mmu, &iter, &budget))
			continue;
		if (iter.level > mmu->max_huge_level || !spte_is_present(iter.old_spte) ||
		    spte_is_leaf(iter.old_spte, iter.level))
			continue;
		slot = memslot_find(mmu->slots, iter.gfn);
		if (!slot || __tdp_max_level(mmu, slot, iter.gfn) < iter.level)
			continue;
		__tdp_mmu_set_spte(mmu, &iter, __tdp_make_ram_leaf(mmu, slot, iter.gfn, iter.level));
		mmu->stats.collapses++;
	}
}

void tdp_collapse_range(struct tdp_mmu *mmu, gfn_t start, gfn_t end)
{
	struct tdp_root *root;

	spin_lock(&mmu->lock);
	for_each_tdp_root_yield_safe(mmu, root, true)
		__tdp_collapse_root_range(mmu, root, start, end);
	__tdp_flush_and_free(mmu);
	spin_unlock(&mmu->lock);
}
