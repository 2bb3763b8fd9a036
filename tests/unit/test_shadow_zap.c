/* Zapping a gfn range under shadow paging (mm/shadow/szap.c) and reclaim over it (mm/mmu_reclaim.c): every shadow
 * leaf that maps a gfn of the range goes, in every root and under every guest virtual address that maps it, and its
 * rmap empties; leaves of other gfns and the shadow pages of guest tables stay; a fault maps the range again. A zero
 * 2 MiB chunk of guest RAM is then given back under shadow paging as under TDP, and the guest's next touch refaults
 * it, zeroed. */
#include "fake_platform.h"
#include "shadow_fixture.h"

#define GVA 0x7f1234567000ULL

static u32 rmap_entries(gfn_t gfn)
{
	struct memslot *s = memslot_find(&sx.mmu.slots, gfn);

	return rmap_count(rmap_get(rmap_head(s, gfn, 1)));
}

TEST(shadow_zap_gfn_range_takes_every_leaf_of_the_range)
{
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	gfn_t x = SX_DATA >> PAGE_SHIFT;
	/* gfn x under two addresses of this root and one of another address space; x + 1 under one. */
	sx_map(sx.p.cr3, GVA, SX_DATA, 1, G_ALL, G_ALL | G_D);
	sx_map(sx.p.cr3, GVA + 0x40000000ULL, SX_DATA, 1, G_ALL, G_ALL | G_D);
	sx_map(sx.p.cr3, GVA + PAGE_SIZE * 64, SX_DATA + PAGE_SIZE, 1, G_ALL, G_ALL | G_D);
	u64 cr3a = sx.p.cr3, cr3b = sx_new_table();
	sx_map(cr3b, GVA, SX_DATA, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(GVA, PFERR_USER, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(GVA + 0x40000000ULL, PFERR_USER, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(GVA + PAGE_SIZE * 64, PFERR_USER, NULL), MMU_FAULT_FIXED);
	sx_switch(cr3b);
	CHECK_EQ(sx_fault(GVA, PFERR_USER, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(rmap_entries(x), 3);
	CHECK_EQ(rmap_entries(x + 1), 1);
	unsigned int pages = sx.mmu.shadow.nr_pages;

	mmu_zap_gfn_range(&sx.mmu, x, x + 1);
	CHECK_EQ(rmap_entries(x), 0);
	CHECK_EQ(sx_leaf(GVA), 0);
	CHECK_EQ(rmap_entries(x + 1), 1); /* outside the range */
	CHECK_EQ(sx.mmu.shadow.stats.range_zaps, 3);
	CHECK_EQ(sx.mmu.shadow.nr_pages, pages); /* the shadows of the guest's tables stay */
	sx_switch(cr3a);
	CHECK_EQ(sx_leaf(GVA), 0);
	CHECK_EQ(sx_leaf(GVA + 0x40000000ULL), 0);
	CHECK(sx_leaf(GVA + PAGE_SIZE * 64));
	sx_check();
	/* The guest's next access maps it again. */
	CHECK_EQ(sx_fault(GVA, PFERR_USER, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA, SX_DATA, true, true, true);
	CHECK_EQ(rmap_entries(x), 1);
	sx_teardown();
}

TEST(shadow_reclaim_gives_a_zero_chunk_back_and_refaults_it)
{
	u64 r, f;

	sx_setup(64);
	mmu_enable_reclaim(&sx.mmu);
	CHECK_EQ(sx_load(), 0);
	gpa_t chunk = 3 * HUGE_2M_SIZE; /* 6-8 MiB: data only, never a table of the fixture's */
	sx_map(sx.p.cr3, GVA, chunk + 0x5000, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(GVA, PFERR_USER | PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	CHECK(sx_leaf(GVA));
	u64 frames = fake_mem_frames_in_use();

	CHECK_EQ(mmu_reclaim_chunk(&sx.mmu, chunk >> PAGE_SHIFT), 1);
	CHECK_EQ(fake_mem_frames_in_use(), frames - 512);
	CHECK_EQ(sx_leaf(GVA), 0); /* no leaf reaches the freed frames */
	CHECK_EQ(rmap_entries((chunk >> PAGE_SHIFT) + 5), 0);
	mmu_reclaim_stats(&sx.mmu, &r, &f);
	CHECK_EQ(r, 1);
	CHECK_EQ(f, 0);
	/* The guest writes there again: a fresh chunk, mapped, zero. */
	CHECK_EQ(sx_fault(GVA + 8, PFERR_USER | PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(fake_mem_frames_in_use(), frames);
	CHECK_EQ(sx_read(chunk + 0x5008), 0);
	mmu_reclaim_stats(&sx.mmu, &r, &f);
	CHECK_EQ(f, 1);
	sx_check_leaf(GVA, chunk + 0x5000, true, true, true);
	/* A chunk that holds data (the guest's page tables) is left alone. */
	CHECK_EQ(mmu_reclaim_chunk(&sx.mmu, SX_TABLES >> PAGE_SHIFT), 0);
	sx_check();
	sx_teardown();
}
