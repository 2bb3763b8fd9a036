/* Refcounted write tracking of guest frames (after KVM's page_track.c since its 2023 rework): a 16-bit count per gfn
 * per memslot. While a gfn's count is non-zero no SPTE maps it writable or huge, so every write to it (by the guest,
 * which the MMU then emulates, or by the hypervisor through mmu_write_gpa) is seen by the users of tracking through
 * their notifiers: the shadow MMU (its guest page tables) and users inside the hypervisor such as guest memory
 * protection (vm/protect.c). The counts are allocated for every slot of a VM on the first add in that VM, and never
 * before: a VM that tracks nothing pays nothing. This file keeps the counts and the notifier list; the MMU layer
 * (mm/mmu_track.c) write-protects and splits. */
#ifndef MM_TRACK_WRITE_H
#define MM_TRACK_WRITE_H

#include "hv/types.h"

struct memslot;
struct memslots;

enum track_verdict {
	TRACK_WRITE_ALLOW, /* apply the write */
	TRACK_WRITE_DENY,  /* drop it: memory stays as it was (the caller goes on as if it had been done) */
};

/*
 * A user of tracking. Hooks are optional. The notifier list is built before the vCPUs run and constant while they
 * run, so it is walked without a lock. Writes are reported per page: an access that crosses a page is split.
 *
 * pre_write runs before a write to a tracked gfn is applied, and may refuse it: a protection user that drops or
 * forbids writes must decide before the bytes land, and undoing a write afterwards would expose the new bytes to
 * other vCPUs meanwhile. write runs after a write was applied (the shadow MMU re-reads the guest's PTE there, as
 * KVM's track_write does). The `who` argument is the accessor: the vCPU whose instruction or page walk wrote, or
 * NULL for the hypervisor's own writes (device models, loaders).
 */
struct track_notifier {
	enum track_verdict (*pre_write)(struct track_notifier *n, void *who, gpa_t gpa, const void *bytes,
					unsigned int len);
	void (*write)(struct track_notifier *n, void *who, gpa_t gpa, const void *bytes, unsigned int len);
	/* A memslot is going away: the user drops what it tracks there (its references go with the slot). */
	void (*remove_region)(struct track_notifier *n, gfn_t gfn, u64 npages);
	struct track_notifier *next; /* the list: set by mmu_track_register_notifier */
};

/* A VM's tracking state, in struct mmu. */
struct track_vm {
	bool enabled;                     /* mmu->lock: counts exist for every slot (after the first add) */
	struct track_notifier *notifiers; /* constant while vCPUs run */
	u64 warned;                       /* mmu->lock: overflow/underflow warned once */
};

#define TRACK_COUNT_MAX 0xffffu

/* Whether writes to gfn are tracked: O(1), allocates nothing; gfn must be in the slot. Read under mmu->lock for a
 * decision about an SPTE; read without it by the hypervisor's own writes (a racing add is ordered by its caller). */
static inline bool track_is_write_tracked(const struct memslot *slot, gfn_t gfn);

/* Allocate the counts of every slot (the first add in a VM). 0 or -ENOMEM (what was allocated stays). */
int track_write_enable(struct memslots *ms);
/* Count changes: 0, or -ERANGE when the count would overflow (add) or underflow (remove): nothing changes. *now is
 * the count after the change. */
int track_write_inc(struct memslot *slot, gfn_t gfn, u32 *now);
int track_write_dec(struct memslot *slot, gfn_t gfn, u32 *now);
u32 track_write_count(const struct memslot *slot, gfn_t gfn);
/* Bytes of write-tracking metadata a VM holds (the bench's size report). */
u64 track_write_bytes(const struct memslots *ms);
void track_write_slot_free(struct memslot *slot);

#include "mm/memslot.h"
#include "mm/track/level.h"

static inline bool track_is_write_tracked(const struct memslot *slot, gfn_t gfn)
{
	const u16 *c = slot->track ? READ_ONCE(slot->track->write_count) : NULL;

	return c && READ_ONCE(c[gfn - slot->base_gfn]) != 0;
}

/* What a fault asks of tracking, under mmu->lock: track_cap_level(slot, gfn, backing_level), returned, and whether gfn
 * is not write-tracked, in *mmu_writable. A slot without track state (no tracking user, no shadow paging: the usual
 * case) answers both with one load. */
static inline int track_fault_level(const struct memslot *slot, gfn_t gfn, int backing_level, bool *mmu_writable)
{
	if (likely(!READ_ONCE(slot->track))) {
		*mmu_writable = true;
		return backing_level;
	}
	*mmu_writable = !track_is_write_tracked(slot, gfn);
	return track_cap_level(slot, gfn, backing_level);
}

#endif
