/* Unsync shadow pages (after KVM's mmu_try_to_unsync_pages / sync_page): a guest leaf table that the guest writes
 * is no longer write-protected while it is unsync. Its stores go straight to memory; its shadow leaves may then be
 * stale, which the architecture allows until the guest flushes its TLB for them (a MOV to CR3, INVLPG, a CR0/CR4
 * paging change: SDM Vol. 3A 4.10.4), and every such flush syncs: each guest entry is compared with the one its
 * shadow leaf was made from, changed ones are zapped, and the table is write-protected again.
 *
 * Only a leaf table may go unsync (its entries map pages; a changed upper entry would leave a whole stale subtree),
 * never a root, and never a gfn anyone else tracks (a protect= range, a test reference): its count must be exactly
 * the number of its shadow pages.
 *
 * Shared pages: a leaf shadow page is one page whatever the number of its parents, so making it unsync, or syncing
 * it, does so for every root that reaches it. The unsync pages are on one list (shadow.unsync) rather than found
 * through unsync-children bitmaps in their parents as KVM does: a sync visits exactly the pages that went unsync,
 * never a tree, which is what the bitmaps buy KVM, and the flushes that sync (a CR3 load, INVLPG) sync them all. */
#include "hv/bug.h"
#include "hv/string.h"
#include "mm/shadow/shadow_internal.h"

bool __shadow_try_unsync(struct mmu *mmu, struct memslot *slot, gfn_t gfn)
{
	struct spage *sp;
	u32 shadows = 0;

	assert_spin_held(&mmu->lock);
	if (!mmu->shadow.allow_unsync)
		return false;
	for_each_spage_of_gfn(mmu, sp, gfn) {
		if (sp->role.level != 1 || spage_is_pinned(sp) || !sp->gptes)
			return false;
		shadows += sp->tracked;
	}
	if (!shadows || shadows != track_write_count(slot, gfn))
		return false;
	for_each_spage_of_gfn(mmu, sp, gfn) {
		if (!sp->tracked)
			continue;
		BUG_ON(__mmu_track_remove_gfn(mmu, gfn));
		sp->tracked = false;
		sp->unsync = true;
		sp->unsync_next = mmu->shadow.unsync;
		mmu->shadow.unsync = sp;
		mmu->shadow.stats.unsyncs++;
	}
	return true;
}

void __shadow_unsync_forget(struct mmu *mmu, struct spage *sp)
{
	struct spage **pp;

	for (pp = &mmu->shadow.unsync; *pp != sp; pp = &(*pp)->unsync_next)
		BUG_ON(!*pp);
	*pp = sp->unsync_next;
	sp->unsync = false;
}

/*
 * Protect the table again, then zap every leaf whose guest entry changed since the leaf was made. In that order,
 * and with the flush in between (as KVM's mmu_sync_children): a store another vCPU makes through a mapping that is
 * still writable lands before the read below, which then sees it; one read before the protection could be missed
 * for good, since the table counts as in sync afterwards.
 */
bool __shadow_sync_one(struct mmu *mmu, struct spage *sp)
{
	u64 *spt = phys_to_virt(sp->hpa);
	union {
		u64 e8[PT_ENTRIES];
		u32 e4[2 * PT_ENTRIES];
	} table;

	assert_spin_held(&mmu->lock);
	sp->unsync = false;
	mmu->shadow.stats.syncs++;
	if (__mmu_track_add_gfn(mmu, sp->gfn)) {
		__spage_zap(mmu, sp); /* cannot protect it again: the shadow of it goes instead, from every parent */
		return false;
	}
	sp->tracked = true;
	if (mmu->flush_pending)
		__mmu_flush_and_free(mmu);
	if (mmu_read_gpa(mmu, sp->gfn << PAGE_SHIFT, &table, sizeof(table)))
		memset(&table, 0, sizeof(table)); /* not RAM any more: every leaf goes */
	for (unsigned int i = 0; i < PT_ENTRIES; i++) {
		u64 spte = __atomic_load_n(&spt[i], __ATOMIC_RELAXED);
		unsigned int g = spage_leaf_gidx(sp, i);
		u64 gpte = sp->role.has_4_byte_gpte ? table.e4[g] : table.e8[g];

		if (!spte || (spte_is_present(spte) && gpte == sp->gptes[i]))
			continue;
		/* A changed entry, or an MMIO SPTE whose guest entry may now point elsewhere. */
		__shadow_set_sptep(mmu, &spt[i], sp->vpn + i, 1, 0);
		mmu->shadow.stats.sync_zaps++;
	}
	return true;
}

void shadow_sync(struct mmu *mmu)
{
	if (!READ_ONCE(mmu->shadow.unsync))
		return;
	spin_lock(&mmu->lock);
	while (mmu->shadow.unsync) {
		struct spage *sp = mmu->shadow.unsync;

		mmu->shadow.unsync = sp->unsync_next;
		__shadow_sync_one(mmu, sp);
	}
	__mmu_flush_and_free(mmu);
	spin_unlock(&mmu->lock);
}
