/* Interfaces between the files of the TDP MMU (and, later, the lockless A/D walker of mm/track): the change hook,
 * root iteration, the lock-yielding helper and the huge-page helpers. Not for the MMU's users (see tdp_mmu.h). */
#ifndef MM_EPT_TDP_INTERNAL_H
#define MM_EPT_TDP_INTERNAL_H

#include "mm/ept/tdp_iter.h"
#include "mm/ept/tdp_mmu.h"
#include "mm/spte.h"

struct memslot;

#define TDP_ROOT_LEVEL 4
/* Entries a range walk visits before it drops the lock for a moment (tdp_zap.c). */
#define TDP_YIELD_BATCH 512

#define for_each_tdp_pte_min_level(iter, mmu, root, min_level, start, end)                                            \
	for_each_pt_entry_min_level(iter, (mmu)->fmt, (root)->hpa, TDP_ROOT_LEVEL, min_level, start, end)
#define for_each_tdp_pte(iter, mmu, root, start, end) for_each_tdp_pte_min_level(iter, mmu, root, 1, start, end)

/* ---- tdp_change.c: the one place SPTEs are written ---- */

/* Write new_spte at the walker's entry and handle the change (stats, flush, freeing of an unlinked table). */
void __tdp_mmu_set_spte(struct tdp_mmu *mmu, struct tdp_iter *iter, u64 new_spte);
/* The same, but only if the entry still holds iter->old_spte; else -EBUSY with iter->old_spte re-read. */
int __tdp_mmu_set_spte_atomic(struct tdp_mmu *mmu, struct tdp_iter *iter, u64 new_spte);
/* A table already unlinked from every root: free it after the next remote TLB flush. */
void __tdp_defer_free_table(struct tdp_mmu *mmu, hpa_t table);
/* Pay what the changes so far owe: flush remote TLBs if needed, then free the unlinked tables. Before every unlock. */
void __tdp_flush_and_free(struct tdp_mmu *mmu);

/* The lock-free half of __tdp_mmu_set_spte_atomic, for walkers without mmu->lock (A/D aging, a later issue), which
 * may only make changes that need no handling under the lock: clearing A, D or W of a leaf. On failure
 * iter->old_spte holds what the entry holds now. */
static inline bool tdp_spte_try_cmpxchg(struct tdp_iter *iter, u64 new_spte)
{
	u64 expected = iter->old_spte;

	if (__atomic_compare_exchange_n(iter->sptep, &expected, new_spte, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		iter->old_spte = new_spte;
		return true;
	}
	iter->old_spte = expected;
	return false;
}

/* ---- tdp_root.c ---- */

void __tdp_get_root(struct tdp_mmu *mmu, struct tdp_root *root);
/* Drop a reference; an obsolete root goes with its last one. */
void __tdp_put_root(struct tdp_mmu *mmu, struct tdp_root *root);
/* Free every root no vCPU holds, valid or not (invalidation, teardown). */
void __tdp_free_unused_roots(struct tdp_mmu *mmu);
/* The root after prev (the first for NULL) with a reference taken, prev's reference dropped; NULL at the end. */
struct tdp_root *__tdp_next_root(struct tdp_mmu *mmu, struct tdp_root *prev, bool only_valid);

/* Every root (or every valid one), each held by a reference while the body runs, so the body may yield the lock. */
#define for_each_tdp_root_yield_safe(mmu, root, only_valid)                                                            \
	for (root = __tdp_next_root(mmu, NULL, only_valid); root; root = __tdp_next_root(mmu, root, only_valid))

/* ---- tdp_zap.c ---- */

/* Every TDP_YIELD_BATCH calls, if the walk has made progress: pay the pending flush and frees, drop the lock for a
 * moment so other CPUs get it, and make the walk restart from the root (the tree may have changed). The caller
 * holds a reference on the root and `continue`s when this returns true. */
bool __tdp_iter_cond_yield(struct tdp_mmu *mmu, struct tdp_iter *iter, unsigned int *budget);

/* ---- tdp_huge.c ---- */

/* The largest leaf level for gfn: the backing (memslot), the owner (ops->max_level) and the CPU all allow it. */
int __tdp_max_level(struct tdp_mmu *mmu, const struct memslot *slot, gfn_t gfn);
/* The leaf mapping gfn (aligned to level) with every permission the slot and the write tracker allow. */
u64 __tdp_make_ram_leaf(struct tdp_mmu *mmu, const struct memslot *slot, gfn_t gfn, int level);
/* Replace the present huge leaf under the walker by a table of smaller leaves with the same translation and
 * permissions, fully built before it is linked. 0 or -ENOMEM (the leaf stays). The walk then steps into it. */
int __tdp_split_huge_leaf(struct tdp_mmu *mmu, struct tdp_iter *iter);

/* ---- tdp_mmu.c ---- */

/* The entry a walk towards gfn ends on (a leaf, an MMIO SPTE or a hole), and its level. */
u64 __tdp_lookup(struct tdp_mmu *mmu, struct tdp_root *root, gfn_t gfn, int *level);

#endif
