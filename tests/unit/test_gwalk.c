/* Unit tests of the guest page-table walker (mm/shadow/gwalk.c) over a fake guest-physical memory: translations in
 * every paging mode and page size, each permission rule, reserved bits, the #PF error code bit by bit, A/D updates
 * through cmpxchg (including lost races), and failures of the memory callbacks. */
#include "gwalk_fixture.h"

TEST(gwalk_paging_off)
{
	struct gwalk_mode m = {0};

	reset();
	CHECK_EQ(gwalk(&m, 0, 0x123456789abcULL, GWALK_WRITE | GWALK_USER, &ops_ad, gmem, &res), 0);
	CHECK_EQ(res.fault, GWALK_FAULT_NONE);
	CHECK_EQ(res.gpa, 0x56789abc);
	CHECK_EQ(res.level, 0);
	CHECK_EQ(res.perm, GWALK_PERM_W | GWALK_PERM_U | GWALK_PERM_X);
	CHECK_EQ(nreads, 0);
}

TEST(gwalk_32bit_4k)
{
	struct gwalk_mode m = {.pg = true, .wp = true, .maxphyaddr = 36};
	gpa_t pd, pt;

	reset();
	pd = new_table();
	pt = new_table();
	w32(pd + (0x12345678 >> 22) * 4, (u32)pt | ALL);
	w32(pt + ((0x12345678 >> 12) & 0x3ff) * 4, 0xabcde000 | P | RW);
	/* Bits above 31 of the gva do not exist in 32-bit paging. */
	CHECK_EQ(gwalk(&m, pd | 0xfff, 0xf00000000ULL | 0x12345678, 0, &ops_ro, gmem, &res), 0);
	CHECK_EQ(res.fault, GWALK_FAULT_NONE);
	CHECK_EQ(res.gpa, 0xabcde678);
	CHECK_EQ(res.level, 1);
	CHECK_EQ(res.page_size, PAGE_SIZE);
	CHECK_EQ(res.top_level, 2);
	CHECK_EQ(res.perm, GWALK_PERM_W | GWALK_PERM_X);
	CHECK_EQ(res.pte_gpa[1], pt + 0x345 * 4);
	CHECK_EQ(nreads, 2);
	/* A user access to the supervisor leaf. */
	CHECK_EQ(gwalk(&m, pd, 0x12345678, GWALK_USER, &ops_ro, gmem, &res), 0);
	CHECK_EQ(res.fault, GWALK_FAULT_PF);
	CHECK_EQ(res.error_code, PFERR_PRESENT | PFERR_USER);
}

/* 4M pages need CR4.PSE; PSE-36 puts physical bits 39:32 in PDE bits 20:13, bounded by MAXPHYADDR. */
TEST(gwalk_32bit_4m_pse36)
{
	struct gwalk_mode m = {.pg = true, .pse = true, .maxphyaddr = 40};
	gpa_t pd, pt;

	reset();
	pd = new_table();
	w32(pd + 0x300 * 4, 0xc0400000 | (0x12 << 13) | ALL | PS);
	expect_ok(&m, pd, 0xc0012345, GWALK_WRITE, 0x12c0412345ULL);
	CHECK_EQ(res.level, 2);
	CHECK_EQ(res.page_size, 4ULL << 20);

	/* With MAXPHYADDR 36 only bits 16:13 carry address; bit 17 (address bit 36) is reserved. */
	m.maxphyaddr = 36;
	expect_pf(&m, pd, 0xc0012345, GWALK_WRITE, PFERR_PRESENT | PFERR_RSVD | PFERR_WRITE, 2);
	w32(pd + 0x300 * 4, 0xc0400000 | (0x2 << 13) | ALL | PS);
	expect_ok(&m, pd, 0xc0012345, 0, 0x2c0412345ULL);
	/* The edges: with MAXPHYADDR 36 bits 16:13 are address and bit 17 is not; with 40, bits 20:13 all are. */
	w32(pd + 0x300 * 4, 0xc0400000 | (0xf << 13) | ALL | PS);
	expect_ok(&m, pd, 0xc0012345, 0, 0xfc0412345ULL);
	m.maxphyaddr = 40;
	w32(pd + 0x300 * 4, 0xc0400000 | (0xff << 13) | ALL | PS);
	expect_ok(&m, pd, 0xc0012345, 0, 0xffc0412345ULL);
	/* Bit 21 is always reserved in a 4M PDE. */
	m.maxphyaddr = 40;
	w32(pd + 0x300 * 4, 0xc0400000 | BIT(21) | ALL | PS);
	expect_pf(&m, pd, 0xc0012345, 0, PFERR_PRESENT | PFERR_RSVD, 2);

	/* Without CR4.PSE the PS bit is ignored: the PDE points to a page table. */
	m.pse = false;
	pt = new_table();
	w32(pd + 0x300 * 4, (u32)pt | ALL | PS);
	w32(pt + 0x12 * 4, 0x5000 | ALL);
	expect_ok(&m, pd, 0xc0012345, 0, 0x5345);
	CHECK_EQ(res.level, 1);
}

TEST(gwalk_pae_4k_2m)
{
	struct gwalk_mode m = {.pg = true, .pae = true, .nxe = true, .wp = true, .maxphyaddr = 40};
	gpa_t pdpt, pd, pt;

	reset();
	pdpt = new_table();
	pd = new_table();
	pt = new_table();
	w64(pdpt + 2 * 8, pd | P);
	w64(pd + 5 * 8, pt | ALL);
	w64(pt + 7 * 8, 0x8765432000ULL | ALL | NX);
	w64(pd + 6 * 8, 0x1234600000ULL | ALL | PS);
	/* cr3 bits 31:5 locate the PDPT: it need not be page aligned. */
	expect_ok(&m, pdpt, 0x80a07123, 0, 0x8765432123ULL);
	CHECK_EQ(res.top_level, 3);
	CHECK_EQ(res.perm, GWALK_PERM_W | GWALK_PERM_U);
	expect_pf(&m, pdpt, 0x80a07123, GWALK_FETCH | GWALK_USER, PFERR_PRESENT | PFERR_FETCH | PFERR_USER, 1);
	expect_ok(&m, pdpt, 0x80c12345, GWALK_FETCH, 0x1234612345ULL);
	CHECK_EQ(res.level, 2);
	CHECK_EQ(res.page_size, HUGE_2M_SIZE);

	/* PDPTEs have no A bit, and reserved bits 2:1, 8:5 and 63. */
	CHECK_EQ(r64(pdpt + 16), pd | P);
	w64(pdpt + 2 * 8, pd | P | RW);
	expect_pf(&m, pdpt, 0x80a07123, 0, PFERR_PRESENT | PFERR_RSVD, 3);
	w64(pdpt + 2 * 8, pd | P | BIT(7));
	expect_pf(&m, pdpt, 0x80a07123, 0, PFERR_PRESENT | PFERR_RSVD, 3);
	w64(pdpt + 2 * 8, pd | P | NX);
	expect_pf(&m, pdpt, 0x80a07123, 0, PFERR_PRESENT | PFERR_RSVD, 3);
	/* A 32-byte aligned PDPT somewhere else. */
	w64(0x30020 + 2 * 8, pd | P);
	expect_ok(&m, 0x30020, 0x80c12345, 0, 0x1234612345ULL);
}

/* The CPU loads the PDPTEs with CR3: a caller may hand them over instead of the walker reading them. */
TEST(gwalk_pae_cached_pdptes)
{
	u64 pdptes[4] = {0};
	struct gwalk_mode m = {.pg = true, .pae = true, .maxphyaddr = 36, .pdptes = pdptes};
	gpa_t pd = 0x20000;

	reset();
	pdptes[1] = pd | P;
	w64(pd + 0, 0x400000 | ALL | PS);
	expect_ok(&m, 0x90000 /* memory there is empty */, 0x40012345, 0, 0x412345);
	CHECK_EQ(nreads, 1);
	/* Without NXE, bit 63 is reserved in PAE PDEs and PTEs. */
	w64(pd + 0, 0x400000 | ALL | PS | NX);
	expect_pf(&m, 0x90000, 0x40012345, 0, PFERR_PRESENT | PFERR_RSVD, 2);
	/* PAE: bits 62:MAXPHYADDR are reserved (4-level paging ignores 62:52). */
	w64(pd + 0, 0x400000 | ALL | PS | BIT(52));
	expect_pf(&m, 0x90000, 0x40012345, 0, PFERR_PRESENT | PFERR_RSVD, 2);
	/* A 2M PDE with bits 20:13 set. */
	w64(pd + 0, 0x400000 | ALL | PS | BIT(13));
	expect_pf(&m, 0x90000, 0x40012345, 0, PFERR_PRESENT | PFERR_RSVD, 2);
}

TEST(gwalk_4level_page_sizes)
{
	struct gwalk_mode m = lm_mode();
	u64 cr3;

	reset();
	cr3 = map4(0x7f1234567000, 0x3456789000, 1, up_all, ALL);
	expect_ok(&m, cr3, 0x7f1234567abc, GWALK_WRITE | GWALK_USER, 0x3456789abc);
	CHECK_EQ(res.level, 1);
	CHECK_EQ(res.top_level, 4);
	CHECK_EQ(res.page_size, PAGE_SIZE);
	CHECK_EQ(nreads, 4);

	cr3 = map4(0xffff800040200000, 0x80000000, 2, up_all, ALL);
	expect_ok(&m, cr3, 0xffff8000402abcde, 0, 0x800abcde);
	CHECK_EQ(res.level, 2);
	CHECK_EQ(res.page_size, HUGE_2M_SIZE);

	cr3 = map4(0x40000000, 0x1c0000000, 3, up_all, ALL);
	expect_ok(&m, cr3, 0x7fedcba9, 0, 0x1ffedcba9);
	CHECK_EQ(res.level, 3);
	CHECK_EQ(res.page_size, HUGE_1G_SIZE);

	/* Without 1G pages the PS bit in a PDPTE is reserved; in a PML4E it always is. */
	m.gbpages = false;
	expect_pf(&m, cr3, 0x7fedcba9, 0, PFERR_PRESENT | PFERR_RSVD, 3);
	m.gbpages = true;
	w64(cr3, r64(cr3) | PS);
	expect_pf(&m, cr3, 0x7fedcba9, 0, PFERR_PRESENT | PFERR_RSVD, 4);
}

TEST(gwalk_noncanonical_and_la57)
{
	struct gwalk_mode m = lm_mode();

	reset();
	CHECK_EQ(walk(&m, 0x10000, 0x0000800000000000, 0), 0);
	CHECK_EQ(res.fault, GWALK_FAULT_NONCANONICAL);
	CHECK_EQ(walk(&m, 0x10000, 0xfffe000000000000, 0), 0);
	CHECK_EQ(res.fault, GWALK_FAULT_NONCANONICAL);
	CHECK_EQ(nreads, 0);
	CHECK(gwalk_is_canonical(0xffff800000000000));
	CHECK(gwalk_is_canonical(0x00007fffffffffff));
	/* With 5-level paging 0x0000800000000000 is canonical: the walk goes on and finds an empty PML5. */
	m.la57 = true;
	expect_pf(&m, 0x10000, 0x0000800000000000, 0, 0, 5);
	CHECK_EQ(nreads, 1);
}

/* Not-present entries: P clear in the error code, the access bits set, the level where the walk stopped. */
TEST(gwalk_not_present_levels)
{
	struct gwalk_mode m = lm_mode();
	u64 cr3;

	reset();
	cr3 = map4(0x1000, 0x5000, 1, up_all, ALL);
	expect_pf(&m, cr3, 0x8000000000, GWALK_WRITE | GWALK_USER, PFERR_WRITE | PFERR_USER, 4);
	expect_pf(&m, cr3, 0x40000000, 0, 0, 3);
	expect_pf(&m, cr3, 0x200000, 0, 0, 2);
	expect_pf(&m, cr3, 0x2000, GWALK_FETCH, PFERR_FETCH, 1);
	CHECK_EQ(res.pte_gpa[1] & 0xfff, 2 * 8);
	/* Non-present entries may hold anything: no reserved-bit fault. */
	w64(res.pte_gpa[1], ~1ULL);
	expect_pf(&m, cr3, 0x2000, 0, 0, 1);
}

/* U/S and R/W are the AND of every level: one supervisor or read-only entry anywhere decides. */
TEST(gwalk_user_and_write_every_level)
{
	struct gwalk_mode m = lm_mode();

	for (unsigned int level = 1; level <= 4; level++) {
		u64 up[5] = {0, ALL, ALL, ALL, ALL}, leaf = ALL, cr3;

		/* U/S clear at this level only. */
		reset();
		if (level == 1)
			leaf &= ~US;
		else
			up[level] &= ~US;
		cr3 = map4(0x1000, 0x5000, 1, up, leaf);
		expect_pf(&m, cr3, 0x1000, GWALK_USER, PFERR_PRESENT | PFERR_USER, 1);
		expect_ok(&m, cr3, 0x1000, GWALK_WRITE, 0x5000); /* supervisor */
		CHECK_EQ(res.perm, GWALK_PERM_W | GWALK_PERM_X);

		/* R/W clear at this level only. */
		reset();
		up[level] = ALL;
		leaf = ALL;
		if (level == 1)
			leaf &= ~RW;
		else
			up[level] &= ~RW;
		cr3 = map4(0x1000, 0x5000, 1, up, leaf);
		expect_ok(&m, cr3, 0x1000, GWALK_USER, 0x5000);
		CHECK_EQ(res.perm, GWALK_PERM_U | GWALK_PERM_X);
		expect_pf(&m, cr3, 0x1000, GWALK_USER | GWALK_WRITE, PFERR_PRESENT | PFERR_USER | PFERR_WRITE, 1);
	}
}

/* Supervisor writes to read-only pages succeed with CR0.WP=0 and fault with WP=1; user writes always fault. */
TEST(gwalk_write_protect)
{
	struct gwalk_mode m = lm_mode();
	u64 cr3;

	reset();
	cr3 = map4(0x1000, 0x5000, 1, up_all, P | US);
	expect_pf(&m, cr3, 0x1000, GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE, 1);
	m.wp = false;
	expect_ok(&m, cr3, 0x1000, GWALK_WRITE, 0x5000);
	expect_pf(&m, cr3, 0x1000, GWALK_WRITE | GWALK_USER, PFERR_PRESENT | PFERR_WRITE | PFERR_USER, 1);
}

TEST(gwalk_nx)
{
	struct gwalk_mode m = lm_mode();
	u64 up[5] = {0, ALL, ALL, ALL | NX, ALL};
	u64 cr3;

	reset();
	cr3 = map4(0x1000, 0x5000, 1, up, ALL);
	expect_pf(&m, cr3, 0x1000, GWALK_FETCH, PFERR_PRESENT | PFERR_FETCH, 1);
	expect_ok(&m, cr3, 0x1000, GWALK_WRITE, 0x5000);
	CHECK_EQ(res.perm, GWALK_PERM_W | GWALK_PERM_U);
	/* Without EFER.NXE bit 63 is reserved; a fetch fault then has no I/D bit (no SMEP either). */
	m.nxe = false;
	expect_pf(&m, cr3, 0x1000, GWALK_FETCH, PFERR_PRESENT | PFERR_RSVD, 3);
}

/* I/D is reported only with SMEP, or with NXE under PAE / 4-level paging. */
TEST(gwalk_fetch_error_code_bit)
{
	struct gwalk_mode m = {.pg = true, .maxphyaddr = 36};
	gpa_t pd;

	reset();
	pd = new_table();
	expect_pf(&m, pd, 0x1000, GWALK_FETCH, 0, 2); /* 32-bit paging, no SMEP */
	m.nxe = true;
	expect_pf(&m, pd, 0x1000, GWALK_FETCH, 0, 2); /* NXE does nothing for 32-bit paging */
	m.smep = true;
	expect_pf(&m, pd, 0x1000, GWALK_FETCH, PFERR_FETCH, 2);
	m = lm_mode();
	m.nxe = false;
	expect_pf(&m, pd, 0x1000, GWALK_FETCH, 0, 4);
	m.nxe = true;
	expect_pf(&m, pd, 0x1000, GWALK_FETCH, PFERR_FETCH, 4);
}

/* SMEP: a supervisor fetch from a user page faults; user fetches and supervisor data accesses do not. */
TEST(gwalk_smep)
{
	struct gwalk_mode m = lm_mode();
	u64 cr3;

	reset();
	cr3 = map4(0x1000, 0x5000, 1, up_all, ALL);
	expect_ok(&m, cr3, 0x1000, GWALK_FETCH, 0x5000);
	m.smep = true;
	expect_pf(&m, cr3, 0x1000, GWALK_FETCH, PFERR_PRESENT | PFERR_FETCH, 1);
	expect_ok(&m, cr3, 0x1000, GWALK_FETCH | GWALK_USER, 0x5000);
	expect_ok(&m, cr3, 0x1000, GWALK_WRITE, 0x5000);
	/* A supervisor page anywhere makes the translation supervisor: SMEP no longer applies. */
	w64(cr3, r64(cr3) & ~US);
	expect_ok(&m, cr3, 0x1000, GWALK_FETCH, 0x5000);
}

/* SMAP: supervisor data accesses to user pages fault unless RFLAGS.AC=1 and the access is explicit. */
TEST(gwalk_smap)
{
	struct gwalk_mode m = lm_mode();
	u64 cr3;

	reset();
	cr3 = map4(0x1000, 0x5000, 1, up_all, P | US); /* user, read-only */
	m.smap = true;
	expect_pf(&m, cr3, 0x1000, 0, PFERR_PRESENT, 1);
	expect_pf(&m, cr3, 0x1000, GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE, 1);
	m.ac = true;
	expect_ok(&m, cr3, 0x1000, 0, 0x5000);
	/* AC lifts SMAP but not WP. */
	expect_pf(&m, cr3, 0x1000, GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE, 1);
	m.wp = false;
	expect_ok(&m, cr3, 0x1000, GWALK_WRITE, 0x5000);
	/* Implicit supervisor accesses (GDT, IDT, TSS) are checked whatever AC says, even at CPL 3. */
	expect_pf(&m, cr3, 0x1000, GWALK_IMPLICIT, PFERR_PRESENT, 1);
	expect_pf(&m, cr3, 0x1000, GWALK_IMPLICIT | GWALK_USER, PFERR_PRESENT, 1);
	/* User accesses and fetches are not SMAP's business. */
	m.ac = false;
	expect_ok(&m, cr3, 0x1000, GWALK_USER, 0x5000);
	expect_ok(&m, cr3, 0x1000, GWALK_FETCH, 0x5000);
	m.smap = false;
	expect_ok(&m, cr3, 0x1000, GWALK_IMPLICIT, 0x5000);
}

/* An implicit access at CPL 3 is a supervisor access: it reaches supervisor pages and reports U/S = 0. */
TEST(gwalk_implicit_access_is_supervisor)
{
	struct gwalk_mode m = lm_mode();
	u64 cr3;

	reset();
	cr3 = map4(0x1000, 0x5000, 1, up_all, P | RW);
	expect_ok(&m, cr3, 0x1000, GWALK_IMPLICIT | GWALK_USER | GWALK_WRITE, 0x5000);
	expect_pf(&m, cr3, 0x2000, GWALK_IMPLICIT | GWALK_USER, 0, 1);
}

/* Address bits at or above MAXPHYADDR are reserved at every level; with MAXPHYADDR 52 there are none. */
TEST(gwalk_reserved_maxphyaddr)
{
	struct gwalk_mode m = lm_mode();
	u64 cr3;

	reset();
	m.maxphyaddr = 40;
	cr3 = map4(0x1000, 0x5000, 1, up_all, ALL);
	for (unsigned int level = 1; level <= 4; level++) {
		CHECK_EQ(walk(&m, cr3, 0x1000, 0), 0);
		CHECK_EQ(res.fault, GWALK_FAULT_NONE);
		gpa_t slot = res.pte_gpa[level];
		u64 old = r64(slot);
		w64(slot, old | BIT(40));
		expect_pf(&m, cr3, 0x1000, GWALK_USER | GWALK_WRITE,
			  PFERR_PRESENT | PFERR_RSVD | PFERR_USER | PFERR_WRITE, level);
		w64(slot, old | BIT(39)); /* below MAXPHYADDR: just an address (out of memory for the last level) */
		if (level == 1)
			expect_ok(&m, cr3, 0x1000, 0, 0x8000005000ULL);
		w64(slot, old);
	}
	/* Bits 62:52 are ignored in 4-level paging. */
	CHECK_EQ(walk(&m, cr3, 0x1000, 0), 0);
	gpa_t leaf = res.pte_gpa[1];
	w64(leaf, r64(leaf) | BIT(60));
	expect_ok(&m, cr3, 0x1000, 0, 0x5000);
	m.maxphyaddr = 52;
	w64(leaf, (r64(leaf) & ~BIT(60)) | BIT(51));
	expect_ok(&m, cr3, 0x1000, 0, 0x8000000005000ULL);
	/* A 2M leaf with bits 20:13 set, a 1G leaf with bits 29:13 set. */
	reset();
	cr3 = map4(0x200000, 0x400000 | BIT(13), 2, up_all, ALL);
	expect_pf(&m, cr3, 0x200000, 0, PFERR_PRESENT | PFERR_RSVD, 2);
	reset();
	cr3 = map4(0x40000000, 0x40000000 | BIT(21), 3, up_all, ALL);
	expect_pf(&m, cr3, 0x40000000, 0, PFERR_PRESENT | PFERR_RSVD, 3);
	/* Out-of-range MAXPHYADDR values are clamped, not trusted. */
	m.maxphyaddr = 200;
	reset();
	cr3 = map4(0x1000, 0x5000, 1, up_all, ALL);
	expect_ok(&m, cr3, 0x1000, 0, 0x5000);
	m.maxphyaddr = 0;
	expect_ok(&m, cr3, 0x1000, 0, 0x5000);
}

/* A on every entry walked, D on the leaf for writes only; nothing without cmpxchg or when the access faults. */
TEST(gwalk_accessed_dirty)
{
	struct gwalk_mode m = lm_mode();
	u64 cr3;

	reset();
	cr3 = map4(0x1000, 0x5000, 1, up_all, ALL);
	CHECK_EQ(gwalk(&m, cr3, 0x1000, 0, &ops_ro, gmem, &res), 0);
	for (unsigned int l = 1; l <= 4; l++)
		CHECK(!(r64(res.pte_gpa[l]) & (GPTE_A | GPTE_D)));

	expect_ok(&m, cr3, 0x1000, 0, 0x5000);
	for (unsigned int l = 1; l <= 4; l++) {
		CHECK(r64(res.pte_gpa[l]) & GPTE_A);
		CHECK(!(r64(res.pte_gpa[l]) & GPTE_D));
		CHECK_EQ(res.pte[l], r64(res.pte_gpa[l]));
	}
	CHECK_EQ(ncmpxchg, 4);
	expect_ok(&m, cr3, 0x1000, GWALK_WRITE, 0x5000);
	CHECK_EQ(ncmpxchg, 5); /* only the leaf's D was missing */
	CHECK(r64(res.pte_gpa[1]) & GPTE_D);
	for (unsigned int l = 2; l <= 4; l++)
		CHECK(!(r64(res.pte_gpa[l]) & GPTE_D));
	expect_ok(&m, cr3, 0x1000, GWALK_WRITE, 0x5000);
	CHECK_EQ(ncmpxchg, 5);

	/* A faulting access sets nothing. */
	reset();
	cr3 = map4(0x1000, 0x5000, 1, up_all, P | US);
	expect_pf(&m, cr3, 0x1000, GWALK_WRITE | GWALK_USER, PFERR_PRESENT | PFERR_WRITE | PFERR_USER, 1);
	CHECK_EQ(ncmpxchg, 0);

	/* 2M leaf: D on the PDE. 32-bit paging: 4-byte entries. PAE: no A on PDPTEs. */
	reset();
	cr3 = map4(0x200000, 0x400000, 2, up_all, ALL);
	expect_ok(&m, cr3, 0x200000, GWALK_WRITE, 0x400000);
	CHECK_EQ(r64(res.pte_gpa[2]) & (GPTE_A | GPTE_D), GPTE_A | GPTE_D);

	struct gwalk_mode m32 = {.pg = true, .pse = true, .maxphyaddr = 32};
	reset();
	w32(0x10000 + 4, 0x400000 | ALL | PS);
	w32(0x10000 + 8, 0xabcd0000); /* the next entry must stay untouched by a 4-byte update */
	expect_ok(&m32, 0x10000, 0x400000, GWALK_WRITE, 0x400000);
	CHECK_EQ(r32(0x10004), 0x400000 | ALL | PS | GPTE_A | GPTE_D);
	CHECK_EQ(r32(0x10008), 0xabcd0000);

	struct gwalk_mode pae = {.pg = true, .pae = true, .maxphyaddr = 36};
	reset();
	w64(0x10000, 0x11000 | P);
	w64(0x11000, 0x600000 | ALL | PS);
	expect_ok(&pae, 0x10000, 0x1234, 0, 0x601234);
	CHECK_EQ(r64(0x10000), 0x11000 | P);
	CHECK_EQ(r64(0x11000), 0x600000 | ALL | PS | GPTE_A);
}

/* Losing a race on an entry restarts the walk; endless losses end in -EAGAIN; cmpxchg errors pass through. */
TEST(gwalk_ad_races_and_errors)
{
	struct gwalk_mode m = lm_mode();
	u64 cr3;

	reset();
	cr3 = map4(0x1000, 0x5000, 1, up_all, ALL);
	races = 1;
	expect_ok(&m, cr3, 0x1000, GWALK_WRITE, 0x5000);
	for (unsigned int l = 1; l <= 4; l++)
		CHECK(r64(res.pte_gpa[l]) & GPTE_A);
	CHECK(r64(res.pte_gpa[1]) & GPTE_D);

	reset();
	cr3 = map4(0x1000, 0x5000, 1, up_all, ALL);
	races = 1000;
	CHECK_EQ(walk(&m, cr3, 0x1000, GWALK_WRITE), -EAGAIN);

	reset();
	cr3 = map4(0x1000, 0x5000, 1, up_all, ALL);
	cmpxchg_err = -EIO;
	CHECK_EQ(walk(&m, cr3, 0x1000, 0), -EIO);
	cmpxchg_err = 3; /* positive nonsense becomes -EIO */
	CHECK_EQ(walk(&m, cr3, 0x1000, 0), -EIO);
}

/* A page table the callback cannot read ends the walk with the callback's error, at any level. */
TEST(gwalk_read_errors)
{
	struct gwalk_mode m = lm_mode();
	u64 cr3;

	reset();
	cr3 = map4(0x1000, 0x5000, 1, up_all, ALL);
	CHECK_EQ(walk(&m, cr3, 0x1000, 0), 0);
	for (unsigned int l = 1; l <= 4; l++) {
		fail_gpa = res.pte_gpa[l];
		fail_err = -ENOENT;
		struct gwalk_result r2;
		CHECK_EQ(gwalk(&m, cr3, 0x1000, 0, &ops_ad, gmem, &r2), -ENOENT);
		fail_err = 5;
		CHECK_EQ(gwalk(&m, cr3, 0x1000, 0, &ops_ad, gmem, &r2), -EIO);
	}
	/* Tables pointing outside guest memory: the callback's -EFAULT. */
	fail_gpa = ~0ULL;
	w64(cr3, 0x7ffffff000ULL | ALL);
	CHECK_EQ(walk(&m, cr3, 0x1000, 0), -EFAULT);
}

/* Pseudo-random page tables: the walker never crashes, never reads more entries than levels, and reports only
 * consistent outcomes. */
TEST(gwalk_random_tables)
{
	u64 s = 12345;

	reset();
	for (unsigned int round = 0; round < 20000; round++) {
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		struct gwalk_mode m = {.pg = true,
				       .wp = s >> 60 & 1,
				       .pae = s >> 59 & 1,
				       .pse = s >> 58 & 1,
				       .smep = s >> 57 & 1,
				       .smap = s >> 56 & 1,
				       .lma = s >> 55 & 1,
				       .nxe = s >> 54 & 1,
				       .ac = s >> 53 & 1,
				       .gbpages = s >> 52 & 1,
				       .maxphyaddr = (u8)(s >> 44)};
		/* Fill a few table slots with random entries that mostly point inside the fake memory. */
		for (unsigned int i = 0; i < 8; i++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			u64 e = (s & ~GENMASK_ULL(51, 22)) | ((s >> 20) & 0x3ff000);
			w64(((s >> 32) & 0x3ff) * 8 + 0x10000 * (1 + (s & 3)), e);
		}
		nreads = 0;
		int r = gwalk(&m, 0x10000 * (1 + (s >> 40 & 3)), s * 31, (u32)(s >> 20) & 0x16, &ops_ad, gmem, &res);
		CHECK(r == 0 || r == -EFAULT || r == -EAGAIN);
		CHECK(nreads <= 4 * 8);
		if (r == 0 && res.fault == GWALK_FAULT_NONE)
			CHECK(res.level >= 1 && res.level <= 3);
		if (r == 0 && res.fault == GWALK_FAULT_PF)
			CHECK(res.fault_level >= 1 && res.fault_level <= 4);
	}
}
