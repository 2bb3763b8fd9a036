/* A kmalloc-style heap over the platform frame allocator: small objects come from per-size-class slab pages, large
 * ones from whole blocks of frames. Every object carries enough in-page metadata that a double free, a pointer the
 * heap never handed out and an interior pointer are all rejected with -EINVAL instead of corrupting the heap. */
#ifndef HV_MM_HEAP_H
#define HV_MM_HEAP_H

#include "hv/spinlock.h"
#include "hv/types.h"

/*
 * Size classes 16, 32, ..., 1024, then 2016. A slab page keeps a 64-byte header in its first bytes, so a 2048-byte
 * class would fit one object per page and save nothing over a whole-page allocation; 2016 bytes is the largest
 * 16-byte multiple of which two fit beside the header.
 */
#define HEAP_NR_CLASSES 8
#define HEAP_MAX_SMALL	2016
/* Every result is aligned to at least this; large allocations are aligned to HEAP_HDR_SIZE. */
#define HEAP_MIN_ALIGN 16
#define HEAP_HDR_SIZE  64
/* A large allocation is one naturally aligned block of 2^order frames, order <= this (as the buddy allocator). */
#define HEAP_MAX_ORDER 18
/* The largest size heap_alloc can satisfy: a whole 2^HEAP_MAX_ORDER-frame block minus its header. */
#define HEAP_MAX_ALLOC ((PAGE_SIZE << HEAP_MAX_ORDER) - HEAP_HDR_SIZE)

struct heap_slab;

struct heap {
	spinlock_t lock;
	struct heap_slab *partial[HEAP_NR_CLASSES]; /* lock: slabs with free and live objects, doubly linked */
	struct heap_slab *cached[HEAP_NR_CLASSES];  /* lock: at most one wholly free slab kept per class */
	u64 bytes_in_use;			    /* lock: sum of heap_usable_size() over live objects */
	u64 live_objects;			    /* lock */
	u64 pages_held;				    /* lock: frames taken from frame_alloc and not yet returned */
};

struct heap_stats {
	u64 bytes_in_use;
	u64 live_objects;
	u64 pages_held;
};

void heap_init(struct heap *h);

/* At least `size` bytes, 16-byte aligned (64 for sizes above HEAP_MAX_SMALL), contents undefined. NULL for size 0,
 * size > HEAP_MAX_ALLOC, or when the frame allocator is exhausted. */
void *heap_alloc(struct heap *h, size_t size);

/* 0, or -EINVAL (after pr_err, heap unchanged) for a double free, a pointer this heap never returned, or a pointer
 * into the middle of an object. NULL is a no-op returning 0. */
int heap_free(struct heap *h, void *p);

/* Bytes usable at p (>= the size asked for), or 0 if p is not a live object of this heap. */
size_t heap_usable_size(struct heap *h, const void *p);

/* Return every cached empty slab page to the frame allocator; the number of frames released. */
u64 heap_trim(struct heap *h);

void heap_get_stats(struct heap *h, struct heap_stats *out);

#endif
