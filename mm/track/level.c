/* Per-memslot huge-page disallow counts (see level.h). Regions are naturally aligned in gfn space, as the leaves
 * that would map them are; a region of the slot that sticks out of it is disallowed from the start, like KVM does
 * for misaligned slot edges, so a huge leaf never maps gfns outside the slot. */
#include "mm/track/level.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "mm/memslot.h"
#include "mm/shadow/rmap.h"
#include "mm/track/write.h"

static inline u64 region_pages(int level)
{
	return 1ULL << (9 * (level - 1));
}

/* Index of gfn's region among the slot's regions at this level. */
static inline u64 region_index(const struct memslot *slot, gfn_t gfn, int level)
{
	return gfn / region_pages(level) - slot->base_gfn / region_pages(level);
}

static inline u64 region_count(const struct memslot *slot, int level)
{
	return region_index(slot, slot->base_gfn + slot->npages - 1, level) + 1;
}

/* Whether region idx at this level sticks out of the slot: the first one if the slot starts unaligned, the last if
 * it ends unaligned. */
static bool region_sticks_out(const struct memslot *slot, u64 idx, int level)
{
	u64 pages = region_pages(level);

	if (idx == 0 && !IS_ALIGNED(slot->base_gfn, pages))
		return true;
	return idx == region_count(slot, level) - 1 && !IS_ALIGNED(slot->base_gfn + slot->npages, pages);
}

static u32 disallow_count(const struct memslot *slot, gfn_t gfn, int level)
{
	if (slot->track && slot->track->disallow[level - 2])
		return slot->track->disallow[level - 2][region_index(slot, gfn, level)];
	/* No counts yet: what region_sticks_out says, straight from the region's bounds (every TDP fault asks, and
	 * the region arithmetic cost it a hundred instructions). */
	gfn_t r = gfn & ~(region_pages(level) - 1);

	return r < slot->base_gfn || r + region_pages(level) > slot->base_gfn + slot->npages;
}

int __track_max_level_counted(const struct memslot *slot, gfn_t gfn)
{
	BUG_ON(gfn < slot->base_gfn || gfn - slot->base_gfn >= slot->npages);
	for (int level = 3; level >= 2; level--) {
		if (!disallow_count(slot, gfn, level))
			return level;
	}
	return 1;
}

struct track_slot *track_slot_get(struct memslot *slot)
{
	struct track_slot *t = slot->track;

	if (t)
		return t;
	t = kzalloc(sizeof(*t));
	/* Release: the shadow MMU's lockless aging walk (rmap_slot_heads_lockless) finds it zeroed. */
	if (t)
		__atomic_store_n(&slot->track, t, __ATOMIC_RELEASE);
	return t;
}

static int alloc_counts(struct memslot *slot)
{
	struct track_slot *t = track_slot_get(slot);

	if (!t)
		return -ENOMEM;
	for (int level = 2; level <= 3; level++) {
		u64 n = region_count(slot, level);
		u32 *c = t->disallow[level - 2];

		if (c)
			continue;
		c = kzalloc(n * sizeof(*c));
		if (!c)
			return -ENOMEM; /* what was allocated stays, ready for the next try */
		c[0] = region_sticks_out(slot, 0, level);
		c[n - 1] += n > 1 && region_sticks_out(slot, n - 1, level);
		t->disallow[level - 2] = c;
	}
	return 0;
}

int track_disallow_huge(struct memslot *slot, gfn_t gfn)
{
	int r;

	BUG_ON(gfn < slot->base_gfn || gfn - slot->base_gfn >= slot->npages);
	r = alloc_counts(slot);
	if (r)
		return r;
	for (int level = 2; level <= 3; level++) {
		u32 *c = &slot->track->disallow[level - 2][region_index(slot, gfn, level)];

		BUG_ON(*c == ~0u);
		(*c)++;
	}
	return 0;
}

void track_allow_huge(struct memslot *slot, gfn_t gfn)
{
	BUG_ON(gfn < slot->base_gfn || gfn - slot->base_gfn >= slot->npages);
	/* Only a successful track_disallow_huge may be undone, and it allocated the counts. */
	BUG_ON(!slot->track || !slot->track->disallow[0] || !slot->track->disallow[1]);
	for (int level = 2; level <= 3; level++) {
		u64 idx = region_index(slot, gfn, level);
		u32 *c = &slot->track->disallow[level - 2][idx];

		BUG_ON(*c <= (u32)region_sticks_out(slot, idx, level));
		(*c)--;
	}
}

void track_slot_free(struct memslot *slot)
{
	if (!slot->track)
		return;
	for (int i = 0; i < TRACK_HUGE_LEVELS; i++)
		kfree(slot->track->disallow[i]);
	track_write_slot_free(slot);
	rmap_slot_free(slot);
	kfree(slot->track);
	slot->track = NULL;
}
