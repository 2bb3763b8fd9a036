/* The shadow MMU's reverse map (after KVM's pte_list_desc rmap): per gfn and mapping level, the set of shadow PTEs
 * that map it, so that write tracking can write-protect every mapping of a gfn and zaps can remove them. One u64
 * head per gfn (level 1) or per 2M/1G region (levels 2, 3) of each memslot, in slot->track, allocated when the VM
 * first uses shadow paging. See rmap.c for the encoding, the complexity bounds and the lock protocol. */
#ifndef MM_SHADOW_RMAP_H
#define MM_SHADOW_RMAP_H

#include "hv/compiler.h"

struct memslot;

/*
 * A head is one u64:
 *
 *   0                           empty
 *   sptep                       one entry, the SPTE pointer itself (8-byte aligned, so bits 2..0 are clear)
 *   desc | RMAP_MANY            two or more: a chain of descriptors (a head that shrinks back to one entry keeps
 *                               its descriptor until it is empty, so that a gfn whose mapping count swings between
 *                               1 and 2 does not allocate and free on every swing, as in KVM)
 *   ... | RMAP_LOCKED           a lockless reader or the writer holds the head (rmap.c): it is never set when a
 *                               writer's operation returns, unless a reader has the head at that moment
 */
#define RMAP_LOCKED BIT(0)
#define RMAP_MANY   BIT(1)
#define RMAP_BITS   (RMAP_LOCKED | RMAP_MANY)

/* 14 entries make a descriptor 128 bytes, two cache lines (KVM's PTE_LIST_EXT since 2021: most multiply mapped
 * gfns fit in one, and a long chain costs 9 bytes per entry). */
#define RMAP_DESC_ENTRIES 14

/*
 * The chain: new entries go into the first descriptor (the head's); when it is full a new first descriptor is put in
 * front. Every descriptor after the first is full, so the first one alone needs a count, and its tail_count makes
 * rmap_count O(1). A removal fills its hole with the first descriptor's last entry. Every field is written only by
 * the writer (MMU lock held, and the head's lock bit once the descriptor is reachable from the head) and read under
 * the MMU lock or the head's read lock.
 */
struct rmap_desc {
	u64 *sptes[RMAP_DESC_ENTRIES]; /* [0, count) used */
	struct rmap_desc *more;	       /* the next descriptor, NULL at the end */
	u32 count;		       /* entries in this descriptor: 1..RMAP_DESC_ENTRIES (full unless first) */
	u32 tail_count;		       /* entries in all the descriptors after this one */
};

static_assert(sizeof(struct rmap_desc) == 128, "a descriptor is two cache lines");

/*
 * Descriptors for rmap_add, taken from the heap outside the MMU lock and consumed under it (KVM's mmu memory
 * caches). Owned by one caller at a time (a vCPU's fault path, a zap), so it needs no lock of its own. All-zero is
 * an empty cache.
 */
#define RMAP_CACHE_SIZE 16

struct rmap_cache {
	u32 nobjs;				 /* owner's: objs[0, nobjs) are free descriptors */
	struct rmap_desc *objs[RMAP_CACHE_SIZE]; /* owner's */
};

/* Fill the cache to capacity if it holds fewer than min (<= RMAP_CACHE_SIZE) descriptors. Call without the MMU lock.
 * 0, or -ENOMEM when fewer than min could be had (what was allocated stays). */
int rmap_cache_topup(struct rmap_cache *c, u32 min);
/* Free every descriptor the cache holds. */
void rmap_cache_free(struct rmap_cache *c);

/*
 * Changing an rmap. The caller holds the MMU lock (the shadow MMU's `__` functions assert it; these take no lock
 * argument, since a head does not know its VM), which serialises every change of every head: add, remove and
 * clear never race with each other, only with lockless readers.
 *
 * rmap_add: add sptep (8-byte aligned, not already in the set: a duplicate is not detected, which would cost a
 * search) to the set. At most one descriptor is needed, taken from c; if c is NULL or empty the add allocates it
 * itself (kzalloc does not sleep, so that is legal under the MMU lock, only slower and fallible). 0, or -ENOMEM with
 * the rmap unchanged. O(1).
 *
 * rmap_remove: remove sptep, which must be in the set (BUG otherwise: the shadow MMU's own invariant). A
 * descriptor that empties goes to c if it has room, else to kfree. O(entries before sptep in iteration order): O(1)
 * for the entry for_each_rmap_spte is at, when every entry before it was removed too.
 *
 * rmap_clear: empty the set (zap of a whole gfn, teardown), descriptors to c or kfree. O(n).
 */
int rmap_add(struct rmap_cache *c, u64 *head, u64 *sptep);
void rmap_remove(struct rmap_cache *c, u64 *head, u64 *sptep);
void rmap_clear(struct rmap_cache *c, u64 *head);

/* The head's value without the lock bit: what to walk. Stable while the caller holds the MMU lock or the head's read
 * lock; a snapshot otherwise. */
static inline u64 rmap_get(const u64 *head)
{
	return __atomic_load_n(head, __ATOMIC_RELAXED) & ~RMAP_LOCKED;
}

/* The number of entries in a head value (from rmap_get or rmap_lock_read; the lock bit is ignored). O(1). */
u32 rmap_count(u64 head);

/*
 * Lockless readers (the aging walker): between lock and unlock the head and its chain do not change, and no
 * descriptor of it is freed or reused. rmap_lock_read returns the head's value without the lock bit; 0 means the set
 * is empty and nothing was locked (rmap_unlock_read then does nothing). A reader must not change the rmap, must keep
 * the section short (writers under the MMU lock wait for it), holds at most one head at a time, and must not take
 * the MMU lock or wait for anything while it holds one (the writer may be spinning on the head with that lock held).
 */
u64 rmap_lock_read(u64 *head);
void rmap_unlock_read(u64 *head, u64 val);

/*
 * Iteration: for_each_rmap_spte(head, iter, sptep) visits every entry of *head once, under the MMU lock or the
 * head's read lock. Under the MMU lock the body may rmap_remove the entry it is at (and no other), which
 * neither skips nor repeats an entry: entries are visited newest first (the first descriptor from its last entry
 * down, then the full ones after it), and a removal fills its hole with the first descriptor's last entry, which was
 * already visited. No rmap_add to the head while iterating.
 */
struct rmap_iter {
	struct rmap_desc *desc; /* the descriptor of the current entry; NULL for an inline entry */
	struct rmap_desc *next; /* desc->more, read before the body could free desc */
	int pos;		/* the current entry's index in desc */
};

u64 *rmap_iter_first(const u64 *head, struct rmap_iter *iter);
u64 *rmap_iter_next(struct rmap_iter *iter);

#define for_each_rmap_spte(head, iter, sptep)                                                                          \
	for ((sptep) = rmap_iter_first((head), (iter)); (sptep); (sptep) = rmap_iter_next(iter))

/* ---- the per-memslot heads ---- */

#define RMAP_LEVELS 3 /* 4K, 2M, 1G */

/* Allocate the slot's heads for all three levels, if not yet done (the VM's first use of shadow paging). Under the
 * MMU lock, or before the vCPUs run. 0, or -ENOMEM (what was allocated stays; a retry finishes). */
int rmap_slot_alloc(struct memslot *slot);
/* The head of gfn's rmap at level 1..3: per gfn at level 1, per naturally aligned 2M / 1G region at levels 2 and 3.
 * BUG if the heads are not allocated or gfn is outside the slot. O(1). */
u64 *rmap_head(struct memslot *slot, gfn_t gfn, int level);
/* The slot's heads at level 1..3 for a walker without the MMU lock (the aging walk): NULL while the VM has made
 * no shadow leaf in the slot. Acquire loads pair with the release stores of track_slot_get and rmap_slot_alloc, so
 * the heads found read as zero or as what a writer published. The array lives until the slot is freed (VM teardown,
 * after every walker: mmu_age_gfn_range's contract). */
u64 *rmap_slot_heads_lockless(const struct memslot *slot, int level);
/* Bytes of the slot's head arrays (0 before rmap_slot_alloc): 8 per gfn plus 8 per 2M and 1G region. Descriptors
 * come on top: 128 bytes per 14 mappings of a gfn that has two or more. */
u64 rmap_slot_bytes(const struct memslot *slot);
/* Free the head arrays (from track_slot_free). A head still holding entries is the shadow MMU's bug: it is warned
 * about once and its descriptors are freed anyway. */
void rmap_slot_free(struct memslot *slot);

#endif
