/* Unit tests of shadow prefetch (mm/shadow/sprefetch.c): after a fault makes a 4K leaf, the empty leaves of its
 * aligned group of 8 are made from the guest entries already there: only those present, with A set and no reserved
 * bit, with what a read fault would give (W only with the guest's D, never over a write-tracked gfn, no more than the
 * upper levels grant); nothing for a gfn outside RAM or in a 2 MiB chunk of RAM the VM never used; present neighbours
 * untouched; a direct page's neighbours are the next frames of the guest's huge page; a 32-bit guest's table is read
 * in the quadrant of the shadow page; and in an unsync table the prefetched leaves record their guest entries, so
 * that INVLPG and the next sync fix them like any other. Every count is stats.prefetched. */
#include "shadow_fixture.h"

#define BASE	   0x00007f0000040000ULL /* PT entry 64: the first of a group */
#define SUP	   (G_P | G_RW)
#define UNPREPARED 0x600000ULL /* the last 2 MiB chunk of the fixture's RAM: nothing reads or maps it before */

static gva_t va(int i)
{
	return BASE + (s64)i * PAGE_SIZE;
}

static u64 prefetched(void)
{
	return sx.mmu.shadow.stats.prefetched;
}

/* The guest-virtual pages whose level-1 SPTE changed (the change hook), in order. */
static struct {
	u64 vpn[32];
	unsigned int n;
} changed;

static void record_change(gfn_t vpn, u64 old, u64 new, int level)
{
	if (level == 1 && changed.n < 32)
		changed.vpn[changed.n++] = vpn;
}

static void expect_changes(unsigned int n, const int *pages)
{
	CHECK_EQ(changed.n, n);
	for (unsigned int i = 0; i < n; i++)
		CHECK_EQ(changed.vpn[i], va(pages[i]) >> PAGE_SHIFT);
	changed.n = 0;
}

static void setup(void)
{
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
}

TEST(shadow_prefetch_takes_accessed_entries_with_read_fault_rights)
{
	setup();
	u64 cr3 = sx.p.cr3;
	gpa_t pte1 = sx_map(cr3, va(0), SX_DATA, 1, G_ALL, G_ALL | G_D);	     /* the fault's; A set by it */
	sx_map(cr3, va(1), SX_DATA + 0x1000, 1, G_ALL, G_ALL | G_A | G_D);	     /* W: D is set */
	sx_map(cr3, va(2), SX_DATA + 0x2000, 1, G_ALL, G_ALL | G_A);		     /* no D: no W */
	sx_map(cr3, va(3), SX_DATA + 0x3000, 1, G_ALL, G_P | G_US | G_A | G_D | (11ULL << 59)); /* read-only, key 11 */
	sx_map(cr3, va(4), SX_DATA + 0x4000, 1, G_ALL, G_ALL | G_D);		     /* no A: never used */
	sx_map(cr3, va(5), SX_DATA + 0x5000, 1, G_ALL, SUP | G_A | G_D | G_NX);	     /* supervisor, no X */
	sx_map(cr3, va(6), SX_DATA + 0x6000 + BIT(45), 1, G_ALL, G_ALL | G_A | G_D); /* reserved (MAXPHYADDR 40) */
	sx_map(cr3, va(7), SX_DATA + 0x7000, 1, G_ALL, (G_ALL | G_A | G_D) & ~G_P);  /* not present */
	CHECK_EQ(sx_fault(va(0), 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(prefetched(), 4);
	sx_check_leaf(va(1), SX_DATA + 0x1000, true, true, true);
	sx_check_leaf(va(2), SX_DATA + 0x2000, false, true, true);
	sx_check_leaf(va(3), SX_DATA + 0x3000, false, true, true);
	CHECK_EQ(sx_leaf(va(3)) & SPTE_PKEY_MASK, 11ULL << SPTE_PKEY_SHIFT); /* its protection key too */
	CHECK_EQ(sx_leaf(va(2)) & SPTE_PKEY_MASK, 0);
	sx_check_leaf(va(5), SX_DATA + 0x5000, true, false, false);
	CHECK_EQ(sx_leaf(va(4)), 0);
	CHECK_EQ(sx_leaf(va(6)), 0);
	CHECK_EQ(sx_leaf(va(7)), 0);
	/* Each records the guest entry it was made from, for a later sync of the table. */
	struct spage *sp = sx_spage_of(pte1 >> PAGE_SHIFT);
	CHECK(sp);
	for (int i = 1; i <= 5; i += (i == 3 ? 2 : 1))
		CHECK_EQ(sp->gptes[64 + i], sx_read(pte1 + i * 8));
	/* The walk of va(4) sets its A; the fault's prefetch finds the rest present or unusable. */
	CHECK_EQ(sx_fault(va(4), 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(prefetched(), 4);
	/* No more than the upper levels grant: below a read-only, supervisor PDE, a dirty user entry's leaf is
	 * read-only and supervisor. */
	gva_t ro = BASE + (1ULL << 21);
	sx_map(cr3, ro, SX_DATA + 0x8000, 1, G_P, G_ALL | G_D);
	sx_map(cr3, ro + PAGE_SIZE, SX_DATA + 0x9000, 1, G_P, G_ALL | G_A | G_D);
	CHECK_EQ(sx_fault(ro, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(prefetched(), 5);
	sx_check_leaf(ro + PAGE_SIZE, SX_DATA + 0x9000, false, false, true);
	sx_teardown();
}

TEST(shadow_prefetch_tracked_gfn_read_only_and_no_leaf_outside_used_ram)
{
	setup();
	u64 cr3 = sx.p.cr3;
	gpa_t pte = sx_map(cr3, va(0), SX_DATA, 1, G_ALL, G_ALL | G_D);
	gpa_t pt = pte & ~(PAGE_SIZE - 1);
	sx_map(cr3, va(1), pt, 1, G_ALL, G_ALL | G_A | G_D);	     /* the page table itself */
	sx_map(cr3, va(2), SX_MMIO, 1, G_ALL, G_ALL | G_A | G_D);    /* no RAM: a fault's MMIO SPTE only */
	sx_map(cr3, va(3), UNPREPARED, 1, G_ALL, G_ALL | G_A | G_D); /* RAM never used */
	sx_map(cr3, va(4), UNPREPARED + 0x1000, 1, G_ALL, G_ALL | G_A | G_D);
	sx_map(cr3, va(5), 0x4000, 1, G_ALL, G_ALL | G_A | G_D); /* used RAM (the tables' chunk), untracked */
	CHECK_EQ(sx_fault(va(0), 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_track_count(pt >> PAGE_SHIFT), 1);
	CHECK_EQ(prefetched(), 2);
	sx_check_leaf(va(1), pt, false, true, true);
	sx_check_leaf(va(5), 0x4000, true, true, true);
	int level;
	for (int i = 2; i <= 4; i++)
		CHECK(*sx_spte(sx.vcpu.current, va(i), &level) == 0 && level == 1); /* not even an MMIO SPTE */
	/* A fault in the chunk clears it, and its prefetch then maps the neighbour in it. */
	CHECK_EQ(sx_fault(va(3), 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(prefetched(), 3);
	sx_check_leaf(va(4), UNPREPARED + 0x1000, true, true, true);
	CHECK_EQ(sx_fault(va(2), 0, NULL), MMU_FAULT_MMIO);
	sx_teardown();
}

TEST(shadow_prefetch_leaves_present_neighbours_alone_within_its_group)
{
	setup();
	u64 cr3 = sx.p.cr3;
	for (int i = -1; i <= 8; i++)
		sx_map(cr3, va(i), SX_DATA + (u64)(i + 1) * PAGE_SIZE, 1, G_ALL, G_ALL | G_D | (i == 5 ? 0 : G_A));
	sx.hook = record_change;
	/* va(2)'s fault: the group is entries 64..71, va(0)..va(7); va(-1) and va(8) are in the groups around it. */
	CHECK_EQ(sx_fault(va(2), 0, NULL), MMU_FAULT_FIXED);
	expect_changes(7, (const int[]){2, 0, 1, 3, 4, 6, 7});
	CHECK_EQ(prefetched(), 6);
	CHECK_EQ(sx_leaf(va(-1)), 0);
	CHECK_EQ(sx_leaf(va(8)), 0);
	/* The guest sets va(5)'s A and rewrites va(1)'s entry (a write each: va(1)'s leaf goes). va(1)'s fault then
	 * makes va(5)'s leaf, and changes none of the present ones. */
	gpa_t e5 = sx_gpte_gpa(cr3, va(5), 1), e1 = sx_gpte_gpa(cr3, va(1), 1);
	sx_write(e5, sx_read(e5) | G_A);
	sx_write(e1, sx_read(e1));
	expect_changes(1, (const int[]){1});
	CHECK_EQ(sx_fault(va(1), 0, NULL), MMU_FAULT_FIXED);
	expect_changes(2, (const int[]){1, 5});
	CHECK_EQ(prefetched(), 7);
	/* The edges: va(8) is the first of the next group, va(-1) the last of the previous one. */
	CHECK_EQ(sx_fault(va(8), 0, NULL), MMU_FAULT_FIXED);
	expect_changes(1, (const int[]){8});
	CHECK_EQ(sx_fault(va(-1), 0, NULL), MMU_FAULT_FIXED);
	expect_changes(1, (const int[]){-1});
	CHECK_EQ(prefetched(), 7);
	sx.hook = NULL;
	sx_teardown();
}

TEST(shadow_prefetch_direct_page_maps_the_next_frames_of_the_huge_page)
{
	setup();
	u64 cr3 = sx.p.cr3;
	gva_t g2m = 0x00007f0040000000ULL;
	/* A dirty 2 MiB page over gpa 0, where the guest's tables are (write-tracked from 0x100000 up). */
	sx_map(cr3, g2m, 0, 2, G_ALL, G_ALL | G_A | G_D);
	CHECK_EQ(sx_fault(g2m + 0x103000, 0, NULL), MMU_FAULT_FIXED);
	struct spage *sp = sx_spage_at(sx.vcpu.current, g2m, 1);
	CHECK(sp->role.direct && sp->gfn == 0);
	CHECK_EQ(prefetched(), 7);
	for (int i = 0; i < 8; i++) {
		gpa_t gpa = 0x100000 + (u64)i * PAGE_SIZE;
		sx_check_leaf(g2m + gpa, gpa, sx_track_count(gpa >> PAGE_SHIFT) == 0, true, true);
	}
	CHECK_EQ(sx_track_count(0x100000 >> PAGE_SHIFT), 1); /* the PML4: read-only */
	CHECK_EQ(sx_leaf(g2m + 0x108000), 0);
	CHECK_EQ(sx_leaf(g2m + 0xff000), 0);
	/* A clean one (D clear): a read fault's direct page, read-only throughout. The first write sets D and relinks
	 * a writable direct page, whose prefetch is writable too. */
	gva_t clean = g2m + (1ULL << 21);
	sx_map(cr3, clean, SX_DATA, 2, G_ALL, G_ALL | G_A);
	CHECK_EQ(sx_fault(clean + 0x5000, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(prefetched(), 14);
	for (int i = 0; i < 8; i++)
		sx_check_leaf(clean + (u64)i * PAGE_SIZE, SX_DATA + (u64)i * PAGE_SIZE, false, true, true);
	CHECK_EQ(sx_fault(clean + 0x5000, PFERR_WRITE | PFERR_PRESENT, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx.mmu.shadow.stats.relinks, 1);
	CHECK_EQ(prefetched(), 21);
	for (int i = 0; i < 8; i++)
		sx_check_leaf(clean + (u64)i * PAGE_SIZE, SX_DATA + (u64)i * PAGE_SIZE, true, true, true);
	sx_teardown();
}

TEST(shadow_prefetch_32bit_guest_reads_the_entries_of_its_quadrant)
{
	sx_setup(64);
	gpa_t pd = sx_new_table();
	sx_legacy32(pd, false);
	CHECK_EQ(sx_load(), 0);
	gva_t lo = 0xc0400000ULL, hi = lo + 0x200000; /* PDE 769: PTEs 0..7 and 512..519 of one table */
	for (u64 i = 0; i < 8; i++) {
		sx_map32(pd, lo + i * PAGE_SIZE, SX_DATA + (0x10 + i) * PAGE_SIZE, 1, G_ALL, G_ALL | G_A | G_D);
		sx_map32(pd, hi + i * PAGE_SIZE, SX_DATA + (0x20 + i) * PAGE_SIZE, 1, G_ALL,
			 G_ALL | G_D | (i == 1 || i == 2 ? G_A : 0));
	}
	gfn_t pt = sx_gpte_gpa32(pd, lo, 1) >> PAGE_SHIFT;
	/* The upper half's shadow page (quadrant 1, index 0 for PTE 512) reads PTEs 512..519: two have A. */
	CHECK_EQ(sx_fault(hi, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_spages_of(pt), 1);
	CHECK_EQ(prefetched(), 2);
	for (u64 i = 1; i <= 2; i++)
		sx_check_leaf(hi + i * PAGE_SIZE, SX_DATA + (0x20 + i) * PAGE_SIZE, true, true, true);
	CHECK_EQ(sx_leaf(hi + 3 * PAGE_SIZE), 0);
	CHECK_EQ(sx_leaf(lo), 0);
	/* The lower half's, PTEs 0..7, all accessed. */
	CHECK_EQ(sx_fault(lo + 4 * PAGE_SIZE, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_spages_of(pt), 2);
	CHECK_EQ(prefetched(), 9);
	for (u64 i = 0; i < 8; i++)
		sx_check_leaf(lo + i * PAGE_SIZE, SX_DATA + (0x10 + i) * PAGE_SIZE, true, true, true);
	sx_teardown();
}

TEST(shadow_prefetch_in_an_unsync_table_is_fixed_by_invlpg_and_sync)
{
	setup();
	sx.mmu.shadow.allow_unsync = true;
	u64 cr3 = sx.p.cr3;
	gva_t w = va(0x20); /* maps the page table, outside the group */
	gpa_t pt = sx_map(cr3, va(0), SX_DATA, 1, G_ALL, G_ALL | G_D) & ~(PAGE_SIZE - 1);
	sx_map(cr3, w, pt, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(w, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	struct spage *sp = sx_spage_of(pt >> PAGE_SHIFT);
	CHECK(sp && sp->unsync);
	/* The guest fills its unsync table with its own stores: va(1)..va(3), accessed and dirty. */
	u64 *gpt = phys_to_virt(sx_hpa(pt));
	for (int i = 1; i <= 3; i++)
		gpt[64 + i] = (SX_DATA + (u64)i * PAGE_SIZE) | G_ALL | G_A | G_D;
	CHECK_EQ(sx_fault(va(0), 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(prefetched(), 3);
	for (int i = 1; i <= 3; i++) {
		sx_check_leaf(va(i), SX_DATA + (u64)i * PAGE_SIZE, true, true, true);
		CHECK_EQ(sp->gptes[64 + i], gpt[64 + i]);
	}
	/* va(1) remapped, then its INVLPG: its prefetched leaf goes. */
	gpt[65] = (SX_DATA + 0x11000) | G_ALL | G_A | G_D;
	mmu_shadow_invlpg(&sx.mmu, &sx.vcpu, va(1), false);
	CHECK_EQ(sx.mmu.shadow.stats.invlpg_zaps, 1);
	CHECK_EQ(sx_leaf(va(1)), 0);
	CHECK(sp->unsync);
	/* va(2) remapped, then a flushing CR3 load: the sync zaps its leaf and keeps va(3)'s and va(0)'s. */
	gpt[66] = (SX_DATA + 0x12000) | G_ALL | G_A | G_D;
	CHECK_EQ(sx_load(), 0);
	CHECK(!sp->unsync);
	CHECK_EQ(sx.mmu.shadow.stats.sync_zaps, 1);
	CHECK_EQ(sx_leaf(va(2)), 0);
	sx_check_leaf(va(3), SX_DATA + 3 * PAGE_SIZE, true, true, true);
	sx_check_leaf(va(0), SX_DATA, true, true, true);
	CHECK_EQ(sx_fault(va(2), 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(va(2), SX_DATA + 0x12000, true, true, true);
	sx_check_leaf(va(1), SX_DATA + 0x11000, true, true, true); /* made again by va(2)'s prefetch */
	sx_teardown();
}
