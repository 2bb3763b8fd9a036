/* Write tracking as the MMU layer does it (see mmu.h): the counts live in mm/track/, and this file makes the SPTEs
 * agree with them. The first reference on a gfn disallows huge pages around it, splits the huge leaves that cover
 * it, and takes W away from every leaf that maps it; the last one gives back the huge regions (a collapse), while
 * W comes back lazily, on the next write fault, because MMU_WRITABLE is decided there again. */
#include "mm/mmu.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/log.h"

/* A guard tripped by a caller that adds or removes more than it should: said once per VM, then only refused. */
static void warn_once(struct mmu *mmu, const char *what, gfn_t gfn)
{
	if (mmu->track.warned++)
		return;
	log_printf(LOG_WARN, "mmu: write tracking: %s on gfn 0x%llx refused\n", what, (unsigned long long)gfn);
}

int __mmu_track_add_gfn(struct mmu *mmu, gfn_t gfn)
{
	struct memslot *slot = memslot_find(&mmu->slots, gfn);
	u32 now;
	int r;

	assert_write_held(&mmu->lock);
	if (!slot)
		return -EFAULT;
	/* Tracking write-protects mappings and emulates the writes: neither exists for memory the hypervisor must not
	 * read (mm/private.h), and its users (shadow paging, the lock hypercall) have no place in a private VM. */
	if (mmu->priv.enabled)
		return -EPERM;
	/* Also when tracking is on but this slot has no counts: mmu_add_ram could not allocate them (-ENOMEM), yet the
	 * slot stays, and track_write_inc must not find the array missing. */
	if (!mmu->track.enabled || !slot->track || !slot->track->write_count) {
		r = track_write_enable(&mmu->slots);
		if (r)
			return r;
		mmu->track.enabled = true;
	}
	if (track_write_count(slot, gfn) == TRACK_COUNT_MAX) {
		warn_once(mmu, "an add past the 16-bit count", gfn);
		return -ERANGE;
	}
	/* The disallow counts first: from here on no fault maps a huge leaf over gfn, so the split below is final. */
	if (track_write_count(slot, gfn) == 0) {
		r = track_disallow_huge(slot, gfn);
		if (r)
			return r;
	}
	BUG_ON(track_write_inc(slot, gfn, &now));
	mmu->stats.track_adds++;
	if (now == 1 && mmu->shadow.enabled) {
		__shadow_write_protect_gfn(mmu, gfn); /* shadow leaves are 4K: nothing to split */
	} else if (now == 1) {
		__tdp_split_huge_range(mmu, gfn, gfn + 1);
		/* The flush the change hook asks for (only if a leaf lost W) is paid before the lock is dropped. */
		__tdp_write_protect_gfn(mmu, gfn);
	}
	return 0;
}

int __mmu_track_remove_gfn(struct mmu *mmu, gfn_t gfn)
{
	struct memslot *slot = memslot_find(&mmu->slots, gfn);
	u32 now;

	assert_write_held(&mmu->lock);
	if (!slot)
		return -EFAULT;
	if (track_write_dec(slot, gfn, &now)) {
		warn_once(mmu, "a remove with no reference left", gfn);
		return -ERANGE;
	}
	mmu->stats.track_removes++;
	if (now == 0) {
		gfn_t g1 = gfn & ~(pt_level_pages(3) - 1);

		track_allow_huge(slot, gfn);
		/* The 1G region around gfn holds every region whose level may have risen. */
		if (!mmu->shadow.enabled)
			__tdp_collapse_range(mmu, g1, g1 + pt_level_pages(3));
	}
	return 0;
}

int mmu_track_add_gfn(struct mmu *mmu, gfn_t gfn)
{
	write_lock(&mmu->lock);
	int r = __mmu_track_add_gfn(mmu, gfn);
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
	return r;
}

int mmu_track_remove_gfn(struct mmu *mmu, gfn_t gfn)
{
	write_lock(&mmu->lock);
	int r = __mmu_track_remove_gfn(mmu, gfn);
	__mmu_flush_and_free(mmu);
	write_unlock(&mmu->lock);
	return r;
}

int mmu_track_max_mapping_level(struct mmu *mmu, gfn_t gfn)
{
	struct memslot *slot = memslot_find(&mmu->slots, gfn);
	int level = 1;

	write_lock(&mmu->lock);
	if (slot && !track_is_write_tracked(slot, gfn)) {
		level = MIN(memslot_backing_level(slot, gfn), track_max_level(slot, gfn));
		level = MAX(1, MIN(level, mmu->tdp.max_huge_level));
	}
	write_unlock(&mmu->lock);
	return level;
}

void mmu_track_register_notifier(struct mmu *mmu, struct track_notifier *n)
{
	struct track_notifier **pp = &mmu->track.notifiers;

	while (*pp)
		pp = &(*pp)->next;
	n->next = NULL;
	*pp = n;
}
