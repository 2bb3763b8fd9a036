/* Unit tests of the shadow MMU under a guest with PAE paging (SDM Vol. 3A 4.4): the PDPTE registers loaded at CR3
 * with their reserved-bit check (4.4.1, table 4-8), the PAE-format root built from them and keyed by them, guest
 * writes to the PDPT without effect until the next load, 2 MiB pages, NX and reserved bits, a flooded directory
 * making the whole root obsolete, and PAE half-writes (an 8-byte entry written as two 4-byte halves, as Linux's PAE
 * set_pte does) merged. Every fault is followed by sx_check. */
#include "shadow_fixture.h"

#define GVA0 0x00201000ULL /* GiB 0 */
#define GVA3 0xc0403000ULL /* GiB 3 */

static gfn_t gfn_of(gpa_t gpa)
{
	return gpa >> PAGE_SHIFT;
}

/* A PAE guest whose PDPT sits at byte 0x20 of a page (CR3 bits 31:5), GVA0 and GVA3 mapped (4K, 3 directories:
 * PDPTEs 0, 2 and 3 present, 1 not), the PDPTEs loaded and the root built. Returns the PDPT's address. */
static gpa_t setup_pae(void)
{
	sx_setup(64);
	gpa_t pdpt = sx_new_table() + 0x20;
	sx_pae(pdpt);
	sx_map_pae(pdpt, GVA0, SX_DATA, 1, G_ALL, G_ALL | G_D);
	sx_map_pae(pdpt, GVA3, SX_DATA + 0x1000, 1, G_ALL, G_ALL | G_D | G_NX);
	sx_write(pdpt + 2 * 8, sx_new_table() | G_P);
	CHECK_EQ(sx_load_pdptes(), 0);
	CHECK_EQ(sx_load(), 0);
	return pdpt;
}

TEST(shadow_pae_pdpte_load_checks_reserved_bits)
{
	sx_setup(64);
	gpa_t pdpt = sx_new_table() + 0x60;
	gpa_t pd = sx_new_table();
	static const unsigned int rsvd[] = {1, 2, 5, 6, 7, 8, 40, 51, 52, 62, 63};

	sx_write(pdpt, pd | G_P | BIT(3) | BIT(4) | BIT(9) | BIT(11)); /* PWT, PCD and the ignored bits are fine */
	sx_write(pdpt + 8, 0xfffffffffffffffeULL);		       /* not present: nothing is checked */
	sx.p.mode.maxphyaddr = 40;
	sx.p.cr3 = pdpt | 0x18; /* bits 4:3 are not part of the address */
	CHECK_EQ(sx_load_pdptes(), 0);
	CHECK_EQ(sx.pdptes[0], sx_read(pdpt));
	CHECK_EQ(sx.pdptes[1], 0xfffffffffffffffeULL);
	CHECK(!sx.pdptes[2] && !sx.pdptes[3]);
	for (unsigned int i = 0; i < ARRAY_SIZE(rsvd); i++) {
		sx_write(pdpt + 3 * 8, pd | G_P | BIT(rsvd[i]));
		CHECK_EQ(sx_load_pdptes(), -EINVAL);
		CHECK(!sx.pdptes[3]); /* a #GP loads nothing */
	}
	/* The reserved address bits follow MAXPHYADDR. */
	sx_write(pdpt + 3 * 8, pd | G_P | BIT(39));
	CHECK_EQ(sx_load_pdptes(), 0);
	sx.p.mode.maxphyaddr = 36;
	CHECK_EQ(sx_load_pdptes(), -EINVAL);
	/* A PDPT outside RAM reads as all ones: reserved bits, #GP. */
	sx.p.cr3 = SX_MMIO;
	CHECK_EQ(sx_load_pdptes(), -EINVAL);
	/* The walker agrees: the same PDPTE met in memory (no loaded PDPTEs) is a reserved-bit #PF. */
	CHECK_EQ(gwalk_pdpte_rsvd(40), GENMASK_ULL(63, 40) | GENMASK_ULL(8, 5) | GENMASK_ULL(2, 1));
	CHECK_EQ(gwalk_pdpte_rsvd(52), GENMASK_ULL(63, 52) | GENMASK_ULL(8, 5) | GENMASK_ULL(2, 1));
	sx_teardown();
}

TEST(shadow_pae_root_is_built_from_the_loaded_pdptes)
{
	gpa_t pdpt = setup_pae();
	struct mmu_root *root = sx.vcpu.current;
	struct mmu_fault f;

	CHECK(root->role.level == 3 && !root->role.direct && !root->role.has_4_byte_gpte && root->role.efer_nx);
	CHECK_EQ(root->pgd, pdpt);
	for (unsigned int i = 0; i < 4; i++)
		CHECK_EQ(root->pdptes[i], sx.pdptes[i]);
	u64 *spdpt = phys_to_virt(root->hpa);
	CHECK_EQ(spdpt[1], 0); /* PDPTE 1 not present: no directory */
	for (unsigned int i = 0; i < 4; i++) {
		if (i == 1)
			continue;
		struct spage *pd = __spage_by_hpa(&sx.mmu, spdpt[i] & PT_ADDR_MASK);
		CHECK(pd && pd->root_pd && !pd->role.direct && pd->role.level == 2 && !pd->role.quadrant);
		CHECK_EQ(pd->gfn, gfn_of(sx.pdptes[i] & GENMASK_ULL(51, 12)));
		CHECK_EQ(sx_track_count(pd->gfn), 1);
	}
	CHECK_EQ(sx.mmu.shadow.nr_pages, 4);
	CHECK_EQ(sx_track_count(gfn_of(pdpt)), 0); /* the PDPT itself is not write-protected */
	CHECK_EQ(sx_fault(GVA0, PFERR_WRITE | PFERR_USER, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA0, SX_DATA, true, true, true);
	CHECK_EQ(sx_fault(GVA3, PFERR_USER, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA3, SX_DATA + 0x1000, true, true, false);
	/* PDPTE 1 is not present: #PF without P; a fetch reports I/D under NXE. */
	CHECK_EQ(sx_fault(0x40000000, PFERR_FETCH, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_FETCH);
	/* A user fetch from the NX page. */
	CHECK_EQ(sx_fault(GVA3, PFERR_FETCH | PFERR_USER | PFERR_PRESENT, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_FETCH | PFERR_USER | PFERR_PRESENT);
	sx_teardown();
}

TEST(shadow_pae_pdpt_writes_wait_for_the_next_load)
{
	gpa_t pdpt = setup_pae();
	struct mmu_root *first = sx.vcpu.current;
	struct mmu_fault f;

	CHECK_EQ(sx_fault(GVA0, 0, NULL), MMU_FAULT_FIXED);
	/* The guest points PDPTE 0 at another directory, mapping GVA0 + 4K elsewhere. No write is seen (the PDPT is
	 * not tracked), and the CPU keeps walking with the PDPTE it loaded. */
	u64 old = sx_read(pdpt), writes = sx.mmu.shadow.stats.pte_writes;
	gpa_t pd2 = sx_new_table(), pt2 = sx_new_table();
	sx_write(pd2 + 1 * 8, pt2 | G_ALL);
	sx_write(pt2 + 2 * 8, (SX_DATA + 0x7000) | G_ALL | G_D);
	sx_write(pt2 + 1 * 8, (SX_DATA + 0x6000) | G_ALL | G_D);
	sx_write(pdpt, pd2 | G_P);
	CHECK_EQ(sx.mmu.shadow.stats.pte_writes, writes);
	CHECK(spte_is_present(sx_leaf(GVA0)));
	CHECK_EQ(sx_fault(GVA0 + PAGE_SIZE, 0, &f), MMU_FAULT_GUEST_PF); /* the old directory has no such page */
	CHECK_EQ(f.guest_error_code, 0);
	/* The next MOV to CR3 loads the new PDPTE: another key, another root; GVA0 now maps the new page. */
	CHECK_EQ(sx_load_pdptes(), 0);
	CHECK_EQ(sx_load(), 0);
	struct mmu_root *second = sx.vcpu.current;
	CHECK(second != first && second->pgd == first->pgd && second->role.word == first->role.word);
	CHECK_EQ(second->pdptes[0], pd2 | G_P);
	CHECK_EQ(sx_fault(GVA0, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA0, SX_DATA + 0x6000, true, true, true);
	/* A vCPU whose registers differ from its root's (it loaded others and has not reloaded its root yet) does not
	 * fault on the root: it retries after the reload. */
	sx.pdptes[0] = old;
	CHECK_EQ(sx_fault(GVA0 + PAGE_SIZE, 0, NULL), MMU_FAULT_RETRY);
	/* Back to the old PDPTEs: the first root, from the cache, still populated. */
	sx_write(pdpt, old);
	CHECK_EQ(sx_load_pdptes(), 0);
	u64 hits = sx.vcpu.root_cache_hits;
	CHECK_EQ(sx_load(), 0);
	CHECK(sx.vcpu.current == first);
	CHECK_EQ(sx.vcpu.root_cache_hits, hits + 1);
	sx_check_leaf(GVA0, SX_DATA, true, true, true);
	sx_teardown();
}

TEST(shadow_pae_2m_pages_nx_and_reserved_bits)
{
	gpa_t pdpt = setup_pae();
	gva_t gva = 0x80600000ULL; /* GiB 2, PDE 3 */
	struct mmu_fault f;

	sx_map_pae(pdpt, gva, 0x200000, 2, 0, G_P | G_RW | G_A | G_D | G_NX);
	CHECK_EQ(sx_fault(gva + 0x1234, PFERR_WRITE, &f), MMU_FAULT_FIXED);
	CHECK_EQ(f.gpa, 0x201234);
	sx_check_leaf(gva + 0x1000, 0x201000, true, false, false);
	int level;
	unsigned int idx;
	struct spage *sp = __spage_of_sptep(&sx.mmu, sx_spte(sx.vcpu.current, gva, &level), &idx);
	CHECK(sp->role.direct && sp->role.level == 1 && sp->gfn == gfn_of(0x200000));
	/* Bits 20:13 of a 2 MiB PDE are reserved. */
	gpa_t pde = sx_gpte_gpa_pae(pdpt, gva, 2);
	sx_write(pde, sx_read(pde) | BIT(13));
	CHECK_EQ(sx_leaf(gva + 0x1000), 0);
	CHECK_EQ(sx_fault(gva, 0, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_PRESENT | PFERR_RSVD);
	sx_write(pde, sx_read(pde) & ~BIT(13));
	/* Without NXE bit 63 is reserved: a role of its own, and the same entry faults RSVD there. */
	struct mmu_root *nx_root = sx.vcpu.current;
	sx.p.mode.nxe = false;
	CHECK_EQ(sx_load(), 0);
	CHECK(sx.vcpu.current != nx_root && !sx.vcpu.current->role.efer_nx);
	CHECK_EQ(sx_fault(gva, PFERR_WRITE, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_WRITE | PFERR_PRESENT | PFERR_RSVD);
	CHECK_EQ(sx_fault(GVA0, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA0, SX_DATA, true, true, true);
	sx_teardown();
}

/* Linux's PAE set_pte: the high half (NX, address bits 63:32), then the low half. Each half is a write to the whole
 * entry; the two of one entry count once for flooding. */
TEST(shadow_pae_half_writes_are_merged)
{
	gpa_t pdpt = setup_pae();
	gva_t g[4];
	gpa_t pte[4];

	for (unsigned int i = 0; i < 4; i++) {
		g[i] = GVA0 + (i + 8) * PAGE_SIZE;
		pte[i] = sx_map_pae(pdpt, g[i], SX_DATA + i * PAGE_SIZE, 1, G_ALL, G_ALL | G_D);
		CHECK_EQ(sx_fault(g[i], 0, NULL), MMU_FAULT_FIXED);
	}
	gfn_t pt = gfn_of(pte[0]);
	u64 writes = sx.mmu.shadow.stats.pte_writes;
	/* The high half of entry 0: its leaf goes, alone, and the write is not misaligned. */
	sx_write32(pte[0] + 4, (u32)(G_NX >> 32));
	CHECK_EQ(sx_leaf(g[0]), 0);
	CHECK(spte_is_present(sx_leaf(g[1])));
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 0);
	/* A fault between the halves sees the entry as memory holds it: the old address with the new NX. */
	CHECK_EQ(sx_fault(g[0], 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(g[0], SX_DATA, true, true, false);
	/* The low half: the second store of that update. */
	sx_write32(pte[0], (u32)((SX_DATA + 0x5000) | G_ALL | G_D));
	CHECK_EQ(sx.mmu.shadow.stats.half_writes_merged, 1);
	CHECK_EQ(sx_leaf(g[0]), 0);
	CHECK_EQ(sx_fault(g[0], 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(g[0], SX_DATA + 0x5000, true, true, false);
	/* Two entries updated by halves with no fault in between: two writes for flooding, not four. */
	for (unsigned int i = 1; i <= 2; i++) {
		sx_write32(pte[i] + 4, 0);
		sx_write32(pte[i], (u32)((SX_DATA + 0x6000) | G_P | G_US));
	}
	CHECK_EQ(sx.mmu.shadow.stats.half_writes_merged, 3);
	CHECK_EQ(sx.mmu.shadow.stats.pte_writes, writes + 6);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 0);
	CHECK_EQ(sx_spages_of(pt), 1);
	CHECK_EQ(sx_leaf(g[1]), 0);
	CHECK_EQ(sx_leaf(g[2]), 0);
	CHECK(spte_is_present(sx_leaf(g[3])));
	/* A half of another entry is a write of its own (the last write was the second half of entry 2's pair): the
	 * third, which floods the table. */
	sx_write32(pte[3], (u32)((SX_DATA + 0x3000) | G_ALL | G_D));
	CHECK_EQ(sx.mmu.shadow.stats.half_writes_merged, 3);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 1);
	CHECK_EQ(sx_spages_of(pt), 0);
	CHECK_EQ(sx_track_count(pt), 0);
	CHECK_EQ(sx_fault(g[2], PFERR_USER, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(g[2], SX_DATA + 0x6000, false, true, true);
	sx_teardown();
}

/* A directory of the root flooded with writes (the guest reused its frame) makes the whole root obsolete, as a
 * 4-level root's table does; the root built again takes the PDPTEs from the vCPU's registers, not from memory (SDM
 * Vol. 3A 4.4.1: they are loaded at a MOV to CR3, and a write to the PDPT has no effect before the next). */
TEST(shadow_pae_flooded_directory_makes_the_root_obsolete)
{
	gpa_t pdpt = setup_pae();
	gpa_t pde = sx_gpte_gpa_pae(pdpt, GVA0, 2);
	gfn_t pd = gfn_of(pde), pd3 = gfn_of(sx_gpte_gpa_pae(pdpt, GVA3, 2));
	gpa_t junk = (pde & ~(PAGE_SIZE - 1)) + 300 * 8;
	struct mmu_root *root = sx.vcpu.current;
	struct mmu_fault f;
	u64 v = 0;

	CHECK_EQ(sx_fault(GVA0, 0, NULL), MMU_FAULT_FIXED);
	CHECK_EQ(sx_fault(GVA3, 0, NULL), MMU_FAULT_FIXED);
	/* Writes with a fault through the root in between, in another directory: no flooding (a use of the root is a
	 * use of all its directories). */
	for (int i = 0; i < 6; i++) {
		sx_write(junk, i);
		CHECK_EQ(sx_fault(GVA3, 0, NULL), MMU_FAULT_SPURIOUS);
	}
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 0);
	CHECK_EQ(sx_spages_of(pd), 1);
	CHECK(spte_is_present(sx_leaf(GVA0)));
	/* A misaligned write over the PDE in use zaps that entry (and its page table), not the directory. */
	CHECK_EQ(mmu_write_gpa(&sx.mmu, &sx.vcpu, pde + 4, &v, 8), 0);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 0);
	CHECK_EQ(sx_spages_of(pd), 1);
	CHECK_EQ(sx_leaf(GVA0), 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 5);
	CHECK(!mmu_root_is_obsolete(&sx.mmu, root));
	/* The high half of the PDE was cleared: it still points to the same table. */
	CHECK_EQ(sx_fault(GVA0, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA0, SX_DATA, true, true, true);
	/* The guest points PDPTE 0 elsewhere in memory, without a CR3 load: the registers keep the old one. */
	gpa_t fresh = sx_new_table();
	sx_write(pdpt, fresh | G_P);
	/* Three writes with no fault through the root: the root goes, all four directories emptied and unprotected
	 * (GiB 3's too), the vCPUs asked to drop it. */
	u64 requests = sx.root_requests, roots = sx.mmu.stats.roots_allocated;
	for (int i = 0; i < 3; i++)
		sx_write(junk, i);
	CHECK_EQ(sx.mmu.shadow.stats.flood_zaps, 1);
	CHECK_EQ(sx.mmu.shadow.stats.root_zaps, 1);
	CHECK_EQ(sx.mmu.shadow.stats.pae_root_zaps, 1);
	CHECK(mmu_root_is_obsolete(&sx.mmu, root));
	CHECK_EQ(sx.root_requests, requests + 1);
	CHECK_EQ(sx_spages_of(pd), 0);
	CHECK_EQ(sx_spages_of(pd3), 0);
	CHECK_EQ(sx_track_count(pd), 0);
	CHECK_EQ(sx_track_count(pd3), 0);
	CHECK_EQ(sx_leaf(GVA0), 0);
	CHECK_EQ(sx_leaf(GVA3), 0);
	CHECK_EQ(sx_fault(GVA3, 0, NULL), MMU_FAULT_RETRY); /* through an obsolete root */
	sx_check();
	u64 writes = sx.mmu.shadow.stats.pte_writes;
	sx_write(junk, 7); /* at full speed now */
	CHECK_EQ(sx.mmu.shadow.stats.pte_writes, writes);
	/* The new root is built from the loaded PDPTEs: PDPTE 0 still names the old directory. */
	sx_reload();
	CHECK(sx.vcpu.current != root);
	CHECK_EQ(sx.mmu.stats.roots_allocated, roots + 1);
	CHECK_EQ(sx.vcpu.current->pdptes[0], sx.pdptes[0]);
	CHECK_EQ(sx_spages_of(pd), 1);
	CHECK_EQ(sx_track_count(pd), 1);
	CHECK_EQ(sx_fault(GVA0, 0, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(GVA0, SX_DATA, true, true, true);
	CHECK_EQ(sx_fault(GVA3, 0, NULL), MMU_FAULT_FIXED);
	/* A CR3 load takes the new PDPTE 0: an empty directory, GVA0 not present. */
	CHECK_EQ(sx_load_pdptes(), 0);
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx_fault(GVA0, 0, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, 0);
	sx_teardown();
}
