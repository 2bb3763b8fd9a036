/* The one change hook: every SPTE write of every engine goes through __mmu_set_spte (or its compare-exchange twin),
 * and every change is then handled in one place: statistics, the decision whether remote TLBs must be flushed, the
 * engine's own bookkeeping (struct mmu_engine.leaf_changed: the shadow MMU's rmap), and the removal of a table that
 * an entry no longer points to. Unlinked tables are freed only after the flush that makes every vCPU stop using them,
 * and after a grace period for lockless software walkers (__mmu_flush_and_free). */
#ifndef MM_SPTE_CHANGE_H
#define MM_SPTE_CHANGE_H

#include "mm/pt_iter.h"

struct mmu;
struct mmu_engine;

/* Write new_spte at the walker's entry and handle the change. */
void __mmu_set_spte(struct mmu *mmu, const struct mmu_engine *eng, struct pt_iter *iter, u64 new_spte);
/* The same, but only if the entry still holds iter->old_spte; else -EBUSY with iter->old_spte re-read. */
int __mmu_set_spte_atomic(struct mmu *mmu, const struct mmu_engine *eng, struct pt_iter *iter, u64 new_spte);
/* A change in several steps (mm/mmu.h, spte.h: SPTE_FROZEN): freeze the entry if it still holds iter->old_spte (else
 * false, re-read), run the hooks, then unfreeze it to the final value. __mmu_set_spte_frozen does all three with the
 * change hook as the only hook; 0 or -EBUSY. Either side of the lock. */
bool __mmu_freeze_spte(struct mmu *mmu, struct pt_iter *iter);
void __mmu_unfreeze_spte(struct mmu *mmu, struct pt_iter *iter, u64 new_spte);
int __mmu_set_spte_frozen(struct mmu *mmu, const struct mmu_engine *eng, struct pt_iter *iter, u64 new_spte);
/* Report a change made without a walker: the entries of a table built off-line and then linked in one exchange
 * (the children of a split), which the engine's bookkeeping must see as added. */
void __mmu_handle_changed_spte(struct mmu *mmu, const struct mmu_engine *eng, const struct pt_format *fmt, gfn_t gfn,
			       u64 *sptep, u64 old, u64 new, int level);
/* A table already unlinked from every root: free it after the next remote TLB flush and grace period. */
void __mmu_defer_free_table(struct mmu *mmu, hpa_t table);
/* Pay what the changes so far owe: flush remote TLBs if needed, then hand the unlinked tables to the grace-period
 * freer. Before every unlock. */
void __mmu_flush_and_free(struct mmu *mmu);

/*
 * ---- the lockless half of the hook ----
 * Walkers without mmu->lock (aging, the fast fault path) change only the bits spte_lockless_mask names, in a present
 * leaf, and only by atomic operations, so a lock holder's exchange or compare-exchange of the same entry always sees
 * their result. Such a change needs nothing of what the locked hook does (mm/spte_change.c says why, item by item)
 * except the dirty harvest, which is lock-free and done here too: no change anywhere loses dirty state.
 */

/* Record the dirty state `old` held and `new` no longer holds (mm/memslot.h: the dirty log). Any context. */
void mmu_spte_harvest_dirty(struct mmu *mmu, const struct pt_format *fmt, gfn_t gfn, u64 old, u64 new, int level);
/* Replace the leaf under a lockless walker by new_spte (the same leaf but for spte_lockless_mask bits) if the entry
 * still holds iter->old_spte, harvesting dirty state; false, with iter->old_spte re-read, if it changed. */
bool mmu_spte_lockless_cmpxchg(struct mmu *mmu, struct pt_iter *iter, u64 new_spte);
/* Clear the Accessed bit of the entry under a lockless walker (hardware A/D formats) with one atomic AND. */
void mmu_spte_clear_accessed(struct pt_iter *iter);
/* The same for an entry found without a walker (the shadow MMU's rmap walk): returns the value it replaced. */
u64 mmu_sptep_clear_accessed(const struct pt_format *fmt, u64 *sptep);

/* The raw compare-exchange under mmu_spte_lockless_cmpxchg and __mmu_set_spte_atomic. On failure iter->old_spte
 * holds what the entry holds now. */
static inline bool mmu_spte_try_cmpxchg(struct pt_iter *iter, u64 new_spte)
{
	u64 expected = iter->old_spte;

	if (__atomic_compare_exchange_n(iter->sptep, &expected, new_spte, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		iter->old_spte = new_spte;
		return true;
	}
	iter->old_spte = expected;
	return false;
}

#endif
