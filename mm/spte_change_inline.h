/* The change hook's fresh-install half and the compare-exchange that leads to it, inline (mm/spte_change.c has the
 * rest): the TDP fault path's one change then makes no call at all unless it replaces a present entry, which the
 * out-of-line half handles. Only for the engines' fault paths; everything else calls the functions of
 * spte_change.h. */
#ifndef MM_SPTE_CHANGE_INLINE_H
#define MM_SPTE_CHANGE_INLINE_H

#include "hv/bug.h"
#include "hv/errno.h"
#include "mm/mmu.h"
#include "mm/spte.h"

/* Everything the hook does for a change of a present entry (spte_change.c). */
void __mmu_handle_changed_present_spte(struct mmu *mmu, const struct mmu_engine *eng, const struct pt_format *fmt,
				       gfn_t gfn, u64 *sptep, u64 old, u64 new, int level);

/* What every change tells the engine and the observers, in the order they see it reach memory: this entry first, then
 * the table below it. Shared by the fresh install below and the present entries' half (spte_change.c). */
static inline __attribute__((always_inline)) void __mmu_spte_tell(struct mmu *mmu, const struct mmu_engine *eng,
								   gfn_t gfn, u64 *sptep, u64 old, u64 new, int level,
								   bool was_leaf, bool is_leaf)
{
	if (eng->leaf_changed && (was_leaf || is_leaf))
		eng->leaf_changed(mmu, gfn, sptep, was_leaf ? old : 0, is_leaf ? new : 0, level);
	if (mmu->ops->spte_changed)
		mmu->ops->spte_changed(mmu->owner, gfn, old, new, level);
	/* The hardware root of a private VM copies the top-level entries of two roots (mm/private.h). */
	if (level == TDP_ROOT_LEVEL && mmu->priv.enabled)
		__mmu_private_top_changed(mmu, sptep, new);
	if (spte_is_present(new) && !is_leaf && eng->table_linked)
		eng->table_linked(mmu, sptep, spte_pfn(new) << PAGE_SHIFT, level - 1);
}

/* The hook itself, for a caller that has asserted the lock. */
static inline __attribute__((always_inline)) void
__mmu_handle_changed_spte_inline(struct mmu *mmu, const struct mmu_engine *eng, const struct pt_format *fmt, gfn_t gfn,
				 u64 *sptep, u64 old, u64 new, int level)
{
	bool is_present = spte_is_present(new), is_leaf = is_present && spte_is_leaf(new, level);

	BUG_ON(level < 1 || level > PT_MAX_LEVELS || spte_is_frozen(old) || spte_is_frozen(new));
	if (old == new)
		return;
	/* A fresh install into a hole or over an MMIO SPTE, the fault path's usual change: no TLB can hold what was
	 * there, no dirty state, leaf or table goes, and no frame moves, so of the steps below only the telling of
	 * what was added remains (the same calls, in the same order). */
	if (!spte_is_present(old)) {
		__mmu_spte_tell(mmu, eng, gfn, sptep, old, new, level, false, is_leaf);
		return;
	}
	__mmu_handle_changed_present_spte(mmu, eng, fmt, gfn, sptep, old, new, level);
}

/* __mmu_set_spte_atomic (spte_change.h), inline, for a caller that has asserted the lock (either side): inlined into
 * a function that asserted it on entry, the check again would be the same load and test a few instructions later
 * with nothing in between that could drop the lock. */
static inline __attribute__((always_inline)) int
__mmu_set_spte_atomic_inline(struct mmu *mmu, const struct mmu_engine *eng, struct pt_iter *iter, u64 new_spte)
{
	u64 old = iter->old_spte;

	BUG_ON(spte_is_frozen(old));
	if (!mmu_spte_try_cmpxchg(iter, new_spte))
		return -EBUSY;
	__mmu_handle_changed_spte_inline(mmu, eng, iter->fmt, iter->gfn, iter->sptep, old, new_spte, iter->level);
	return 0;
}

#endif
