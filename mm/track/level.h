/* Huge-page disallow counts and the largest mapping level per gfn (KVM's lpage_info.disallow_lpage). Anything that
 * needs a gfn mapped with 4K pages (write tracking of a guest page table, a partly read-only region) raises the
 * count of the 2M and the 1G region around it; the MMU maps a region with one leaf of that size only while its count
 * is zero. The owner's tdp_mmu_ops.max_level returns track_max_level(). */
#ifndef MM_TRACK_LEVEL_H
#define MM_TRACK_LEVEL_H

#include "hv/types.h"

struct memslot;

#define TRACK_HUGE_LEVELS 2 /* 2M (level 2) and 1G (level 3) */

/* Everything mm/track keeps per memslot, allocated on first use (slot->track, published with a release store for
 * the lockless readers of its rmap heads). Protected by the owning VM's mmu->lock, which the MMU holds while it reads
 * the counts. */
struct track_slot {
	/* [level - 2][region - first region of the slot]: disallow count of each naturally aligned 2M / 1G region
	 * the slot touches. A region that sticks out of the slot starts at 1 (it can never be one leaf). NULL until
	 * the first track_disallow_huge. */
	u32 *disallow[TRACK_HUGE_LEVELS];
	/* [gfn - base_gfn]: write-tracking references (mm/track/write.h). NULL until the VM's first add; published
	 * with a release store, because the hypervisor's own writes read it without the lock. */
	u16 *write_count;
	/* [level - 1][head index]: the shadow MMU's rmap heads (mm/shadow/rmap.h), one per gfn at level 1 and per
	 * naturally aligned 2M / 1G region the slot touches at levels 2 and 3. NULL until the VM first uses shadow
	 * paging (rmap_slot_alloc); published with a release store, for lockless aging walkers. */
	u64 *rmap[3];
};

/* The largest level (1..3) whose region around gfn has no disallow count: 3 if nothing disallows. gfn must be in
 * the slot. Constant time; allocates nothing. */
int __track_max_level_counted(const struct memslot *slot, gfn_t gfn);
static inline int track_max_level(const struct memslot *slot, gfn_t gfn);
/* Raise the counts of the 2M and 1G regions around gfn. The caller must then split (tdp_split_huge_range) or zap
 * any huge leaf that covers gfn. 0 or -ENOMEM (the first call allocates the counts). */
int track_disallow_huge(struct memslot *slot, gfn_t gfn);
/* Undo one track_disallow_huge; the caller may then collapse (tdp_collapse_range). */
void track_allow_huge(struct memslot *slot, gfn_t gfn);
/* The slot's track state, allocated on first use; NULL when out of memory. */
struct track_slot *track_slot_get(struct memslot *slot);
/* Free the slot's track state (slot teardown). */
void track_slot_free(struct memslot *slot);

#include "hv/bug.h"
#include "mm/memslot.h"

/* Inline for every TDP fault: a slot without track state has no counts, and a region disallows a huge leaf only
 * where it sticks out of the slot (slots are 2M multiples: a 2M region never does). */
static inline int track_max_level(const struct memslot *slot, gfn_t gfn)
{
	BUG_ON(gfn < slot->base_gfn || gfn - slot->base_gfn >= slot->npages);
	if (likely(!READ_ONCE(slot->track))) {
		gfn_t r = gfn & ~((1ULL << 18) - 1);

		return r >= slot->base_gfn && r + (1ULL << 18) <= slot->base_gfn + slot->npages ? 3 : 2;
	}
	return __track_max_level_counted(slot, gfn);
}

/* MIN(backing_level, track_max_level(slot, gfn)) for a backing_level from memslot_backing_level, as a fault asks it.
 * Without track state the slot has no counts, and the one limit track_max_level puts there, a 1G region sticking out
 * of the slot, is one memslot_backing_level has already applied (it says 3 only for a 1G region wholly inside): one
 * load answers (KVM's kvm_mmu_max_mapping_level likewise reads lpage_info only where the slot has it). */
static inline int track_cap_level(const struct memslot *slot, gfn_t gfn, int backing_level)
{
	int level;

	if (likely(!READ_ONCE(slot->track)))
		return backing_level;
	level = __track_max_level_counted(slot, gfn);
	return MIN(backing_level, level);
}

#endif
