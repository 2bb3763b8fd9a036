/* The MMU layer (see mmu.h): life cycle, the fault entry point, root loading, zaps and invalidation. */
#include "mm/mmu.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/string.h"

void mmu_init(struct mmu *mmu, const struct pt_format *fmt, int max_level, const struct mmu_ops *ops, void *owner,
	      u64 shadow_pages)
{
	BUG_ON(!ops->flush_remote_tlbs || !ops->request_free_obsolete_roots);
	memset(mmu, 0, sizeof(*mmu));
	rwlock_init(&mmu->lock);
	grace_init_rw(&mmu->grace, &mmu->lock);
	mmu->fmt = fmt;
	mmu->ops = ops;
	mmu->owner = owner;
	mmu->apic_access_gfn = ~(gfn_t)0;
	mmu->apic_access_hpa = INVALID_HPA;
	if (shadow_pages) {
		mmu->engine = &shadow_engine;
		shadow_mmu_init(mmu, shadow_pages);
	} else {
		mmu->engine = &tdp_engine;
		tdp_mmu_init(mmu, max_level);
	}
}

void mmu_destroy(struct mmu *mmu)
{
	if (mmu->ops) {
		write_lock(&mmu->lock);
		__mmu_private_destroy(mmu);
		/* Every vCPU must have put its roots: a reference left would point into freed memory. */
		for (struct mmu_root *root = mmu->roots; root; root = root->next)
			BUG_ON(root->refcount);
		__mmu_free_unused_roots(mmu);
		__mmu_flush_and_free(mmu);
		grace_synchronize(&mmu->grace);
		write_unlock(&mmu->lock);
	}
	for (struct track_notifier *n = mmu->track.notifiers; n; n = n->next) {
		for (u32 i = 0; n->remove_region && i < mmu->slots.n; i++)
			n->remove_region(n, mmu->slots.slots[i].base_gfn, mmu->slots.slots[i].npages);
	}
	rmap_cache_free(&mmu->shadow.rmap_cache);
	memslots_destroy(&mmu->slots);
	if (mmu->apic_access_hpa != INVALID_HPA)
		frame_free(mmu->apic_access_hpa, 0);
}

hpa_t mmu_set_apic_access_page(struct mmu *mmu, gfn_t gfn)
{
	if (mmu->shadow.enabled || mmu->priv.enabled || memslot_find(&mmu->slots, gfn))
		return INVALID_HPA;
	if (mmu->apic_access_hpa == INVALID_HPA) {
		hpa_t hpa = frame_alloc(0);
		if (hpa == INVALID_HPA)
			return INVALID_HPA;
		memset(phys_to_virt(hpa), 0, PAGE_SIZE);
		mmu->apic_access_hpa = hpa;
		mmu->apic_access_gfn = gfn;
	}
	return mmu->apic_access_gfn == gfn ? mmu->apic_access_hpa : INVALID_HPA;
}

int mmu_add_ram(struct mmu *mmu, gfn_t base_gfn, u64 npages, u32 flags)
{
	int r = memslot_add_flags(&mmu->slots, base_gfn, npages, flags);

	/* A slot added after tracking started gets its counts now, so track_is_write_tracked never misses one. */
	if (!r && mmu->track.enabled)
		r = track_write_enable(&mmu->slots);
	return r;
}

static union mmu_role tdp_role(const struct mmu *mmu)
{
	union mmu_role role = { .word = 0 };

	role.level = TDP_ROOT_LEVEL;
	role.direct = 1;
	role.ad_disabled = !mmu->fmt->ad_enabled;
	return role;
}

int mmu_load_root(struct mmu *mmu, struct mmu_vcpu *mv, const struct shadow_paging *p)
{
	union mmu_role role;
	u64 pgd;
	int r;

	if (!mmu->shadow.enabled) {
		r = mmu_vcpu_load_root(mmu, mv, 0, tdp_role(mmu));
		if (!r && mmu->priv.enabled && mv->current != __atomic_load_n(&mmu->priv.shared_root, __ATOMIC_RELAXED)) {
			write_lock(&mmu->lock);
			__mmu_private_set_shared_root(mmu, mv->current);
			__mmu_flush_and_free(mmu);
			write_unlock(&mmu->lock);
		}
		return r;
	}
	r = shadow_root_key(p, &pgd, &role);
	if (r)
		return r;
	/* Not a flush in itself (the guest's flushing CR3 load asks for mmu_shadow_sync_current): a root found again
	 * keeps its unsync pages unsync, one built anew links only pages in sync. */
	return mmu_vcpu_load_root_pdptes(mmu, mv, pgd, role, shadow_role_has_pdptes(role) ? p->mode.pdptes : NULL);
}

void mmu_shadow_flush(struct mmu *mmu)
{
	if (mmu->shadow.enabled)
		shadow_sync(mmu);
}

void mmu_shadow_sync_current(struct mmu *mmu, struct mmu_vcpu *mv)
{
	if (mmu->shadow.enabled && mv->current)
		shadow_sync_root(mmu, mv->current);
}

void mmu_shadow_invlpg(struct mmu *mmu, struct mmu_vcpu *mv, gva_t gva, bool pcide)
{
	if (!mmu->shadow.enabled || !READ_ONCE(mmu->shadow.unsync))
		return; /* every shadowed table is write-protected: no leaf can be stale */
	write_lock(&mmu->lock);
	if (mv->current)
		__shadow_invlpg(mmu, mv->current, gva);
	/* With PCIDs, INVLPG drops gva's global translations of every PCID too (SDM Vol. 3A 4.10.4.1), and a cached
	 * root may come back by a CR3 load that does not flush. Without, every CR3 load flushes, and syncs. */
	for (unsigned int i = 0; pcide && i < MMU_CACHED_ROOTS && mv->cached[i]; i++)
		__shadow_invlpg(mmu, mv->cached[i], gva);
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
}

int mmu_shadow_fault(struct mmu *mmu, struct mmu_vcpu *mv, const struct shadow_paging *p, gva_t gva, u32 pferr,
		     struct mmu_fault *f)
{
	BUG_ON(!mv->current || !mmu->shadow.enabled);
	return shadow_page_fault(mmu, mv->current, p, gva, pferr, f);
}

int mmu_page_fault(struct mmu *mmu, struct mmu_vcpu *mv, gpa_t gpa, u32 access, struct mmu_fault *f)
{
	struct mmu_root *root = mv->current;
	int r;

	BUG_ON(!root);
	/* Field by field rather than a compound literal, whose zeroing of the whole struct is a `rep stos` (an
	 * instruction per quadword to an emulator's count): the fields the next lines set are not zeroed first. */
	f->gpa = gpa;
	f->gva = 0;
	f->access = access;
	f->gfn = gpa >> PAGE_SHIFT;
	f->backing_level = f->max_level = 0;
	f->host_writable = f->mmu_writable = f->is_private = false;
	f->guest_error_code = 0;
	f->mapped_level = 0;
	/* Zeroed frames for every table this walk may link, cleared before the lock (below). */
	f->tables = &mv->tables;
	/* Private memory: the shared bit picks the tree, and both index the gfn without it (mm/private.h). */
	if (mmu->priv.enabled) {
		f->is_private = !(f->gfn & mmu->priv.shared_gfn);
		f->gfn &= ~mmu->priv.shared_gfn;
		if (f->is_private)
			root = mmu->priv.mirror;
	}
	/* Slots do not change while vCPUs run: the slot and its backing are looked up once, without the lock. The slot
	 * and gfn stay in locals too: read back from *f after each atomic, they were a load at every use. */
	gfn_t gfn = f->gfn;
	struct memslot *slot = gfn < PT_MAX_PFN ? memslot_find(&mmu->slots, gfn) : NULL;

	f->slot = slot;
	/* An access-tracked leaf (aging without A/D) is restored without the lock: aging must never make faults wait
	 * for it, nor for each other. The mirror is never aged. */
	if (slot && !f->is_private && !mmu->fmt->ad_enabled && tdp_fast_page_fault(mmu, root, f))
		return MMU_FAULT_FIXED; /* (with hardware A/D no fault is the lockless kind: tdp_fast.c) */
	if (slot) {
		f->backing_level = memslot_backing_level(slot, gfn);
		f->host_writable = !(slot->flags & MEMSLOT_READONLY);
		/* Clear the guest RAM the largest leaf could cover before taking the lock, so that zeroing up to 1 GiB
		 * never holds up other vCPUs' faults. */
		u64 n = pt_level_pages(MIN(f->backing_level, READ_ONCE(mmu->tdp.max_huge_level)));
		/* Up to 2M the region is the one chunk holding gfn: nearly always clean already, seen inline. */
		if (n > MEMSLOT_CHUNK_PAGES || !memslot_chunk_is_clean(slot, gfn)) {
			r = memslot_prepare(slot, gfn & ~(n - 1), n);
			if (r)
				return r; /* a chunk reclaim gave back cannot be had again */
		}
	}
	/* Zeroed frames for every table this walk may link, cleared now rather than under the lock (mm/frame_cache.h);
	 * best effort: a fault that still runs short allocates under the lock, as before the cache. */
	u32 zeroed = frame_cache_topup(&mv->tables, TDP_ROOT_LEVEL - 1);
	if (unlikely(zeroed)) {
		mmu_stat_inc(mmu, table_cache_refills);
		mmu_stat_add(mmu, table_cache_zeroed, zeroed);
	}
	/* Under the read lock, unless this VM keeps the old exclusive lock or the fault must sweep MMIO SPTEs first
	 * (mm/ept/tdp_fault.c); a fault that finds it must unlink a table runs again under the write lock. */
	bool shared = !mmu->exclusive_faults && !tdp_mmio_sweep_needed(mmu);

	for (;;) {
		if (shared)
			read_lock(&mmu->lock);
		else
			write_lock(&mmu->lock);
		mmu_stat_inc(mmu, faults);
		if (mmu_root_is_obsolete(mmu, root)) {
			r = MMU_FAULT_RETRY; /* never populate a root that is about to go */
		} else if (slot && !memslot_chunk_is_clean(slot, gfn)) {
			/* Reclaimed since it was prepared (mmu_reclaim.c marks it under the write lock): fault again. A
			 * huge leaf covers one chunk, or a 1G region, which reclaim never takes. */
			r = MMU_FAULT_RETRY;
		} else if (slot && mmu->priv.enabled && __mmu_private_wrong_kind(mmu, f)) {
			/* Read under the lock: a conversion, under the write lock, flips the kind and zaps together. */
			r = MMU_FAULT_WRONG_KIND;
		} else if (!slot && (gfn >= PT_MAX_PFN || (mmu->priv.enabled && gfn >= mmu->priv.shared_gfn))) {
			/* Beyond what 4 levels reach, or above a private VM's shared bit, where hw_top has neither view
			 * (a guest's tables may hold such a GPA whatever its CPUID says): no memslot can be there, so a
			 * fault with a slot skips the test (memslot_find looks below PT_MAX_PFN only, and
			 * mmu_private_enable refuses RAM above the shared bit). */
			mmu_stat_inc(mmu, mmio_faults);
			r = MMU_FAULT_MMIO;
		} else {
			r = __tdp_page_fault(mmu, root, f);
		}
		if (!shared) {
			mmu_stat_inc(mmu, write_locked_faults);
			break;
		}
		read_unlock(&mmu->lock);
		if (r != MMU_FAULT_NEED_EXCLUSIVE)
			return r;
		mmu_stat_inc(mmu, exclusive_retries);
		shared = false;
	}
	BUG_ON(r == MMU_FAULT_NEED_EXCLUSIVE);
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
	return r;
}

/* The flush policy after aging (mmu.h). A request, never a wait: nothing is freed behind it, and aging stays
 * lockless; a vCPU honours it before its next entry (its own CPU's vCPU included, which is between two entries). */
void mmu_age_end_pass(struct mmu *mmu, bool made_old)
{
	if (!made_old || !mmu->age_flush)
		return;
	BUG_ON(!mmu->ops->request_tlb_flush); /* age_flush is set only by an owner that has it */
	mmu->ops->request_tlb_flush(mmu->owner);
	__atomic_fetch_add(&mmu->stats.age_flushes, 1, __ATOMIC_RELAXED);
}

bool mmu_age_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end)
{
	unsigned int r = mmu->engine->age_gfn_range(mmu, start, end, false);

	mmu_age_end_pass(mmu, r & MMU_AGE_MADE_OLD);
	return r & MMU_AGE_YOUNG;
}

bool mmu_test_age_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end)
{
	return mmu->engine->age_gfn_range(mmu, start, end, true) & MMU_AGE_YOUNG;
}

bool mmu_age_gfn_range_young(struct mmu *mmu, gfn_t start, gfn_t end, u64 *young)
{
	if (mmu->engine->age_gfn_range_young)
		return mmu->engine->age_gfn_range_young(mmu, start, end, young);
	/* Testing gfn by gfn, then ageing once: ageing gfn by gfn would age a huge leaf at its first gfn and call
	 * its others old. */
	for (gfn_t g = start; g < end; g++)
		if (mmu_test_age_gfn_range(mmu, g, g + 1))
			young[(g - start) / 64] |= 1ULL << ((g - start) % 64);
	return mmu->engine->age_gfn_range(mmu, start, end, false) & MMU_AGE_MADE_OLD;
}

void mmu_zap_gfn_range(struct mmu *mmu, gfn_t start, gfn_t end)
{
	write_lock(&mmu->lock);
	mmu->engine->zap_gfn_range(mmu, start, end);
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
}

/*
 * A new generation makes every root obsolete without touching any table. Roots no vCPU holds would never be dropped
 * by one, so they are freed now; the rest keep their trees until their holders let go (a vCPU holding one is not in
 * guest mode and drops it, on request, before it enters again), which spares this call a walk of every tree.
 */
void mmu_invalidate_all_roots(struct mmu *mmu)
{
	write_lock(&mmu->lock);
	mmu->generation++;
	__mmu_free_unused_roots(mmu);
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
	mmu->ops->request_free_obsolete_roots(mmu->owner);
}
