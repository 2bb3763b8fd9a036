/* The TDP fault path that takes no lock (after KVM's fast_page_fault): a fault on a leaf that aging access-tracked
 * (a format without A/D) restores it with one compare-exchange, and a write to a leaf that lost only W (restored by a
 * read) gets W back where MMU_WRITABLE allows it. Anything else goes to the locked path. */
#include "hv/bug.h"
#include "mm/ept/tdp_internal.h"
#include "mm/grace.h"

/*
 * The leaf that would let f's access through, made from `spte` by the lockless bits alone (spte_lockless_mask), or
 * 0 if none can: not access-tracked and already allowing (spurious: the locked path counts it), or a write the MMU
 * refuses (MMU_WRITABLE clear: the locked path says WRITE_PROTECTED). W comes back only for a write: without A/D,
 * W is the only dirty record, and granting it to a read would make every page that is read look written.
 */
static u64 tdp_fast_fixed_spte(const struct pt_format *fmt, u64 spte, u32 access)
{
	u64 new = spte_is_access_tracked(fmt, spte) ? restore_access_tracked_spte(fmt, spte) : spte;

	if ((access & SPTE_ACC_WRITE) && !(new & fmt->writable)) {
		if (!(new & SPTE_MMU_WRITABLE))
			return 0;
		new |= fmt->writable;
	}
	if (new == spte || !spte_allows(fmt, new, access))
		return 0;
	return new;
}

/*
 * Races, each settled by the compare-exchange, which succeeds only on the very value the walk read:
 *  - a zap made the entry 0 (or emptied the unlinked table it sits in): the exchange fails and the leaf stays gone;
 *    a resurrected leaf would need the old value to reappear, and a refault installs a fresh, young leaf instead.
 *  - a split replaced the leaf by a table: it fails, and the locked path fixes the child.
 *  - a write-protect cleared MMU_WRITABLE: it fails, and the re-read value no longer allows W.
 *  - aging access-tracked the leaf again: it fails, and the re-read value is restored.
 * The tables the walk reads stay allocated until grace_read_unlock (a zapped table is freed only after a grace
 * period), and the root is held by the faulting vCPU.
 */
bool tdp_fast_page_fault(struct mmu *mmu, struct mmu_root *root, struct mmu_fault *f)
{
	const struct pt_format *fmt = mmu->fmt;
	struct pt_iter iter;
	bool fixed = false, tracked = false;

	/* With hardware A/D nothing takes R, X or W alone away from a leaf (aging clears A, write tracking clears
	 * MMU_WRITABLE too): no fault is the lockless kind. */
	if (fmt->ad_enabled || f->gfn >= PT_MAX_PFN)
		return false;
	grace_read_lock();
	for_each_tdp_pte(iter, mmu, root, f->gfn, f->gfn + 1) {
		if (!spte_is_present(iter.old_spte))
			break;
		if (!spte_is_leaf(iter.old_spte, iter.level))
			continue;
		for (;;) {
			u64 new = tdp_fast_fixed_spte(fmt, iter.old_spte, f->access);

			if (!new)
				break;
			tracked = spte_is_access_tracked(fmt, iter.old_spte);
			if (mmu_spte_lockless_cmpxchg(mmu, &iter, new)) {
				fixed = true;
				break;
			}
			if (!spte_is_present(iter.old_spte) || !spte_is_leaf(iter.old_spte, iter.level))
				break;
		}
		break;
	}
	grace_read_unlock();
	if (!fixed)
		return false;
	f->mapped_level = iter.level;
	__atomic_fetch_add(&mmu->stats.fast_faults, 1, __ATOMIC_RELAXED);
	if (tracked)
		__atomic_fetch_add(&mmu->stats.access_track_faults, 1, __ATOMIC_RELAXED);
	return true;
}
