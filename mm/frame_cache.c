/* The per-vCPU cache of zeroed table frames (see frame_cache.h). */
#include "mm/frame_cache.h"

u32 frame_cache_refill(struct frame_cache *c)
{
	u32 added = 0;

	while (c->nobjs < FRAME_CACHE_CAPACITY) {
		hpa_t f = frame_alloc(0); /* zeroed here: the cost the cache moves off the locked path */

		if (f == INVALID_HPA)
			break;
		c->frames[c->nobjs++] = f;
		added++;
	}
	return added;
}

u32 frame_cache_free_all(struct frame_cache *c)
{
	u32 n = c->nobjs;

	while (c->nobjs)
		frame_free(c->frames[--c->nobjs], 0);
	return n;
}
