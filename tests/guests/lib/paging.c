/* Editing the guest's own 4-level page tables. The boot tables (entry.S) identity-map 0..4 GiB with 2 MiB pages; new
 * tables come from a static pool inside the image, so they are identity-mapped too and a table's physical address is
 * also a pointer to it. Windows are fixed virtual slots, one PML4 entry per page size, for mapping any physical
 * address (beyond 4 GiB, or one with odd bits) without disturbing the identity map. */
#include "guest.h"

#define POOL_PAGES 256
static u8 pool[POOL_PAGES][4096] __attribute__((aligned(4096)));
static u32 pool_used;

#define WIN_PML4_INDEX(level) (16 + (level)) /* 4K windows in PML4[17], 2M in [18], 1G in [19] */

u64 pt_alloc_page(void)
{
	if (pool_used >= POOL_PAGES)
		test_fail("page-table pool exhausted (%u pages)", POOL_PAGES);
	u8 *p = pool[pool_used++];
	memset(p, 0, 4096);
	return (u64)p;
}

static unsigned index_of(u64 va, int level)
{
	return (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
}

/* Replace a large page at `level` by a table of the next smaller size with the same translation and attributes. */
static void split(u64 *e, int level)
{
	u64 old = *e, child = level_size(level - 1);
	u64 base = old & PTE_ADDR & ~(level_size(level) - 1);
	u64 attrs = old & (0xfffULL | PTE_NX) & ~PTE_PS & ~(1ULL << 12);
	u64 *t = (u64 *)pt_alloc_page();
	for (int i = 0; i < 512; i++)
		t[i] = (base + (u64)i * child) | attrs | (level - 1 > 1 ? PTE_PS : 0);
	*e = (u64)t | PTE_P | PTE_W;
	flush_tlb();
}

u64 *pt_entry(u64 va, int level, bool alloc)
{
	u64 *table = (u64 *)(read_cr3() & PTE_ADDR);
	for (int l = 4; l > level; l--) {
		u64 *e = &table[index_of(va, l)];
		if (!(*e & PTE_P)) {
			if (!alloc)
				return NULL;
			*e = pt_alloc_page() | PTE_P | PTE_W;
		} else if (l <= 3 && (*e & PTE_PS)) {
			if (!alloc)
				return NULL;
			split(e, l);
		}
		table = (u64 *)(*e & PTE_ADDR);
	}
	return &table[index_of(va, level)];
}

void pt_set_raw(u64 va, int level, u64 raw)
{
	*pt_entry(va, level, true) = raw;
	invlpg(va);
}

void pt_map(u64 va, u64 pa, int level, u64 flags)
{
	pt_set_raw(va, level, pa | flags | PTE_P | (level > 1 ? PTE_PS : 0));
}

u64 win_va(int level, u32 slot)
{
	return ((u64)WIN_PML4_INDEX(level) << 39) + (u64)slot * level_size(level);
}
