/* The one change hook: every SPTE write of the TDP MMU goes through __tdp_mmu_set_spte (or its compare-exchange
 * twin), and every change is then handled in one place, __handle_changed_spte: statistics, the decision whether
 * remote TLBs must be flushed, and the removal of a table that an entry no longer points to. Unlinked tables are
 * freed only after the flush that makes every vCPU stop using them (__tdp_flush_and_free). */
#include "hv/bug.h"
#include "hv/errno.h"
#include "mm/ept/tdp_internal.h"

/*
 * Whether a vCPU could still hold a translation the change took away. A hole that becomes present needs nothing (no
 * TLB caches a hole, nor an MMIO SPTE, which only ever causes an exit). A present entry that goes away does, and so
 * does a table that is replaced: paging-structure caches may hold it. A leaf replaced by a table is a split, which
 * repeats the leaf's translation and permissions in the table (__tdp_split_huge_leaf), so the cached huge
 * translation stays right. A leaf that stays a leaf needs a flush when it loses a permission or its dirty bit (a
 * cached writable translation would let writes through without setting D again); gaining permissions or losing the
 * accessed bit needs none (a stale, narrower translation only faults, and aging tolerates a late A).
 */
static bool change_needs_flush(const struct pt_format *fmt, u64 old, u64 new, int level)
{
	u64 perms = fmt->readable | fmt->writable | fmt->executable | fmt->user | fmt->dirty;

	if (!spte_is_present(old))
		return false;
	if (!spte_is_present(new) || !spte_is_leaf(old, level))
		return true;
	if (!spte_is_leaf(new, level))
		return false;
	return (old & perms & ~new) || (new & fmt->nx & ~old);
}

static void __handle_changed_spte(struct tdp_mmu *mmu, gfn_t gfn, u64 old, u64 new, int level);

/*
 * A table no entry points to any more: empty it entry by entry, each through the hook (so the leaves it held are
 * counted and the tables below it removed in turn), then queue it for freeing after the flush. The entries are
 * exchanged, not just read, so an A/D update the hardware makes meanwhile is not lost to the hook. The table is
 * unreachable from any root, but a vCPU's paging-structure cache may still walk it until the flush; the zeroes it
 * finds then are holes, which only fault.
 */
static void __handle_removed_table(struct tdp_mmu *mmu, hpa_t table, gfn_t gfn, int level)
{
	u64 *pt = phys_to_virt(table);

	assert_spin_held(&mmu->lock);
	for (unsigned int i = 0; i < PT_ENTRIES; i++) {
		if (!__atomic_load_n(&pt[i], __ATOMIC_RELAXED))
			continue;
		u64 old = __atomic_exchange_n(&pt[i], 0, __ATOMIC_SEQ_CST);
		__handle_changed_spte(mmu, gfn + i * pt_level_pages(level), old, 0, level);
	}
	mmu->stats.tables_freed++;
	__tdp_defer_free_table(mmu, table);
}

static void __handle_changed_spte(struct tdp_mmu *mmu, gfn_t gfn, u64 old, u64 new, int level)
{
	bool was_present = spte_is_present(old), is_present = spte_is_present(new);
	bool was_leaf = was_present && spte_is_leaf(old, level), is_leaf = is_present && spte_is_leaf(new, level);

	assert_spin_held(&mmu->lock);
	BUG_ON(level < 1 || level > TDP_ROOT_LEVEL);
	if (old == new)
		return;
	/* A present leaf never moves to another frame in place: it is zapped and flushed first, so no vCPU ever
	 * reaches the old and the new frame through one gfn at the same time. Nor is a table swapped for another. */
	BUG_ON(was_leaf && is_leaf && spte_pfn(old) != spte_pfn(new));
	BUG_ON(was_present && !was_leaf && is_present && !is_leaf);

	if (change_needs_flush(mmu->fmt, old, new, level))
		mmu->flush_pending = true;
	if (was_leaf && !is_present)
		mmu->stats.zapped_leaves++;
	/* Observers see changes in the order they reach memory: this entry first, then the table below it. */
	if (mmu->ops->spte_changed)
		mmu->ops->spte_changed(mmu->owner, gfn, old, new, level);
	if (was_present && !was_leaf)
		__handle_removed_table(mmu, spte_pfn(old) << PAGE_SHIFT, gfn, level - 1);
}

/*
 * Every write is an exchange, so the hook sees the value really replaced, including A/D bits the hardware set after
 * the walker read the entry (with one vCPU per VM that cannot happen yet while the lock is held, but the exchange
 * costs nothing next to a fault). Anything else changing under the lock is a bug.
 */
void __tdp_mmu_set_spte(struct tdp_mmu *mmu, struct tdp_iter *iter, u64 new_spte)
{
	assert_spin_held(&mmu->lock);
	u64 old = __atomic_exchange_n(iter->sptep, new_spte, __ATOMIC_SEQ_CST);

	BUG_ON((old ^ iter->old_spte) & ~(mmu->fmt->accessed | mmu->fmt->dirty));
	__handle_changed_spte(mmu, iter->gfn, old, new_spte, iter->level);
	iter->old_spte = new_spte;
}

int __tdp_mmu_set_spte_atomic(struct tdp_mmu *mmu, struct tdp_iter *iter, u64 new_spte)
{
	u64 old = iter->old_spte;

	assert_spin_held(&mmu->lock);
	if (!tdp_spte_try_cmpxchg(iter, new_spte))
		return -EBUSY;
	__handle_changed_spte(mmu, iter->gfn, old, new_spte, iter->level);
	return 0;
}

void __tdp_defer_free_table(struct tdp_mmu *mmu, hpa_t table)
{
	assert_spin_held(&mmu->lock);
	/* Every table already queued is unlinked, so flushing now makes all of them safe to free. */
	if (mmu->nr_free_pending == TDP_FREE_BATCH)
		__tdp_flush_and_free(mmu);
	mmu->free_pending[mmu->nr_free_pending++] = table;
	mmu->flush_pending = true;
}

/*
 * Flush, then free. ops->flush_remote_tlbs makes every vCPU drop this MMU's translations before it next runs guest
 * code (see its contract in tdp_mmu.h). Today the VM's only vCPU is not in guest mode while the lock is held (MMU
 * operations run on its CPU or while it is stopped) and honours the request before it enters again, so once the
 * request is made no vCPU can walk the unlinked tables any more, and they can be reused at once.
 */
void __tdp_flush_and_free(struct tdp_mmu *mmu)
{
	assert_spin_held(&mmu->lock);
	if (mmu->flush_pending) {
		mmu->ops->flush_remote_tlbs(mmu->owner);
		mmu->stats.remote_flushes++;
		mmu->flush_pending = false;
	}
	for (u32 i = 0; i < mmu->nr_free_pending; i++)
		frame_free(mmu->free_pending[i], 0);
	mmu->nr_free_pending = 0;
}
