/* Zapping and write-protecting ranges in every root, and the lock-yielding step long range walks share. A zapped
 * range simply faults in again, so zapping more than asked (a huge leaf that sticks out of the range) is always
 * correct. */
#include "hv/bug.h"
#include "mm/ept/tdp_internal.h"

bool __tdp_iter_cond_yield(struct mmu *mmu, struct pt_iter *iter, unsigned int *budget)
{
	assert_write_held(&mmu->lock);
	if (++*budget < TDP_YIELD_BATCH)
		return false;
	/* Without progress since the last restart, yielding again could loop forever on the same entries. */
	if (iter->next_last_level_gfn == iter->yielded_gfn)
		return false;
	*budget = 0;
	/* Settle the flush first: another CPU taking the lock must not find tables queued for freeing that vCPUs may
	 * still use, and must not have to know what this walk still owes. */
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
	__builtin_ia32_pause();
	write_lock(&mmu->lock);
	mmu->stats.yields++;
	pt_iter_set_yielded(iter);
	return true;
}

/*
 * An entry wholly inside the range goes, whatever it is: a leaf, a table (the hook frees the tree below it), or an
 * MMIO SPTE. An entry that sticks out of the range goes only if it is a present leaf (a huge page partly in the
 * range: zapped whole, the rest refaults); a table that sticks out is entered instead.
 */
static void __tdp_zap_root_range(struct mmu *mmu, struct mmu_root *root, gfn_t start, gfn_t end)
{
	unsigned int budget = 0;
	struct pt_iter iter;

	assert_write_held(&mmu->lock);
	for_each_tdp_pte(iter, mmu, root, start, end) {
		bool inside = iter.gfn >= start && iter.gfn + pt_level_pages(iter.level) <= end;

		if (__tdp_iter_cond_yield(mmu, &iter, &budget))
			continue;
		if (!iter.old_spte)
			continue;
		if (inside || (spte_is_present(iter.old_spte) && spte_is_leaf(iter.old_spte, iter.level)))
			__tdp_set_spte(mmu, &iter, 0);
	}
}

/* Obsolete roots too: a vCPU may still hold one until it honours its request, and it must not keep the range. The
 * filter picks the mirror root (private memory), the others, or both (mm/private.h). */
void __tdp_zap_gfn_range_filter(struct mmu *mmu, gfn_t start, gfn_t end, int filter)
{
	struct mmu_root *root;

	assert_write_held(&mmu->lock);
	for_each_mmu_root_yield_safe(mmu, root, false) {
		if (root->role.direct && (filter & (root->role.mirror ? MMU_ZAP_PRIVATE : MMU_ZAP_SHARED)))
			__tdp_zap_root_range(mmu, root, start, end);
	}
}

void __tdp_zap_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end)
{
	__tdp_zap_gfn_range_filter(mmu, start, end, MMU_ZAP_ALL);
}

/*
 * Obsolete roots too, for the same reason. The W bit and MMU_WRITABLE go together: W alone would come back on the
 * next write fault through the fast path that trusts MMU_WRITABLE (mm/spte.h). Losing W flushes (the change hook
 * decides), and a D bit the hardware set is kept in the leaf.
 */
bool __tdp_write_protect_gfn(struct mmu *mmu, gfn_t gfn)
{
	struct mmu_root *root;
	struct pt_iter iter;
	bool changed = false;

	assert_write_held(&mmu->lock);
	for_each_mmu_root_yield_safe(mmu, root, false) {
		if (!root->role.direct || root->role.mirror) /* private gfns are never tracked (mmu_track.c) */
			continue;
		for_each_tdp_pte(iter, mmu, root, gfn, gfn + 1) {
			u64 new;

			if (!spte_is_present(iter.old_spte) || !spte_is_leaf(iter.old_spte, iter.level))
				continue;
			if (iter.level != 1) {
				/* The caller split huge leaves first, but only in valid roots: this obsolete one (a vCPU
				 * may still run on it until it honours its request) loses the whole leaf instead. */
				BUG_ON(!mmu_root_is_obsolete(mmu, root));
				__tdp_set_spte(mmu, &iter, 0);
				changed = true;
				continue;
			}
			new = iter.old_spte & ~(mmu->fmt->writable | SPTE_MMU_WRITABLE);
			if (new == iter.old_spte)
				continue;
			/* A racing hardware A/D update only makes the exchange retry with the new value. */
			while (__tdp_set_spte_atomic(mmu, &iter, iter.old_spte & ~(mmu->fmt->writable | SPTE_MMU_WRITABLE)))
				;
			mmu->stats.write_protected_sptes++;
			changed = true;
		}
	}
	return changed;
}
