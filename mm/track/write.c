/* Write-tracking counts (see write.h). The counts are changed only under the owning VM's mmu->lock; the overflow and
 * underflow guards make a buggy or hostile sequence of adds and removes a refused call, never a wrapped count that
 * would silently make a tracked page writable. */
#include "mm/track/write.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/platform.h"

int track_write_enable(struct memslots *ms)
{
	for (u32 i = 0; i < ms->n; i++) {
		struct memslot *s = &ms->slots[i];
		struct track_slot *t = track_slot_get(s);
		u16 *c;

		if (!t)
			return -ENOMEM;
		if (t->write_count)
			continue;
		c = kzalloc(s->npages * sizeof(*c));
		if (!c)
			return -ENOMEM;
		__atomic_store_n(&t->write_count, c, __ATOMIC_RELEASE);
	}
	return 0;
}

static u16 *count_of(struct memslot *slot, gfn_t gfn)
{
	BUG_ON(gfn < slot->base_gfn || gfn - slot->base_gfn >= slot->npages);
	BUG_ON(!slot->track || !slot->track->write_count); /* track_write_enable first */
	return &slot->track->write_count[gfn - slot->base_gfn];
}

int track_write_inc(struct memslot *slot, gfn_t gfn, u32 *now)
{
	u16 *c = count_of(slot, gfn);

	if (*c == TRACK_COUNT_MAX)
		return -ERANGE;
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
	*now = *c;
	return 0;
}

int track_write_dec(struct memslot *slot, gfn_t gfn, u32 *now)
{
	u16 *c;

	if (!slot->track || !slot->track->write_count)
		return -ERANGE; /* nothing was ever added in this VM */
	c = count_of(slot, gfn);
	if (*c == 0)
		return -ERANGE;
	__atomic_store_n(c, *c - 1, __ATOMIC_RELAXED);
	*now = *c;
	return 0;
}

u32 track_write_count(const struct memslot *slot, gfn_t gfn)
{
	BUG_ON(gfn < slot->base_gfn || gfn - slot->base_gfn >= slot->npages);
	if (!slot->track || !slot->track->write_count)
		return 0;
	return slot->track->write_count[gfn - slot->base_gfn];
}

u64 track_write_bytes(const struct memslots *ms)
{
	u64 bytes = 0;

	for (u32 i = 0; i < ms->n; i++) {
		if (ms->slots[i].track && ms->slots[i].track->write_count)
			bytes += ms->slots[i].npages * sizeof(u16);
	}
	return bytes;
}

void track_write_slot_free(struct memslot *slot)
{
	if (!slot->track)
		return;
	kfree(slot->track->write_count);
	slot->track->write_count = NULL;
}
