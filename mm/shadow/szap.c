/* Zapping a gfn range under shadow paging (KVM's kvm_zap_gfn_range over rmaps): every shadow leaf that maps a gfn of
 * the range goes, found through its gfn's rmap, so that the frames behind the range may go too (reclaim,
 * mm/mmu_reclaim.c) once the flush is done. Shadow pages of guest tables in the range stay: they are keyed by gfn,
 * write-tracked whatever frame backs it, and their entries are read from the guest's table anew at the next fault
 * or sync; a leaf the range still maps through them is a leaf of its own rmap, zapped here. */
#include "mm/shadow/shadow_internal.h"

void __shadow_zap_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end)
{
	assert_write_held(&mmu->lock);
	for (u32 i = 0; i < mmu->slots.n; i++) {
		struct memslot *slot = &mmu->slots.slots[i];
		gfn_t first = MAX(start, slot->base_gfn), last = MIN(end, slot->base_gfn + slot->npages);

		if (first >= last || !slot->track || !slot->track->rmap[0])
			continue; /* no shadow leaf was ever made in this slot */
		for (gfn_t gfn = first; gfn < last; gfn++) {
			struct rmap_iter it;
			u64 *sptep;

			/* The change hook removes each entry from this rmap as it goes: allowed for the current one. */
			for_each_rmap_spte(rmap_head(slot, gfn, 1), &it, sptep) {
				unsigned int idx;
				struct spage *sp = __spage_of_sptep(mmu, sptep, &idx);

				__shadow_set_sptep(mmu, sptep, sp->vpn + idx, 1, 0);
				mmu->shadow.stats.range_zaps++;
			}
		}
	}
}
