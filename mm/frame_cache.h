/* A per-vCPU cache of zeroed 4 KiB frames for page tables (after KVM's kvm_mmu_memory_cache): topped up at the start
 * of a fault, before the MMU lock, so that a fault that needs new tables pops them off an array under the lock
 * instead of calling the buddy allocator and clearing 4 KiB there. Where the clearing cost goes: to the refill, once
 * every few table allocations, in the exit of the fault that finds the cache below its minimum (bench/README.md,
 * "table cache refill"). Owned by one vCPU and used only by it: no lock, no atomics. */
#ifndef MM_FRAME_CACHE_H
#define MM_FRAME_CACHE_H

#include "hv/compiler.h"
#include "hv/platform.h"

/* 16 frames (64 KiB) a vCPU may hold: a refill then serves 13 table allocations or more of a 4-level walk. */
#define FRAME_CACHE_CAPACITY 16

struct frame_cache {
	u32 nobjs;                            /* frames[0..nobjs) are zeroed, owned, unused */
	hpa_t frames[FRAME_CACHE_CAPACITY];
};

/* If fewer than min frames are cached, fill the cache up to FRAME_CACHE_CAPACITY with zeroed frames. Returns the
 * frames added (0 when it had min already). Best effort: when the allocator runs dry it stops there, and a later
 * frame_cache_alloc falls back to the allocator, which fails the fault with -ENOMEM as it would have anyway. */
u32 frame_cache_refill(struct frame_cache *c);
static inline u32 frame_cache_topup(struct frame_cache *c, u32 min)
{
	return likely(c->nobjs >= min) ? 0 : frame_cache_refill(c);
}

/* A zeroed frame: from the cache, or, if it is empty (a topup fell short), straight from the allocator (zeroed there);
 * INVALID_HPA when neither has one. */
static inline hpa_t frame_cache_alloc(struct frame_cache *c)
{
	if (likely(c->nobjs))
		return c->frames[--c->nobjs];
	return frame_alloc(0);
}

/* Give back a frame taken by frame_cache_alloc that nothing ever wrote (a table a fault allocated but lost the race to
 * link): still zero, it goes back into the cache, or to the allocator if the cache is full. */
static inline void frame_cache_put_unused(struct frame_cache *c, hpa_t frame)
{
	if (c->nobjs < FRAME_CACHE_CAPACITY)
		c->frames[c->nobjs++] = frame;
	else
		frame_free(frame, 0);
}

/* Every cached frame back to the allocator (vCPU teardown); returns how many. */
u32 frame_cache_free_all(struct frame_cache *c);

#endif
