/* The physical frame allocator: a binary buddy allocator over host frame numbers, blocks of 2^order frames
 * (4K..1G), naturally aligned in absolute frame numbers. It never reads or writes the frames it manages: all its
 * state lives in a caller-supplied metadata array, 9 bytes per frame (a u32 next and a u32 prev free-list index,
 * plus one state byte), so it can manage memory before the direct map exists and host tests can run it over
 * frame numbers that have no memory behind them. */
#ifndef HV_MM_PMM_H
#define HV_MM_PMM_H

#include "hv/spinlock.h"
#include "hv/types.h"

#define PMM_MAX_ORDER 18 /* 2^18 frames = 1 GiB */
#define PMM_NR_ORDERS (PMM_MAX_ORDER + 1)
/* Free-list indices are u32 with one value kept as the list terminator. */
#define PMM_MAX_FRAMES 0xffffffffULL

struct pmm_link;

struct pmm {
	spinlock_t lock;
	/* Set by pmm_init, constant afterwards: the allocator covers frames [base, base + nframes). */
	hfn_t base;
	u64 nframes;
	struct pmm_link *link;		/* lock: free-list links, valid only for the head frame of a free block */
	u8 *state;			/* lock: per-frame PMM_ST_* | order, see pmm.c */
	u32 free_head[PMM_NR_ORDERS];	/* lock: first free block of each order, as frame - base */
	u64 free_blocks[PMM_NR_ORDERS]; /* lock */
	u64 free_frames;		/* lock */
	u64 total_frames;		/* lock: frames ever released with pmm_add_free */
};

/* Bytes of metadata pmm_init needs for nframes frames starting at base. */
size_t pmm_metadata_size(hfn_t base, u64 nframes);

/* Cover frames [base, base + nframes), all unavailable until pmm_add_free. `metadata` must be 8-byte aligned and
 * pmm_metadata_size() bytes long; it belongs to the allocator from now on. nframes <= PMM_MAX_FRAMES. */
void pmm_init(struct pmm *p, hfn_t base, u64 nframes, void *metadata);

/* Make frames [start, start + n) available, as maximal aligned blocks merged with any free buddies. Returns 0, or
 * -EINVAL (after pr_err, nothing changed) if the range leaves the covered span or any of it is already available. */
int pmm_add_free(struct pmm *p, hfn_t start, u64 n);

/* Allocate 2^order frames aligned to 2^order. 0 with *out set, -EINVAL for order > PMM_MAX_ORDER, or -ENOMEM. */
int pmm_alloc(struct pmm *p, unsigned int order, hfn_t *out);

/* As pmm_alloc, but the whole block lies below frame `limit` (AP trampolines, 32-bit-reachable structures). */
int pmm_alloc_below(struct pmm *p, unsigned int order, hfn_t limit, hfn_t *out);

/* Return a block from pmm_alloc*. -EINVAL, after pr_err naming the frame and leaving every count and list as it
 * was, if f is out of range, misaligned for order, not the head of an allocated block (free, interior, never
 * available), or was allocated with a different order. */
int pmm_free(struct pmm *p, hfn_t f, unsigned int order);

u64 pmm_free_frames(struct pmm *p);
u64 pmm_total_frames(struct pmm *p);
/* Free blocks of exactly this order; 0 for order > PMM_MAX_ORDER. */
u64 pmm_free_blocks_of_order(struct pmm *p, unsigned int order);

/* pr_info the free block count of every order. */
void pmm_dump(struct pmm *p);

/* Walk every frame and free list and check them against each other and the counters: for tests and debug
 * builds, O(nframes). Returns 0, or -EINVAL after pr_err describing the first inconsistency. */
int pmm_verify(struct pmm *p);

#endif
