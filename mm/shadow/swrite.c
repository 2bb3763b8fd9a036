/* Guest writes to shadowed page tables. Every such write was trapped (the table is write-protected through write
 * tracking), applied by the hypervisor, and reaches shadow_track_write through the tracking notifier: the shadow
 * entries built from the written guest entries are zapped, so the next access faults and rebuilds them from what
 * the guest wrote. Linux's set_pte, ptep_get_and_clear, ptep_set_wrprotect and clear_bit all arrive here, each as
 * one emulated write (MOV, XCHG, CMPXCHG, a locked bit operation); a PAE half-write touches one 8-byte entry.
 *
 * Write flooding (after KVM): a guest table written 3 times with no fault through its shadow in between is most
 * likely no longer a page table (the guest reuses the page), so its shadow page is zapped and the gfn's tracking
 * reference dropped: the guest writes it at full speed again. A misaligned write (one that is not within a single
 * 8-byte entry) is taken as the same sign. Roots are never zapped for flooding: the vCPU is running on them. */
#include "hv/bug.h"
#include "mm/shadow/shadow_internal.h"

#define FLOOD_WRITES 3

static void __write_one(struct mmu *mmu, struct spage *sp, gpa_t gpa, unsigned int len)
{
	unsigned int first = (gpa & (PAGE_SIZE - 1)) / 8, last = ((gpa + len - 1) & (PAGE_SIZE - 1)) / 8;
	bool misaligned = first != last;
	u64 *spt = phys_to_virt(sp->hpa);

	mmu->shadow.stats.pte_writes++;
	if (sp->parent_sptep && (misaligned || ++sp->write_count >= FLOOD_WRITES)) {
		mmu->shadow.stats.flood_zaps++;
		__spage_zap(mmu, sp);
		return;
	}
	for (unsigned int i = first; i <= last; i++) {
		if (!__atomic_load_n(&spt[i], __ATOMIC_RELAXED))
			continue;
		__shadow_set_sptep(mmu, &spt[i], sp->vpn + i * pt_level_pages(sp->role.level), sp->role.level, 0);
		mmu->shadow.stats.sptes_zapped_by_writes++;
	}
}

static void shadow_track_write(struct track_notifier *n, void *who, gpa_t gpa, const void *bytes, unsigned int len)
{
	struct mmu *mmu = container_of(n, struct mmu, shadow.notifier);
	gfn_t gfn = gpa >> PAGE_SHIFT;
	struct spage *sp;

	spin_lock(&mmu->lock);
	/* Any zap may free shadow pages of this very chain (a guest table that maps itself): each shadow page of the
	 * gfn is handled once (marked with this write's number), and the scan starts over after each. */
	u64 seq = ++mmu->shadow.write_seq;
	for (bool again = true; again;) {
		again = false;
		for_each_spage_of_gfn(mmu, sp, gfn) {
			if (sp->write_seq == seq)
				continue;
			sp->write_seq = seq;
			__write_one(mmu, sp, gpa, len);
			again = true;
			break;
		}
	}
	__mmu_flush_and_free(mmu);
	spin_unlock(&mmu->lock);
}

void shadow_mmu_init(struct mmu *mmu, u64 max_pages)
{
	mmu->shadow.enabled = true;
	mmu->shadow.max_pages = max_pages;
	mmu->shadow.notifier.write = shadow_track_write;
	mmu_track_register_notifier(mmu, &mmu->shadow.notifier);
}
