/* Unit tests of mm/pt_iter.c, the pre-order walker every range operation uses: exactly which entries a walk
 * visits (present or not, across table boundaries, honouring min_level, up to the top of the address space), and
 * that a walk restarted after the tree changed under it sees the tree as it is now. Trees are built with pt_map in
 * the host format over fake memory; the walker is format-neutral. */
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "hv/platform.h"
#include "mm/pt_iter.h"
#include "mm/pt.h"
#include "test.h"

static const struct pt_format *host = &pt_format_host;

struct visit {
	int level;
	gfn_t gfn;
	u64 spte;
};

/* An expected visit. */
struct pos {
	int level;
	gfn_t gfn;
};

#define MAX_VISITS 4096
static struct visit visits[MAX_VISITS];
static int nvisits;

static hpa_t alloc_table(void)
{
	return frame_alloc(0);
}

static void free_tree(hpa_t table, int level)
{
	u64 *pt = phys_to_virt(table);

	for (int i = 0; i < PT_ENTRIES && level > 1; i++) {
		if ((pt[i] & PTE_P) && !(pt[i] & PTE_PS))
			free_tree(pt[i] & PT_ADDR_MASK, level - 1);
	}
	frame_free(table, 0);
}

static void map(hpa_t root, gfn_t gfn, u64 pages, int level)
{
	CHECK_EQ(pt_map(host, root, gfn << PAGE_SHIFT, 0x10000000 + (gfn << PAGE_SHIFT), pages << PAGE_SHIFT, PTE_P,
			level, alloc_table),
		 0);
}

static void record(hpa_t root, int min_level, gfn_t start, gfn_t end)
{
	struct pt_iter iter;

	nvisits = 0;
	for_each_pt_entry_min_level(iter, host, root, PT_LEVELS, min_level, start, end) {
		CHECK(nvisits < MAX_VISITS);
		CHECK_EQ(*iter.sptep, iter.old_spte);
		visits[nvisits++] = (struct visit){ iter.level, iter.gfn, iter.old_spte };
	}
}

static void expect(const struct pos *want, int n)
{
	CHECK_EQ(nvisits, n);
	for (int i = 0; i < n; i++) {
		if (visits[i].level != want[i].level || visits[i].gfn != want[i].gfn)
			test_fail(__FILE__, __LINE__, "visit %d: level %d gfn 0x%llx, want level %d gfn 0x%llx", i,
				  visits[i].level, (unsigned long long)visits[i].gfn, want[i].level,
				  (unsigned long long)want[i].gfn);
	}
}

TEST(pt_iter_empty_tree_visits_only_root_entries)
{
	hpa_t root = frame_alloc(0);
	struct pt_iter iter;

	record(root, 1, 0, PT_MAX_PFN);
	CHECK_EQ(nvisits, PT_ENTRIES);
	for (int i = 0; i < PT_ENTRIES; i++) {
		CHECK_EQ(visits[i].level, 4);
		CHECK_EQ(visits[i].gfn, (gfn_t)i << 27);
		CHECK_EQ(visits[i].spte, 0);
	}
	record(root, 1, 5, 6);
	expect((struct pos[]){ { 4, 0 } }, 1);
	record(root, 1, 5, 5); /* an empty range visits nothing */
	CHECK_EQ(nvisits, 0);
	/* A start beyond the tree's reach is not valid at all. */
	pt_iter_start(&iter, host, root, PT_LEVELS, 1, PT_MAX_PFN);
	CHECK(!iter.valid);
	frame_free(root, 0);
}

TEST(pt_iter_crosses_table_boundaries_in_preorder)
{
	hpa_t root = frame_alloc(0);

	map(root, 510, 4, 1); /* two 4K page tables under one directory */
	record(root, 1, 510, 514);
	expect((struct pos[]){ { 4, 0 }, { 3, 0 }, { 2, 0 }, { 1, 510 }, { 1, 511 }, { 2, 512 }, { 1, 512 },
				 { 1, 513 } },
	       8);
	for (int i = 3; i < 8; i++) {
		if (visits[i].level == 1)
			CHECK_EQ(visits[i].spte & PT_ADDR_MASK, 0x10000000 + (visits[i].gfn << PAGE_SHIFT));
	}
	free_tree(root, PT_LEVELS);
}

TEST(pt_iter_crosses_1g_boundary_and_visits_holes)
{
	hpa_t root = frame_alloc(0);

	map(root, 262143, 2, 1); /* the last 4K page of the first 1G and the first of the second */
	record(root, 1, 262143, 262145);
	expect((struct pos[]){ { 4, 0 }, { 3, 0 }, { 2, 261632 }, { 1, 262143 }, { 3, 262144 }, { 2, 262144 },
				 { 1, 262144 } },
	       7);
	/* Holes are visited too: a range over unmapped entries of a present table. */
	record(root, 1, 262140, 262144);
	expect((struct pos[]){ { 4, 0 }, { 3, 0 }, { 2, 261632 }, { 1, 262140 }, { 1, 262141 }, { 1, 262142 },
				 { 1, 262143 } },
	       7);
	CHECK_EQ(visits[3].spte, 0);
	CHECK(visits[6].spte & PTE_P);
	free_tree(root, PT_LEVELS);
}

TEST(pt_iter_honours_min_level_and_does_not_enter_leaves)
{
	hpa_t root = frame_alloc(0);

	map(root, 510, 4, 1);
	map(root, 1024, 512, 2); /* a 2M leaf */
	record(root, 2, 510, 514);
	expect((struct pos[]){ { 4, 0 }, { 3, 0 }, { 2, 0 }, { 2, 512 } }, 4);
	record(root, 1, 1024, 1536);
	expect((struct pos[]){ { 4, 0 }, { 3, 0 }, { 2, 1024 } }, 3);
	CHECK(visits[2].spte & PTE_PS);
	record(root, 4, 0, 1ULL << 28);
	expect((struct pos[]){ { 4, 0 }, { 4, 1ULL << 27 } }, 2);
	free_tree(root, PT_LEVELS);
}

TEST(pt_iter_range_end_at_top_of_address_space)
{
	hpa_t root = frame_alloc(0);
	gfn_t top = PT_MAX_PFN;
	struct pt_iter iter;
	int n = 0;

	map(root, top - 2, 2, 1);
	record(root, 1, top - 2, top);
	expect((struct pos[]){ { 4, top - (1ULL << 27) }, { 3, top - (1ULL << 18) }, { 2, top - 512 },
				 { 1, top - 2 }, { 1, top - 1 } },
	       5);
	/* The walk ends by running off the root's last entry, not by wrapping to gfn 0. */
	for_each_pt_entry(iter, host, root, PT_LEVELS, top - 2, top)
		n++;
	CHECK_EQ(n, 5);
	CHECK(!iter.valid);
	free_tree(root, PT_LEVELS);
}

/* Change the tree under a walk, then yield: the walk goes on from where it was, through the tree as it is now. */
TEST(pt_iter_restart_after_tree_changed_mid_walk)
{
	hpa_t root = frame_alloc(0);
	struct pt_iter iter;
	bool changed = false;
	int after = 0;
	struct visit seen[MAX_VISITS];

	map(root, 0, 4, 1);
	map(root, 1024, 4, 1);
	for_each_pt_entry(iter, host, root, PT_LEVELS, 0, 2048) {
		if (!changed && iter.level == 1 && iter.gfn == 1) {
			/* Unlink the page table of 1024..1535 and give 512..1023 one. */
			u64 *pd = iter.pt_path[1];
			free_tree(pd[2] & PT_ADDR_MASK, 1);
			pd[2] = 0;
			map(root, 600, 1, 1);
			changed = true;
			pt_iter_set_yielded(&iter);
			continue;
		}
		if (changed) {
			CHECK(after < MAX_VISITS);
			CHECK_EQ(*iter.sptep, iter.old_spte);
			seen[after++] = (struct visit){ iter.level, iter.gfn, iter.old_spte };
		}
	}
	CHECK(changed);
	/* Exactly what a fresh walk of the changed tree from gfn 1 sees: the root path again, then on. */
	record(root, 1, 1, 2048);
	CHECK_EQ(after, nvisits);
	for (int i = 0; i < after; i++) {
		CHECK_EQ(seen[i].level, visits[i].level);
		CHECK_EQ(seen[i].gfn, visits[i].gfn);
		CHECK_EQ(seen[i].spte, visits[i].spte);
	}
	CHECK_EQ(seen[0].level, 4);
	/* The new table was entered, the unlinked one was not. */
	bool saw600 = false;
	for (int i = 0; i < after; i++) {
		saw600 |= seen[i].level == 1 && seen[i].gfn == 600 && (seen[i].spte & PTE_P);
		CHECK(!(seen[i].level == 1 && seen[i].gfn >= 1024));
	}
	CHECK(saw600);
	free_tree(root, PT_LEVELS);
}

TEST(pt_iter_restart_rereads_from_root)
{
	hpa_t root = frame_alloc(0);
	struct pt_iter iter;

	map(root, 70, 1, 1);
	pt_iter_start(&iter, host, root, PT_LEVELS, 1, 70);
	pt_iter_next(&iter);
	pt_iter_next(&iter);
	pt_iter_next(&iter);
	CHECK_EQ(iter.level, 1);
	CHECK_EQ(iter.gfn, 70);
	CHECK(iter.old_spte & PTE_P);
	*iter.sptep = 0; /* behind the walker's back */
	pt_iter_restart(&iter);
	CHECK_EQ(iter.level, 4);
	CHECK_EQ(iter.gfn, 0);
	CHECK_EQ(iter.next_last_level_gfn, 70);
	pt_iter_next(&iter);
	pt_iter_next(&iter);
	pt_iter_next(&iter);
	CHECK_EQ(iter.level, 1);
	CHECK_EQ(iter.gfn, 70);
	CHECK_EQ(iter.old_spte, 0);
	free_tree(root, PT_LEVELS);
}

/* After the body replaces the current entry, the next step follows what the entry holds now. */
TEST(pt_iter_follows_entry_changed_by_body)
{
	hpa_t root = frame_alloc(0);
	struct pt_iter iter;
	int level1 = 0;

	for_each_pt_entry(iter, host, root, PT_LEVELS, 3, 5) {
		if (!(iter.old_spte & PTE_P) && iter.level > 1) {
			iter.old_spte = alloc_table() | PTE_P | PTE_W;
			*iter.sptep = iter.old_spte;
			continue;
		}
		CHECK_EQ(iter.level, 1);
		CHECK(iter.gfn == 3 || iter.gfn == 4);
		level1++;
	}
	CHECK_EQ(level1, 2);
	free_tree(root, PT_LEVELS);
}

/* pt_iter_start_descend leaves the walker exactly where pt_iter_start and as many pt_iter_next as there are present
 * tables on the way (down to stop_level) would, and the walk then goes on as the plain one does: over trees with
 * a hole, a 2M leaf or a 1G leaf on the way, and for every stop level. */
TEST(pt_iter_descend_stops_where_the_plain_walk_would_and_goes_on_alike)
{
	hpa_t root = frame_alloc(0);
	const gfn_t probes[] = { 0x1234, 0x40000 + 0x200 * 3 + 7, 0x80000 + 5, 0xc0000 + 0x1ff, 0x7ffffff };

	map(root, 0x1000, 0x400, 1);       /* 4K leaves: tables down to level 1 */
	map(root, 0x40000, 0x1000, 2);     /* 2M leaves in the second gigabyte */
	map(root, 0x80000, 0x40000, 3);    /* a 1G leaf */
	for (unsigned int p = 0; p < ARRAY_SIZE(probes); p++) {
		for (int stop = 1; stop <= PT_LEVELS; stop++) {
			struct pt_iter a, b;
			gfn_t g = probes[p];

			pt_iter_start(&a, host, root, PT_LEVELS, 1, g);
			while (a.level > stop && pt_is_present(host, a.old_spte) && !pt_is_leaf(host, a.old_spte, a.level))
				pt_iter_next(&a);
			pt_iter_start_descend(&b, host, root, PT_LEVELS, 1, g, stop);
			CHECK(b.valid && !b.yielded);
			CHECK_EQ(b.level, a.level);
			CHECK_EQ(b.gfn, a.gfn);
			CHECK(b.sptep == a.sptep);
			CHECK_EQ(b.old_spte, a.old_spte);
			CHECK_EQ(b.next_last_level_gfn, a.next_last_level_gfn);
			for (int l = b.level; l <= PT_LEVELS; l++)
				CHECK(b.pt_path[l - 1] == a.pt_path[l - 1]);
			/* And on: the same entries, in the same order, to the end of a 4 MiB range. */
			for (int n = 0; n < 64 && a.valid; n++) {
				pt_iter_next(&a);
				pt_iter_next(&b);
				CHECK_EQ(b.valid, a.valid);
				CHECK_EQ(b.level, a.level);
				CHECK_EQ(b.gfn, a.gfn);
				CHECK_EQ(b.old_spte, a.old_spte);
			}
		}
	}
	/* min_level bounds it as it bounds the walk. */
	struct pt_iter it;
	pt_iter_start_descend(&it, host, root, PT_LEVELS, 2, 0x1234, 1);
	CHECK_EQ(it.level, 2);
	CHECK(!pt_is_leaf(host, it.old_spte, 2) && pt_is_present(host, it.old_spte));
	free_tree(root, PT_LEVELS);
}
