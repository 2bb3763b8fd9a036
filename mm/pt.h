/* The page-table engine: one walker and mapper for every x86 4-level radix format. A format supplies only its bits
 * (present, writable, the huge-page bit, the attributes of non-leaf entries); the host tables use it today, and the
 * TDP MMU reuses the same format descriptors for EPT and NPT entries.
 *
 *   level 4 (PML4) --> level 3 (PDPT, 1G leaves) --> level 2 (PD, 2M leaves) --> level 1 (PT, 4K leaves)
 *   va bits: [47:39]            [38:30]                   [29:21]                  [20:12]
 */
#ifndef MM_PT_H
#define MM_PT_H

#include "hv/compiler.h"

#define PT_LEVELS 4
#define PT_ENTRIES 512
#define PT_ADDR_MASK GENMASK_ULL(51, 12)

struct pt_format {
	const char *name;
	u64 present;     /* bits meaning "this entry maps or points to something" */
	u64 huge;        /* leaf at level 2 or 3 */
	u64 table_attrs; /* attributes of an entry that points to a lower table */
	u8 max_leaf_level; /* 3 when 1G leaves are allowed, 2 for 2M only */
};

/* Host (and NPT) format bits. */
#define PTE_P BIT(0)
#define PTE_W BIT(1)
#define PTE_U BIT(2)
#define PTE_PWT BIT(3)
#define PTE_PCD BIT(4)
#define PTE_A BIT(5)
#define PTE_D BIT(6)
#define PTE_PS BIT(7)
#define PTE_G BIT(8)
#define PTE_NX BIT(63)

static inline unsigned int pt_index(u64 va, int level)
{
	return (va >> (PAGE_SHIFT + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

static inline u64 pt_level_size(int level)
{
	return 1ULL << (PAGE_SHIFT + 9 * (level - 1));
}

/* Supplies zeroed table frames; returns INVALID_HPA when out of memory. */
typedef hpa_t (*pt_alloc_fn)(void);

/* Map [va, va+size) to [pa, pa+size) with `leaf_attrs`, using the largest leaves that alignment, the format and
 * `max_level` allow. Existing mappings in the range are replaced; a replaced huge leaf that is only partly covered is
 * split first so the rest of it keeps its translation. va, pa and size must be page-aligned (-EINVAL otherwise).
 * Returns 0 or -ENOMEM (mappings made so far stay). */
int pt_map(const struct pt_format *fmt, hpa_t root, u64 va, hpa_t pa, u64 size, u64 leaf_attrs, int max_level,
	   pt_alloc_fn alloc);

/* The leaf entry translating va and its level, or NULL when va is not mapped. */
u64 *pt_lookup(const struct pt_format *fmt, hpa_t root, u64 va, int *level);

/* Translate va; INVALID_HPA when not mapped. */
hpa_t pt_translate(const struct pt_format *fmt, hpa_t root, u64 va);

extern const struct pt_format pt_format_host;

#endif
