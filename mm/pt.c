/* The page-table formats, and the host mapper built on the shared walker (mm/pt_iter.h): the host tables, EPT
 * and NPT are all walked by the same code. Portable: tables are reached only through phys_to_virt(), so host unit
 * tests run this over fake memory. */
#include "mm/pt.h"
#include "hv/bug.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "mm/pt_iter.h"
#include "mm/spte.h"

const struct pt_format pt_format_host = {
	.name = "host",
	.present = PTE_P,
	.readable = PTE_P,
	.writable = PTE_W,
	.nx = PTE_NX,
	.user = PTE_U,
	.accessed = PTE_A,
	.dirty = PTE_D,
	.huge = PTE_PS,
	.table_attrs = PTE_P | PTE_W,
	.hw_mask = X86_PTE_HW_MASK,
	.max_leaf_level = 3,
	.ad_enabled = true,
};

/* EPT with and without accessed/dirty flags differ only in those bits. */
#define EPT_FORMAT_COMMON                                                                                              \
	.present = SPTE_MMU_PRESENT, .readable = EPT_R, .writable = EPT_W, .executable = EPT_X, .huge = EPT_PS,       \
	.leaf_attrs = EPT_MT_WB | EPT_IPAT, .mmio_mask = EPT_MMIO_MASK, .mmio_value = EPT_MMIO_VALUE,                 \
	.hw_mask = EPT_HW_MASK, .max_leaf_level = 3

const struct pt_format pt_format_ept = {
	EPT_FORMAT_COMMON,
	.name = "ept",
	.accessed = EPT_A,
	.dirty = EPT_D,
	.table_attrs = SPTE_MMU_PRESENT | EPT_RWX | EPT_A,
	.ad_enabled = true,
};

const struct pt_format pt_format_ept_noad = {
	EPT_FORMAT_COMMON,
	.name = "ept-noad",
	.table_attrs = SPTE_MMU_PRESENT | EPT_RWX,
	.ad_enabled = false,
};

/* Every level carries P|W|U: the nested walk checks each level's permissions as a user access. NX is clear in tables
 * so only the leaf decides execution. The memory type comes from the host PAT entry 0 (WB) combined with the guest's
 * own PAT, as the APM specifies for nested paging. */
const struct pt_format pt_format_npt = {
	.name = "npt",
	.present = SPTE_MMU_PRESENT,
	.readable = PTE_P,
	.writable = PTE_W,
	.nx = PTE_NX,
	.user = PTE_U,
	.accessed = PTE_A,
	.dirty = PTE_D,
	.huge = PTE_PS,
	.table_attrs = SPTE_MMU_PRESENT | PTE_P | PTE_W | PTE_U | PTE_A,
	.mmio_mask = NPT_MMIO_MASK,
	.mmio_value = NPT_MMIO_VALUE,
	.hw_mask = X86_PTE_HW_MASK,
	.max_leaf_level = 3,
	.ad_enabled = true,
};

/* Host virtual addresses are canonical: dropping bits 63:48 gives the page number the 4-level tree indexes by. */
static inline u64 va_to_pfn(u64 va)
{
	return (va & (PT_MAX_PFN * PAGE_SIZE - 1)) >> PAGE_SHIFT;
}

/* Replace the huge leaf under the walker by a table of next-level leaves with the same translation and attributes,
 * fully built before it is published, so a concurrent walker sees either the huge leaf or the complete table. */
static int split_leaf(const struct pt_format *fmt, struct pt_iter *iter, pt_alloc_fn alloc)
{
	hpa_t t = alloc();

	if (t == INVALID_HPA)
		return -ENOMEM;
	u64 *child = phys_to_virt(t);
	for (unsigned int i = 0; i < PT_ENTRIES; i++)
		child[i] = pt_huge_child(fmt, iter->old_spte, iter->level, i);
	iter->old_spte = t | fmt->table_attrs;
	__atomic_store_n(iter->sptep, iter->old_spte, __ATOMIC_RELEASE);
	return 0;
}

static int link_table(const struct pt_format *fmt, struct pt_iter *iter, pt_alloc_fn alloc)
{
	hpa_t t = alloc();

	if (t == INVALID_HPA)
		return -ENOMEM;
	iter->old_spte = t | fmt->table_attrs;
	__atomic_store_n(iter->sptep, iter->old_spte, __ATOMIC_RELEASE);
	return 0;
}

int pt_map(const struct pt_format *fmt, hpa_t root, u64 va, hpa_t pa, u64 size, u64 leaf_attrs, int max_level,
	   pt_alloc_fn alloc)
{
	struct pt_iter iter;
	u64 start = va_to_pfn(va), end = start + (size >> PAGE_SHIFT);

	if (!IS_ALIGNED(va | pa | size, PAGE_SIZE) || max_level < 1)
		return -EINVAL;
	if (!size)
		return 0;
	/* Within the 48-bit space, on one side of the canonical hole, and below the 52-bit physical limit. */
	if (end > PT_MAX_PFN || (start ^ (end - 1)) >> 35 || pa >= BIT(52) || size > BIT(52) - pa)
		return -EINVAL;
	if (max_level > fmt->max_leaf_level)
		max_level = fmt->max_leaf_level;

	for_each_pt_entry(iter, fmt, root, PT_LEVELS, start, end) {
		u64 pages = pt_level_pages(iter.level);
		bool present = pt_is_present(fmt, iter.old_spte);
		bool table = present && !pt_is_leaf(fmt, iter.old_spte, iter.level);
		int r;

		if (table)
			continue; /* step down and fill it */
		if (iter.level <= max_level && iter.gfn >= start && iter.gfn + pages <= end) {
			hpa_t leaf_pa = pa + ((iter.gfn - start) << PAGE_SHIFT);
			if (IS_ALIGNED(leaf_pa, pages << PAGE_SHIFT)) {
				iter.old_spte = leaf_pa | leaf_attrs | (iter.level > 1 ? fmt->huge : 0);
				__atomic_store_n(iter.sptep, iter.old_spte, __ATOMIC_RELEASE);
				continue; /* a leaf: the walk steps sideways */
			}
		}
		/* Too big or misaligned for a leaf here: go one level down, through a new table or a split. A 4K entry
		 * always takes a leaf, so this is never reached at level 1. */
		BUG_ON(iter.level == 1);
		r = present ? split_leaf(fmt, &iter, alloc) : link_table(fmt, &iter, alloc);
		if (r)
			return r;
	}
	return 0;
}

u64 *pt_lookup(const struct pt_format *fmt, hpa_t root, u64 va, int *level_out)
{
	struct pt_iter iter;
	u64 pfn = va_to_pfn(va);

	for_each_pt_entry(iter, fmt, root, PT_LEVELS, pfn, pfn + 1) {
		if (!pt_is_present(fmt, iter.old_spte))
			return NULL;
		if (pt_is_leaf(fmt, iter.old_spte, iter.level)) {
			if (level_out)
				*level_out = iter.level;
			return iter.sptep;
		}
	}
	return NULL;
}

hpa_t pt_translate(const struct pt_format *fmt, hpa_t root, u64 va)
{
	int level;
	u64 *e = pt_lookup(fmt, root, va, &level);

	if (!e)
		return INVALID_HPA;
	return pt_leaf_hpa(*e, level) | (va & (pt_level_size(level) - 1));
}
