/* Unit tests of the shadow MMU under a guest with 32-bit paging (SDM Vol. 3A 4.3): its 4-byte tables shadowed by
 * PAE-format ones, the guest directory by the root's 4 directories (quadrants 0..3), each guest page table by 2
 * tables (one per 2 MiB half), 4 MiB pages (CR4.PSE) by direct 2 MiB pages with PSE-36 address bits and bit 21
 * reserved (table 4-4), guest writes of 4-byte entries mapped to the right shadow entries of the right quadrant,
 * flooding, misaligned writes, and unsync tables synced entry by entry. Every fault is followed by sx_check, which
 * also checks each shadow page's quadrant against the address it covers. */
#include "shadow_fixture.h"

/* A 4 MiB region whose PDE (769) is in quadrant 3 and whose two halves are shadow PDEs 2 and 3 of that directory. */
#define BASE   0xc0400000ULL
#define GVA_A  (BASE + 0x1ff000) /* PTE 511: the last of the lower half (quadrant 0 of the page table) */
#define GVA_A2 (BASE + 0x1fe000) /* PTE 510 */
#define GVA_B  (BASE + 0x200000) /* PTE 512: the first of the upper half (quadrant 1) */
#define GVA_C  (BASE + 0x3ff000) /* PTE 1023 */

static gfn_t gfn_of(gpa_t gpa)
{
	return gpa >> PAGE_SHIFT;
}

/* The shadow page a walk of the current root for gva ends in (its table holds the entry for gva). */
static struct spage *leaf_spage(gva_t gva)
{
	int level;
	unsigned int idx;
	u64 *sptep = sx_spte(sx.vcpu.current, gva, &level);

	return __spage_of_sptep(&sx.mmu, sptep, &idx);
}

/* A fresh MMU with a 32-bit guest on a new directory: returns it. */
static gpa_t setup32(bool pse)
{
	sx_setup(64);
	gpa_t pd = sx_new_table();
	sx_legacy32(pd, pse);
	CHECK_EQ(sx_load(), 0);
	return pd;
}

/* GVA_A, GVA_A2, GVA_B and GVA_C mapped through one page table, each faulted in. Returns that table. */
static gpa_t setup_four(gpa_t pd)
{
	sx_map32(pd, GVA_A, SX_DATA, 1, G_ALL, G_ALL | G_D);
	sx_map32(pd, GVA_A2, SX_DATA + 0x1000, 1, G_ALL, G_ALL | G_D);
	sx_map32(pd, GVA_B, SX_DATA + 0x2000, 1, G_ALL, G_P | G_US);	   /* read-only */
	sx_map32(pd, GVA_C, SX_DATA + 0x3000, 1, G_ALL, G_P | G_RW | G_D); /* supervisor-only */
	CHECK_EQ(sx_fault(GVA_A + 0x10, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(GVA_A2, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(GVA_B, PFERR_USER, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(GVA_C, 0, NULL), MMU_FAULT_FIXED);
	return sx_gpte_gpa32(pd, GVA_A, 1) & ~(PAGE_SIZE - 1);
}

TEST(shadow_legacy32_root_is_four_quadrants_of_the_directory)
{
	gpa_t pd = setup32(false);
	struct mmu_root *root = sx.vcpu.current;

	CHECK(root->role.level == 3 && root->role.has_4_byte_gpte && !root->role.direct);
	CHECK_EQ(root->pgd, pd);
	u64 *pdpt = phys_to_virt(root->hpa);
	for (unsigned int i = 0; i < 4; i++) {
		struct spage *sp = __spage_by_hpa(&sx.mmu, pdpt[i] & PT_ADDR_MASK);
		CHECK(sp && !sp->role.direct && sp->role.level == 2 && sp->root_pd);
		CHECK_EQ(sp->role.quadrant, i);
		CHECK_EQ(sp->gfn, gfn_of(pd));
		CHECK_EQ(sp->vpn, (u64)i << 18);
	}
	CHECK_EQ(sx.mmu.shadow.nr_pages, 5);
	CHECK_EQ(sx_spages_of(gfn_of(pd)), 4);
	CHECK_EQ(sx_track_count(gfn_of(pd)), 4); /* write-protected once per shadow page */
	/* An unmapped address: #PF without P (and no I/D without SMEP: 32-bit paging has no XD). */
	struct mmu_fault f;
	CHECK_EQ(sx_fault(0x12345678, PFERR_FETCH | PFERR_USER, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_USER);
	sx_teardown();
}

TEST(shadow_legacy32_page_table_is_shadowed_per_2m_half)
{
	gpa_t pd = setup32(false);
	gpa_t pt = setup_four(pd);

	sx_check_leaf(GVA_A, SX_DATA, true, true, true);
	sx_check_leaf(GVA_A2, SX_DATA + 0x1000, true, true, true);
	sx_check_leaf(GVA_B, SX_DATA + 0x2000, false, true, true);
	sx_check_leaf(GVA_C, SX_DATA + 0x3000, true, false, true);
	/* One guest page table, two shadow pages of it: quadrant 0 for the lower 2 MiB, 1 for the upper. */
	CHECK_EQ(sx_spages_of(gfn_of(pt)), 2);
	CHECK_EQ(sx_track_count(gfn_of(pt)), 2);
	struct spage *lo = leaf_spage(GVA_A), *hi = leaf_spage(GVA_B);
	CHECK(lo != hi && lo == leaf_spage(GVA_A2) && hi == leaf_spage(GVA_C));
	CHECK(lo->gfn == gfn_of(pt) && hi->gfn == gfn_of(pt));
	CHECK(lo->role.quadrant == 0 && hi->role.quadrant == 1);
	CHECK(lo->role.has_4_byte_gpte && hi->role.has_4_byte_gpte);
	CHECK_EQ(lo->vpn, BASE >> PAGE_SHIFT);
	CHECK_EQ(hi->vpn, (BASE + 0x200000) >> PAGE_SHIFT);
	/* The walk set A in 4-byte entries, and touched nothing next to them: PTE 511's update left PTE 512 alone. */
	CHECK_EQ(sx_read32(sx_gpte_gpa32(pd, GVA_A, 1)), SX_DATA | G_ALL | G_D | G_A);
	CHECK_EQ(sx_read32(sx_gpte_gpa32(pd, GVA_B, 1)), (SX_DATA + 0x2000) | G_P | G_US | G_A);
	CHECK_EQ(sx_read32(sx_gpte_gpa32(pd, GVA_A, 2)), (u32)pt | G_ALL | G_A);
	/* Error codes as 32-bit paging gives them: a user write to the read-only page, a user read of the supervisor
	 * one, a neighbour not present. */
	struct mmu_fault f;
	CHECK_EQ(sx_fault(GVA_B, PFERR_WRITE | PFERR_USER | PFERR_PRESENT, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_WRITE | PFERR_USER | PFERR_PRESENT);
	CHECK_EQ(sx_fault(GVA_C, PFERR_USER | PFERR_PRESENT, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_USER | PFERR_PRESENT);
	CHECK_EQ(sx_fault(GVA_B + 0x1000, 0, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 7);
	sx_teardown();
}

TEST(shadow_legacy32_4byte_writes_zap_their_entries_only)
{
	gpa_t pd = setup32(false);
	gpa_t pt = setup_four(pd);
	gpa_t pte_a = sx_gpte_gpa32(pd, GVA_A, 1), pte_b = sx_gpte_gpa32(pd, GVA_B, 1);

	/* PTE 511 (quadrant 0, shadow index 511): only its leaf goes, not 510's, nor 512's in the other page. */
	sx_write32(pte_a, (SX_DATA + 0x5000) | G_ALL | G_D);
	CHECK_EQ(sx_leaf(GVA_A), 0);
	CHECK(spte_is_present(sx_leaf(GVA_A2)) && spte_is_present(sx_leaf(GVA_B)));
	CHECK_EQ(sx.mmu.shadow.stats.sptes_zapped_by_writes, 1);
	CHECK_EQ(sx_fault(GVA_A, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA_A, SX_DATA + 0x5000, true, true, true);
	/* PTE 512 (quadrant 1, shadow index 0): only GVA_B's leaf; GVA_A (quadrant 0, index 0 would be 512 - 512 in
	 * the wrong page) stays. */
	sx_write32(pte_b, (SX_DATA + 0x6000) | G_P | G_US);
	CHECK_EQ(sx_leaf(GVA_B), 0);
	CHECK(spte_is_present(sx_leaf(GVA_A)) && spte_is_present(sx_leaf(GVA_C)));
	CHECK_EQ(sx.mmu.shadow.stats.sptes_zapped_by_writes, 2);
	/* (A fault through each shadow page of the table: every write to the table counts for flooding in each.) */
	CHECK_EQ(sx_fault(GVA_B, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA_B, SX_DATA + 0x6000, false, true, true);
	/* A 1-byte write (Linux's clear_bit: a locked AND of one byte) within PTE 510: its leaf only. */
	u8 b = (u8)(G_P | G_US | G_A | G_D); /* R/W cleared */
	CHECK_EQ(mmu_write_gpa(&sx.mmu, &sx.vcpu, sx_gpte_gpa32(pd, GVA_A2, 1), &b, 1), 0);
	CHECK_EQ(sx_leaf(GVA_A2), 0);
	CHECK(spte_is_present(sx_leaf(GVA_A)));
	CHECK_EQ(sx_fault(GVA_A2, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA_A2, SX_DATA + 0x1000, false, true, true);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 0);
	/* A PDE in another quadrant of the directory: nothing of ours. */
	sx_write32(pd + 5 * 4, 0);
	CHECK(spte_is_present(sx_leaf(GVA_A)) && spte_is_present(sx_leaf(GVA_C)));
	/* Our PDE (769 = quadrant 3, entry 1): both its 2 MiB shadow PDEs (2 and 3) go, with both shadow pages of the
	 * page table. */
	gpa_t pde = sx_gpte_gpa32(pd, GVA_A, 2);
	sx_write32(pde, sx_read32(pde));
	CHECK_EQ(sx_leaf(GVA_A), 0);
	CHECK_EQ(sx_leaf(GVA_C), 0);
	CHECK_EQ(sx_spages_of(gfn_of(pt)), 0);
	CHECK_EQ(sx_track_count(gfn_of(pt)), 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 5);
	CHECK_EQ(sx_fault(GVA_C, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA_C, SX_DATA + 0x3000, true, false, true);
	sx_teardown();
}

TEST(shadow_legacy32_misaligned_writes_and_flooding)
{
	gpa_t pd = setup32(false);
	gpa_t pt = setup_four(pd);
	gpa_t pte_a = sx_gpte_gpa32(pd, GVA_A, 1);
	u64 two = 0;

	/* 8 bytes over PTEs 511 and 512: two 4-byte entries, so misaligned: both shadow pages of the table go. */
	CHECK_EQ(mmu_read_gpa(&sx.mmu, pte_a, &two, 8), 0);
	CHECK_EQ(mmu_write_gpa(&sx.mmu, &sx.vcpu, pte_a, &two, 8), 0);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 2);
	CHECK_EQ(sx_spages_of(gfn_of(pt)), 0);
	CHECK_EQ(sx_track_count(gfn_of(pt)), 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 5);
	/* The same over two PDEs of the directory: the root's directories are never zapped for it, only the entries
	 * written (the two shadow PDEs of PDE 769 and of PDE 770). */
	CHECK_EQ(sx_fault(GVA_A, 0, NULL), MMU_FAULT_FIXED);
	gpa_t pde = sx_gpte_gpa32(pd, GVA_A, 2);
	CHECK_EQ(mmu_read_gpa(&sx.mmu, pde, &two, 8), 0);
	CHECK_EQ(mmu_write_gpa(&sx.mmu, &sx.vcpu, pde, &two, 8), 0);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 2);
	CHECK_EQ(sx_spages_of(gfn_of(pd)), 4);
	CHECK_EQ(sx_leaf(GVA_A), 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 5);
	/* Flooding: three writes to the table with no fault through it zap each of its shadow pages. */
	CHECK_EQ(sx_fault(GVA_A, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(GVA_B, 0, NULL), MMU_FAULT_FIXED);
	for (int i = 0; i < 2; i++)
		sx_write32(pt + 100 * 4, i);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 2);
	CHECK_EQ(sx_spages_of(gfn_of(pt)), 2);
	sx_write32(pt + 100 * 4, 2);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 4);
	CHECK_EQ(sx_spages_of(gfn_of(pt)), 0);
	sx_teardown();
}

/* PDE 1 (quadrant 0): a fault there is a use of the directory as much as one in quadrant 3. */
#define GVA_Q0 0x00401000ULL

/* A 32-bit guest's directory flooded with writes (a process exited, its page directory's frame reused as data)
 * makes its root obsolete, all four quadrants at once, as a 4-level root's PML4 does: the guest writes the frame at
 * full speed afterwards, and the vCPU drops that root only. */
TEST(shadow_legacy32_flooded_directory_makes_the_root_obsolete)
{
	gpa_t pd = setup32(false);
	setup_four(pd);
	sx_map32(pd, GVA_Q0, SX_DATA + 0x4000, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(GVA_Q0, 0, NULL), MMU_FAULT_FIXED);
	struct mmu_root *root = sx.vcpu.current;
	/* Another address space, valid in the vCPU's cache. */
	gpa_t other = sx_new_table();
	sx_map32(other, GVA_A, SX_DATA, 1, G_ALL, G_ALL | G_D);
	sx.p.cr3 = other;
	CHECK_EQ(sx_load(), 0);
	struct mmu_root *kept = sx.vcpu.current;
	sx.p.cr3 = pd;
	CHECK_EQ(sx_load(), 0);
	CHECK(sx.vcpu.current == root && sx.vcpu.cached[0] == kept);
	/* Writes to quadrant 3's part with a fault in quadrant 0 in between: every quadrant's count starts over. */
	for (int i = 0; i < 6; i++) {
		sx_write32(pd + 1000 * 4, i);
		CHECK_EQ(sx_fault(GVA_Q0, 0, NULL), MMU_FAULT_SPURIOUS);
	}
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 0);
	CHECK(!mmu_root_is_obsolete(&sx.mmu, root));
	/* Three with none: the root goes, its four directories emptied, the frame unprotected. */
	u64 requests = sx.root_requests, roots = sx.mmu.stats.roots_allocated;
	for (int i = 0; i < 3; i++)
		sx_write32(pd + 1000 * 4, i);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 1);
	CHECK_EQ(sx.mmu.shadow.stats.root_zaps, 1);
	CHECK_EQ(sx.mmu.shadow.stats.pae_root_zaps, 1);
	CHECK(mmu_root_is_obsolete(&sx.mmu, root) && !mmu_root_is_obsolete(&sx.mmu, kept));
	CHECK_EQ(sx.root_requests, requests + 1);
	CHECK_EQ(sx_spages_of(gfn_of(pd)), 0);
	CHECK_EQ(sx_track_count(gfn_of(pd)), 0);
	CHECK_EQ(sx_leaf(GVA_A), 0);
	CHECK_EQ(sx_leaf(GVA_Q0), 0);
	sx_check();
	u64 writes = sx.mmu.shadow.stats.pte_writes;
	sx_write32(pd + 1000 * 4, 0);
	CHECK_EQ(sx.mmu.shadow.stats.pte_writes, writes);
	/* The vCPU drops the obsolete root only; the reload builds one root, whose quadrants protect the frame again. */
	u64 dropped = sx.vcpu.obsolete_dropped;
	CHECK(mmu_vcpu_free_obsolete_roots(&sx.mmu, &sx.vcpu));
	CHECK_EQ(sx.vcpu.obsolete_dropped, dropped + 1);
	CHECK(sx.vcpu.cached[0] == kept);
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx.mmu.stats.roots_allocated, roots + 1);
	CHECK_EQ(sx_spages_of(gfn_of(pd)), 4);
	CHECK_EQ(sx_track_count(gfn_of(pd)), 4);
	CHECK_EQ(sx_fault(GVA_A, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA_A, SX_DATA, true, true, true);
	/* A misaligned write over two PDEs does not count: the entries written go, the root stays. */
	u64 two = 0;
	gpa_t pde = sx_gpte_gpa32(pd, GVA_A, 2);
	root = sx.vcpu.current;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(mmu_read_gpa(&sx.mmu, pde, &two, 8), 0);
		CHECK_EQ(mmu_write_gpa(&sx.mmu, &sx.vcpu, pde, &two, 8), 0);
	}
	CHECK(!mmu_root_is_obsolete(&sx.mmu, root));
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 1);
	sx_teardown();
}

/* PDE 512 (quadrant 2) maps 4 MiB at gpa 0x3_0040_0000: PSE-36 puts physical bits 39:32 in PDE bits 20:13. */
#define GVA_4M	 0x80000000ULL
#define GPA_HIGH 0x300400000ULL
#define PDE_4M	 (0x00400000u | (0x03u << 13) | G_ALL | G_A | G_D)

TEST(shadow_legacy32_pse36_4m_pages_by_direct_2m_pages)
{
	gpa_t pd = setup32(true);
	struct mmu_fault f;

	CHECK_EQ(mmu_add_ram(&sx.mmu, GPA_HIGH >> PAGE_SHIFT, 1024, 0), 0); /* 4 MiB above 4 GiB */
	sx_map32(pd, GVA_4M, PDE_4M & ~(u32)(G_ALL | G_A | G_D), 2, 0, G_ALL | G_A | G_D);
	CHECK_EQ(sx_read32(pd + 512 * 4), PDE_4M | G_PS);
	CHECK_EQ(sx_fault(GVA_4M + 0x123456, PFERR_WRITE, &f), MMU_FAULT_FIXED);
	CHECK_EQ(f.gpa, GPA_HIGH + 0x123456);
	sx_check_leaf(GVA_4M + 0x123000, GPA_HIGH + 0x123000, true, true, true);
	CHECK_EQ(sx_fault(GVA_4M + 0x3ff000, 0, &f), MMU_FAULT_FIXED);
	sx_check_leaf(GVA_4M + 0x3ff000, GPA_HIGH + 0x3ff000, true, true, true);
	/* Each 2 MiB half is a direct page of its own 2 MiB of the frame, below the directory of quadrant 2. */
	struct spage *lo = leaf_spage(GVA_4M), *hi = leaf_spage(GVA_4M + 0x200000);
	CHECK(lo != hi && lo->role.direct && hi->role.direct && lo->role.level == 1);
	CHECK_EQ(lo->gfn, GPA_HIGH >> PAGE_SHIFT);
	CHECK_EQ(hi->gfn, (GPA_HIGH + 0x200000) >> PAGE_SHIFT);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 7);
	/* Bit 21 of a 4 MiB PDE is reserved (MAXPHYADDR 40: bits 20:13 hold physical bits 39:32). The write zaps the
	 * direct pages; the walk then faults with RSVD. */
	sx_write32(pd + 512 * 4, PDE_4M | G_PS | BIT(21));
	CHECK_EQ(sx.mmu.shadow.nr_pages, 5);
	CHECK_EQ(sx_fault(GVA_4M, PFERR_USER, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_USER | PFERR_PRESENT | PFERR_RSVD);
	/* With MAXPHYADDR 36, bits 21:17 are reserved: physical bit 36 is not an address bit. */
	sx.p.mode.maxphyaddr = 36;
	sx_write32(pd + 512 * 4, PDE_4M | G_PS | BIT(17));
	CHECK_EQ(sx_fault(GVA_4M, 0, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_PRESENT | PFERR_RSVD);
	sx_write32(pd + 512 * 4, PDE_4M | G_PS);
	CHECK_EQ(sx_fault(GVA_4M + 0x200000, 0, &f), MMU_FAULT_FIXED);
	CHECK_EQ(f.gpa, GPA_HIGH + 0x200000);
	struct mmu_root *pse_root = sx.vcpu.current;
	/* Without CR4.PSE, PS is ignored: the PDE points to a page table at its address bits (0x406000, zeros: not
	 * present). Another role, another root; the PSE one stays cached with its direct pages. */
	sx.p.mode.pse = false;
	CHECK_EQ(sx_load(), 0);
	CHECK(sx.vcpu.current != pse_root && !sx.vcpu.current->role.cr4_pse && pse_root->role.cr4_pse);
	CHECK_EQ(sx_fault(GVA_4M + 0x200000, 0, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, 0);
	sx_write32(0x406000 + 512 * 4, (SX_DATA + 0x7000) | G_ALL);
	CHECK_EQ(sx_fault(GVA_4M + 0x200000, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA_4M + 0x200000, SX_DATA + 0x7000, false, true, true);
	CHECK(!leaf_spage(GVA_4M + 0x200000)->role.direct);
	sx.p.mode.pse = true;
	CHECK_EQ(sx_load(), 0);
	CHECK(sx.vcpu.current == pse_root);
	sx_check_leaf(GVA_4M + 0x200000, GPA_HIGH + 0x200000, true, true, true);
	sx_teardown();
}

/* An unsync 32-bit page table: the guest writes its 4-byte entries directly; the sync compares each shadow leaf with
 * the guest entry of its own quadrant. */
TEST(shadow_legacy32_unsync_table_syncs_by_quadrant)
{
	gpa_t pd = setup32(false);
	gpa_t pt = setup_four(pd);
	gva_t gva_w = BASE + 100 * PAGE_SIZE; /* PTE 100 maps the page table itself, writable */

	sx.mmu.shadow.allow_unsync = true;
	sx_map32(pd, gva_w, pt, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(gva_w, PFERR_WRITE, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx.mmu.shadow.stats.unsyncs, 2); /* both shadow pages of the table */
	CHECK_EQ(sx_track_count(gfn_of(pt)), 0);
	sx_check_leaf(gva_w, pt, true, true, true);
	/* The guest's own stores, which no notifier sees: PTE 512 (quadrant 1, index 0) changes, PTE 511 is rewritten
	 * with the value it had. */
	u32 *guest_pt = phys_to_virt(sx_hpa(pt));
	guest_pt[512] = (SX_DATA + 0x6000) | G_P | G_US | G_A;
	guest_pt[511] = guest_pt[511];
	CHECK(spte_is_present(sx_leaf(GVA_B))); /* stale, as the architecture allows until a flush */
	mmu_shadow_flush(&sx.mmu);
	CHECK_EQ(sx.mmu.shadow.stats.syncs, 2);
	CHECK_EQ(sx.mmu.shadow.stats.sync_zaps, 1);
	CHECK_EQ(sx_leaf(GVA_B), 0);
	CHECK(spte_is_present(sx_leaf(GVA_A)) && spte_is_present(sx_leaf(GVA_A2)) && spte_is_present(sx_leaf(GVA_C)));
	/* Protected again: the mapping of the table itself lost W, and both shadow pages hold a reference. */
	CHECK_EQ(sx_track_count(gfn_of(pt)), 2);
	sx_check_leaf(gva_w, pt, false, true, true);
	CHECK_EQ(sx_fault(GVA_B, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA_B, SX_DATA + 0x6000, false, true, true);
	sx_teardown();
}
