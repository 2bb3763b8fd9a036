/* Buddy allocator over host frame numbers (see pmm.h). Per-frame metadata, indexed by frame - base:
 *
 *   link[i]  { u32 next, prev }  free-list neighbours; meaningful only while frame i heads a free block
 *   state[i] u8                  what frame i is: never available, head of a free or allocated block of some
 *                                order, or a tail frame inside a block
 *
 * Only block heads change state when blocks split or merge; tails stay TAIL for as long as the range is available.
 * That keeps split and merge O(1) per level and still lets pmm_free reject an interior frame in O(1). */
#include "mm/pmm.h"

#include "hv/bug.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"

struct pmm_link {
	u32 next;
	u32 prev;
};

#define PMM_NONE 0xffffffffu /* list terminator */

#define PMM_ST_UNAVAIL 0x00 /* never released with pmm_add_free, or outside every usable range */
#define PMM_ST_TAIL    0x20 /* inside a free or allocated block, not its first frame */
#define PMM_ST_FREE    0x40 /* | order: head of a free block, on free_head[order] */
#define PMM_ST_ALLOC   0x60 /* | order: head of an allocated block */
#define PMM_ST_MASK    0xe0
#define PMM_ORDER_MASK 0x1f

static_assert(PMM_MAX_ORDER <= PMM_ORDER_MASK, "order must fit in the state byte");
static_assert(sizeof(struct pmm_link) == 8, "metadata is 9 bytes per frame");

static inline unsigned int st_kind(u8 st)
{
	return st & PMM_ST_MASK;
}

static inline unsigned int st_order(u8 st)
{
	return st & PMM_ORDER_MASK;
}

size_t pmm_metadata_size(hfn_t base, u64 nframes)
{
	/* Independent of base: blocks are aligned in absolute frame numbers, but metadata covers only [base, +n). */
	return ALIGN_UP(nframes * (sizeof(struct pmm_link) + 1), 8);
}

void pmm_init(struct pmm *p, hfn_t base, u64 nframes, void *metadata)
{
	BUG_ON(nframes > PMM_MAX_FRAMES);
	BUG_ON(base + nframes < base);
	BUG_ON(!IS_ALIGNED((uintptr_t)metadata, 8));

	spin_lock_init(&p->lock);
	p->base = base;
	p->nframes = nframes;
	p->link = metadata;
	p->state = (u8 *)metadata + nframes * sizeof(struct pmm_link);
	memset(p->state, PMM_ST_UNAVAIL, nframes);
	for (unsigned int k = 0; k < PMM_NR_ORDERS; k++) {
		p->free_head[k] = PMM_NONE;
		p->free_blocks[k] = 0;
	}
	p->free_frames = 0;
	p->total_frames = 0;
}

static void __list_push(struct pmm *p, u32 i, unsigned int order)
{
	u32 head;

	assert_spin_held(&p->lock);
	head = p->free_head[order];
	p->link[i].next = head;
	p->link[i].prev = PMM_NONE;
	if (head != PMM_NONE)
		p->link[head].prev = i;
	p->free_head[order] = i;
	p->state[i] = PMM_ST_FREE | order;
	p->free_blocks[order]++;
}

/* Unlink free block i of `order`; its state byte is the caller's to rewrite. */
static void __list_del(struct pmm *p, u32 i, unsigned int order)
{
	struct pmm_link *l;

	assert_spin_held(&p->lock);
	l = &p->link[i];
	if (l->prev != PMM_NONE)
		p->link[l->prev].next = l->next;
	else
		p->free_head[order] = l->next;
	if (l->next != PMM_NONE)
		p->link[l->next].prev = l->prev;
	p->free_blocks[order]--;
}

/*
 * Put the block at index i of `order`, whose frames are all TAIL except possibly its head, on a free list, merging
 * it with its buddy for as long as the buddy is a whole free block of the same order. Does not touch free_frames.
 */
static void __free_block(struct pmm *p, u32 i, unsigned int order)
{
	hfn_t f = p->base + i;

	assert_spin_held(&p->lock);
	while (order < PMM_MAX_ORDER) {
		hfn_t buddy = f ^ (1ULL << order);
		u32 bi;

		if (buddy < p->base || buddy - p->base >= p->nframes)
			break;
		bi = (u32)(buddy - p->base);
		if (p->state[bi] != (PMM_ST_FREE | order))
			break;
		__list_del(p, bi, order);
		/* The higher half's head becomes a tail of the merged block. */
		p->state[(buddy > f ? bi : i)] = PMM_ST_TAIL;
		if (buddy < f) {
			f = buddy;
			i = bi;
		}
		order++;
	}
	__list_push(p, i, order);
}

/*
 * Take free block i of order `have` off its list and return its first 2^order frames as an allocated block,
 * splitting the rest into free halves from the top down.
 */
static void __take_block(struct pmm *p, u32 i, unsigned int have, unsigned int order)
{
	assert_spin_held(&p->lock);
	__list_del(p, i, have);
	while (have > order) {
		have--;
		__list_push(p, i + (1u << have), have);
	}
	p->state[i] = PMM_ST_ALLOC | order;
	p->free_frames -= 1ULL << order;
}

int pmm_add_free(struct pmm *p, hfn_t start, u64 n)
{
	u64 first, end;

	if (!n)
		return 0;
	spin_lock(&p->lock);
	if (start < p->base || start - p->base > p->nframes || n > p->nframes - (start - p->base)) {
		spin_unlock(&p->lock);
		pr_err("pmm: add_free of frames 0x%llx+0x%llx outside [0x%llx, 0x%llx)\n", (unsigned long long)start,
		       (unsigned long long)n, (unsigned long long)p->base, (unsigned long long)(p->base + p->nframes));
		return -EINVAL;
	}
	first = start - p->base;
	end = first + n;
	for (u64 i = first; i < end; i++) {
		if (p->state[i] != PMM_ST_UNAVAIL) {
			spin_unlock(&p->lock);
			pr_err("pmm: add_free of frame 0x%llx, which is already available\n",
			       (unsigned long long)(p->base + i));
			return -EINVAL;
		}
	}

	for (u64 i = first; i < end;) {
		hfn_t f = p->base + i;
		unsigned int order = PMM_MAX_ORDER;

		/* Largest block that is naturally aligned at f and still inside the range. */
		while (!IS_ALIGNED(f, 1ULL << order) || (1ULL << order) > end - i)
			order--;
		memset(&p->state[i + 1], PMM_ST_TAIL, (1ULL << order) - 1);
		__free_block(p, (u32)i, order);
		i += 1ULL << order;
	}
	p->free_frames += n;
	p->total_frames += n;
	spin_unlock(&p->lock);
	return 0;
}

int pmm_alloc(struct pmm *p, unsigned int order, hfn_t *out)
{
	if (order > PMM_MAX_ORDER)
		return -EINVAL;
	spin_lock(&p->lock);
	for (unsigned int k = order; k < PMM_NR_ORDERS; k++) {
		u32 i = p->free_head[k];

		if (i == PMM_NONE)
			continue;
		__take_block(p, i, k, order);
		spin_unlock(&p->lock);
		*out = p->base + i;
		return 0;
	}
	spin_unlock(&p->lock);
	return -ENOMEM;
}

int pmm_alloc_below(struct pmm *p, unsigned int order, hfn_t limit, hfn_t *out)
{
	if (order > PMM_MAX_ORDER)
		return -EINVAL;
	spin_lock(&p->lock);
	/*
	 * The lowest 2^order frames of a larger free block are the ones split off, so a block qualifies if its start
	 * does. Lists are unordered, so this scans them; it serves a handful of boot-time allocations.
	 */
	for (unsigned int k = order; k < PMM_NR_ORDERS; k++) {
		for (u32 i = p->free_head[k]; i != PMM_NONE; i = p->link[i].next) {
			hfn_t f = p->base + i;

			if (f < limit && (1ULL << order) <= limit - f) {
				__take_block(p, i, k, order);
				spin_unlock(&p->lock);
				*out = f;
				return 0;
			}
		}
	}
	spin_unlock(&p->lock);
	return -ENOMEM;
}

/* Why freeing block f of `order` would be wrong, or NULL if it is a live allocation of that order. */
static const char *__free_error(struct pmm *p, hfn_t f, unsigned int order)
{
	u8 st;

	assert_spin_held(&p->lock);
	if (order > PMM_MAX_ORDER)
		return "order out of range";
	if (f < p->base || f - p->base >= p->nframes)
		return "frame outside the allocator";
	if (!IS_ALIGNED(f, 1ULL << order))
		return "frame misaligned for the order";
	st = p->state[f - p->base];
	switch (st_kind(st)) {
	case PMM_ST_ALLOC:
		return st_order(st) == order ? NULL : "order differs from the allocation";
	case PMM_ST_FREE:
		return "double free";
	case PMM_ST_TAIL:
		return "not the head of an allocated block";
	default:
		return "frame was never available";
	}
}

int pmm_free(struct pmm *p, hfn_t f, unsigned int order)
{
	const char *why;

	spin_lock(&p->lock);
	why = __free_error(p, f, order);
	if (why) {
		spin_unlock(&p->lock);
		pr_err("pmm: rejected free of frame 0x%llx order %u: %s\n", (unsigned long long)f, order, why);
		return -EINVAL;
	}
	__free_block(p, (u32)(f - p->base), order);
	p->free_frames += 1ULL << order;
	spin_unlock(&p->lock);
	return 0;
}

u64 pmm_free_frames(struct pmm *p)
{
	u64 n;

	spin_lock(&p->lock);
	n = p->free_frames;
	spin_unlock(&p->lock);
	return n;
}

u64 pmm_total_frames(struct pmm *p)
{
	u64 n;

	spin_lock(&p->lock);
	n = p->total_frames;
	spin_unlock(&p->lock);
	return n;
}

u64 pmm_free_blocks_of_order(struct pmm *p, unsigned int order)
{
	u64 n;

	if (order > PMM_MAX_ORDER)
		return 0;
	spin_lock(&p->lock);
	n = p->free_blocks[order];
	spin_unlock(&p->lock);
	return n;
}

void pmm_dump(struct pmm *p)
{
	u64 blocks[PMM_NR_ORDERS], free, total;

	/* Snapshot first: the console may be slow, and nothing else should wait on it for the lock. */
	spin_lock(&p->lock);
	memcpy(blocks, p->free_blocks, sizeof(blocks));
	free = p->free_frames;
	total = p->total_frames;
	spin_unlock(&p->lock);

	pr_info("pmm: frames [0x%llx, 0x%llx): %llu of %llu available frames free\n", (unsigned long long)p->base,
		(unsigned long long)(p->base + p->nframes), (unsigned long long)free, (unsigned long long)total);
	for (unsigned int k = 0; k < PMM_NR_ORDERS; k++)
		pr_info("pmm:   order %u (%llu KiB): %llu free\n", k, 4ULL << k, (unsigned long long)blocks[k]);
}

static int __verify_lists(struct pmm *p)
{
	assert_spin_held(&p->lock);
	for (unsigned int k = 0; k < PMM_NR_ORDERS; k++) {
		u64 count = 0;
		u32 prev = PMM_NONE;

		for (u32 i = p->free_head[k]; i != PMM_NONE; prev = i, i = p->link[i].next) {
			if (i >= p->nframes || count++ > p->nframes) {
				pr_err("pmm: verify: order %u list runs wild at index 0x%x\n", k, i);
				return -EINVAL;
			}
			if (p->state[i] != (PMM_ST_FREE | k) || p->link[i].prev != prev) {
				pr_err(
				    "pmm: verify: frame 0x%llx on order %u list has state 0x%x prev 0x%x (want 0x%x)\n",
				    (unsigned long long)(p->base + i), k, p->state[i], p->link[i].prev, prev);
				return -EINVAL;
			}
		}
		if (count != p->free_blocks[k]) {
			pr_err("pmm: verify: order %u list holds %llu blocks, counter says %llu\n", k,
			       (unsigned long long)count, (unsigned long long)p->free_blocks[k]);
			return -EINVAL;
		}
	}
	return 0;
}

static int __verify_frames(struct pmm *p)
{
	u64 free = 0, avail = 0, heads[PMM_NR_ORDERS] = {0};

	assert_spin_held(&p->lock);
	for (u64 i = 0; i < p->nframes;) {
		u8 st = p->state[i];
		hfn_t f = p->base + i;
		unsigned int k = st_order(st);
		u64 size = 1ULL << k;

		if (st == PMM_ST_UNAVAIL) {
			i++;
			continue;
		}
		if ((st_kind(st) != PMM_ST_FREE && st_kind(st) != PMM_ST_ALLOC) || k > PMM_MAX_ORDER ||
		    !IS_ALIGNED(f, size) || size > p->nframes - i) {
			pr_err("pmm: verify: frame 0x%llx has state 0x%x where a block head belongs\n",
			       (unsigned long long)f, st);
			return -EINVAL;
		}
		for (u64 j = 1; j < size; j++) {
			if (p->state[i + j] != PMM_ST_TAIL) {
				pr_err("pmm: verify: frame 0x%llx inside the block at 0x%llx has state 0x%x\n",
				       (unsigned long long)(f + j), (unsigned long long)f, p->state[i + j]);
				return -EINVAL;
			}
		}
		if (st_kind(st) == PMM_ST_FREE) {
			hfn_t buddy = f ^ size;

			/* Eager merging means two free buddies of one order never coexist. */
			if (k < PMM_MAX_ORDER && buddy >= p->base && buddy - p->base < p->nframes &&
			    p->state[buddy - p->base] == (PMM_ST_FREE | k)) {
				pr_err("pmm: verify: free buddies 0x%llx and 0x%llx of order %u not merged\n",
				       (unsigned long long)f, (unsigned long long)buddy, k);
				return -EINVAL;
			}
			free += size;
			heads[k]++;
		}
		avail += size;
		i += size;
	}
	if (free != p->free_frames || avail != p->total_frames) {
		pr_err("pmm: verify: counted %llu free / %llu available frames, counters say %llu / %llu\n",
		       (unsigned long long)free, (unsigned long long)avail, (unsigned long long)p->free_frames,
		       (unsigned long long)p->total_frames);
		return -EINVAL;
	}
	for (unsigned int k = 0; k < PMM_NR_ORDERS; k++) {
		if (heads[k] != p->free_blocks[k]) {
			pr_err("pmm: verify: %llu free heads of order %u, counter says %llu\n",
			       (unsigned long long)heads[k], k, (unsigned long long)p->free_blocks[k]);
			return -EINVAL;
		}
	}
	return 0;
}

int pmm_verify(struct pmm *p)
{
	int ret;

	spin_lock(&p->lock);
	ret = __verify_lists(p);
	if (!ret)
		ret = __verify_frames(p);
	spin_unlock(&p->lock);
	return ret;
}
