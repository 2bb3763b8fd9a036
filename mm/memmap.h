/* Range arithmetic over the firmware memory map: turn the usable, non-usable and reserved regions the boot code
 * collects into the sorted, page-aligned list of frames the allocators may hand out. Pure: no allocation, no
 * locking, no access to the memory described. */
#ifndef HV_MM_MEMMAP_H
#define HV_MM_MEMMAP_H

#include "hv/types.h"

/* [base, base + len) in bytes. A region whose end would pass 2^64 is clipped at MEMMAP_TOP. */
struct mem_range {
	u64 base;
	u64 len;
};

/* The highest representable exclusive end: the last 4K page of the address space is never free. */
#define MEMMAP_TOP (0ULL - PAGE_SIZE)

/*
 * Build the free list. A 4K page is free iff every byte of it is covered by the union of `usable`, and no byte of
 * it is covered by any `unusable` (non-usable firmware region: ACPI, NVS, reserved, bad, ...) or `reserved` (the
 * hypervisor image, modules, the multiboot info, frame 0, ...) range. Inputs may be unsorted, overlapping and
 * unaligned; zero-length ranges are ignored. Output: out[0..*nout) sorted, disjoint, page-aligned, and coalesced
 * (no two ranges touch). Returns 0, or -ENOSPC if more than max_out ranges would be needed, in which case out holds
 * the lowest max_out of them and *nout == max_out.
 */
int memmap_build_free(const struct mem_range *usable, u32 nu, const struct mem_range *unusable, u32 nn,
		      const struct mem_range *reserved, u32 nr, struct mem_range *out, u32 max_out, u32 *nout);

/*
 * Lowest base, a multiple of `align` (a power of two), such that [base, base + size) lies inside one range of the
 * free list and ends at or below `limit`. Returns false if nothing fits or size is 0.
 */
bool memmap_find_fit(const struct mem_range *free, u32 n, u64 size, u64 align, u64 limit, u64 *base);

/*
 * Remove [base, base + size), grown outward to page boundaries, from the free list free[0..*n), keeping it sorted
 * and disjoint. The range may span several free ranges or none. Returns 0, or -ENOSPC (list unchanged) if punching
 * a hole in the middle of a range needs a slot beyond `max`.
 */
int memmap_carve(struct mem_range *free, u32 *n, u32 max, u64 base, u64 size);

/* Sum of the lengths of ranges[0..n). */
u64 memmap_total(const struct mem_range *ranges, u32 n);

#endif
