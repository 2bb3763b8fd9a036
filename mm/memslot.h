/* Guest memory slots: sorted, non-overlapping gfn ranges, each backed by host frames in 2 MiB chunks. A slot is the
 * only route from a guest frame number to a host frame: anything not in a slot is MMIO. Every chunk belongs to
 * exactly one VM, allocated for it and never shared, which is what keeps guests out of the hypervisor's memory and
 * out of each other's. Chunks come from the allocator dirty and are cleared on first use (memslot_prepare), as KVM
 * gets zeroed pages on demand: a VM pays for the RAM it touches, not for all it has. */
#ifndef MM_MEMSLOT_H
#define MM_MEMSLOT_H

#include "hv/bug.h"
#include "hv/compiler.h"

#define MEMSLOT_CHUNK_SHIFT 9 /* 2 MiB = 512 frames */
#define MEMSLOT_CHUNK_PAGES (1ULL << MEMSLOT_CHUNK_SHIFT)
#define MAX_MEMSLOTS 8

struct track_slot;

/* A chunk's life (struct memslot.chunk_state): DIRTY -> CLEARING -> CLEAN, the first time anything needs it
 * (memslot_prepare); with reclaim (mm/mmu_reclaim.c) also CLEAN -> RECLAIMING -> CLEAN (it held data) or RECLAIMED
 * (its frames went back to the allocator, chunks[] holds INVALID_HPA), and RECLAIMED -> CLEARING -> CLEAN when
 * something needs it again (a fresh chunk, zeroed: a refault). Nothing maps, reads or writes a chunk that is not
 * CLEAN. */
enum { CHUNK_DIRTY, CHUNK_CLEARING, CHUNK_CLEAN, CHUNK_RECLAIMING, CHUNK_RECLAIMED };

struct memslot {
	/* Constant while the VM runs (slots change only with every vCPU stopped). */
	gfn_t base_gfn;  /* 2 MiB aligned */
	u64 npages;      /* multiple of MEMSLOT_CHUNK_PAGES */
	hpa_t *chunks;   /* npages / 512 entries; each 2 MiB aligned and physically contiguous */
	/* Per 1 GiB-aligned gfn region the slot touches ([(gfn >> 18) - (base_gfn >> 18)]): 1 when the region lies
	 * wholly inside the slot and its 512 chunks are one 1 GiB block (allocated as one, freed as one). */
	u8 *contig_1g;
	/* Per chunk, atomic: CHUNK_DIRTY, CHUNK_CLEARING (one CPU is zeroing it; others wait), CHUNK_CLEAN. Nothing
	 * maps or reads a chunk before it is clean. */
	u8 *chunk_state;
	u32 id;
	u32 flags;       /* MEMSLOT_* */
	struct track_slot *track; /* mm/track per-gfn state; NULL until first used */
	/* One bit per gfn, atomic: dirty state harvested from SPTEs that no longer hold it (memslot_dirty.c). Allocated
	 * with the slot; NULL in a slot made without it (host tests' made-up slots), which records nothing. */
	u64 *dirty_log;
	/* One bit per gfn, set while the gfn is shared (mm/private.h); NULL in a VM that is not private. Written under
	 * mmu->lock held for write, read under either side (faults) and racily (the hypervisor's refusals). */
	u64 *shared;
	/* Atomic: 2 MiB chunks given back by reclaim (mm/mmu_reclaim.c), and of those, allocated again on a later use. */
	u64 chunks_reclaimed, chunks_refaulted;
};


#define MEMSLOT_READONLY BIT(0) /* the guest may read and execute but not write (ROM): writes are emulated */
/* Chunks may be reclaimed (mm/mmu_reclaim.c): set by mmu_enable_reclaim before the vCPUs run, never by
 * memslot_add_flags. Only such a slot's accessors pay for the read sections reclaim waits out. */
#define MEMSLOT_RECLAIM BIT(1)

struct memslots {
	u32 n;
	u64 generation; /* bumped on every change; cached MMIO translations compare against it */
	struct memslot slots[MAX_MEMSLOTS]; /* sorted by base_gfn */
};

/* The slot holding gfn, or NULL (binary search). Inline: every TDP fault starts with it. The last slot is looked at
 * first: it holds the RAM above 4 GiB, or all of it in a small VM, and a gfn above it is MMIO (a device's BAR, the
 * APIC, the IOAPIC), the usual miss, answered without a search. */
static inline struct memslot *memslot_find(struct memslots *ms, gfn_t gfn)
{
	u32 lo = 0, hi = ms->n;

	if (likely(hi) && gfn >= ms->slots[hi - 1].base_gfn)
		return gfn - ms->slots[hi - 1].base_gfn < ms->slots[hi - 1].npages ? &ms->slots[hi - 1] : NULL;
	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		struct memslot *s = &ms->slots[mid];

		if (gfn < s->base_gfn)
			hi = mid;
		else if (gfn - s->base_gfn >= s->npages)
			lo = mid + 1;
		else
			return s;
	}
	return NULL;
}

static inline hpa_t memslot_gfn_to_hpa(const struct memslot *s, gfn_t gfn)
{
	u64 idx = gfn - s->base_gfn;
	return s->chunks[idx >> MEMSLOT_CHUNK_SHIFT] + ((idx & (MEMSLOT_CHUNK_PAGES - 1)) << PAGE_SHIFT);
}

/* Whether the chunk holding gfn was ever cleared: nothing maps, reads or writes a chunk before, so no leaf has ever
 * mapped its gfns. Any CPU, no lock. */
static inline u8 memslot_chunk_state(const struct memslot *s, gfn_t gfn)
{
	return __atomic_load_n(&s->chunk_state[(gfn - s->base_gfn) >> MEMSLOT_CHUNK_SHIFT], __ATOMIC_ACQUIRE);
}

static inline bool memslot_chunk_is_clean(const struct memslot *s, gfn_t gfn)
{
	return memslot_chunk_state(s, gfn) == CHUNK_CLEAN;
}

/* Whether reclaim took the chunk holding gfn, or is taking it. */
static inline bool memslot_chunk_is_reclaimed(const struct memslot *s, gfn_t gfn)
{
	u8 st = memslot_chunk_state(s, gfn);

	return st == CHUNK_RECLAIMING || st == CHUNK_RECLAIMED;
}

#define MEMSLOT_GIG_PAGES (1ULL << (HUGE_1G_SHIFT - PAGE_SHIFT))
#define MEMSLOT_GIG_SHIFT (HUGE_1G_SHIFT - PAGE_SHIFT)

static inline bool memslot_contains(const struct memslot *s, gfn_t start, u64 pages)
{
	return start >= s->base_gfn && start + pages <= s->base_gfn + s->npages;
}

/* The index in contig_1g of the 1 GiB region holding gfn. */
static inline u64 memslot_gig_index(const struct memslot *s, gfn_t gfn)
{
	return (gfn >> MEMSLOT_GIG_SHIFT) - (s->base_gfn >> MEMSLOT_GIG_SHIFT);
}

/* The largest mapping level (1 = 4K, 2 = 2M, 3 = 1G) at which the naturally aligned region around gfn lies wholly
 * inside the slot and is physically contiguous and equally aligned on the host. Inline: every RAM fault asks (as a
 * call it was a twentieth of a 2M fault's handling). A level of 3 implies the 1 GiB region lies inside the slot, which
 * the huge-page counts' own limit (mm/track/level.h) relies on. */
static inline int memslot_backing_level(const struct memslot *s, gfn_t gfn)
{
	gfn_t g1 = gfn & ~(MEMSLOT_GIG_PAGES - 1);

	BUG_ON(!memslot_contains(s, gfn, 1));
	if (memslot_contains(s, g1, MEMSLOT_GIG_PAGES) && s->contig_1g[memslot_gig_index(s, gfn)] &&
	    IS_ALIGNED(memslot_gfn_to_hpa(s, g1), HUGE_1G_SIZE))
		return 3;
	/* A 2M region is one chunk: base_gfn and npages are chunk multiples, and chunks are 2M aligned. */
	return 2;
}

/* Make every chunk backing [gfn, gfn + npages) (clipped to the slot) clean: zero the dirty ones, wait for the ones
 * another CPU is zeroing or reclaiming, allocate (and zero) a fresh chunk for a reclaimed one. Cheap once clean. Call
 * before guest memory is mapped for the guest or read or written by the hypervisor: whatever the host frames held
 * before must never reach the guest. 0, or -ENOMEM (a reclaimed chunk could not be allocated again: the memory the
 * VM gave back is not there any more). Any CPU, any lock held, but not inside a grace read section (a reclaim in
 * progress waits for those). A chunk can be reclaimed again once clean: the caller keeps it by holding mmu->lock or
 * a grace read section in which it sees the chunk clean (mm/mmu_reclaim.c). */
int memslot_prepare(const struct memslot *s, gfn_t gfn, u64 npages);

/*
 * The dirty log (memslot_dirty.c): where the MMU's change hook puts the dirty state of an SPTE that loses it (a dirty
 * leaf zapped, split, write-protected, or access-tracked by aging), so that no write is forgotten when the leaf that
 * recorded it goes. A gfn was written since its bit was last cleared if its bit is set or a leaf mapping it is still
 * dirty (spte_is_dirty). Lock-free: the hook calls it under mmu->lock, the lockless aging walk without.
 */
/* Set the bits of [gfn, gfn + npages), clipped to the slot. */
void memslot_mark_dirty(const struct memslot *s, gfn_t gfn, u64 npages);
/* Whether gfn's bit was set, clearing it; false without a dirty log. */
bool memslot_test_and_clear_dirty(const struct memslot *s, gfn_t gfn);

/* Add a slot backed by freshly allocated host memory, reading as zero to the guest, (1 GiB blocks where the allocator has them, else 2 MiB).
 * base_gfn and npages must be 2 MiB multiples. Returns 0, -EINVAL (misaligned or overlapping), -ENOSPC, -ENOMEM. */
int memslot_add(struct memslots *ms, gfn_t base_gfn, u64 npages);
/* The same with MEMSLOT_* flags. */
int memslot_add_flags(struct memslots *ms, gfn_t base_gfn, u64 npages, u32 flags);
/* Free every slot's memory. */
void memslots_destroy(struct memslots *ms);

#endif
