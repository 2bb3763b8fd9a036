/* The shadow MMU's reverse map (see rmap.h): the descriptor chains, the head lock that lets aging walkers read an
 * rmap without the MMU lock, the descriptor cache, and the per-memslot head arrays. */
#include "mm/shadow/rmap.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "mm/memslot.h"
#include "mm/track/level.h"

/*
 * Cost, with n the entries of one head. A guest controls n: 2^16 page tables of its own that all map one page give
 * one gfn 2^16 shadow PTEs. So every operation is bounded by the chain and nothing is quadratic in one call:
 *  - add: O(1) (the first descriptor has room, or a new one goes in front). No duplicate check, which would be O(n)
 *    per add and O(n^2) for the pattern above. Building an rmap of n entries costs O(n) in all.
 *  - count: O(1), from the first descriptor's count and tail_count.
 *  - remove: O(position of the entry in iteration order), at most n; O(1) for the newest entry. Removing all n one
 *    by one is O(n) when done newest first (a for_each_rmap_spte walk that removes as it goes: each entry is then
 *    found first), O(n^2 / 2) in the worst order. That worst case is what a chain of descriptors gives (KVM's
 *    too); the shadow MMU bounds n by its cap on shadow pages (KVM's n_max_mmu_pages) and zaps a gfn's mappings
 *    with a walk, not one search per mapping.
 *  - clear: O(n / RMAP_DESC_ENTRIES) descriptors freed.
 *  - memory: 8 bytes per head, plus ceil(n / 14) descriptors of 128 bytes for n >= 2 (and one for n = 1 when the
 *    head had more before: rmap.h).
 *
 * The lock bit (after KVM 6.15, "Support rmap walks without holding mmu_lock when aging gfns"). Bit 0 of a head is
 * one exclusive lock, taken by compare-exchange from a value without it (rmap_lock) and released by a release store
 * of the head's next value (rmap_unlock). Lockless readers take it around a short walk; the writer, who holds the MMU
 * lock and so is the only one who ever changes an rmap, takes it around every change of a head or of its chain.
 * "Read-only" means a reader changes nothing but the bit: two readers of one head exclude each other too, for the
 * length of a walk (a pointer's three alignment bits cannot hold a reader count, and a shared count elsewhere would
 * cost every head more than it saves). An empty head is never locked: there is nothing to walk, so rmap_lock returns
 * 0 at once, and the writer fills an empty head with a plain release store.
 *
 *   reader                                   writer (MMU lock held)
 *   ------                                   ----------------------
 *   v = CAS(head, v -> v|L) acquire          find the entry, allocate a descriptor   (no bit: reads only)
 *   walk v's chain (plain loads)             CAS(head, v -> v|L) acquire             (waits for the reader)
 *   store(head, v) release                   change v's chain in place
 *                                            store(head, v') release
 *                                            free what v' no longer reaches          (after the store)
 *
 * Why this is enough. Every successful lock is a read-modify-write of the head, and it succeeds only on a value
 * without the bit, which only the holder's unlock puts back. So holders of one head follow each other one at a
 * time, and each lock reads the value the previous holder's unlock stored (a read-modify-write reads the latest
 * value in the head's modification order; a failed CAS writes nothing). Release-acquire on that pair orders:
 *  - writer -> later reader: the descriptors the writer filled (a new first descriptor, an entry moved into a hole,
 *    a count) before its unlock are visible to every walk whose lock read that unlock or a later value.
 *  - reader -> later writer: every load of the reader's walk happens before the writer's lock, so before its changes
 *    and before any free after its unlock; and a reader locking after that unlock gets v', which does not reach a
 *    freed descriptor. So a reader never reads a descriptor that is being changed, freed or reused from the cache.
 *  - empty head: no one holds it (readers do not lock 0; a writer empties a head only by an unlock storing 0), so
 *    the writer's release store of the first entry needs no lock; a reader's lock reads from it.
 *  - a reader whose CAS uses a stale value (loaded before the head changed, changed back since: a freed descriptor
 *    reused at the same address) succeeds only if the head holds that value now, and then walks what the head holds
 *    now, published by the release store the CAS read from. Stale values are never dereferenced.
 *  - the writer's own reads of a chain without the bit (searching, counting, walking under the MMU lock) race with
 *    nothing: readers never write a descriptor, and only this writer does.
 * A writer holds the bit for O(1): rmap_remove searches before locking and rmap_clear frees after unlocking, so a
 * reader waits for at most one small change, and the writer for at most the walks of the readers ahead of it. On x86
 * a lock is one LOCK CMPXCHG and an unlock one plain store.
 */

#define RMAP_SPTE_ALIGN 8

static_assert(ARRAY_SIZE(((struct track_slot *)0)->rmap) == RMAP_LEVELS, "one head array per level");

static struct rmap_desc *desc_of(u64 val)
{
	return (struct rmap_desc *)(uintptr_t)(val & ~RMAP_BITS);
}

/* Take the bit; returns the head's value without it, or 0 (empty: nothing taken). */
static u64 rmap_lock(u64 *head)
{
	u64 old = __atomic_load_n(head, __ATOMIC_RELAXED);

	for (;;) {
		while (old & RMAP_LOCKED) {
			__builtin_ia32_pause();
			old = __atomic_load_n(head, __ATOMIC_RELAXED);
		}
		if (!old)
			return 0; /* emptied by the holder we waited for */
		if (__atomic_compare_exchange_n(head, &old, old | RMAP_LOCKED, true, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return old;
	}
}

/* Drop the bit, publishing val (the same value, or the head's next one). */
static void rmap_unlock(u64 *head, u64 val)
{
	BUG_ON(val & RMAP_LOCKED);
	__atomic_store_n(head, val, __ATOMIC_RELEASE);
}

/* The writer locks a head it is about to change: it holds the MMU lock, so the value cannot have moved. */
static void lock_for_change(u64 *head, u64 expect)
{
	u64 val = rmap_lock(head);

	BUG_ON(val != expect);
}

u64 rmap_lock_read(u64 *head)
{
	return rmap_lock(head);
}

void rmap_unlock_read(u64 *head, u64 val)
{
	if (!val)
		return;
	BUG_ON(__atomic_load_n(head, __ATOMIC_RELAXED) != (val | RMAP_LOCKED));
	rmap_unlock(head, val);
}

/* ---- descriptors and the cache ---- */

static struct rmap_desc *desc_check(struct rmap_desc *d)
{
	BUG_ON((uintptr_t)d & RMAP_BITS); /* the heap aligns to at least 8 */
	return d;
}

int rmap_cache_topup(struct rmap_cache *c, u32 min)
{
	BUG_ON(min > RMAP_CACHE_SIZE);
	if (c->nobjs >= min)
		return 0;
	while (c->nobjs < RMAP_CACHE_SIZE) {
		struct rmap_desc *d = kzalloc(sizeof(*d));

		if (!d)
			return c->nobjs >= min ? 0 : -ENOMEM;
		c->objs[c->nobjs++] = desc_check(d);
	}
	return 0;
}

void rmap_cache_free(struct rmap_cache *c)
{
	while (c->nobjs)
		kfree(c->objs[--c->nobjs]);
}

/* A descriptor for an add: from the cache, else from the heap (NULL when that fails). */
static struct rmap_desc *desc_get(struct rmap_cache *c)
{
	struct rmap_desc *d;

	if (c && c->nobjs)
		return c->objs[--c->nobjs];
	d = kmalloc(sizeof(*d));
	return d ? desc_check(d) : NULL;
}

/* A descriptor no head reaches any more (the unlock that unlinked it is done). */
static void desc_put(struct rmap_cache *c, struct rmap_desc *d)
{
	if (c && c->nobjs < RMAP_CACHE_SIZE)
		c->objs[c->nobjs++] = d;
	else
		kfree(d);
}

/* ---- reading ---- */

u32 rmap_count(u64 head)
{
	head &= ~RMAP_LOCKED;
	if (!(head & RMAP_MANY))
		return head != 0;
	return desc_of(head)->count + desc_of(head)->tail_count;
}

static u64 *iter_enter(struct rmap_iter *it, struct rmap_desc *d)
{
	BUG_ON(d->count == 0 || d->count > RMAP_DESC_ENTRIES);
	it->desc = d;
	it->next = d->more;
	it->pos = (int)d->count - 1;
	return d->sptes[it->pos];
}

u64 *rmap_iter_first(const u64 *head, struct rmap_iter *it)
{
	u64 val = rmap_get(head);

	it->desc = NULL;
	it->next = NULL;
	it->pos = 0;
	if (!(val & RMAP_MANY))
		return (u64 *)(uintptr_t)val; /* the inline entry, or NULL */
	return iter_enter(it, desc_of(val));
}

/* Only it->next is read once the body may have removed the current entry, so a descriptor freed by that removal
 * (the first one, emptied: the current entry was its only one) is not touched. */
u64 *rmap_iter_next(struct rmap_iter *it)
{
	if (!it->desc)
		return NULL;
	if (it->pos > 0)
		return it->desc->sptes[--it->pos];
	if (!it->next) {
		it->desc = NULL;
		return NULL;
	}
	return iter_enter(it, it->next);
}

/* ---- changing (MMU lock held) ---- */

int rmap_add(struct rmap_cache *c, u64 *head, u64 *sptep)
{
	u64 val = rmap_get(head);
	struct rmap_desc *first, *d;

	BUG_ON(!sptep || ((uintptr_t)sptep & (RMAP_SPTE_ALIGN - 1)));
	if (!val) {
		rmap_unlock(head, (u64)(uintptr_t)sptep); /* publish: nobody holds an empty head */
		return 0;
	}
	if (!(val & RMAP_MANY)) {
		d = desc_get(c);
		if (!d)
			return -ENOMEM;
		d->sptes[0] = (u64 *)(uintptr_t)val;
		d->sptes[1] = sptep;
		d->count = 2;
		d->tail_count = 0;
		d->more = NULL;
		lock_for_change(head, val);
		rmap_unlock(head, (u64)(uintptr_t)d | RMAP_MANY);
		return 0;
	}
	first = desc_of(val);
	if (first->count < RMAP_DESC_ENTRIES) {
		lock_for_change(head, val);
		first->sptes[first->count++] = sptep;
		rmap_unlock(head, val);
		return 0;
	}
	/* The first descriptor is full: a new one goes in front. */
	BUG_ON(first->tail_count > ~0u - 2 * RMAP_DESC_ENTRIES); /* 2^32 mappings: past any cap on shadow pages */
	d = desc_get(c);
	if (!d)
		return -ENOMEM;
	d->sptes[0] = sptep;
	d->count = 1;
	d->tail_count = first->count + first->tail_count;
	d->more = first;
	lock_for_change(head, val);
	rmap_unlock(head, (u64)(uintptr_t)d | RMAP_MANY);
	return 0;
}

/* Remove the entry it is at; it came from a walk of head under the MMU lock. */
static void remove_at(struct rmap_cache *c, u64 *head, const struct rmap_iter *it)
{
	u64 val = rmap_get(head), next = val;
	struct rmap_desc *first, *freed = NULL;

	if (!it->desc) {
		lock_for_change(head, val);
		rmap_unlock(head, 0);
		return;
	}
	first = desc_of(val);
	lock_for_change(head, val);
	/* Fill the hole with the first descriptor's last entry, keeping every later descriptor full. */
	it->desc->sptes[it->pos] = first->sptes[first->count - 1];
	first->sptes[--first->count] = NULL;
	if (!first->count) {
		freed = first;
		next = first->more ? (u64)(uintptr_t)first->more | RMAP_MANY : 0;
	}
	rmap_unlock(head, next);
	if (freed)
		desc_put(c, freed);
}

void rmap_remove(struct rmap_cache *c, u64 *head, u64 *sptep)
{
	struct rmap_iter it;
	u64 *p;

	/* Search in iteration order without the bit (readers change nothing), so that it is held for O(1) only. */
	for_each_rmap_spte(head, &it, p) {
		if (p == sptep)
			break;
	}
	BUG_ON(!p); /* not in the set */
	remove_at(c, head, &it);
}

void rmap_clear(struct rmap_cache *c, u64 *head)
{
	u64 val = rmap_get(head);
	struct rmap_desc *d, *next;

	if (!val)
		return;
	lock_for_change(head, val);
	rmap_unlock(head, 0);
	if (!(val & RMAP_MANY))
		return;
	for (d = desc_of(val); d; d = next) { /* unreachable now: no reader can be in the chain */
		next = d->more;
		desc_put(c, d);
	}
}

/* ---- per-memslot heads ---- */

/* Index of gfn's head among the slot's heads at level: regions are naturally aligned in gfn space, as the leaves
 * that map them are (the same indexing as mm/track/level.c's disallow counts). */
static u64 head_index(const struct memslot *slot, gfn_t gfn, int level)
{
	unsigned int shift = 9 * (unsigned int)(level - 1);

	return (gfn >> shift) - (slot->base_gfn >> shift);
}

static u64 head_count(const struct memslot *slot, int level)
{
	return head_index(slot, slot->base_gfn + slot->npages - 1, level) + 1;
}

int rmap_slot_alloc(struct memslot *slot)
{
	struct track_slot *t = track_slot_get(slot);

	if (!t)
		return -ENOMEM;
	for (int level = 1; level <= RMAP_LEVELS; level++) {
		u64 *heads;

		if (t->rmap[level - 1])
			continue;
		heads = kzalloc(head_count(slot, level) * sizeof(*heads));
		if (!heads)
			return -ENOMEM;
		/* Release: a lockless walker that finds the array finds it zeroed. */
		__atomic_store_n(&t->rmap[level - 1], heads, __ATOMIC_RELEASE);
	}
	return 0;
}

u64 *rmap_head(struct memslot *slot, gfn_t gfn, int level)
{
	u64 *heads;

	BUG_ON(level < 1 || level > RMAP_LEVELS);
	BUG_ON(gfn < slot->base_gfn || gfn - slot->base_gfn >= slot->npages);
	BUG_ON(!slot->track);
	heads = __atomic_load_n(&slot->track->rmap[level - 1], __ATOMIC_ACQUIRE);
	BUG_ON(!heads); /* rmap_slot_alloc first */
	return &heads[head_index(slot, gfn, level)];
}

u64 *rmap_slot_heads_lockless(const struct memslot *slot, int level)
{
	const struct track_slot *t = __atomic_load_n(&slot->track, __ATOMIC_ACQUIRE);

	BUG_ON(level < 1 || level > RMAP_LEVELS);
	return t ? __atomic_load_n(&t->rmap[level - 1], __ATOMIC_ACQUIRE) : NULL;
}

u64 rmap_slot_bytes(const struct memslot *slot)
{
	u64 bytes = 0;

	if (!slot->track)
		return 0;
	for (int level = 1; level <= RMAP_LEVELS; level++) {
		if (slot->track->rmap[level - 1])
			bytes += head_count(slot, level) * sizeof(u64);
	}
	return bytes;
}

void rmap_slot_free(struct memslot *slot)
{
	if (!slot->track)
		return;
	for (int level = 1; level <= RMAP_LEVELS; level++) {
		u64 *heads = slot->track->rmap[level - 1];

		if (!heads)
			continue;
		/* Every shadow page is gone before its slot: a mapping left would point into a freed table. */
		for (u64 i = 0, n = head_count(slot, level); i < n; i++) {
			if (WARN_ON_ONCE(heads[i] != 0))
				rmap_clear(NULL, &heads[i]);
		}
		kfree(heads);
		slot->track->rmap[level - 1] = NULL;
	}
}
