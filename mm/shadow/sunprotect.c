/* Unprotecting a guest frame (KVM's kvm_mmu_unprotect_page): when a write to a write-protected guest page table cannot
 * be emulated (an instruction the emulator does not know), or hits one during event delivery (the CPU's own push of
 * an exception frame, which no instruction at RIP describes), the shadow pages of that frame are zapped instead, which
 * drops the shadow MMU's tracking reference, and the guest re-executes the access natively. A guest that really uses
 * the frame as a page table faults it back in as one. */
#include "mm/shadow/shadow_internal.h"
#include "mm/track/write.h"

bool mmu_shadow_unprotect_gfn(struct mmu *mmu, const struct mmu_vcpu *mv, gfn_t gfn)
{
	struct spage *sp;
	bool root = false;

	write_lock(&mmu->lock);
	for (bool again = true; again;) {
		again = false;
		for_each_spage_of_gfn(mmu, sp, gfn) {
			/* Roots are made obsolete below, and go once every vCPU dropped them; a PAE root's directories
			 * stay with it. Any other page goes from every parent that shares it. */
			if (spage_is_pinned(sp)) {
				root = true;
				continue;
			}
			__spage_zap(mmu, sp);
			again = true;
			break;
		}
	}
	/* A root of a frame the guest now writes as data: its PGD was freed and the page reused, the root lingers in a
	 * vCPU's root cache. Not the faulting vCPU's current root (it would only be built again: then the write gets
	 * the emulator's #UD). Its protection goes with the root, as the vCPUs drop it; until then the write faults
	 * and comes here again. */
	bool ok;
	if (root) {
		ok = __mmu_invalidate_roots_of_gfn(mmu, gfn, mv->current);
		__mmu_flush_and_free(mmu);
	} else {
		__mmu_flush_and_free(mmu);
		struct memslot *slot = memslot_find(&mmu->slots, gfn);
		ok = !(slot && track_is_write_tracked(slot, gfn));
	}
	write_unlock(&mmu->lock);
	return ok;
}
