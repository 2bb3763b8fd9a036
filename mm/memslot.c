/* Guest memory slots (see memslot.h): lookup, the backing level the TDP MMU may map at, and adding slots backed by
 * fresh host memory. Slots change only while every vCPU is stopped; each change bumps the generation that MMIO
 * SPTEs are checked against. */
#include "mm/memslot.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "hv/string.h"
#include "mm/grace.h"
#include "mm/pt.h"
#include "mm/track/level.h"

#define CHUNKS_PER_GIG (MEMSLOT_GIG_PAGES / MEMSLOT_CHUNK_PAGES)

static_assert(MAX_MEMSLOTS <= 32, "slot ids are bits of a u32");

static inline u64 gig_count(const struct memslot *s)
{
	return memslot_gig_index(s, s->base_gfn + s->npages - 1) + 1;
}

/* Chunk i, not clean: make it so, or wait for whoever is at it. */
static int prepare_chunk(struct memslot *s, u64 i)
{
	for (;;) {
		u8 st = __atomic_load_n(&s->chunk_state[i], __ATOMIC_ACQUIRE), seen = st;

		if (st == CHUNK_CLEAN)
			return 0;
		if ((st == CHUNK_DIRTY || st == CHUNK_RECLAIMED) &&
		    __atomic_compare_exchange_n(&s->chunk_state[i], &seen, CHUNK_CLEARING, false, __ATOMIC_ACQUIRE,
						__ATOMIC_ACQUIRE)) {
			if (st == CHUNK_RECLAIMED) {
				hpa_t pa = frame_alloc_dirty(MEMSLOT_CHUNK_SHIFT);

				if (pa == INVALID_HPA) {
					__atomic_store_n(&s->chunk_state[i], CHUNK_RECLAIMED, __ATOMIC_RELEASE);
					return -ENOMEM;
				}
				/* Published by the release store of CLEAN: nobody reads chunks[i] before seeing it. */
				__atomic_store_n(&s->chunks[i], pa, __ATOMIC_RELAXED);
				__atomic_fetch_add(&s->chunks_refaulted, 1, __ATOMIC_RELAXED);
			}
			memset(phys_to_virt(s->chunks[i]), 0, HUGE_2M_SIZE);
			__atomic_store_n(&s->chunk_state[i], CHUNK_CLEAN, __ATOMIC_RELEASE);
			return 0;
		}
		/* CLEARING, or RECLAIMING: the reclaimer waits for grace readers, never for this caller, unless it is
		 * one (which would wait for itself). */
		BUG_ON(st == CHUNK_RECLAIMING && grace_in_read_section());
		__builtin_ia32_pause();
	}
}

int memslot_prepare(const struct memslot *cs, gfn_t gfn, u64 npages)
{
	struct memslot *s = (struct memslot *)cs; /* the chunk states and counters are atomics */
	gfn_t end = MIN(gfn + npages, s->base_gfn + s->npages);

	gfn = MAX(gfn, s->base_gfn);
	for (u64 i = (gfn - s->base_gfn) >> MEMSLOT_CHUNK_SHIFT; s->base_gfn + (i << MEMSLOT_CHUNK_SHIFT) < end;
	     i++) {
		if (__atomic_load_n(&s->chunk_state[i], __ATOMIC_ACQUIRE) == CHUNK_CLEAN)
			continue;
		int r = prepare_chunk(s, i);
		if (r)
			return r;
	}
	return 0;
}

/* Free the first `nchunks` chunks (all of them once the slot is complete) and the slot's arrays. */
static void free_backing(struct memslot *s, u64 nchunks)
{
	for (u64 i = 0; i < nchunks; i++) {
		gfn_t gfn = s->base_gfn + i * MEMSLOT_CHUNK_PAGES;

		if (!s->contig_1g[memslot_gig_index(s, gfn)]) {
			if (s->chunks[i] != INVALID_HPA) /* a reclaimed chunk's frames are back already */
				frame_free(s->chunks[i], MEMSLOT_CHUNK_SHIFT);
		}
		else if (IS_ALIGNED(gfn, MEMSLOT_GIG_PAGES))
			frame_free(s->chunks[i], HUGE_1G_SHIFT - PAGE_SHIFT); /* one block: the region's 512 chunks */
	}
	kfree(s->chunks);
	kfree(s->contig_1g);
	kfree(s->chunk_state);
	kfree(s->dirty_log);
	kfree(s->shared);
	track_slot_free(s);
	memset(s, 0, sizeof(*s));
}

/* Back the slot: a 1G block for every 1G-aligned gfn region wholly inside it while the allocator has them (so the
 * MMU can map it with one leaf), 2M chunks for the rest. Chunks are allocated in order; *done counts those taken,
 * for the cleanup after a failure. */
static int alloc_backing(struct memslot *s, u64 *done)
{
	u64 nchunks = s->npages / MEMSLOT_CHUNK_PAGES;
	bool try_1g = true;

	*done = 0;
	s->chunks = kzalloc(nchunks * sizeof(*s->chunks));
	s->contig_1g = kzalloc(gig_count(s));
	s->chunk_state = kzalloc(nchunks); /* all CHUNK_DIRTY */
	s->dirty_log = kzalloc(s->npages / 8); /* npages is a multiple of 512: whole words */
	if (!s->chunks || !s->contig_1g || !s->chunk_state || !s->dirty_log)
		return -ENOMEM;
	while (*done < nchunks) {
		u64 i = *done;
		gfn_t gfn = s->base_gfn + i * MEMSLOT_CHUNK_PAGES;
		hpa_t pa;

		if (try_1g && IS_ALIGNED(gfn, MEMSLOT_GIG_PAGES) && memslot_contains(s, gfn, MEMSLOT_GIG_PAGES)) {
			pa = frame_alloc_dirty(HUGE_1G_SHIFT - PAGE_SHIFT);
			if (pa != INVALID_HPA) {
				for (u64 j = 0; j < CHUNKS_PER_GIG; j++)
					s->chunks[i + j] = pa + j * HUGE_2M_SIZE;
				s->contig_1g[memslot_gig_index(s, gfn)] = 1;
				*done += CHUNKS_PER_GIG;
				continue;
			}
			try_1g = false; /* no 1G block left: the rest comes in 2M chunks */
		}
		pa = frame_alloc_dirty(MEMSLOT_CHUNK_SHIFT);
		if (pa == INVALID_HPA)
			return -ENOMEM;
		s->chunks[i] = pa;
		(*done)++;
	}
	return 0;
}

static bool overlaps(const struct memslots *ms, gfn_t base, u64 npages)
{
	for (u32 i = 0; i < ms->n; i++) {
		const struct memslot *s = &ms->slots[i];

		if (base < s->base_gfn + s->npages && s->base_gfn < base + npages)
			return true;
	}
	return false;
}

static u32 free_id(const struct memslots *ms)
{
	u32 used = 0;

	for (u32 i = 0; i < ms->n; i++)
		used |= 1u << ms->slots[i].id;
	return (u32)__builtin_ctz(~used);
}

int memslot_add_flags(struct memslots *ms, gfn_t base_gfn, u64 npages, u32 flags)
{
	struct memslot s = { .base_gfn = base_gfn, .npages = npages, .flags = flags };
	u64 done;
	u32 pos;
	int r;

	/* The TDP tables have 4 levels: every gfn of a slot must be below PT_MAX_PFN. */
	if (!npages || !IS_ALIGNED(base_gfn | npages, MEMSLOT_CHUNK_PAGES) || base_gfn >= PT_MAX_PFN ||
	    npages > PT_MAX_PFN - base_gfn || (flags & ~MEMSLOT_READONLY) || overlaps(ms, base_gfn, npages))
		return -EINVAL;
	if (ms->n == MAX_MEMSLOTS)
		return -ENOSPC;
	r = alloc_backing(&s, &done);
	if (r) {
		free_backing(&s, done);
		return r;
	}
	s.id = free_id(ms);
	for (pos = ms->n; pos > 0 && ms->slots[pos - 1].base_gfn > base_gfn; pos--)
		ms->slots[pos] = ms->slots[pos - 1];
	ms->slots[pos] = s;
	ms->n++;
	ms->generation++;
	return 0;
}

int memslot_add(struct memslots *ms, gfn_t base_gfn, u64 npages)
{
	return memslot_add_flags(ms, base_gfn, npages, 0);
}

void memslots_destroy(struct memslots *ms)
{
	for (u32 i = 0; i < ms->n; i++)
		free_backing(&ms->slots[i], ms->slots[i].npages / MEMSLOT_CHUNK_PAGES);
	ms->n = 0;
	ms->generation++;
}
