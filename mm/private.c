/* Private guest memory: the MMU layer's half (see private.h for the picture). The engine's half, the mirror root's
 * hooks, is mm/ept/tdp_mirror.c. */
#include "mm/private.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/string.h"
#include "mm/mmu.h"

/* Top-level entries of each half: the shared bit is 39..47, and one top-level entry covers 2^39 bytes. */
static unsigned int half_entries(const struct mmu *mmu)
{
	return 1u << (mmu->priv.shared_bit - 39);
}

static bool slot_gfn_shared(const struct memslot *s, gfn_t gfn)
{
	u64 i = gfn - s->base_gfn;

	return (__atomic_load_n(&s->shared[i / 64], __ATOMIC_ACQUIRE) >> (i % 64)) & 1;
}

bool mmu_gfn_is_private(struct mmu *mmu, gfn_t gfn)
{
	struct memslot *s;

	if (!READ_ONCE(mmu->priv.enabled))
		return false;
	s = memslot_find(&mmu->slots, gfn & ~mmu->priv.shared_gfn);
	return s && !slot_gfn_shared(s, gfn & ~mmu->priv.shared_gfn);
}

bool __mmu_private_wrong_kind(struct mmu *mmu, struct mmu_fault *f)
{
	assert_rw_held(&mmu->lock);
	if (slot_gfn_shared(f->slot, f->gfn) != f->is_private)
		return false;
	__atomic_fetch_add(&mmu->priv.stats.wrong_kind_faults, 1, __ATOMIC_RELAXED);
	return true;
}

int mmu_private_enable(struct mmu *mmu, unsigned int shared_bit, const struct mmu_external_ops *ext)
{
	union mmu_role role = { .word = 0 };
	struct mmu_root *mirror;
	hpa_t top;
	int r;

	if (mmu->priv.enabled)
		return -EEXIST;
	if (mmu->shadow.enabled || shared_bit < 39 || shared_bit > 47 || !ext || !ext->set_external_spte ||
	    !ext->remove_external_spte)
		return -EINVAL;
	for (u32 i = 0; i < mmu->slots.n; i++) {
		const struct memslot *s = &mmu->slots.slots[i];

		if ((s->base_gfn + s->npages) > (1ULL << (shared_bit - PAGE_SHIFT)))
			return -EINVAL; /* RAM above the shared bit would have no private view */
	}
	top = frame_alloc(0);
	if (top == INVALID_HPA)
		return -ENOMEM;
	for (u32 i = 0; i < mmu->slots.n; i++) {
		struct memslot *s = &mmu->slots.slots[i];

		s->shared = kzalloc(ALIGN_UP(s->npages, 64) / 8); /* all private */
		if (!s->shared) {
			for (u32 j = 0; j <= i; j++) {
				kfree(mmu->slots.slots[j].shared);
				mmu->slots.slots[j].shared = NULL;
			}
			frame_free(top, 0);
			return -ENOMEM;
		}
	}
	role.level = TDP_ROOT_LEVEL;
	role.direct = 1;
	role.ad_disabled = !mmu->fmt->ad_enabled;
	role.mirror = 1;
	write_lock(&mmu->lock);
	r = __mmu_alloc_root(mmu, 0, role, NULL, &mirror);
	if (!r) {
		mmu->priv.shared_bit = (u8)shared_bit;
		mmu->priv.shared_gfn = 1ULL << (shared_bit - PAGE_SHIFT);
		mmu->priv.ext = ext;
		mmu->priv.hw_top = top;
		mmu->priv.mirror = mirror; /* the reference __mmu_alloc_root took is the MMU's */
		__atomic_store_n(&mmu->priv.enabled, true, __ATOMIC_RELEASE);
	}
	write_unlock(&mmu->lock);
	if (r) {
		for (u32 i = 0; i < mmu->slots.n; i++) {
			kfree(mmu->slots.slots[i].shared);
			mmu->slots.slots[i].shared = NULL;
		}
		frame_free(top, 0);
	}
	return r;
}

hpa_t mmu_hw_root(struct mmu *mmu, const struct mmu_vcpu *mv)
{
	return mmu->priv.enabled ? mmu->priv.hw_top : mv->current->hpa;
}

void __mmu_private_top_changed(struct mmu *mmu, const u64 *sptep, u64 new_spte)
{
	const u64 *page = (const u64 *)((uintptr_t)sptep & ~(uintptr_t)(PAGE_SIZE - 1));
	unsigned int idx = (unsigned int)(sptep - page), half = half_entries(mmu);
	u64 *top = phys_to_virt(mmu->priv.hw_top);

	assert_rw_held(&mmu->lock);
	if (mmu->priv.mirror && page == phys_to_virt(mmu->priv.mirror->hpa)) {
		BUG_ON(idx >= half);
		__atomic_store_n(&top[idx], new_spte, __ATOMIC_RELEASE);
	} else if (mmu->priv.shared_root && page == phys_to_virt(mmu->priv.shared_root->hpa)) {
		BUG_ON(idx >= half); /* gfns are stripped of the shared bit: no GPA reaches the upper half */
		__atomic_store_n(&top[half + idx], new_spte, __ATOMIC_RELEASE);
	}
}

/*
 * Only the newest direct root is copied: an obsolete one a vCPU still holds is on its way out (it drops it before it
 * enters again), and the flush below makes every vCPU forget what the old copy let it cache. The hardware root's
 * address does not change, so that flush is what a new EPTP/nCR3 would otherwise have given.
 */
void __mmu_private_set_shared_root(struct mmu *mmu, struct mmu_root *root)
{
	u64 *top, *src;
	unsigned int half;

	assert_write_held(&mmu->lock);
	if (!mmu->priv.enabled || root == mmu->priv.shared_root || root->role.mirror ||
	    (mmu->priv.shared_root && mmu->priv.shared_root->serial > root->serial))
		return;
	top = phys_to_virt(mmu->priv.hw_top);
	src = phys_to_virt(root->hpa);
	half = half_entries(mmu);
	mmu->priv.shared_root = root;
	for (unsigned int i = 0; i < half; i++)
		__atomic_store_n(&top[half + i], __atomic_load_n(&src[i], __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
	mmu->flush_pending = true;
}

void __mmu_private_root_freed(struct mmu *mmu, struct mmu_root *root)
{
	assert_write_held(&mmu->lock);
	if (mmu->priv.shared_root == root)
		mmu->priv.shared_root = NULL; /* its entries in hw_top were cleared through the hook by free_tree */
}

void __mmu_private_scrub(struct mmu *mmu)
{
	struct mmu_private *p = &mmu->priv;

	assert_write_held(&mmu->lock);
	for (u32 i = 0; i < p->nr_scrub_pending; i++) {
		p->ext->remove_external_spte(mmu->owner, p->scrub_gfn[i], p->scrub_pending[i]);
		p->stats.external_removed++;
	}
	p->nr_scrub_pending = 0;
}

void __mmu_private_destroy(struct mmu *mmu)
{
	struct mmu_root *mirror = mmu->priv.mirror;

	assert_write_held(&mmu->lock);
	if (!mmu->priv.enabled)
		return;
	if (mirror) {
		/* Freed now, as obsolete, through the hook: every private frame is scrubbed and mapped back. */
		WRITE_ONCE(mirror->invalid, true);
		__mmu_put_root(mmu, mirror);
		__mmu_flush_and_free(mmu);
		mmu->priv.mirror = NULL;
	}
	frame_free(mmu->priv.hw_top, 0);
	mmu->priv.hw_top = INVALID_HPA;
	mmu->priv.enabled = false;
}

void mmu_zap_gfn_range_filter(struct mmu *mmu, gfn_t start, gfn_t end, enum mmu_zap_filter filter)
{
	write_lock(&mmu->lock);
	__tdp_zap_gfn_range_filter(mmu, start, end, filter);
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
}

int mmu_private_convert(struct mmu *mmu, gfn_t gfn, u64 npages, bool to_shared)
{
	gfn_t end = gfn + npages;
	u64 changed = 0;

	if (!mmu->priv.enabled || !npages || end < gfn || (gfn | (end - 1)) & mmu->priv.shared_gfn)
		return -EINVAL;
	for (gfn_t g = gfn; g < end;) {
		struct memslot *s = memslot_find(&mmu->slots, g);

		if (!s)
			return -EFAULT; /* checked whole first: an error converts nothing */
		g = s->base_gfn + s->npages;
	}
	write_lock(&mmu->lock);
	/* Only the side being left loses its mappings: a page already of the target kind has none there, so the zap
	 * touches only the pages that change. The flush (and, for private leaves, the scrub after it) makes every vCPU
	 * stop using them before they change kind. No fault runs meanwhile: they check the kind under the lock. */
	__tdp_zap_gfn_range_filter(mmu, gfn, end, to_shared ? MMU_ZAP_PRIVATE : MMU_ZAP_SHARED);
	__mmu_flush_and_free(mmu);
	for (gfn_t g = gfn; g < end; g++) {
		struct memslot *s = memslot_find(&mmu->slots, g);
		u64 i = g - s->base_gfn, bit = 1ULL << (i % 64);

		if (slot_gfn_shared(s, g) == to_shared)
			continue;
		/* A chunk not yet prepared is zeroed when it is; a prepared one is cleared page by page. */
		if (memslot_chunk_is_clean(s, g))
			memset(phys_to_virt(memslot_gfn_to_hpa(s, g)), 0, PAGE_SIZE);
		if (to_shared)
			__atomic_fetch_or(&s->shared[i / 64], bit, __ATOMIC_RELEASE);
		else
			__atomic_fetch_and(&s->shared[i / 64], ~bit, __ATOMIC_RELEASE);
		changed++;
	}
	if (to_shared)
		mmu->priv.stats.to_shared += changed;
	else
		mmu->priv.stats.to_private += changed;
	write_unlock(&mmu->lock);
	return 0;
}
