/* Unit tests of mm/pt.c, the host mapper, over fake physical memory: leaves at every level, splitting a huge leaf on
 * a partial remap without disturbing the rest of it, argument checks, running out of table frames, and canonical
 * high addresses (the direct map and the image live there). */
#include <string.h>

#include "fake_platform.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "mm/pt.h"
#include "test.h"

#define G (1ULL << 30)
#define M2 (1ULL << 21)

static const struct pt_format *host = &pt_format_host;
static u64 base_frames;

static hpa_t alloc_table(void)
{
	return frame_alloc(0);
}

static hpa_t new_root(void)
{
	base_frames = fake_mem_frames_in_use();
	hpa_t root = frame_alloc(0);
	CHECK(root != INVALID_HPA);
	return root;
}

/* Free every table below `table` (entries at `level`), then the table. */
static void free_tree(hpa_t table, int level)
{
	u64 *pt = phys_to_virt(table);

	for (int i = 0; i < PT_ENTRIES && level > 1; i++) {
		if ((pt[i] & PTE_P) && !(pt[i] & PTE_PS))
			free_tree(pt[i] & PT_ADDR_MASK, level - 1);
	}
	frame_free(table, 0);
}

static void done(hpa_t root)
{
	free_tree(root, PT_LEVELS);
	CHECK_EQ(fake_mem_frames_in_use(), base_frames);
}

static void check_leaf(hpa_t root, u64 va, hpa_t pa, int level)
{
	int l = 0;
	u64 *e = pt_lookup(host, root, va, &l);

	CHECK(e);
	CHECK_EQ(l, level);
	CHECK_EQ(pt_translate(host, root, va), pa);
	CHECK_EQ(!!(*e & PTE_PS), level > 1);
}

TEST(pt_map_4k_leaf_and_tables)
{
	hpa_t root = new_root();

	CHECK_EQ(pt_map(host, root, 0x400000, 0x123000, PAGE_SIZE, PTE_P | PTE_W, 3, alloc_table), 0);
	check_leaf(root, 0x400000, 0x123000, 1);
	CHECK_EQ(pt_translate(host, root, 0x400abc), 0x123abc);
	CHECK_EQ(pt_translate(host, root, 0x401000), INVALID_HPA);
	CHECK(!pt_lookup(host, root, 0x401000, NULL));
	/* The path: three tables below the root, each entry with the table attributes. */
	CHECK_EQ(fake_mem_frames_in_use(), base_frames + 4);
	u64 *pml4 = phys_to_virt(root);
	CHECK_EQ(pml4[0] & ~PT_ADDR_MASK, PTE_P | PTE_W);
	done(root);
}

TEST(pt_map_2m_and_1g_leaves)
{
	hpa_t root = new_root();

	CHECK_EQ(pt_map(host, root, 2 * M2, 6 * M2, 2 * M2, PTE_P | PTE_W, 2, alloc_table), 0);
	check_leaf(root, 2 * M2, 6 * M2, 2);
	check_leaf(root, 3 * M2 + 0x34000, 7 * M2 + 0x34000, 2);
	CHECK_EQ(pt_map(host, root, 4 * G, 9 * G, G, PTE_P, 3, alloc_table), 0);
	check_leaf(root, 4 * G + 0x3456789 - 0x789, 9 * G + 0x3456000, 3);
	/* max_level 2 on a 1G-aligned range: 512 2M leaves instead. */
	CHECK_EQ(pt_map(host, root, 8 * G, 2 * G, G, PTE_P, 2, alloc_table), 0);
	check_leaf(root, 8 * G + 5 * M2, 2 * G + 5 * M2, 2);
	done(root);
}

TEST(pt_map_uses_largest_leaf_alignment_allows)
{
	hpa_t root = new_root();

	/* [1M, 5M): 4K leaves up to 2M, one 2M leaf, 4K leaves after 4M. */
	CHECK_EQ(pt_map(host, root, 0x100000, 0x100000, 0x400000, PTE_P | PTE_W, 3, alloc_table), 0);
	check_leaf(root, 0x100000, 0x100000, 1);
	check_leaf(root, 0x1ff000, 0x1ff000, 1);
	check_leaf(root, 0x200000, 0x200000, 2);
	check_leaf(root, 0x400000, 0x400000, 1);
	check_leaf(root, 0x4ff000, 0x4ff000, 1);
	CHECK_EQ(pt_translate(host, root, 0x500000), INVALID_HPA);
	/* va and pa aligned differently: 4K leaves only. */
	CHECK_EQ(pt_map(host, root, 16 * M2, 16 * M2 + PAGE_SIZE, M2, PTE_P, 3, alloc_table), 0);
	check_leaf(root, 16 * M2, 16 * M2 + PAGE_SIZE, 1);
	done(root);
}

TEST(pt_partial_remap_splits_huge_leaf_preserving_the_rest)
{
	hpa_t root = new_root();
	u64 va = 2 * G, pa = 5 * G, nx = PTE_NX;

	CHECK_EQ(pt_map(host, root, va, pa, G, PTE_P | PTE_W | nx, 3, alloc_table), 0);
	check_leaf(root, va, pa, 3);
	/* Remap one 4K page in the middle: the 1G leaf becomes 2M leaves, the 2M one around the page 4K leaves. */
	CHECK_EQ(pt_map(host, root, va + 3 * M2 + 0x5000, 0x777000, PAGE_SIZE, PTE_P, 1, alloc_table), 0);
	check_leaf(root, va + 3 * M2 + 0x5000, 0x777000, 1);
	for (u64 off = 0; off < G; off += 0x3ff000) {
		if (off >> 12 == (3 * M2 + 0x5000) >> 12)
			continue;
		CHECK_EQ(pt_translate(host, root, va + off), pa + off);
		int level;
		u64 *e = pt_lookup(host, root, va + off, &level);
		CHECK_EQ(level, (off >> 21) == 3 ? 1 : 2);
		CHECK_EQ(*e & (PTE_W | PTE_NX | PTE_P), PTE_W | PTE_NX | PTE_P); /* attributes kept by the split */
		CHECK(!(level == 1 && (*e & PTE_PS)));                          /* bit 7 is PAT in a 4K entry */
	}
	CHECK_EQ(pt_translate(host, root, va + 3 * M2 + 0x4fff), pa + 3 * M2 + 0x4fff);
	CHECK_EQ(pt_translate(host, root, va + 3 * M2 + 0x6000), pa + 3 * M2 + 0x6000);
	done(root);
}

TEST(pt_remap_replaces_leaves_in_place)
{
	hpa_t root = new_root();

	CHECK_EQ(pt_map(host, root, 0, 0x10000000, M2, PTE_P, 2, alloc_table), 0);
	u64 frames = fake_mem_frames_in_use();
	CHECK_EQ(pt_map(host, root, 0, 0x20000000, M2, PTE_P | PTE_W, 2, alloc_table), 0);
	check_leaf(root, 0x1000, 0x20001000, 2);
	CHECK_EQ(fake_mem_frames_in_use(), frames);
	/* A 2M-capable map over an existing 4K table keeps the table and fills it (pt_map never frees tables). */
	CHECK_EQ(pt_map(host, root, 4 * M2, 0x100000, PAGE_SIZE, PTE_P, 1, alloc_table), 0);
	CHECK_EQ(pt_map(host, root, 4 * M2, 0x30000000, M2, PTE_P, 2, alloc_table), 0);
	check_leaf(root, 4 * M2 + 0x7000, 0x30007000, 1);
	done(root);
}

TEST(pt_map_rejects_unaligned_arguments)
{
	hpa_t root = new_root();

	CHECK_EQ(pt_map(host, root, 0x1001, 0x2000, PAGE_SIZE, PTE_P, 1, alloc_table), -EINVAL);
	CHECK_EQ(pt_map(host, root, 0x1000, 0x2001, PAGE_SIZE, PTE_P, 1, alloc_table), -EINVAL);
	CHECK_EQ(pt_map(host, root, 0x1000, 0x2000, 0x800, PTE_P, 1, alloc_table), -EINVAL);
	CHECK_EQ(pt_map(host, root, 0x1000, 0x2000, PAGE_SIZE, PTE_P, 0, alloc_table), -EINVAL);
	CHECK_EQ(pt_map(host, root, 0x1000, 1ULL << 52, PAGE_SIZE, PTE_P, 1, alloc_table), -EINVAL);
	CHECK_EQ(pt_map(host, root, 0x7ffffffff000, 0, 2 * PAGE_SIZE, PTE_P, 1, alloc_table), -EINVAL); /* the hole */
	CHECK_EQ(pt_map(host, root, 0x1000, 0x2000, 0, PTE_P, 1, alloc_table), 0);
	/* Nothing was touched. */
	CHECK_EQ(fake_mem_frames_in_use(), base_frames + 1);
	u64 *pml4 = phys_to_virt(root);
	for (int i = 0; i < PT_ENTRIES; i++)
		CHECK_EQ(pml4[i], 0);
	done(root);
}

TEST(pt_map_out_of_memory_keeps_what_was_mapped)
{
	hpa_t root = new_root();

	/* Two 4K pages 1G apart need PDPT + PD + PT, then a PD + PT more: let only three tables through. */
	fake_mem_fail_after(3);
	int r = pt_map(host, root, G - PAGE_SIZE, 0x5000, 2 * PAGE_SIZE, PTE_P, 1, alloc_table);
	fake_mem_fail_after(~0ULL);
	CHECK_EQ(r, -ENOMEM);
	check_leaf(root, G - PAGE_SIZE, 0x5000, 1);
	CHECK_EQ(pt_translate(host, root, G), INVALID_HPA);
	/* Splitting needs a table too. */
	CHECK_EQ(pt_map(host, root, 4 * G, 0, G, PTE_P, 3, alloc_table), 0);
	fake_mem_fail_after(0);
	r = pt_map(host, root, 4 * G, 0x9000, PAGE_SIZE, PTE_P, 1, alloc_table);
	fake_mem_fail_after(~0ULL);
	CHECK_EQ(r, -ENOMEM);
	check_leaf(root, 4 * G, 0, 3);
	/* Retrying with memory completes the job. */
	CHECK_EQ(pt_map(host, root, G - PAGE_SIZE, 0x5000, 2 * PAGE_SIZE, PTE_P, 1, alloc_table), 0);
	check_leaf(root, G, 0x6000, 1);
	done(root);
}

TEST(pt_map_canonical_high_addresses)
{
	hpa_t root = new_root();
	u64 direct = 0xffff800000000000ULL, image = 0xffffffff80000000ULL, top = 0xfffffffffffff000ULL;

	CHECK_EQ(pt_map(host, root, direct, 0, 2 * G, PTE_P | PTE_W, 3, alloc_table), 0);
	CHECK_EQ(pt_map(host, root, image, 0x200000, 0x3000, PTE_P, 1, alloc_table), 0);
	CHECK_EQ(pt_map(host, root, top, 0xabc000, PAGE_SIZE, PTE_P, 1, alloc_table), 0);
	check_leaf(root, direct + G + 0x1234000, G + 0x1234000, 3);
	check_leaf(root, image + 0x2000, 0x202000, 1);
	check_leaf(root, top, 0xabc000, 1);
	u64 *pml4 = phys_to_virt(root);
	CHECK(pml4[256] & PTE_P);
	CHECK(pml4[511] & PTE_P);
	CHECK_EQ(pml4[0], 0);
	done(root);
}
