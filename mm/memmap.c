/* Range arithmetic over the firmware memory map (see memmap.h). The free list is built by one sweep upward through
 * the address space rather than by sorting and merging copies, so the only memory it needs is the output array and
 * the output never holds an intermediate range that a later step would have to split or drop. */
#include "mm/memmap.h"

#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/string.h"

/* The inputs of one build, so the sweep helpers can see every array. */
struct memmap_input {
	const struct mem_range *usable, *unusable, *reserved;
	u32 nu, nn, nr;
};

/* [*s, *e) of r with the end clipped at MEMMAP_TOP; empty (s == e) when r lies wholly above it. */
static void range_bounds(const struct mem_range *r, u64 *s, u64 *e)
{
	u64 end = r->base + r->len;

	if (end < r->base || end > MEMMAP_TOP)
		end = MEMMAP_TOP;
	*s = MIN(r->base, end);
	*e = end;
}

/* Holes grow outward: a page that is even partly unusable or reserved is not free. */
static void hole_bounds(const struct mem_range *r, u64 *s, u64 *e)
{
	range_bounds(r, s, e);
	if (*s == *e)
		return;
	*s = ALIGN_DOWN(*s, PAGE_SIZE);
	*e = ALIGN_UP(*e, PAGE_SIZE); /* cannot wrap: *e <= MEMMAP_TOP, which is aligned */
}

/* If x lies in one of ranges[0..n) (as holes when `hole`), store that range's end and return true. */
static bool find_containing(const struct mem_range *ranges, u32 n, bool hole, u64 x, u64 *end)
{
	for (u32 i = 0; i < n; i++) {
		u64 s, e;

		if (hole)
			hole_bounds(&ranges[i], &s, &e);
		else
			range_bounds(&ranges[i], &s, &e);
		if (s <= x && x < e) {
			*end = e;
			return true;
		}
	}
	return false;
}

/* Lowest start above x among ranges[0..n), or MEMMAP_TOP if there is none. */
static u64 next_start(const struct mem_range *ranges, u32 n, bool hole, u64 x)
{
	u64 best = MEMMAP_TOP;

	for (u32 i = 0; i < n; i++) {
		u64 s, e;

		if (hole)
			hole_bounds(&ranges[i], &s, &e);
		else
			range_bounds(&ranges[i], &s, &e);
		if (s < e && s > x && s < best)
			best = s;
	}
	return best;
}

static bool hole_at(const struct memmap_input *in, u64 x, u64 *end)
{
	return find_containing(in->unusable, in->nn, true, x, end) ||
	       find_containing(in->reserved, in->nr, true, x, end);
}

/* The first byte at or above x that no usable region covers: usable regions that touch or overlap chain together. */
static u64 usable_run_end(const struct memmap_input *in, u64 x)
{
	u64 e;

	while (find_containing(in->usable, in->nu, false, x, &e))
		x = e;
	return x;
}

int memmap_build_free(const struct mem_range *usable, u32 nu, const struct mem_range *unusable, u32 nn,
		      const struct mem_range *reserved, u32 nr, struct mem_range *out, u32 max_out, u32 *nout)
{
	const struct memmap_input in = {
	    .usable = usable,
	    .unusable = unusable,
	    .reserved = reserved,
	    .nu = nu,
	    .nn = nn,
	    .nr = nr,
	};
	u64 x = 0;
	u32 n = 0;
	int ret = 0;

	/*
	 * Invariant: every byte below x has been classified. Each step moves x strictly upward: past a hole, up to the
	 * next usable region, or past a maximal free byte run. A byte run ends at a non-free byte, so the page-shrunk
	 * runs emitted in order are sorted and separated by at least one non-free page, hence already coalesced.
	 */
	while (x < MEMMAP_TOP) {
		u64 e, y, s, t;

		if (hole_at(&in, x, &e)) {
			x = e;
			continue;
		}
		if (!find_containing(usable, nu, false, x, &e)) {
			x = next_start(usable, nu, false, x);
			continue;
		}
		y = MIN(usable_run_end(&in, x),
			MIN(next_start(unusable, nn, true, x), next_start(reserved, nr, true, x)));
		s = ALIGN_UP(x, PAGE_SIZE);
		t = ALIGN_DOWN(y, PAGE_SIZE);
		if (s < t) {
			if (n == max_out) {
				ret = -ENOSPC;
				break;
			}
			out[n].base = s;
			out[n].len = t - s;
			n++;
		}
		x = y;
	}
	*nout = n;
	return ret;
}

bool memmap_find_fit(const struct mem_range *free, u32 n, u64 size, u64 align, u64 limit, u64 *base)
{
	bool found = false;
	u64 best = 0;

	if (!size || !align || (align & (align - 1)) || size > limit)
		return false;
	for (u32 i = 0; i < n; i++) {
		u64 s, e, b;

		range_bounds(&free[i], &s, &e);
		b = ALIGN_UP(s, align);
		if (b < s || b > e || size > e - b || b > limit - size)
			continue;
		if (!found || b < best) {
			best = b;
			found = true;
		}
	}
	if (found)
		*base = best;
	return found;
}

int memmap_carve(struct mem_range *free, u32 *n, u32 max, u64 base, u64 size)
{
	struct mem_range hole = {.base = base, .len = size};
	u64 hs, he;
	u32 i;

	hole_bounds(&hole, &hs, &he);
	if (hs == he)
		return 0;

	/* Disjoint ranges: at most one can strictly contain the hole, and only it needs a second slot. */
	for (i = 0; i < *n; i++) {
		u64 s = free[i].base, e = s + free[i].len;

		if (s < hs && he < e && *n == max)
			return -ENOSPC;
	}

	i = 0;
	while (i < *n) {
		u64 s = free[i].base, e = s + free[i].len;

		if (e <= hs || he <= s) {
			i++;
		} else if (hs <= s && e <= he) {
			memmove(&free[i], &free[i + 1], (*n - i - 1) * sizeof(*free));
			(*n)--;
		} else if (s < hs && he < e) {
			memmove(&free[i + 2], &free[i + 1], (*n - i - 1) * sizeof(*free));
			free[i].len = hs - s;
			free[i + 1].base = he;
			free[i + 1].len = e - he;
			(*n)++;
			return 0;
		} else if (s < hs) {
			free[i].len = hs - s;
			i++;
		} else {
			free[i].base = he;
			free[i].len = e - he;
			i++;
		}
	}
	return 0;
}

u64 memmap_total(const struct mem_range *ranges, u32 n)
{
	u64 sum = 0;

	for (u32 i = 0; i < n; i++)
		sum += ranges[i].len;
	return sum;
}
