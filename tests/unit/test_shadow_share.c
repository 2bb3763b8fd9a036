/* Unit tests of shared shadow pages (mm/shadow/sshare.c): two address spaces that share their kernel half share its
 * shadow pages, found by (gfn, role) and linked from both roots; a zap unlinks a shared page from every parent; a
 * different inherited access gives another page; a guest write to a shared table, an unsync shared leaf table and
 * its sync, and root freeing under the budget all act on the one page for every parent. */
#include "shadow_fixture.h"

#define KVA 0xffff888000201000ULL /* the kernel half: PML4 index 273 */
#define SUP (G_P | G_RW)	  /* supervisor, writable */

static gfn_t gfn_of(gpa_t gpa)
{
	return gpa >> PAGE_SHIFT;
}

/* The top-level entry for gva of address space `from` copied into `to`, with `clear` taken away (as every process
 * shares the kernel's PML4 entries, by copying them at fork). */
static void share_top(u64 from, u64 to, gva_t gva, u64 clear)
{
	gpa_t e = (from & PT_ADDR_MASK) + ((gva >> 39) & 511) * 8;

	sx_write((to & PT_ADDR_MASK) + ((gva >> 39) & 511) * 8, sx_read(e) & ~clear);
}

/* Address space A maps KVA (supervisor) through its PDPT, PD and PT; B shares A's PML4 entry. Both have faulted
 * KVA in; B is current. Returns B's CR3 (A's in *a). */
static u64 two_spaces(u64 *a, u64 clear)
{
	*a = sx.p.cr3;
	sx_map(*a, KVA, SX_DATA, 1, SUP, SUP | G_D);
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_FIXED);
	u64 b = sx_new_table();
	share_top(*a, b, KVA, clear);
	sx_switch(b);
	return b;
}

TEST(shadow_share_two_roots_one_kernel_shadow)
{
	u64 a;

	sx_setup(64);
	u64 b = two_spaces(&a, 0);
	/* Everything below B's PML4 entry exists already: linking the PDPT's shadow was all the fault had to do. */
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_SPURIOUS);
	CHECK_EQ(sx.mmu.shadow.stats.pages_shared, 1);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 5); /* 2 roots, 1 PDPT, 1 PD, 1 PT */
	for (int l = 3; l >= 1; l--) {
		gfn_t t = gfn_of(sx_gpte_gpa(a, KVA, l));
		struct spage *sp = sx_spage_of(t);
		CHECK(sp);
		CHECK_EQ(sx_nr_parents(sp), 1 + (l == 3)); /* the PDPT's: one entry in each root */
		CHECK_EQ(sx_track_count(t), 1);
	}
	int la, lb;
	u64 *ea = sx_spte(sx_root_of(a), KVA, &la), *eb = sx_spte(sx_root_of(b), KVA, &lb);
	CHECK(la == 1 && lb == 1 && ea == eb); /* the very same leaf */
	sx_check_leaf(KVA, SX_DATA, true, false, true);
	sx_teardown();
}

TEST(shadow_share_zap_clears_every_parent)
{
	u64 a;

	sx_setup(64);
	u64 b = two_spaces(&a, 0);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_SPURIOUS);
	gfn_t pdpt = gfn_of(sx_gpte_gpa(a, KVA, 3));
	u64 flushes = sx.flushes;
	/* Unprotecting the PDPT's frame zaps its shadow from both PML4 shadow entries, and the tables below with it. */
	CHECK(mmu_shadow_unprotect_gfn(&sx.mmu, &sx.vcpu, pdpt));
	CHECK(sx.flushes > flushes);
	int level;
	CHECK(!spte_is_present(*sx_spte(sx_root_of(a), KVA, &level)) && level == 4);
	CHECK(!spte_is_present(*sx_spte(sx_root_of(b), KVA, &level)) && level == 4);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 2);
	CHECK_EQ(sx_spages_of(pdpt), 0);
	CHECK_EQ(sx_track_count(pdpt), 0);
	CHECK_EQ(sx_track_count(gfn_of(sx_gpte_gpa(a, KVA, 1))), 0);
	sx_check();
	/* Both fault it back in, sharing again. */
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_FIXED);
	sx_switch(a);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_SPURIOUS);
	CHECK_EQ(sx_nr_parents(sx_spage_of(pdpt)), 2);
	sx_teardown();
}

TEST(shadow_share_other_inherited_access_other_page)
{
	u64 a;

	sx_setup(64);
	/* A user mapping in A; B's copy of the PML4 entry is supervisor-only and read-only. */
	a = sx.p.cr3;
	sx_map(a, KVA, SX_DATA, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx_fault(KVA, PFERR_USER | PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(KVA, SX_DATA, true, true, true);
	u64 b = sx_new_table();
	share_top(a, b, KVA, G_US | G_RW);
	sx_switch(b);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(KVA, SX_DATA, false, false, true);
	CHECK_EQ(sx.mmu.shadow.stats.pages_shared, 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 8); /* each root its own PDPT, PD and PT shadow */
	for (int l = 3; l >= 1; l--) {
		gfn_t t = gfn_of(sx_gpte_gpa(a, KVA, l));
		struct spage *sp;
		u32 accs = 0;

		CHECK_EQ(sx_spages_of(t), 2);
		CHECK_EQ(sx_track_count(t), 2);
		for_each_spage_of_gfn(&sx.mmu, sp, t)
		{
			CHECK_EQ(sx_nr_parents(sp), 1);
			accs |= 1u << sp->role.access;
		}
		CHECK_EQ(accs, (1u << SPTE_ACC_ALL) | (1u << (SPTE_ACC_READ | SPTE_ACC_EXEC)));
	}
	/* A's user writes still go through its own shadow. */
	sx_switch(a);
	sx_check_leaf(KVA, SX_DATA, true, true, true);
	sx_teardown();
}

TEST(shadow_share_guest_write_updates_the_shadow_once)
{
	u64 a;

	sx_setup(64);
	u64 b = two_spaces(&a, 0);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_SPURIOUS);
	gpa_t pte = sx_gpte_gpa(a, KVA, 1);
	u64 writes = sx.mmu.shadow.stats.pte_writes;
	sx_write(pte, (SX_DATA + 0x5000) | SUP | G_D);
	CHECK_EQ(sx.mmu.shadow.stats.pte_writes, writes + 1);	 /* one shadow page of the table */
	CHECK_EQ(sx.mmu.shadow.stats.sptes_zapped_by_writes, 1); /* one leaf, for both roots */
	int level;
	CHECK(!spte_is_present(*sx_spte(sx_root_of(a), KVA, &level)) && level == 1);
	CHECK(!spte_is_present(*sx_spte(sx_root_of(b), KVA, &level)) && level == 1);
	/* B's fault makes the new leaf, which A then uses too. */
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_FIXED);
	sx_switch(a);
	sx_check_leaf(KVA, SX_DATA + 0x5000, true, false, true);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_SPURIOUS);
	sx_teardown();
}

TEST(shadow_share_unsync_leaf_synced_from_either_root)
{
	u64 a;

	sx_setup(64);
	sx.mmu.shadow.allow_unsync = true;
	u64 b = two_spaces(&a, 0);
	gpa_t pt = sx_gpte_gpa(a, KVA, 1) & ~(PAGE_SIZE - 1);
	gva_t kva_w = KVA + PAGE_SIZE; /* maps the page table itself, writable */
	sx_map(a, kva_w, pt, 1, SUP, SUP | G_D);
	CHECK_EQ(sx_fault(kva_w, PFERR_WRITE, NULL), MMU_FAULT_FIXED); /* from B */
	CHECK_EQ(sx.mmu.shadow.stats.unsyncs, 1);		       /* one page, whatever its parents */
	CHECK_EQ(sx_track_count(gfn_of(pt)), 0);
	/* The guest's own store, which no notifier sees: KVA's PTE now maps another page. Both roots still see the
	 * stale leaf, as the architecture allows until a flush. */
	u64 *guest_pt = phys_to_virt(sx_hpa(pt));
	guest_pt[(KVA >> PAGE_SHIFT) & 511] = (SX_DATA + 0x7000) | SUP | G_D;
	int level;
	CHECK(spte_is_present(*sx_spte(sx_root_of(a), KVA, &level)));
	/* A's CR3 load flushes A's TLB: the sync fixes the page for B as well. */
	sx_switch(a);
	CHECK_EQ(sx.mmu.shadow.stats.syncs, 1);
	CHECK_EQ(sx.mmu.shadow.stats.sync_zaps, 1);
	CHECK(!spte_is_present(*sx_spte(sx_root_of(b), KVA, &level)) && level == 1);
	CHECK_EQ(sx_track_count(gfn_of(pt)), 1);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(KVA, SX_DATA + 0x7000, true, false, true);
	sx_teardown();
}

TEST(shadow_share_unsync_page_linked_below_a_new_parent_is_synced)
{
	u64 a;

	sx_setup(64);
	sx.mmu.shadow.allow_unsync = true;
	two_spaces(&a, 0);
	gpa_t pt = sx_gpte_gpa(a, KVA, 1) & ~(PAGE_SIZE - 1);
	gva_t kva_w = KVA + PAGE_SIZE;
	sx_map(a, kva_w, pt, 1, SUP, SUP | G_D);
	CHECK_EQ(sx_fault(kva_w, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx.mmu.shadow.stats.unsyncs, 1);
	u64 *guest_pt = phys_to_virt(sx_hpa(pt));
	guest_pt[(KVA >> PAGE_SHIFT) & 511] = (SX_DATA + 0x7000) | SUP | G_D;
	/* Another PDE of the same PD points to the same page table: a new parent for the unsync page. Its addresses
	 * were never in a TLB, so they must see the table as it is: the link syncs the page first. */
	gva_t alias = KVA + (1ULL << 21);
	sx_write(sx_gpte_gpa(a, alias, 2), sx_read(sx_gpte_gpa(a, KVA, 2)));
	CHECK_EQ(sx_fault(alias, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx.mmu.shadow.stats.syncs, 1);
	CHECK_EQ(sx.mmu.shadow.stats.sync_zaps, 1);
	CHECK_EQ(sx_track_count(gfn_of(pt)), 1);
	CHECK_EQ(sx_nr_parents(sx_spage_of(gfn_of(pt))), 2);
	/* The sync zapped the stale leaf; the alias's fault made the new one in the same shared page, at the same
	 * index, which KVA's path reaches too. */
	sx_check_leaf(alias, SX_DATA + 0x7000, true, false, true);
	sx_check_leaf(KVA, SX_DATA + 0x7000, true, false, true);
	sx_teardown();
}

TEST(shadow_share_budget_frees_a_root_and_keeps_pages_others_reach)
{
	u64 a;

	sx_setup(5);
	u64 b = two_spaces(&a, 0);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_SPURIOUS);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 5); /* the budget, spent */
	gfn_t pdpt = gfn_of(sx_gpte_gpa(a, KVA, 3));
	CHECK_EQ(sx_nr_parents(sx_spage_of(pdpt)), 2);
	/* A goes out of the vCPU's cache: current C3, cached C2, C1, B. */
	u64 c[4];
	for (int i = 0; i < 3; i++) {
		c[i] = sx_new_table();
		sx_switch(c[i]);
	}
	CHECK(sx_root_of(a) && sx_root_of(a)->refcount == 0);
	/* A root load past the budget first frees the roots no vCPU holds: A's. The kernel shadow it shared with B
	 * loses one parent and stays for B. */
	c[3] = sx_new_table();
	sx_switch(c[3]);
	CHECK(!sx_root_of(a));
	CHECK_EQ(sx_spages_of(pdpt), 1);
	CHECK_EQ(sx_nr_parents(sx_spage_of(pdpt)), 1);
	CHECK_EQ(sx_track_count(pdpt), 1);
	int level;
	CHECK(spte_is_present(*sx_spte(sx_root_of(b), KVA, &level)) && level == 1);
	sx_check();
	/* A fault past the budget retries on fresh roots: every shared page goes with its last parent. */
	sx_map(c[3], KVA, SX_DATA, 1, SUP, SUP | G_D);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_RETRY);
	sx_reload();
	CHECK_EQ(sx_spages_of(pdpt), 0);
	CHECK_EQ(sx_track_count(pdpt), 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 1);
	CHECK_EQ(sx_fault(KVA, 0, NULL), MMU_FAULT_FIXED);
	sx_teardown();
}
