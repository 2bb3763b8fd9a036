/* Unit tests of the guest's INVLPG under shadow paging (mmu_shadow_invlpg, mm/shadow/unsync.c): in an unsync leaf
 * table, the leaf of the address goes if the guest changed its entry since the leaf was made (or if it is an MMIO
 * leaf), and stays otherwise; the other leaves of the table, stale or not, are left for the next sync, and the table
 * stays unsync. The walk follows the unsync-children bits: an in-sync table is never looked at, a cached root only
 * when the guest has CR4.PCIDE set (without it, the CR3 load that brings the root back flushes and syncs), and
 * nothing happens while nothing is unsync. SDM Vol. 3A 4.10.4.1: INVLPG invalidates the translations of one page. */
#include "shadow_fixture.h"

#define VA   0x00007f0000010000ULL   /* PT entry 16: a group of 8 of its own, so prefetch adds nothing unasked */
#define VA_W (VA + 0x20 * PAGE_SIZE) /* maps VA's page table, writable */
#define VA2  (VA + (1ULL << 21))     /* another page table, kept in sync */

/* A fresh MMU that lets leaf tables go unsync, the guest's root loaded: returns its CR3. */
static u64 setup(void)
{
	sx_setup(64);
	sx.mmu.shadow.allow_unsync = true;
	CHECK_EQ(sx_load(), 0);
	return sx.p.cr3;
}

/* VA + i pages mapped to SX_DATA + i pages (i < 4), each faulted in, and VA's page table gone unsync through a write
 * at VA_W. Returns the table's shadow page. */
static struct spage *setup_unsync(u64 cr3)
{
	for (unsigned int i = 0; i < 4; i++)
		sx_map(cr3, VA + i * PAGE_SIZE, SX_DATA + i * PAGE_SIZE, 1, G_ALL, G_ALL | G_D);
	for (unsigned int i = 0; i < 4; i++)
		CHECK_EQ(sx_fault(VA + i * PAGE_SIZE, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx.mmu.shadow.stats.prefetched, 0); /* their entries had no A bit before the faults */
	gpa_t pt = sx_gpte_gpa(cr3, VA, 1) & ~(PAGE_SIZE - 1);
	sx_map(cr3, VA_W, pt, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(VA_W, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	struct spage *sp = sx_spage_of(pt >> PAGE_SHIFT);
	CHECK(sp && sp->unsync);
	return sp;
}

/* The guest's own store to gva's PTE under cr3, which nothing sees. */
static void guest_store(u64 cr3, gva_t gva, u64 pte)
{
	*(u64 *)phys_to_virt(sx_hpa(sx_gpte_gpa(cr3, gva, 1))) = pte;
}

static void invlpg(gva_t gva, bool pcide)
{
	mmu_shadow_invlpg(&sx.mmu, &sx.vcpu, gva, pcide);
	sx_check();
}

/* The leaf of root for gva: its frame, or 0 if none is present. */
static hpa_t leaf_frame(const struct mmu_root *root, gva_t gva)
{
	int level;
	u64 s = *sx_spte(root, gva, &level);

	return level == 1 && spte_is_present(s) ? spte_pfn(s) << PAGE_SHIFT : 0;
}

TEST(shadow_invlpg_zaps_the_changed_leaf_of_an_unsync_table_only)
{
	u64 cr3 = setup();
	struct spage *sp = setup_unsync(cr3);
	struct mmu_root *root = sx.vcpu.current;
	const struct shadow_stats *st = &sx.mmu.shadow.stats;
	u64 unsyncs = st->unsyncs;

	/* VA now maps another page; VA + 1 page is written with the value it had; VA + 2 pages changes too. */
	guest_store(cr3, VA, (SX_DATA + 0x10000) | G_ALL | G_D | G_A);
	u64 *e1 = phys_to_virt(sx_hpa(sx_gpte_gpa(cr3, VA + PAGE_SIZE, 1)));
	*e1 = *e1;
	guest_store(cr3, VA + 2 * PAGE_SIZE, (SX_DATA + 0x12000) | G_ALL | G_D | G_A);
	u64 flushes = sx.flushes;

	invlpg(VA, false);
	CHECK_EQ(sx_leaf(VA), 0);
	CHECK_EQ(st->invlpg_zaps, 1);
	CHECK(sx.flushes > flushes); /* the zap's remote flush: other vCPUs may cache the leaf */
	/* VA + 2 pages is as stale as it was: its own INVLPG has not come. VA + 3 pages is unchanged. */
	CHECK_EQ(leaf_frame(root, VA + 2 * PAGE_SIZE), sx_hpa(SX_DATA + 2 * PAGE_SIZE));
	CHECK_EQ(leaf_frame(root, VA + 3 * PAGE_SIZE), sx_hpa(SX_DATA + 3 * PAGE_SIZE));
	/* The table stays unsync: no sync, no new unsync, no tracking reference. */
	CHECK(sp->unsync);
	CHECK_EQ(st->unsyncs, unsyncs);
	CHECK_EQ(st->syncs, 0);
	CHECK_EQ(sx_track_count(sp->gfn), 0);

	/* Rewritten with the same value: the leaf stays. Unchanged: it stays. */
	invlpg(VA + PAGE_SIZE, false);
	invlpg(VA + 3 * PAGE_SIZE, false);
	CHECK_EQ(leaf_frame(root, VA + PAGE_SIZE), sx_hpa(SX_DATA + PAGE_SIZE));
	CHECK_EQ(leaf_frame(root, VA + 3 * PAGE_SIZE), sx_hpa(SX_DATA + 3 * PAGE_SIZE));
	CHECK_EQ(st->invlpg_zaps, 1);
	/* An address with no leaf at all: nothing. */
	invlpg(VA + 5 * PAGE_SIZE, false);
	CHECK_EQ(st->invlpg_zaps, 1);

	/* VA faults in again, to the new page, in the still unsync table, which records the new entry. */
	CHECK_EQ(sx_fault(VA, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(VA, SX_DATA + 0x10000, true, true, true);
	CHECK(sp->unsync);
	CHECK_EQ(sp->gptes[(VA >> PAGE_SHIFT) & 511], (SX_DATA + 0x10000) | G_ALL | G_D | G_A);
	invlpg(VA, false);
	CHECK_EQ(st->invlpg_zaps, 1);
	sx_check_leaf(VA, SX_DATA + 0x10000, true, true, true);
	CHECK_EQ(st->unsyncs, unsyncs);
	CHECK_EQ(st->syncs, 0);

	/* A sync zaps what INVLPG left: VA + 2 pages only. */
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(st->syncs, 1);
	CHECK_EQ(st->sync_zaps, 1);
	CHECK_EQ(sx_leaf(VA + 2 * PAGE_SIZE), 0);
	sx_check_leaf(VA, SX_DATA + 0x10000, true, true, true);
	sx_teardown();
}

TEST(shadow_invlpg_zaps_an_mmio_leaf_whatever_its_entry)
{
	u64 cr3 = setup();
	struct spage *sp = setup_unsync(cr3);
	/* The guest maps a device page in its unsync table, which the fault shadows with an MMIO SPTE. */
	sx_map(cr3, VA + 6 * PAGE_SIZE, SX_MMIO, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(VA + 6 * PAGE_SIZE, 0, NULL), MMU_FAULT_MMIO);
	CHECK(sp->unsync);
	CHECK(spte_is_mmio(shadow_fmt, sx_leaf(VA + 6 * PAGE_SIZE)));
	/* Its guest entry is unchanged, but an MMIO SPTE records no entry to compare with: it goes. */
	invlpg(VA + 6 * PAGE_SIZE, false);
	CHECK_EQ(sx_leaf(VA + 6 * PAGE_SIZE), 0);
	CHECK_EQ(sx.mmu.shadow.stats.invlpg_zaps, 1);
	CHECK(sp->unsync);
	CHECK_EQ(sx_fault(VA + 6 * PAGE_SIZE, 0, NULL), MMU_FAULT_MMIO);
	sx_teardown();
}

TEST(shadow_invlpg_leaves_in_sync_tables_alone)
{
	u64 cr3 = setup();
	sx_map(cr3, VA2, SX_DATA + 0x20000, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(VA2, 0, NULL), MMU_FAULT_FIXED);
	setup_unsync(cr3);
	struct spage *sp2 = sx_spage_at(sx.vcpu.current, VA2, 1);
	CHECK(!sp2->unsync && sp2->tracked);
	/* A store to the write-protected table that the MMU does not see (no guest could make it): INVLPG does not
	 * look at the table, since no bit leads to it. */
	u64 *e = phys_to_virt(sx_hpa(sx_gpte_gpa(cr3, VA2, 1)));
	u64 keep = *e;
	*e = (SX_DATA + 0x21000) | G_ALL | G_D | G_A;
	invlpg(VA2, false);
	CHECK_EQ(leaf_frame(sx.vcpu.current, VA2), sx_hpa(SX_DATA + 0x20000));
	CHECK_EQ(sx.mmu.shadow.stats.invlpg_zaps, 0);
	*e = keep;
	sx_teardown();
}

TEST(shadow_invlpg_visits_cached_roots_only_with_pcide)
{
	u64 a = setup(), b = sx_new_table();
	sx_switch(b);
	struct spage *sp = setup_unsync(b);
	struct mmu_root *rb = sx.vcpu.current;
	guest_store(b, VA, (SX_DATA + 0x10000) | G_ALL | G_D | G_A);
	/* A's load (it does not reach B's table, which stays unsync): B's root is cached. */
	sx_switch(a);
	CHECK(sx.vcpu.cached[0] == rb && sp->unsync);
	CHECK_EQ(sx.mmu.shadow.stats.syncs, 0);
	/* Without PCIDs, B comes back only by a CR3 load, which flushes and syncs: its stale leaf is left for it. */
	invlpg(VA, false);
	CHECK_EQ(leaf_frame(rb, VA), sx_hpa(SX_DATA));
	CHECK_EQ(sx.mmu.shadow.stats.invlpg_zaps, 0);
	/* With PCIDs B may come back without a flush: the INVLPG reaches it. */
	invlpg(VA, true);
	CHECK_EQ(leaf_frame(rb, VA), 0);
	CHECK_EQ(sx.mmu.shadow.stats.invlpg_zaps, 1);
	CHECK(sp->unsync);
	CHECK_EQ(leaf_frame(rb, VA + PAGE_SIZE), sx_hpa(SX_DATA + PAGE_SIZE));
	/* B's load syncs: nothing left to zap. */
	sx_switch(b);
	CHECK_EQ(sx.mmu.shadow.stats.syncs, 1);
	CHECK_EQ(sx.mmu.shadow.stats.sync_zaps, 0);
	CHECK_EQ(sx_fault(VA, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(VA, SX_DATA + 0x10000, true, true, true);
	sx_teardown();
}

TEST(shadow_invlpg_does_nothing_while_nothing_is_unsync)
{
	u64 cr3 = setup();
	struct spage *sp = setup_unsync(cr3);
	mmu_shadow_flush(&sx.mmu); /* every page in sync: the bits above are stale */
	CHECK(!sp->unsync && !sx.mmu.shadow.unsync);
	CHECK(sx_unsync_bit(sx_spage_at(sx.vcpu.current, VA, 2), (VA >> 21) & 511));
	/* As above, a store no guest could make to a protected table: INVLPG does not even walk the stale bits. */
	u64 *e = phys_to_virt(sx_hpa(sx_gpte_gpa(cr3, VA, 1)));
	u64 keep = *e, flushes = sx.flushes;
	*e = (SX_DATA + 0x10000) | G_ALL | G_D | G_A;
	for (int pcide = 0; pcide < 2; pcide++)
		invlpg(VA, pcide);
	CHECK_EQ(leaf_frame(sx.vcpu.current, VA), sx_hpa(SX_DATA));
	CHECK_EQ(sx.mmu.shadow.stats.invlpg_zaps, 0);
	CHECK_EQ(sx.flushes, flushes);
	*e = keep;
	/* Nor without unsync at all (every guest table write-protected). */
	sx_teardown();
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	sx_map(sx.p.cr3, VA, SX_DATA, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(VA, 0, NULL), MMU_FAULT_FIXED);
	invlpg(VA, true);
	CHECK_EQ(leaf_frame(sx.vcpu.current, VA), sx_hpa(SX_DATA));
	CHECK_EQ(sx.mmu.shadow.stats.invlpg_zaps, 0);
	sx_teardown();
}

/* A 32-bit guest: the page table's upper half (quadrant 1) unsync; INVLPG compares the 4-byte entry of its own half. */
#define GVA32	0xc0600000ULL		   /* PDE 769, PTE 512: the upper half of the table */
#define GVA32_W (GVA32 + 0x10 * PAGE_SIZE) /* PTE 528, mapping the table */

TEST(shadow_invlpg_32bit_guest_compares_the_entry_of_its_quadrant)
{
	sx_setup(64);
	sx.mmu.shadow.allow_unsync = true;
	gpa_t pd = sx_new_table();
	sx_legacy32(pd, false);
	CHECK_EQ(sx_load(), 0);
	sx_map32(pd, GVA32, SX_DATA, 1, G_ALL, G_ALL | G_D);
	sx_map32(pd, GVA32 - 0x200000, SX_DATA + 0x1000, 1, G_ALL, G_ALL | G_D); /* PTE 0 of the same table */
	CHECK_EQ(sx_fault(GVA32, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(GVA32 - 0x200000, 0, NULL), MMU_FAULT_FIXED);
	gpa_t pt = sx_gpte_gpa32(pd, GVA32, 1) & ~(PAGE_SIZE - 1);
	sx_map32(pd, GVA32_W, pt, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(GVA32_W, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx.mmu.shadow.stats.unsyncs, 2); /* both halves' shadow pages */
	u32 *gpt = phys_to_virt(sx_hpa(pt));
	/* PTE 0 (quadrant 0, shadow index 0) changes; the INVLPG of PTE 512 (quadrant 1, shadow index 0 too) must
	 * compare PTE 512, and keep its leaf. */
	gpt[0] = (SX_DATA + 0x2000) | G_ALL | G_D | G_A;
	invlpg(GVA32, false);
	sx_check_leaf(GVA32, SX_DATA, true, true, true);
	CHECK_EQ(sx.mmu.shadow.stats.invlpg_zaps, 0);
	invlpg(GVA32 - 0x200000, false);
	CHECK_EQ(sx_leaf(GVA32 - 0x200000), 0);
	CHECK_EQ(sx.mmu.shadow.stats.invlpg_zaps, 1);
	gpt[512] = (SX_DATA + 0x3000) | G_ALL | G_D | G_A;
	invlpg(GVA32 | 0xfff, false); /* any address in the page */
	CHECK_EQ(sx_leaf(GVA32), 0);
	CHECK_EQ(sx.mmu.shadow.stats.invlpg_zaps, 2);
	CHECK_EQ(sx_fault(GVA32, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA32, SX_DATA + 0x3000, true, true, true);
	sx_teardown();
}
