/* Unit tests of the unsync-children bitmaps (mm/shadow/unsync.c, sshare.c): a leaf table going unsync sets its bit in
 * every parent entry and on up to every root that reaches it; a flushing CR3 load syncs exactly the unsync pages its
 * own root reaches, and another address space's wait, intact, for its own load; bits left behind by a page synced
 * through another root, zapped, or replaced below its parent entry are cleared by the next walk over them; and an
 * upper page linked below a new parent has its unsync leaves synced first. */
#include "shadow_fixture.h"

#define KVA  0xffff888000201000ULL /* a kernel address: PML4 entry 273, PDPT entry 0, PD entry 1, PT entry 1 */
#define KVA2 (KVA + (1ULL << 21))  /* PD entry 2: another page table below the same directory */
#define UVA  0x00007f0000001000ULL /* a user address, through tables of each address space's own */
#define SUP  (G_P | G_RW)	   /* supervisor, writable */

static unsigned int gidx(gva_t gva, int level)
{
	return (gva >> (PAGE_SHIFT + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

static struct spage *root_sp(u64 cr3)
{
	struct mmu_root *r = sx_root_of(cr3);

	CHECK(r);
	return __spage_by_hpa(&sx.mmu, r->hpa);
}

/* The bits of sp's bitmap that are set: its count must say as many. */
static unsigned int nr_bits(const struct spage *sp)
{
	unsigned int n = 0;

	for (unsigned int w = 0; w < PT_ENTRIES / 64; w++)
		n += (unsigned int)__builtin_popcountll(sp->unsync_child_bitmap[w]);
	CHECK_EQ(n, sp->unsync_children);
	return n;
}

/* sp's bitmap holds exactly the bit of entry idx. */
static void only_bit(const struct spage *sp, unsigned int idx)
{
	CHECK_EQ(nr_bits(sp), 1);
	CHECK(sx_unsync_bit(sp, idx));
}

/* A fresh MMU that lets leaf tables go unsync: returns the guest's CR3. */
static u64 setup(void)
{
	sx_setup(64);
	sx.mmu.shadow.allow_unsync = true;
	return sx.p.cr3;
}

/* The guest page table holding gva's PTE under cr3 is mapped writable at gva_w (in the same tables) and written
 * through that mapping from the current root: its shadow page goes unsync. */
static struct spage *go_unsync(u64 cr3, gva_t gva, gva_t gva_w)
{
	gpa_t pt = sx_gpte_gpa(cr3, gva, 1) & ~(PAGE_SIZE - 1);
	u64 unsyncs = sx.mmu.shadow.stats.unsyncs;

	sx_map(cr3, gva_w, pt, 1, SUP, SUP | G_D);
	CHECK_EQ(sx_fault(gva_w, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	struct spage *sp = sx_spage_of(pt >> PAGE_SHIFT);
	CHECK(sp && sp->unsync);
	CHECK_EQ(sx.mmu.shadow.stats.unsyncs, unsyncs + 1);
	return sp;
}

/* The guest's own store to its PTE of gva under cr3 (the table is unsync: nothing sees it). Returns the old entry. */
static u64 guest_store(u64 cr3, gva_t gva, u64 pte)
{
	u64 *e = phys_to_virt(sx_hpa(sx_gpte_gpa(cr3, gva, 1)));
	u64 old = *e;

	*e = pte;
	return old;
}

/* Address spaces A (the current one, returned) and B (*b) sharing A's kernel half, with KVA and KVA2 faulted in
 * through both roots. */
static u64 shared_kernel(u64 *b)
{
	u64 a = sx.p.cr3;

	*b = sx_new_table();
	sx_map(a, KVA, SX_DATA, 1, SUP, SUP | G_D);
	sx_map(a, KVA2, SX_DATA + 0x1000, 1, SUP, SUP | G_D);
	sx_write(*b + gidx(KVA, 4) * 8, sx_read(a + gidx(KVA, 4) * 8)); /* as a fork copies the kernel's PML4 entry */
	sx_switch(*b);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(KVA2, 0, NULL), MMU_FAULT_FIXED);
	sx_switch(a);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_SPURIOUS); /* the shared PDPT's shadow linked below A's root */
	return a;
}

/* Address space C: UVA mapped, its page table unsync, C current. Keeps something unsync that no other space
 * reaches, so that the flushing loads of the others walk their bitmaps. Returns C's page table's shadow page. */
static struct spage *unsync_elsewhere(u64 *c)
{
	*c = sx_new_table();
	sx_map(*c, UVA, SX_DATA + 0x5000, 1, G_ALL, G_ALL | G_D);
	sx_switch(*c);
	CHECK_EQ(sx_fault(UVA, 0, NULL), MMU_FAULT_FIXED);
	return go_unsync(*c, UVA, UVA + PAGE_SIZE);
}

TEST(shadow_unsync_marks_every_parent_up_to_each_root)
{
	u64 a, b;

	setup();
	a = shared_kernel(&b);
	struct mmu_root *ra = sx_root_of(a), *rb = sx_root_of(b);
	struct spage *pdpt = sx_spage_at(ra, KVA, 3), *pd = sx_spage_at(ra, KVA, 2);
	CHECK(pdpt == sx_spage_at(rb, KVA, 3) && pd == sx_spage_at(rb, KVA, 2)); /* shared */
	CHECK_EQ(nr_bits(pd) + nr_bits(pdpt) + nr_bits(root_sp(a)) + nr_bits(root_sp(b)), 0);

	struct spage *pt = go_unsync(a, KVA, KVA + PAGE_SIZE);
	CHECK(pt == sx_spage_at(ra, KVA, 1) && pt == sx_spage_at(rb, KVA, 1));
	/* One bit at each level, on KVA's path: B's root has it too, though the write came through A's. */
	only_bit(pd, gidx(KVA, 2));
	only_bit(pdpt, gidx(KVA, 3));
	only_bit(root_sp(a), gidx(KVA, 4));
	only_bit(root_sp(b), gidx(KVA, 4));
	CHECK_EQ(nr_bits(pt), 0);

	/* A second page table below the same directory: its bit there; above, the bits were set already and the counts
	 * stay at 1. */
	struct spage *pt2 = go_unsync(a, KVA2, KVA2 + PAGE_SIZE);
	CHECK(pt2 != pt && pt2 == sx_spage_at(rb, KVA2, 1));
	CHECK_EQ(nr_bits(pd), 2);
	CHECK(sx_unsync_bit(pd, gidx(KVA, 2)) && sx_unsync_bit(pd, gidx(KVA2, 2)));
	only_bit(pdpt, gidx(KVA, 3));
	only_bit(root_sp(a), gidx(KVA, 4));
	only_bit(root_sp(b), gidx(KVA, 4));

	/* A's flushing load syncs both (they are B's too): every count on the way is 0, and A's and B's paths hold no
	 * bit but the one B's root keeps until its own walk. */
	sx_switch(a);
	CHECK(!pt->unsync && !pt2->unsync);
	CHECK_EQ(sx.mmu.shadow.stats.syncs, 2);
	CHECK_EQ(sx.mmu.shadow.stats.root_syncs, 1);
	CHECK_EQ(nr_bits(pd) + nr_bits(pdpt) + nr_bits(root_sp(a)), 0);
	only_bit(root_sp(b), gidx(KVA, 4));
	sx_teardown();
}

TEST(shadow_unsync_flushing_load_syncs_only_what_its_root_reaches)
{
	u64 a = setup(), b = sx_new_table();
	sx_map(a, UVA, SX_DATA, 1, G_ALL, G_ALL | G_D);
	sx_map(b, UVA, SX_DATA + 0x1000, 1, G_ALL, G_ALL | G_D);
	sx_switch(a);
	CHECK_EQ(sx_fault(UVA, 0, NULL), MMU_FAULT_FIXED);
	struct spage *pta = go_unsync(a, UVA, UVA + PAGE_SIZE);
	/* B's load: B reaches nothing unsync, A's page table waits for A's next load. */
	sx_switch(b);
	CHECK(pta->unsync);
	CHECK_EQ(sx.mmu.shadow.stats.syncs, 0);
	CHECK_EQ(sx.mmu.shadow.stats.root_syncs, 0);
	CHECK_EQ(nr_bits(root_sp(a)), 1);
	CHECK_EQ(sx_fault(UVA, 0, NULL), MMU_FAULT_FIXED);
	struct spage *ptb = go_unsync(b, UVA, UVA + PAGE_SIZE);
	CHECK(pta != ptb);

	/* The guest remaps UVA in both spaces with its own stores. */
	guest_store(a, UVA, (SX_DATA + 0x2000) | G_ALL | G_D | G_A);
	u64 made_b = guest_store(b, UVA, (SX_DATA + 0x3000) | G_ALL | G_D | G_A);
	CHECK_EQ(made_b, (SX_DATA + 0x1000) | G_ALL | G_D | G_A); /* as B's fault left it */

	/* A's load syncs A's page table only. */
	sx_switch(a);
	CHECK(!pta->unsync);
	CHECK_EQ(sx.mmu.shadow.stats.syncs, 1);
	CHECK_EQ(sx.mmu.shadow.stats.sync_zaps, 1);
	CHECK_EQ(sx.mmu.shadow.stats.root_syncs, 1);
	CHECK_EQ(nr_bits(root_sp(a)), 0);
	CHECK_EQ(sx_leaf(UVA), 0);
	/* B's is untouched: unsync, its count and the path of bits to it, the guest entry its leaf was made from, and
	 * the stale leaf, which B's TLB may hold until B's own flush. */
	CHECK(ptb->unsync);
	CHECK_EQ(sx_track_count(ptb->gfn), 0);
	only_bit(root_sp(b), gidx(UVA, 4));
	only_bit(sx_spage_at(sx_root_of(b), UVA, 2), gidx(UVA, 2));
	CHECK_EQ(ptb->gptes[gidx(UVA, 1)], made_b);
	int level;
	u64 *stale = sx_spte(sx_root_of(b), UVA, &level);
	CHECK(level == 1 && spte_is_present(*stale));
	CHECK_EQ(spte_pfn(*stale), sx_hpa(SX_DATA + 0x1000) >> PAGE_SHIFT);

	/* B's load then syncs it. */
	sx_switch(b);
	CHECK(!ptb->unsync);
	CHECK_EQ(sx.mmu.shadow.stats.syncs, 2);
	CHECK_EQ(sx.mmu.shadow.stats.sync_zaps, 2);
	CHECK_EQ(sx.mmu.shadow.stats.root_syncs, 2);
	CHECK_EQ(sx_track_count(ptb->gfn), 1);
	CHECK_EQ(nr_bits(root_sp(b)), 0);
	CHECK_EQ(sx_leaf(UVA), 0);
	CHECK_EQ(sx_fault(UVA, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(UVA, SX_DATA + 0x3000, true, true, true); /* D set: W at once */
	sx_switch(a);
	CHECK_EQ(sx_fault(UVA, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(UVA, SX_DATA + 0x2000, true, true, true);
	sx_teardown();
}

TEST(shadow_unsync_bits_of_a_page_synced_through_another_root_are_cleared_later)
{
	u64 a, b, c;

	setup();
	a = shared_kernel(&b);
	struct spage *pt = go_unsync(a, KVA, KVA + PAGE_SIZE);
	/* A's load syncs the shared page table: B's root keeps its bit, which no longer leads to anything unsync. */
	sx_switch(a);
	CHECK(!pt->unsync);
	only_bit(root_sp(b), gidx(KVA, 4));
	/* With nothing unsync anywhere, B's load walks nothing: the stale bit stays, harmless. */
	sx_switch(b);
	only_bit(root_sp(b), gidx(KVA, 4));
	CHECK_EQ(sx.mmu.shadow.stats.root_syncs, 1);
	/* Once something is unsync (C's, which B does not reach), B's next load walks its bits: the stale one goes,
	 * and C's page stays unsync. */
	struct spage *ptc = unsync_elsewhere(&c);
	u64 syncs = sx.mmu.shadow.stats.syncs;
	sx_switch(b);
	CHECK_EQ(nr_bits(root_sp(b)), 0);
	CHECK_EQ(sx.mmu.shadow.stats.syncs, syncs);
	CHECK(ptc->unsync);
	/* The same after a sync of every page (a CR0/CR4 paging change): C's bits are all stale then. */
	mmu_shadow_flush(&sx.mmu);
	CHECK(!ptc->unsync);
	only_bit(root_sp(c), gidx(UVA, 4));
	go_unsync(a, KVA2, KVA2 + PAGE_SIZE); /* something unsync again, through B, which is current */
	sx_switch(c);
	CHECK_EQ(nr_bits(root_sp(c)), 0);
	CHECK_EQ(nr_bits(sx_spage_at(sx_root_of(c), UVA, 2)), 0);
	sx_teardown();
}

TEST(shadow_unsync_bits_of_a_zapped_or_replaced_page_are_cleared_later)
{
	u64 c;

	u64 a = setup();
	sx_map(a, KVA, SX_DATA, 1, SUP, SUP | G_D);
	sx_map(a, KVA2, SX_DATA + 0x1000, 1, SUP, SUP | G_D);
	struct spage *ptc = unsync_elsewhere(&c);
	sx_switch(a);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(KVA2, 0, NULL), MMU_FAULT_FIXED);
	struct spage *pd = sx_spage_at(sx_root_of(a), KVA, 2);
	gfn_t pt_gfn = sx_gpte_gpa(a, KVA, 1) >> PAGE_SHIFT;
	go_unsync(a, KVA, KVA + PAGE_SIZE);
	go_unsync(a, KVA2, KVA2 + PAGE_SIZE);
	CHECK_EQ(nr_bits(pd), 2);

	/* The guest rewrites KVA's PDE (a write-protected directory): the unsync page table's shadow goes, and its bit
	 * stays. The other page table is remapped by its PDE to a new table: a fresh shadow page, in sync, below the
	 * entry that has its bit. */
	sx_write(sx_gpte_gpa(a, KVA, 2), 0);
	CHECK_EQ(sx_spages_of(pt_gfn), 0);
	gpa_t pt2 = sx_new_table();
	sx_write(pt2 + gidx(KVA2, 1) * 8, (SX_DATA + 0x2000) | SUP | G_D);
	sx_write(sx_gpte_gpa(a, KVA2, 2), pt2 | SUP);
	CHECK_EQ(sx_fault(KVA2, 0, NULL), MMU_FAULT_FIXED);
	struct spage *fresh = sx_spage_at(sx_root_of(a), KVA2, 1);
	CHECK(fresh->gfn == pt2 >> PAGE_SHIFT && !fresh->unsync);
	CHECK_EQ(nr_bits(pd), 2);
	CHECK(sx.mmu.shadow.unsync == ptc && !ptc->unsync_next); /* the zapped page left the unsync list */

	/* A's flushing load walks both stale bits away and syncs nothing (C's page is not A's). */
	u64 syncs = sx.mmu.shadow.stats.syncs;
	sx_switch(a);
	CHECK_EQ(nr_bits(pd), 0);
	CHECK_EQ(nr_bits(sx_spage_at(sx_root_of(a), KVA, 3)), 0);
	CHECK_EQ(nr_bits(root_sp(a)), 0);
	CHECK_EQ(sx.mmu.shadow.stats.syncs, syncs);
	CHECK(ptc->unsync);
	sx_check_leaf(KVA2, SX_DATA + 0x2000, true, false, true);
	sx_teardown();
}

TEST(shadow_unsync_directory_linked_below_a_new_parent_syncs_its_leaves_first)
{
	u64 a = setup(), b = sx_new_table();
	sx_map(a, KVA, SX_DATA, 1, SUP, SUP | G_D);
	sx_switch(a);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_FIXED);
	struct spage *pt = go_unsync(a, KVA, KVA + PAGE_SIZE);
	struct spage *pd = sx_spage_at(sx_root_of(a), KVA, 2);
	guest_store(a, KVA, (SX_DATA + 0x7000) | SUP | G_D);
	/* B has a PDPT of its own whose entry points to A's page directory: B's walk links A's directory's shadow
	 * below a new parent. B's TLB never held A's translations, so the stale leaf below must go first. */
	gpa_t pdpt_b = sx_new_table();
	sx_write(pdpt_b + gidx(KVA, 3) * 8, sx_read(sx_gpte_gpa(a, KVA, 3)));
	sx_write(b + gidx(KVA, 4) * 8, pdpt_b | SUP);
	sx_switch(b);
	CHECK(pt->unsync); /* B's load: B reaches nothing yet */
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_FIXED);
	CHECK(pd == sx_spage_at(sx_root_of(b), KVA, 2));
	CHECK_EQ(sx_nr_parents(pd), 2);
	CHECK(!pt->unsync);
	CHECK_EQ(nr_bits(pd), 0);
	CHECK_EQ(sx.mmu.shadow.stats.syncs, 1);
	CHECK_EQ(sx.mmu.shadow.stats.sync_zaps, 1);
	CHECK_EQ(sx_track_count(pt->gfn), 1);
	sx_check_leaf(KVA, SX_DATA + 0x7000, true, false, true);
	sx_switch(a);
	sx_check_leaf(KVA, SX_DATA + 0x7000, true, false, true);
	sx_teardown();
}
