/* Huge pages in the TDP MMU: the level a gfn may be mapped at, splitting a huge leaf into a table of smaller ones
 * when that level drops (write tracking, the disallow counts), and collapsing a table back into one huge leaf when
 * it rises again. */
#include "hv/bug.h"
#include "hv/errno.h"
#include "mm/ept/tdp_internal.h"

int __tdp_max_level(struct mmu *mmu, const struct memslot *slot, gfn_t gfn)
{
	int level;

	assert_rw_held(&mmu->lock);
	level = MIN(memslot_backing_level(slot, gfn), mmu->tdp.max_huge_level);
	return MAX(1, MIN(level, track_max_level(slot, gfn)));
}

u64 __tdp_make_ram_leaf(struct mmu *mmu, const struct memslot *slot, gfn_t gfn, int level, bool mmu_writable)
{
	assert_rw_held(&mmu->lock);
	/* A collapse may find dirt (a fault's region was cleared by mmu_page_fault before it took the lock). */
	memslot_prepare(slot, gfn, pt_level_pages(level));
	return __tdp_ram_leaf(mmu, slot, gfn, level, mmu_writable);
}

/*
 * The new table is filled completely, from the very leaf value it replaces, before it is linked: a walker (a vCPU's
 * page walk, or a lockless software walker) sees the huge leaf, the frozen entry (a fault, which retries), or a
 * table whose every entry repeats the leaf's translation and permissions, never a hole or a partial table. The
 * freeze is a compare-exchange from the value the table was built from: if the leaf changed first (the hardware set
 * A or D, aging cleared A), the table is refilled from the new value, so not even an A/D bit is lost. Frozen, the
 * hook hears of the leaf becoming a table and of each child appearing (an engine's bookkeeping and observers see
 * every leaf that exists, parent first), and only then is the table linked. No flush is needed: a cached huge
 * translation is still right. Under the read lock another fault may change or freeze the leaf first: -EBUSY.
 */
int __tdp_split_huge_leaf(struct mmu *mmu, struct pt_iter *iter)
{
	bool shared = !rwlock_is_write_held_by_me(&mmu->lock);
	u64 table_spte;
	hpa_t table;
	u64 *pt;

	assert_rw_held(&mmu->lock);
	BUG_ON(iter->level < 2 || !spte_is_present(iter->old_spte) || !spte_is_leaf(iter->old_spte, iter->level));
	table = frame_alloc(0);
	if (table == INVALID_HPA)
		return -ENOMEM;
	table_spte = make_table_spte(mmu->fmt, table);
	pt = phys_to_virt(table);
	for (;;) {
		u64 leaf = iter->old_spte;

		for (unsigned int i = 0; i < PT_ENTRIES; i++)
			pt[i] = pt_huge_child(mmu->fmt, leaf, iter->level, i);
		if (__mmu_freeze_spte(mmu, iter)) {
			__mmu_handle_changed_spte(mmu, tdp_engine_of(mmu, iter), mmu->fmt, iter->gfn, iter->sptep, leaf, table_spte,
						  iter->level);
			break;
		}
		mmu_stat_inc(mmu, fault_races);
		/* Still the same huge leaf but for A/D: refill. Anything else is another CPU's change to look at. */
		if (!spte_is_present(iter->old_spte) || !spte_is_leaf(iter->old_spte, iter->level) ||
		    spte_pfn(iter->old_spte) != spte_pfn(leaf)) {
			BUG_ON(!shared);
			frame_free(table, 0);
			return -EBUSY;
		}
	}
	mmu_stat_inc(mmu, tables_allocated);
	for (unsigned int i = 0; i < PT_ENTRIES; i++)
		__mmu_handle_changed_spte(mmu, tdp_engine_of(mmu, iter), mmu->fmt, iter->gfn + i * pt_level_pages(iter->level - 1), &pt[i], 0,
					  __atomic_load_n(&pt[i], __ATOMIC_RELAXED), iter->level - 1);
	__mmu_unfreeze_spte(mmu, iter, table_spte);
	mmu_stat_inc(mmu, splits);
	return 0;
}

static void __tdp_split_root_range(struct mmu *mmu, struct mmu_root *root, gfn_t start, gfn_t end)
{
	unsigned int budget = 0;
	struct pt_iter iter;

	assert_write_held(&mmu->lock);
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

	assert_write_held(&mmu->lock);
	for_each_mmu_root_yield_safe(mmu, root, true) {
		if (root->role.direct && !root->role.mirror) /* no huge leaves in the mirror */
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

	assert_write_held(&mmu->lock);
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
		/* Under the write lock only the lockless A/D changes race with the freeze: retry on the fresh value. */
		while (__tdp_set_spte_frozen(mmu, &iter, __tdp_make_ram_leaf(mmu, slot, iter.gfn, iter.level, true)))
			BUG_ON(!spte_is_present(iter.old_spte) || spte_is_leaf(iter.old_spte, iter.level));
		mmu->stats.collapses++;
	}
}

void __tdp_collapse_range(struct mmu *mmu, gfn_t start, gfn_t end)
{
	struct mmu_root *root;

	assert_write_held(&mmu->lock);
	for_each_mmu_root_yield_safe(mmu, root, true) {
		if (root->role.direct && !root->role.mirror) /* no huge leaves in the mirror */
			__tdp_collapse_root_range(mmu, root, start, end);
	}
}
