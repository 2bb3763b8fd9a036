/* Unit tests of 5-level shadow roots (mm/shadow/spage.c shadow_root_key, sfault.c, unsync.c, szap.c) for a guest in
 * long mode with CR4.LA57 (SDM Vol. 3A 4.5: a PML5 indexed by linear-address bits 56:48 above the PML4): the root's
 * key, faults through 5-level guest tables at addresses whose PML5 index is not 0 (vpns above 2^36) mapping the right
 * gpa, a guest #PF at a PML5 entry not present, a guest write to the PML5 zapping what it fed, INVLPG and a gfn-range
 * zap of leaves above 2^48, write flooding of a 5-level root, and teardown freeing every page of the upper half of
 * the PML5 (sx_teardown counts them). */
#include "shadow_fixture.h"

#define LOW  0x00007f1234567000ULL /* PML5 index 0: the 48-bit address space */
#define HIGH 0x0003001234567000ULL /* PML5 index 3, every lower index as LOW's but PML4 */
#define TOP  0xfffffff000000000ULL /* PML5 index 511: bit 56 set, canonical with 57 bits (not with 48) */

static u64 last_leaf_vpn;

static void record_leaf(gfn_t vpn, u64 old, u64 new, int level)
{
	if (level == 1 && !old && spte_is_present(new))
		last_leaf_vpn = vpn;
}

/* A 5-level guest: a fresh PML5 as CR3, no root loaded yet (the tests fill the guest's PML5 first: three writes to
 * a root's table with no fault through it between them would be write flooding). */
static void setup(u64 budget)
{
	sx_setup(budget);
	sx_long_mode_la57(sx_new_table());
	sx.hook = record_leaf;
}

TEST(shadow_la57_root_key_is_5_level_and_apart_from_4_level)
{
	union mmu_role role4, role5;
	u64 pgd4, pgd5;

	sx_setup(64);
	gpa_t cr3 = sx.p.cr3;
	CHECK_EQ(shadow_root_key(&sx.p, &pgd4, &role4), 0);
	CHECK_EQ(role4.level, 4);
	sx_long_mode_la57(cr3);
	CHECK_EQ(shadow_root_key(&sx.p, &pgd5, &role5), 0);
	CHECK_EQ(role5.level, 5);
	CHECK_EQ(pgd5, pgd4);
	CHECK(!role5.direct);
	CHECK(role5.word != role4.word);
	/* LA57 means nothing outside long mode (SDM Vol. 3A 4.1.1): PAE paging keys as ever. */
	sx.p.mode.lma = false;
	sx.p.mode.pdptes = sx.pdptes;
	CHECK_EQ(shadow_root_key(&sx.p, &pgd5, &role5), 0);
	CHECK_EQ(role5.level, 3);
	sx_long_mode_la57(cr3);
	CHECK_EQ(sx_load(), 0);
	struct mmu_root *r5 = sx.vcpu.current;
	CHECK_EQ(r5->role.level, 5);
	sx_long_mode(cr3);
	CHECK_EQ(sx_load(), 0);
	CHECK(sx.vcpu.current != r5); /* one CR3, two roots */
	CHECK_EQ(sx.vcpu.current->role.level, 4);
	sx_teardown();
}

TEST(shadow_la57_faults_map_the_right_gva_above_2_48)
{
	struct mmu_fault f;

	setup(64);
	sx_map(sx.p.cr3, LOW, SX_DATA, 1, G_ALL, G_ALL | G_D);
	sx_map(sx.p.cr3, HIGH, SX_DATA + PAGE_SIZE, 1, G_ALL, G_ALL | G_D);
	sx_map(sx.p.cr3, TOP, SX_DATA + 2 * PAGE_SIZE, 1, G_ALL, G_ALL);
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx_fault(HIGH, PFERR_USER, &f), MMU_FAULT_FIXED);
	CHECK_EQ(sx.mmu.shadow.stats.la57_roots, 1);
	CHECK_EQ(sx.mmu.shadow.stats.la57_faults, 1);
	CHECK_EQ(f.gpa, SX_DATA + PAGE_SIZE);
	CHECK_EQ(last_leaf_vpn, HIGH >> PAGE_SHIFT);
	CHECK(last_leaf_vpn >= PT_MAX_PFN);
	sx_check_leaf(HIGH, SX_DATA + PAGE_SIZE, true, true, true);
	/* The 48-bit address of the same lower indices is another PML5 entry: nothing there yet. */
	CHECK_EQ(sx_leaf(LOW), 0);
	CHECK_EQ(sx_fault(LOW, PFERR_WRITE, &f), MMU_FAULT_FIXED);
	CHECK_EQ(f.gpa, SX_DATA);
	sx_check_leaf(LOW, SX_DATA, true, true, true);
	sx_check_leaf(HIGH, SX_DATA + PAGE_SIZE, true, true, true);
	CHECK_EQ(sx_fault(TOP + 0x18, PFERR_USER, &f), MMU_FAULT_FIXED);
	CHECK_EQ(f.gpa, SX_DATA + 2 * PAGE_SIZE + 0x18);
	CHECK_EQ(last_leaf_vpn, (TOP & GENMASK_ULL(56, 0)) >> PAGE_SHIFT);
	/* The root's PML5 entries: 0, 3 and 511, each to a level-4 shadow page of the guest's PML4 there. */
	const u64 *pml5 = phys_to_virt(sx.vcpu.current->hpa);
	for (unsigned int i = 0; i < PT_ENTRIES; i++) {
		CHECK_EQ(spte_is_present(pml5[i]), i == 0 || i == 3 || i == 511);
		if (!spte_is_present(pml5[i]))
			continue;
		struct spage *sp = __spage_by_hpa(&sx.mmu, pml5[i] & PT_ADDR_MASK);
		CHECK(sp && sp->role.level == 4 && !sp->role.direct);
		CHECK_EQ(sp->vpn, (u64)i << 36);
		CHECK_EQ((gpa_t)sp->gfn << PAGE_SHIFT, sx_read(sx.p.cr3 + i * 8) & PT_ADDR_MASK);
	}
	sx_teardown(); /* every page below PML5 entries 3 and 511 must go too */
}

TEST(shadow_la57_guest_pf_at_a_pml5_entry_not_present)
{
	struct mmu_fault f;

	setup(64);
	sx_map(sx.p.cr3, LOW, SX_DATA, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_load(), 0);
	u64 pages = sx.mmu.shadow.nr_pages;
	CHECK_EQ(sx_fault(HIGH, PFERR_WRITE | PFERR_USER, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_WRITE | PFERR_USER);
	CHECK_EQ(sx.mmu.shadow.nr_pages, pages);
	/* The guest's write to its PML5 (a write-tracked root table) unlinks what the entry fed. */
	sx_map(sx.p.cr3, HIGH, SX_DATA + PAGE_SIZE, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(HIGH, PFERR_USER, &f), MMU_FAULT_FIXED);
	sx_check_leaf(HIGH, SX_DATA + PAGE_SIZE, true, true, true);
	sx_write(sx_gpte_gpa(sx.p.cr3, HIGH, 5), 0);
	CHECK_EQ(sx_leaf(HIGH), 0);
	CHECK_EQ(sx_fault(HIGH, PFERR_USER, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_USER);
	sx_teardown();
}

TEST(shadow_la57_invlpg_and_range_zap_above_2_48)
{
	setup(64);
	sx.mmu.shadow.allow_unsync = true;
	u64 cr3 = sx.p.cr3;
	gva_t w = HIGH + 0x20 * PAGE_SIZE;
	sx_map(cr3, HIGH, SX_DATA, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx_fault(HIGH, PFERR_USER, NULL), MMU_FAULT_FIXED);
	/* HIGH's page table mapped writable at w: the write makes it unsync, and INVLPG of HIGH, after the guest changed
	 * HIGH's entry unseen, takes the leaf (the walk for 57-bit HIGH must find the unsync table). */
	gpa_t pt = sx_gpte_gpa(cr3, HIGH, 1) & ~(PAGE_SIZE - 1);
	sx_map(cr3, w, pt, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_fault(w, PFERR_WRITE | PFERR_USER, NULL), MMU_FAULT_FIXED);
	struct spage *sp = sx_spage_of(pt >> PAGE_SHIFT);
	CHECK(sp && sp->unsync);
	*(u64 *)phys_to_virt(sx_hpa(sx_gpte_gpa(cr3, HIGH, 1))) = (SX_DATA + 5 * PAGE_SIZE) | G_ALL | G_D;
	CHECK(sx_leaf(HIGH));
	mmu_shadow_invlpg(&sx.mmu, &sx.vcpu, HIGH, false);
	sx_check();
	CHECK_EQ(sx_leaf(HIGH), 0);
	CHECK_EQ(sx_fault(HIGH, PFERR_USER, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(HIGH, SX_DATA + 5 * PAGE_SIZE, true, true, true);
	/* A gfn-range zap finds the leaf above 2^48 through the rmap. */
	mmu_zap_gfn_range(&sx.mmu, (SX_DATA >> PAGE_SHIFT) + 5, (SX_DATA >> PAGE_SHIFT) + 6);
	CHECK_EQ(sx_leaf(HIGH), 0);
	CHECK(sx_leaf(w));
	sx_teardown();
}

TEST(shadow_la57_flooded_pml5_zaps_the_root)
{
	setup(64);
	sx_map(sx.p.cr3, HIGH, SX_DATA, 1, G_ALL, G_ALL | G_D);
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx_fault(HIGH, PFERR_USER, NULL), MMU_FAULT_FIXED);
	struct mmu_root *root = sx.vcpu.current;
	gpa_t e = sx.p.cr3 + 100 * 8; /* an entry nothing uses */
	u64 zaps = sx.mmu.shadow.stats.root_zaps;
	for (int i = 0; i < 8 && sx.mmu.shadow.stats.root_zaps == zaps; i++)
		sx_write(e, i & 1 ? 0 : SX_TABLES_END - PAGE_SIZE);
	CHECK_EQ(sx.mmu.shadow.stats.root_zaps, zaps + 1);
	CHECK(root->invalid);
	sx_write(e, 0);
	sx_reload();
	CHECK(sx.vcpu.current != root);
	CHECK_EQ(sx.vcpu.current->role.level, 5);
	CHECK_EQ(sx_fault(HIGH, PFERR_USER, NULL), MMU_FAULT_FIXED);
	sx_check_leaf(HIGH, SX_DATA, true, true, true);
	sx_teardown();
}

TEST(shadow_la57_fault_on_a_4_level_root_retries)
{
	setup(64);
	sx_map(sx.p.cr3, HIGH, SX_DATA, 1, G_ALL, G_ALL | G_D);
	/* The vCPU's root is 4-level while its paging says 5 (a CR4 change not reloaded yet): nothing is built. */
	sx.p.mode.la57 = false;
	CHECK_EQ(sx_load(), 0);
	u64 pages = sx.mmu.shadow.nr_pages;
	sx.p.mode.la57 = true;
	CHECK_EQ(sx_fault(HIGH, PFERR_USER, NULL), MMU_FAULT_RETRY);
	CHECK_EQ(sx.mmu.shadow.nr_pages, pages);
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx_fault(HIGH, PFERR_USER, NULL), MMU_FAULT_FIXED);
	sx_teardown();
}
