/* Unsync shadow pages (after KVM's mmu_try_to_unsync_pages / sync_page): a guest leaf table that the guest writes
 * is no longer write-protected while it is unsync. Its stores go straight to memory; its shadow leaves may then be
 * stale, which the architecture allows until the guest flushes its TLB for them (SDM Vol. 3A 4.10.4), and each such
 * flush brings back what it covers:
 *   - a flushing CR3 load syncs every unsync page the new root reaches (shadow_sync_root): each guest entry is
 *     compared with the one its shadow leaf was made from, changed ones are zapped, and the table is
 *     write-protected again. The parents' unsync-children bitmaps lead the walk to exactly those pages, as KVM's
 *     mmu_sync_children: the unsync pages of other address spaces wait for their own CR3 load;
 *   - INVLPG (INVPCID for one address) refreshes the one leaf for that address in the vCPU's roots
 *     (__shadow_invlpg): the table stays unsync, the guest goes on writing it natively;
 *   - a CR0/CR4 paging change or an all-context INVPCID syncs every unsync page (shadow_sync).
 *
 * Only a leaf table may go unsync (its entries map pages; a changed upper entry would leave a whole stale subtree),
 * never a root, and never a gfn anyone else tracks (a protect= range, a test reference): its count must be exactly
 * the number of its shadow pages.
 *
 * Shared pages: a leaf shadow page is one page whatever the number of its parents, so making it unsync, or syncing
 * it, does so for every root that reaches it. A page linked below a new parent is synced first, with what is unsync
 * below it (sshare.c), so a bitmap never needs to be set for a link: only for a page going unsync. */
#include "hv/bug.h"
#include "hv/string.h"
#include "mm/shadow/shadow_internal.h"

/* Set the bit of the entry pointing to sp in each of its parents, and on up while a parent's count leaves 0: every
 * root that reaches sp then has a path of set bits down to it. At most one recursion per level. */
static void __mark_parents_unsync(struct mmu *mmu, struct spage *sp)
{
	struct rmap_iter it;
	u64 *sptep;

	for_each_rmap_spte(&sp->parents, &it, sptep) {
		unsigned int idx;
		struct spage *p = __spage_of_sptep(mmu, sptep, &idx);
		u64 bit = BIT(idx % 64);

		BUG_ON(!p);
		if (p->unsync_child_bitmap[idx / 64] & bit)
			continue;
		p->unsync_child_bitmap[idx / 64] |= bit;
		if (p->unsync_children++ == 0)
			__mark_parents_unsync(mmu, p);
	}
}

bool __shadow_try_unsync(struct mmu *mmu, struct memslot *slot, gfn_t gfn)
{
	struct spage *sp;
	u32 shadows = 0;

	assert_write_held(&mmu->lock);
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
		if (sp->unsync_next)
			sp->unsync_next->unsync_pprev = &sp->unsync_next;
		sp->unsync_pprev = &mmu->shadow.unsync;
		mmu->shadow.unsync = sp;
		mmu->shadow.stats.unsyncs++;
		__mark_parents_unsync(mmu, sp);
	}
	return true;
}

void __shadow_unsync_forget(struct mmu *mmu, struct spage *sp)
{
	assert_write_held(&mmu->lock);
	BUG_ON(!sp->unsync);
	*sp->unsync_pprev = sp->unsync_next;
	if (sp->unsync_next)
		sp->unsync_next->unsync_pprev = sp->unsync_pprev;
	sp->unsync_next = NULL;
	sp->unsync_pprev = NULL;
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

	assert_write_held(&mmu->lock);
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

void __shadow_sync_children(struct mmu *mmu, struct spage *sp)
{
	u64 *spt = phys_to_virt(sp->hpa);

	assert_write_held(&mmu->lock);
	for (unsigned int w = 0; w < PT_ENTRIES / 64 && sp->unsync_children; w++) {
		while (sp->unsync_child_bitmap[w]) {
			unsigned int i = w * 64 + (unsigned int)__builtin_ctzll(sp->unsync_child_bitmap[w]);
			u64 spte = __atomic_load_n(&spt[i], __ATOMIC_RELAXED);
			struct spage *child = NULL;

			if (spte_is_present(spte) && !spte_is_leaf(spte, sp->role.level))
				child = __spage_by_hpa(mmu, spte_pfn(spte) << PAGE_SHIFT);
			/* The child stays (a sync zaps leaves, or the synced page itself from its parents, never an
			 * upper page): it is read again only to go down. */
			if (child && child->unsync_children)
				__shadow_sync_children(mmu, child);
			if (child && child->unsync) {
				__shadow_unsync_forget(mmu, child);
				__shadow_sync_one(mmu, child);
			}
			sp->unsync_child_bitmap[w] &= ~BIT(i % 64);
			sp->unsync_children--;
		}
	}
	BUG_ON(sp->unsync_children);
}

void shadow_sync_root(struct mmu *mmu, struct mmu_root *root)
{
	struct spage *sp;

	/* Nothing unsync anywhere: the bitmaps can only hold stale bits, which no sync needs to clear. */
	if (!READ_ONCE(mmu->shadow.unsync))
		return;
	write_lock(&mmu->lock);
	sp = __spage_by_hpa(mmu, root->hpa);
	if (sp && sp->unsync_children && !mmu_root_is_obsolete(mmu, root)) {
		mmu->shadow.stats.root_syncs++;
		__shadow_sync_children(mmu, sp);
	}
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
}

void __shadow_invlpg(struct mmu *mmu, struct mmu_root *root, gva_t gva)
{
	struct spage *sp = __spage_by_hpa(mmu, root->hpa);
	bool pae = root->role.level == 3;
	u64 vpn = gva_to_vpn(pae ? (u32)gva : gva, root->role.level), gpte = 0, *sptep;
	unsigned int idx;

	assert_write_held(&mmu->lock);
	if (!sp || mmu_root_is_obsolete(mmu, root))
		return;
	/* Down gva's path while the bitmaps say something below went unsync: most INVLPGs stop at the root. */
	for (int level = root->role.level; level > 1; level--) {
		u64 spte;

		idx = (vpn >> (9 * (level - 1))) & (pae && level == 3 ? 3 : PT_ENTRIES - 1);
		if (!(sp->unsync_child_bitmap[idx / 64] & BIT(idx % 64)))
			return;
		spte = __atomic_load_n((u64 *)phys_to_virt(sp->hpa) + idx, __ATOMIC_RELAXED);
		if (!spte_is_present(spte) || spte_is_leaf(spte, level))
			return;
		sp = __spage_by_hpa(mmu, spte_pfn(spte) << PAGE_SHIFT);
		if (!sp)
			return;
	}
	idx = vpn & (PT_ENTRIES - 1);
	sptep = (u64 *)phys_to_virt(sp->hpa) + idx;
	if (!sp->unsync || !*sptep)
		return;
	/* One guest entry, as __shadow_sync_one compares them all; an MMIO leaf goes whatever the entry. */
	if (!mmu_read_gpte(mmu, ((gpa_t)sp->gfn << PAGE_SHIFT) + spage_leaf_gidx(sp, idx) * spage_gpte_size(sp), &gpte,
			   spage_gpte_size(sp)) &&
	    spte_is_present(*sptep) && gpte == sp->gptes[idx])
		return;
	__shadow_set_sptep(mmu, sptep, vpn, 1, 0);
	mmu->shadow.stats.invlpg_zaps++;
}

void shadow_sync(struct mmu *mmu)
{
	if (!READ_ONCE(mmu->shadow.unsync))
		return;
	write_lock(&mmu->lock);
	while (mmu->shadow.unsync) {
		struct spage *sp = mmu->shadow.unsync;

		__shadow_unsync_forget(mmu, sp);
		__shadow_sync_one(mmu, sp);
	}
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
}
