/* Unit tests of the shadow MMU's roots and fault path (mm/shadow/spage.c, sfault.c) over guest page tables in real
 * guest RAM: the root key of each guest paging mode (4-level, PAE, 32-bit, off), 4K shadow leaves with the guest's
 * U/W/NX read back from the shadow tables, direct shadow pages below guest 2M/1G pages, the guest's A/D bits, every kind of guest #PF with its
 * exact error code (SDM Vol. 3A, 4.7 and 4.6 for the access rights), MMIO, and guest paging off. Every fault is
 * followed by sx_check (shadow pages, rmap, tracking). */
#include "shadow_fixture.h"

#define GVA 0x7f1234567000ULL /* every level's index differs from 0 */

/* A 4-level path for gva to gpa, faulted with pferr: FIXED, f.gpa/gfn as expected. */
static void fault_fixed(gva_t gva, gpa_t gpa, u32 pferr)
{
	struct mmu_fault f;

	CHECK_EQ(sx_fault(gva, pferr, &f), MMU_FAULT_FIXED);
	CHECK_EQ(f.gpa, gpa);
	CHECK_EQ(f.gfn, gpa >> PAGE_SHIFT);
	CHECK(f.slot);
	CHECK_EQ(f.mapped_level, 1);
}

TEST(shadow_root_key_paging_off_is_pae_direct_root)
{
	union mmu_role role;
	u64 pgd = 123;

	sx_setup(64);
	sx_paging_off();
	CHECK_EQ(shadow_root_key(&sx.p, &pgd, &role), 0);
	CHECK_EQ(pgd, 0);
	CHECK_EQ(role.level, 3);
	CHECK(role.direct);
	CHECK(!role.efer_nx);
	CHECK_EQ(sx_load(), 0);
	struct mmu_root *root = sx.vcpu.current;
	CHECK(root && root->role.word == role.word);
	CHECK(root->hpa + PAGE_SIZE <= (1ULL << 32)); /* a PAE CR3 holds 32 bits */
	u64 *pdpt = phys_to_virt(root->hpa);
	for (unsigned int i = 0; i < 4; i++) {
		/* Only P, the address and bit 11 (ignored by the CPU): everything else in a PAE PDPTE is reserved. */
		CHECK_EQ(pdpt[i] & ~PT_ADDR_MASK, PTE_P | SPTE_MMU_PRESENT);
		struct spage *pd = __spage_by_hpa(&sx.mmu, pdpt[i] & PT_ADDR_MASK);
		CHECK(pd && pd->role.direct && pd->role.level == 2);
		CHECK_EQ(pd->vpn, (u64)i << 18);
	}
	for (unsigned int i = 4; i < PT_ENTRIES; i++)
		CHECK_EQ(pdpt[i], 0);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 5);
	CHECK_EQ(sx_track_count(0), 0); /* direct pages track nothing */
	sx_teardown();
}

TEST(shadow_root_key_long_mode_keys_by_cr3_and_nx)
{
	union mmu_role role;
	u64 pgd;

	sx_setup(64);
	gpa_t cr3 = sx.p.cr3;
	sx.p.cr3 = cr3 | 0x18 | 0x5; /* PWT, PCD and PCID bits are not part of the key */
	CHECK_EQ(shadow_root_key(&sx.p, &pgd, &role), 0);
	CHECK_EQ(pgd, cr3);
	CHECK_EQ(role.level, 4);
	CHECK(!role.direct);
	CHECK(role.efer_nx);
	CHECK_EQ(sx_load(), 0);
	struct mmu_root *nx_root = sx.vcpu.current;
	CHECK_EQ(nx_root->pgd, cr3);
	CHECK_EQ(sx_track_count(cr3 >> PAGE_SHIFT), 1); /* the guest's PML4 is write-tracked */
	sx.p.mode.nxe = false;
	CHECK_EQ(shadow_root_key(&sx.p, &pgd, &role), 0);
	CHECK(!role.efer_nx);
	CHECK_EQ(sx_load(), 0);
	CHECK(sx.vcpu.current != nx_root); /* leaves made for one NXE setting are wrong for the other */
	CHECK_EQ(sx.vcpu.current->pgd, cr3);
	CHECK_EQ(sx_track_count(cr3 >> PAGE_SHIFT), 2);
	sx_teardown();
}

/* PAE paging: a PAE-format root keyed by CR3 bits 31:5 and the loaded PDPTEs, NX as in long mode; nothing without
 * the PDPTEs. 32-bit paging: a PAE-format root of 4-byte guest entries keyed by CR3 bits 31:12 and CR4.PSE, never by
 * NXE (32-bit entries have no XD bit). */
TEST(shadow_root_key_pae_and_32bit_paging)
{
	union mmu_role role;
	u64 pgd;

	sx_setup(64);
	gpa_t t = sx_new_table();
	sx.p.mode.lma = false; /* PAE paging, no PDPTEs given */
	sx.p.cr3 = t;
	CHECK_EQ(shadow_root_key(&sx.p, &pgd, &role), -EINVAL);
	CHECK_EQ(sx_load(), -EINVAL);
	CHECK(!sx.vcpu.current);

	sx_pae(t | 0xfe0 | 0x18 | 0x7); /* the PDPT at byte 0xfe0; PWT/PCD and bits 2:0 are not part of the key */
	sx.p.mode.pse = true;	       /* ignored by PAE paging */
	CHECK_EQ(shadow_root_key(&sx.p, &pgd, &role), 0);
	CHECK_EQ(pgd, t | 0xfe0);
	CHECK_EQ(role.level, 3);
	CHECK(!role.direct && !role.has_4_byte_gpte && !role.cr4_pse && !role.quadrant);
	CHECK(role.efer_nx);
	CHECK(shadow_role_has_pdptes(role));
	sx.p.mode.nxe = false;
	CHECK_EQ(shadow_root_key(&sx.p, &pgd, &role), 0);
	CHECK(!role.efer_nx);
	union mmu_role pae = role;

	sx_legacy32(t | 0xfff, false);
	sx.p.mode.nxe = true; /* no effect on 32-bit paging */
	CHECK_EQ(shadow_root_key(&sx.p, &pgd, &role), 0);
	CHECK_EQ(pgd, t);
	CHECK_EQ(role.level, 3);
	CHECK(!role.direct && role.has_4_byte_gpte && !role.cr4_pse && !role.efer_nx && !role.quadrant);
	CHECK(!shadow_role_has_pdptes(role));
	CHECK(role.word != pae.word); /* the same page read as 4-byte entries is another table */
	union mmu_role nopse = role;
	sx.p.mode.pse = true;
	CHECK_EQ(shadow_root_key(&sx.p, &pgd, &role), 0);
	CHECK(role.cr4_pse);
	CHECK(role.word != nopse.word); /* PS in a PDE means a 4M page with PSE, a pointer without */
	sx_teardown();
}

/* The leaf's U/W/NX come from the guest's entries at every level; W also needs D (or the write that sets it). */
TEST(shadow_fault_leaf_has_guest_permissions)
{
	static const struct {
		u64 upper, leaf;
		u32 pferr;
		bool w, u, x;
	} cases[] = {
	    {G_ALL, G_ALL | G_D, 0, true, true, true},
	    {G_ALL, G_P | G_US, 0, false, true, true},	       /* read-only */
	    {G_P | G_RW, G_ALL | G_D, 0, true, false, true},   /* supervisor-only above */
	    {G_ALL, G_P | G_RW | G_D, 0, true, false, true},   /* supervisor-only leaf */
	    {G_ALL | G_NX, G_ALL | G_D, 0, true, true, false}, /* NX above */
	    {G_ALL, G_ALL | G_D | G_NX, PFERR_USER, true, true, false},
	    {G_P | G_US, G_ALL | G_D, PFERR_USER, false, true, true}, /* read-only above */
	    {G_ALL, G_ALL, 0, false, true, true},		      /* D clear: read-only until written */
	    {G_ALL, G_ALL, PFERR_WRITE | PFERR_USER, true, true, true},
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(cases); i++) {
		sx_setup(64);
		CHECK_EQ(sx_load(), 0);
		gva_t gva = GVA + i * 0x40201000ULL; /* new tables at every level for each case */
		gpa_t gpa = SX_DATA + i * PAGE_SIZE;
		sx_map(sx.p.cr3, gva, gpa, 1, cases[i].upper, cases[i].leaf);
		fault_fixed(gva + 0x123, gpa + 0x123, cases[i].pferr);
		sx_check_leaf(gva, gpa, cases[i].w, cases[i].u, cases[i].x);
		CHECK(sx_leaf(gva) & SPTE_HOST_WRITABLE);
		CHECK_EQ(!!(sx_leaf(gva) & SPTE_MMU_WRITABLE), cases[i].w);
		/* Its neighbours are not mapped. */
		CHECK_EQ(sx_leaf(gva + PAGE_SIZE), 0);
		CHECK_EQ(sx_leaf(gva - PAGE_SIZE), 0);
		CHECK_EQ(sx.mmu.shadow.stats.fixed, 1);
		sx_teardown();
	}
}

TEST(shadow_fault_sets_guest_accessed_and_dirty)
{
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	gpa_t pte = sx_map(sx.p.cr3, GVA, SX_DATA, 1, G_ALL, G_ALL);
	fault_fixed(GVA, SX_DATA, 0);
	for (int l = 4; l >= 1; l--)
		CHECK(sx_read(sx_gpte_gpa(sx.p.cr3, GVA, l)) & G_A);
	CHECK(!(sx_read(pte) & G_D));
	sx_check_leaf(GVA, SX_DATA, false, true, true);
	/* The write faults on the read-only leaf; its walk sets D, which zaps the leaf through the notifier, and the
	 * fault maps it writable. */
	fault_fixed(GVA, SX_DATA, PFERR_PRESENT | PFERR_WRITE);
	CHECK(sx_read(pte) & G_D);
	sx_check_leaf(GVA, SX_DATA, true, true, true);
	CHECK(sx_leaf(GVA) & PTE_D);
	/* Again: nothing to do, the leaf already allows it (a stale TLB entry). */
	CHECK_EQ(sx_fault(GVA, PFERR_PRESENT | PFERR_WRITE, NULL), MMU_FAULT_SPURIOUS);
	/* A write fault first sets A and D at once. */
	gpa_t pte2 = sx_map(sx.p.cr3, GVA + PAGE_SIZE, SX_DATA + PAGE_SIZE, 1, G_ALL, G_ALL);
	fault_fixed(GVA + PAGE_SIZE, SX_DATA + PAGE_SIZE, PFERR_WRITE);
	CHECK_EQ(sx_read(pte2) & (G_A | G_D), G_A | G_D);
	sx_check_leaf(GVA + PAGE_SIZE, SX_DATA + PAGE_SIZE, true, true, true);
	sx_teardown();
}

TEST(shadow_fault_under_guest_2m_page_uses_direct_pages)
{
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	gva_t gva = 0x40000000ULL; /* a 2M guest page at gpa 6 MiB */
	gpa_t pde = sx_map(sx.p.cr3, gva, 0x600000, 2, G_ALL, G_ALL);
	fault_fixed(gva + 0x3123, 0x603123, 0);
	sx_check_leaf(gva + 0x3000, 0x603000, false, true, true);
	CHECK(sx_read(pde) & G_A);
	CHECK(!(sx_read(pde) & G_D));
	fault_fixed(gva + 0x1ff000, 0x7ff000, PFERR_WRITE);
	CHECK(sx_read(pde) & G_D);
	sx_check_leaf(gva + 0x1ff000, 0x7ff000, true, true, true);
	/* Setting D in the guest's PDE changed the access of the direct page below it, which is part of its role (the
	 * page is shared by every parent with that access: root.h): the write's fault replaced the read-only direct
	 * page with a writable one (KVM's validate_direct_spte), and the leaves of the old one went with it. The next
	 * read of them maps them writable at once (D is set). */
	CHECK_EQ(sx.mmu.shadow.stats.relinks, 1);
	CHECK_EQ(sx_leaf(gva + 0x3000), 0);
	fault_fixed(gva + 0x3008, 0x603008, 0);
	sx_check_leaf(gva + 0x3000, 0x603000, true, true, true);
	int level;
	u64 *sptep = sx_spte(sx.vcpu.current, gva, &level);
	CHECK_EQ(level, 1);
	struct spage *sp = __spage_of_sptep(&sx.mmu, sptep, &(unsigned int){0});
	CHECK(sp->role.direct);
	CHECK_EQ(sp->gfn, 0x600);
	CHECK(!sp->tracked);
	/* The level-2 shadow page is the guest's PD (tracked); the data frames are not. */
	CHECK_EQ(sx_track_count(sx_gpte_gpa(sx.p.cr3, gva, 2) >> PAGE_SHIFT), 1);
	CHECK_EQ(sx_track_count(0x600), 0);
	CHECK_EQ(sx_track_count(0x7ff), 0);
	sx_teardown();
}

TEST(shadow_fault_under_guest_1g_page_uses_direct_pages)
{
	sx_setup(64);
	sx.p.mode.gbpages = true;
	CHECK_EQ(sx_load(), 0);
	gva_t gva = 0x8000000000ULL; /* PML4 index 1; a 1G guest page at gpa 0 */
	gpa_t pdpte = sx_map(sx.p.cr3, gva, 0, 3, G_ALL, G_ALL | G_D);
	fault_fixed(gva + 0x765432, 0x765432, PFERR_USER);
	sx_check_leaf(gva + 0x765000, 0x765000, true, true, true);
	CHECK(sx_read(pdpte) & G_A);
	int level;
	u64 *sptep = sx_spte(sx.vcpu.current, gva + 0x765000, &level);
	unsigned int idx;
	struct spage *l1 = __spage_of_sptep(&sx.mmu, sptep, &idx);
	CHECK(l1->role.direct && l1->role.level == 1);
	CHECK_EQ(l1->gfn, 0x600);
	CHECK_EQ(idx, 0x165);
	struct rmap_iter it;
	CHECK_EQ(sx_nr_parents(l1), 1);
	struct spage *l2 = __spage_by_hpa(&sx.mmu, virt_to_phys(rmap_iter_first(&l1->parents, &it)) & ~(PAGE_SIZE - 1));
	CHECK(l2->role.direct && l2->role.level == 2 && l2->gfn == 0);
	/* Without 1G pages PS in a PDPTE is reserved. */
	sx.p.mode.gbpages = false;
	struct mmu_fault f;
	CHECK_EQ(sx_fault(gva + 0x800000, 0, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_PRESENT | PFERR_RSVD);
	sx_teardown();
}

#define PKEY(k) ((u64)(k) << SPTE_PKEY_SHIFT)

/* 4-level paging: the CPU checks a leaf's protection key (bits 62:59) against the guest's PKRU in the shadow leaf
 * as it would in the guest's own, so every shadow leaf carries its guest leaf's key: 4K leaves, the prefetched ones
 * beside them, and the direct leaves below a guest 2M page, whose direct page has the key in its role (a second
 * mapping of the same frame under another key must not share it). A key change in the guest entry is a change. */
TEST(shadow_fault_leaves_carry_the_guest_protection_key)
{
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	sx_map(sx.p.cr3, GVA, SX_DATA, 1, G_ALL, G_ALL | G_D | PKEY(5));
	gpa_t pte2 = sx_map(sx.p.cr3, GVA + PAGE_SIZE, SX_DATA + PAGE_SIZE, 1, G_ALL, G_ALL | G_A | G_D | PKEY(9));
	fault_fixed(GVA, SX_DATA, PFERR_USER);
	CHECK_EQ(sx_leaf(GVA) & SPTE_PKEY_MASK, PKEY(5));
	if (!sx_leaf(GVA + PAGE_SIZE)) /* prefetched only where the fixture's RAM counts as used */
		fault_fixed(GVA + PAGE_SIZE, SX_DATA + PAGE_SIZE, PFERR_USER);
	CHECK_EQ(sx_leaf(GVA + PAGE_SIZE) & SPTE_PKEY_MASK, PKEY(9));
	/* The guest moves the page to key 2 (and flushes): the fault on the leaf with the old key remakes it. */
	sx_write(pte2, (sx_read(pte2) & ~SPTE_PKEY_MASK) | PKEY(2));
	CHECK_EQ(sx_leaf(GVA + PAGE_SIZE), 0); /* the write to the write-protected table zapped it */
	fault_fixed(GVA + PAGE_SIZE, SX_DATA + PAGE_SIZE, PFERR_USER);
	CHECK_EQ(sx_leaf(GVA + PAGE_SIZE) & SPTE_PKEY_MASK, PKEY(2));
	/* Two 2M guest pages of one frame, keys 3 and 7: two direct pages, each leaf with its page's key. */
	gva_t a = 0x40000000ULL, b = 0x40200000ULL;
	sx_map(sx.p.cr3, a, 0x600000, 2, G_ALL, G_ALL | G_D | PKEY(3));
	sx_map(sx.p.cr3, b, 0x600000, 2, G_ALL, G_ALL | G_D | PKEY(7));
	fault_fixed(a + 0x5000, 0x605000, 0);
	fault_fixed(b + 0x5000, 0x605000, 0);
	CHECK_EQ(sx_leaf(a + 0x5000) & SPTE_PKEY_MASK, PKEY(3));
	CHECK_EQ(sx_leaf(b + 0x5000) & SPTE_PKEY_MASK, PKEY(7));
	struct spage *da = sx_spage_at(sx.vcpu.current, a, 1), *db = sx_spage_at(sx.vcpu.current, b, 1);
	CHECK(da && db && da != db && da->role.direct && db->role.direct);
	CHECK_EQ(da->gfn, db->gfn);
	CHECK_EQ(da->role.pkey, 3);
	CHECK_EQ(db->role.pkey, 7);
	sx_check();
	sx_teardown();
}

/* Protection keys under the guest's PKRU (CR4.PKE, 4-level paging): the CPU checks them in the shadow leaf, and a
 * fault it raises reaches the shadow MMU with PK in the error code. One the guest's rules give is reflected as it
 * is; the one they do not (a supervisor write under the guest's CR0.WP=0, which the hardware runs with WP=1, to a
 * page whose key has WD set) is emulated, since re-entering would fault again. */
TEST(shadow_fault_protection_keys)
{
	struct mmu_fault f;

	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	sx_map(sx.p.cr3, GVA, SX_DATA, 1, G_ALL, G_ALL | G_A | G_D | PKEY(6));
	CHECK_EQ(sx_fault(GVA, PFERR_USER, NULL), MMU_FAULT_FIXED);
	sx.p.mode.pke = true;
	sx.p.mode.pkru = PKRU_WD(6);
	/* A user write: WD forbids it whatever WP says. */
	CHECK_EQ(sx_fault(GVA, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK);
	/* A supervisor write with the guest's WP=1: the same. */
	CHECK_EQ(sx_fault(GVA, PFERR_PRESENT | PFERR_WRITE | PFERR_PK, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_PRESENT | PFERR_WRITE | PFERR_PK);
	/* With the guest's WP=0 the guest allows it, the CPU (WP=1) does not: emulate, at the translation. */
	sx.p.mode.wp = false;
	u64 emulated = sx.mmu.shadow.stats.pk_emulated;
	CHECK_EQ(sx_fault(GVA + 0x18, PFERR_PRESENT | PFERR_WRITE | PFERR_PK, &f), MMU_FAULT_EMULATE);
	CHECK_EQ(f.gpa, SX_DATA + 0x18);
	CHECK_EQ(sx.mmu.shadow.stats.pk_emulated, emulated + 1);
	CHECK_EQ(sx_leaf(GVA) & SPTE_PKEY_MASK, PKEY(6)); /* the leaf stays as it was */
	/* AD forbids reads too, at any CPL, whatever WP. */
	sx.p.mode.pkru = PKRU_AD(6);
	CHECK_EQ(sx_fault(GVA, PFERR_PRESENT | PFERR_PK, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, PFERR_PRESENT | PFERR_PK);
	sx_check();
	sx_teardown();
}

/* A guest #PF: MMU_FAULT_GUEST_PF with the error code the CPU would give, and nothing new in the shadow tables. */
static void expect_guest_pf(gva_t gva, u32 pferr, u32 ec)
{
	struct mmu_fault f;
	u64 pages = sx.mmu.shadow.nr_pages, faults = sx.mmu.shadow.stats.guest_faults;
	u64 before = sx_leaf(gva);

	CHECK_EQ(sx_fault(gva, pferr, &f), MMU_FAULT_GUEST_PF);
	CHECK_EQ(f.guest_error_code, ec);
	CHECK_EQ(sx.mmu.shadow.nr_pages, pages);
	CHECK_EQ(sx_leaf(gva), before);
	CHECK_EQ(sx.mmu.shadow.stats.guest_faults, faults + 1);
}

TEST(shadow_fault_guest_pf_not_present)
{
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	expect_guest_pf(GVA, 0, 0); /* PML4E not present */
	expect_guest_pf(GVA, PFERR_WRITE | PFERR_USER, PFERR_WRITE | PFERR_USER);
	expect_guest_pf(GVA, PFERR_FETCH, PFERR_FETCH); /* I/D with NXE */
	gpa_t pte = sx_map(sx.p.cr3, GVA, SX_DATA, 1, G_ALL, G_ALL);
	sx_write(pte, SX_DATA | G_RW | G_US); /* the PTE's P clear */
	expect_guest_pf(GVA, PFERR_USER, PFERR_USER);
	CHECK_EQ(sx.mmu.shadow.nr_pages, 1);
	sx_write(sx_gpte_gpa(sx.p.cr3, GVA, 2), 0); /* the PDE not present */
	expect_guest_pf(GVA, PFERR_WRITE, PFERR_WRITE);
	sx_teardown();
}

TEST(shadow_fault_guest_pf_protection)
{
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	gva_t sup = GVA, ro = GVA + PAGE_SIZE, nx = GVA + 2 * PAGE_SIZE;
	sx_map(sx.p.cr3, sup, SX_DATA, 1, G_ALL, G_P | G_RW | G_D);
	sx_map(sx.p.cr3, ro, SX_DATA + PAGE_SIZE, 1, G_ALL, G_P | G_US | G_D);
	sx_map(sx.p.cr3, nx, SX_DATA + 2 * PAGE_SIZE, 1, G_ALL, G_ALL | G_D | G_NX);
	/* U/S: a user access to a supervisor page (read, write, fetch). */
	expect_guest_pf(sup, PFERR_USER, PFERR_PRESENT | PFERR_USER);
	expect_guest_pf(sup, PFERR_USER | PFERR_WRITE, PFERR_PRESENT | PFERR_USER | PFERR_WRITE);
	expect_guest_pf(sup, PFERR_USER | PFERR_FETCH, PFERR_PRESENT | PFERR_USER | PFERR_FETCH);
	/* R/W: user writes always, supervisor writes with CR0.WP. */
	expect_guest_pf(ro, PFERR_USER | PFERR_WRITE, PFERR_PRESENT | PFERR_USER | PFERR_WRITE);
	expect_guest_pf(ro, PFERR_WRITE, PFERR_PRESENT | PFERR_WRITE);
	/* NX: fetches. */
	expect_guest_pf(nx, PFERR_FETCH, PFERR_PRESENT | PFERR_FETCH);
	expect_guest_pf(nx, PFERR_FETCH | PFERR_USER, PFERR_PRESENT | PFERR_FETCH | PFERR_USER);
	/* What each page does allow is mapped, with no more than that. */
	fault_fixed(sup, SX_DATA, PFERR_WRITE);
	sx_check_leaf(sup, SX_DATA, true, false, true);
	fault_fixed(ro, SX_DATA + PAGE_SIZE, PFERR_USER);
	sx_check_leaf(ro, SX_DATA + PAGE_SIZE, false, true, true);
	fault_fixed(nx, SX_DATA + 2 * PAGE_SIZE, PFERR_USER | PFERR_WRITE);
	sx_check_leaf(nx, SX_DATA + 2 * PAGE_SIZE, true, true, false);
	/* The leaves are present now: the same denied accesses still reach the walk (the hardware faults on them,
	 * as the leaves lack the right) and are the guest's #PF again, leaving the leaves alone. */
	expect_guest_pf(sup, PFERR_PRESENT | PFERR_USER, PFERR_PRESENT | PFERR_USER);
	expect_guest_pf(ro, PFERR_PRESENT | PFERR_WRITE, PFERR_PRESENT | PFERR_WRITE);
	expect_guest_pf(nx, PFERR_PRESENT | PFERR_FETCH, PFERR_PRESENT | PFERR_FETCH);
	/* CR0.WP clear: a supervisor write to a read-only page is allowed by the guest's rules, but the leaf stays
	 * read-only (it would allow user writes too): the write is emulated. The guest's D is set by the walk. */
	sx.p.mode.wp = false;
	struct mmu_fault f;
	CHECK_EQ(sx_fault(ro, PFERR_PRESENT | PFERR_WRITE, &f), MMU_FAULT_WRITE_PROTECTED);
	CHECK_EQ(f.gpa, SX_DATA + PAGE_SIZE);
	sx_check_leaf(ro, SX_DATA + PAGE_SIZE, false, true, true);
	expect_guest_pf(ro, PFERR_PRESENT | PFERR_WRITE | PFERR_USER, PFERR_PRESENT | PFERR_WRITE | PFERR_USER);
	sx_teardown();
}

TEST(shadow_fault_guest_pf_reserved_bits)
{
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	/* An address bit above MAXPHYADDR (40) in the leaf. */
	gpa_t pte = sx_map(sx.p.cr3, GVA, SX_DATA, 1, G_ALL, G_ALL);
	sx_write(pte, SX_DATA | G_ALL | BIT(45));
	expect_guest_pf(GVA, 0, PFERR_PRESENT | PFERR_RSVD);
	expect_guest_pf(GVA, PFERR_WRITE | PFERR_USER, PFERR_PRESENT | PFERR_RSVD | PFERR_WRITE | PFERR_USER);
	/* PS in a PML4E. */
	gpa_t pml4e = sx_gpte_gpa(sx.p.cr3, GVA, 4);
	u64 e = sx_read(pml4e);
	sx_write(pml4e, e | G_PS);
	expect_guest_pf(GVA + PAGE_SIZE, PFERR_FETCH, PFERR_PRESENT | PFERR_RSVD | PFERR_FETCH);
	sx_write(pml4e, e);
	sx_write(pte, SX_DATA | G_ALL);
	fault_fixed(GVA, SX_DATA, 0);
	/* Bits 20:13 of a 2M PDE. */
	gva_t big = 0x40000000ULL;
	gpa_t pde = sx_map(sx.p.cr3, big, 0x600000, 2, G_ALL, G_ALL);
	sx_write(pde, sx_read(pde) | BIT(13));
	expect_guest_pf(big, 0, PFERR_PRESENT | PFERR_RSVD);
	/* XD without EFER.NXE: reserved (a root of the other role). */
	sx_write(pde, 0x600000 | G_ALL | G_PS | G_NX);
	sx.p.mode.nxe = false;
	CHECK_EQ(sx_load(), 0);
	CHECK(!sx.vcpu.current->role.efer_nx);
	expect_guest_pf(big + 0x5000, 0, PFERR_PRESENT | PFERR_RSVD);
	/* Without NXE a fetch reports no I/D bit. */
	expect_guest_pf(big + 0x5000, PFERR_FETCH, PFERR_PRESENT | PFERR_RSVD);
	sx_write(pde, 0x600000 | G_ALL | G_PS | G_D);
	fault_fixed(big + 0x5000, 0x605000, PFERR_FETCH);
	sx_check_leaf(big + 0x5000, 0x605000, true, true, true);
	sx_teardown();
}

TEST(shadow_fault_mmio)
{
	sx_setup(64);
	CHECK_EQ(sx_load(), 0);
	sx_map(sx.p.cr3, GVA, SX_MMIO, 1, G_ALL, G_ALL | G_D);
	struct mmu_fault f;
	CHECK_EQ(sx_fault(GVA + 0x10, PFERR_WRITE, &f), MMU_FAULT_MMIO);
	CHECK(!f.slot);
	CHECK_EQ(f.gpa, SX_MMIO + 0x10);
	u64 s = sx_leaf(GVA);
	CHECK(spte_is_mmio(shadow_fmt, s));
	CHECK(!spte_is_present(s));
	CHECK(s & PTE_P); /* with reserved bit 51: the CPU's #PF says RSVD */
	/* Again: the same SPTE. */
	CHECK_EQ(sx_fault(GVA + 0x10, PFERR_PRESENT | PFERR_RSVD, &f), MMU_FAULT_MMIO);
	CHECK_EQ(sx_leaf(GVA), s);
	/* A guest 2M page outside RAM, too. */
	sx_map(sx.p.cr3, 0x40000000ULL, SX_MMIO, 2, G_ALL, G_ALL);
	CHECK_EQ(sx_fault(0x40001000ULL, 0, &f), MMU_FAULT_MMIO);
	CHECK_EQ(f.gpa, SX_MMIO + 0x1000);
	CHECK(spte_is_mmio(shadow_fmt, sx_leaf(0x40001000ULL)));
	/* The guest's PTE moves the page to RAM: the write zaps the MMIO SPTE, the next fault maps RAM. */
	sx_write(sx_gpte_gpa(sx.p.cr3, GVA, 1), SX_DATA | G_ALL);
	CHECK_EQ(sx_leaf(GVA), 0);
	fault_fixed(GVA, SX_DATA, 0);
	sx_teardown();
}

TEST(shadow_fault_paging_off_maps_gpa_in_pae_root)
{
	sx_setup(64);
	sx_paging_off();
	CHECK_EQ(sx_load(), 0);
	/* gva == gpa, every access allowed; the leaf has no bit in 62:52 (reserved in PAE entries). */
	fault_fixed(0x5123, 0x5123, 0);
	sx_check_leaf(0x5000, 0x5000, true, true, true);
	CHECK_EQ(sx_leaf(0x5000) & GENMASK_ULL(62, 52), 0);
	fault_fixed(0x7ff000, 0x7ff000, PFERR_WRITE | PFERR_USER | PFERR_FETCH);
	sx_check_leaf(0x7ff000, 0x7ff000, true, true, true);
	struct mmu_fault f;
	CHECK_EQ(sx_fault(0xfee00000, PFERR_WRITE, &f), MMU_FAULT_MMIO);
	CHECK_EQ(f.gpa, 0xfee00000);
	CHECK(spte_is_mmio(shadow_fmt, sx_leaf(0xfee00000)));
	/* A gfn that is a guest table of another root is mapped read-only here too, and a write is emulated. */
	struct shadow_paging off = sx.p;
	sx_long_mode(SX_TABLES); /* the PML4 sx_setup made */
	CHECK_EQ(sx_load(), 0);
	sx.p = off;
	CHECK_EQ(sx_load(), 0);
	CHECK_EQ(sx.vcpu.root_cache_hits, 1);
	CHECK_EQ(sx_fault(SX_TABLES + 8, PFERR_WRITE, &f), MMU_FAULT_WRITE_PROTECTED);
	sx_check_leaf(SX_TABLES, SX_TABLES, false, true, true);
	sx_teardown();
}

/* The hardware reports 32-bit addresses while paging is off; one with bits above 31 (a caller's junk) must not
 * reach past the PAE root's 4 entries. */
TEST(shadow_fault_paging_off_truncates_gva)
{
	sx_setup(64);
	sx_paging_off();
	CHECK_EQ(sx_load(), 0);
	fault_fixed(0x100005123ULL, 0x5123, 0);
	fault_fixed(0xffff80000000e000ULL, 0xe000, 0); /* outside the first fault's prefetch group */
	sx_check_leaf(0x5000, 0x5000, true, true, true);
	u64 *pdpt = phys_to_virt(sx.vcpu.current->hpa);
	for (unsigned int i = 4; i < PT_ENTRIES; i++)
		CHECK_EQ(pdpt[i], 0);
	sx_teardown();
}
