/* The shared page-table walker and mapper (see pt.h for the picture). Portable: it reaches tables only through
 * phys_to_virt(), so the host unit tests run it over fake memory. */
#include "mm/pt.h"
#include "hv/errno.h"
#include "hv/platform.h"

const struct pt_format pt_format_host = {
	.name = "host",
	.present = PTE_P,
	.huge = PTE_PS,
	.table_attrs = PTE_P | PTE_W,
	.max_leaf_level = 3,
};

static inline u64 *table_of(hpa_t pa)
{
	return phys_to_virt(pa & PT_ADDR_MASK);
}

static inline bool is_present(const struct pt_format *fmt, u64 e)
{
	return (e & fmt->present) != 0;
}

static inline bool is_leaf(const struct pt_format *fmt, u64 e, int level)
{
	return level == 1 || (e & fmt->huge);
}

/* Replace a huge leaf by a table of next-level leaves with the same translation and attributes, so a partial
 * remap leaves the rest of the huge page as it was. */
static int split_leaf(const struct pt_format *fmt, u64 *entry, int level, pt_alloc_fn alloc)
{
	hpa_t t = alloc();
	if (t == INVALID_HPA)
		return -ENOMEM;
	u64 old = *entry, child_size = pt_level_size(level - 1);
	u64 attrs = old & ~PT_ADDR_MASK;
	u64 base = old & PT_ADDR_MASK & ~(pt_level_size(level) - 1);
	u64 *child = table_of(t);

	if (level - 1 == 1)
		attrs &= ~fmt->huge; /* bit 7 is PAT in a 4K entry, not "huge" */
	for (int i = 0; i < PT_ENTRIES; i++)
		child[i] = (base + (u64)i * child_size) | attrs;
	__atomic_store_n(entry, t | fmt->table_attrs, __ATOMIC_RELEASE);
	return 0;
}

int pt_map(const struct pt_format *fmt, hpa_t root, u64 va, hpa_t pa, u64 size, u64 leaf_attrs, int max_level,
	   pt_alloc_fn alloc)
{
	if (!IS_ALIGNED(va | pa | size, PAGE_SIZE) || max_level < 1)
		return -EINVAL;
	if (max_level > fmt->max_leaf_level)
		max_level = fmt->max_leaf_level;

	while (size) {
		u64 *table = table_of(root);
		int level = PT_LEVELS;

		for (;;) {
			u64 *e = &table[pt_index(va, level)];
			u64 lsize = pt_level_size(level);

			if (level <= max_level && IS_ALIGNED(va | pa, lsize) && size >= lsize) {
				u64 attrs = leaf_attrs | (level > 1 ? fmt->huge : 0);
				__atomic_store_n(e, pa | attrs, __ATOMIC_RELEASE);
				va += lsize;
				pa += lsize;
				size -= lsize;
				break;
			}
			if (!is_present(fmt, *e)) {
				hpa_t t = alloc();
				if (t == INVALID_HPA)
					return -ENOMEM;
				__atomic_store_n(e, t | fmt->table_attrs, __ATOMIC_RELEASE);
			} else if (is_leaf(fmt, *e, level)) {
				int r = split_leaf(fmt, e, level, alloc);
				if (r)
					return r;
			}
			table = table_of(*e);
			level--;
		}
	}
	return 0;
}

u64 *pt_lookup(const struct pt_format *fmt, hpa_t root, u64 va, int *level_out)
{
	u64 *table = table_of(root);

	for (int level = PT_LEVELS; level >= 1; level--) {
		u64 *e = &table[pt_index(va, level)];
		if (!is_present(fmt, *e))
			return NULL;
		if (is_leaf(fmt, *e, level)) {
			if (level_out)
				*level_out = level;
			return e;
		}
		table = table_of(*e);
	}
	return NULL;
}

hpa_t pt_translate(const struct pt_format *fmt, hpa_t root, u64 va)
{
	int level;
	u64 *e = pt_lookup(fmt, root, va, &level);

	if (!e)
		return INVALID_HPA;
	u64 lsize = pt_level_size(level);
	return ((*e & PT_ADDR_MASK) & ~(lsize - 1)) | (va & (lsize - 1));
}
