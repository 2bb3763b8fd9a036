/* 5-level paging in the guest walker (SDM Vol. 3A 4.5): a PML5 indexed by linear-address bits 56:48 on top of the
 * 4-level tables, 57-bit canonical addresses, PS reserved in PML5Es like in PML4Es, the PML5E's permissions and A
 * bit; and 4-level paging unchanged next to it. */
#include "gwalk_fixture.h"

/* Canonical with 57 bits, not with 48: PML5 index 0xa3, PML4 index 0x68 (bits 47:39), ... */
#define LOW_VA 0x00a3456789abc123ULL
/* The upper half: bits 63:57 copy bit 56. PML5 index 0x15a. */
#define HIGH_VA 0xff5a000040201000ULL

static struct gwalk_mode la57_mode(void)
{
	struct gwalk_mode m = lm_mode();

	m.la57 = true;
	return m;
}

TEST(gwalk_la57_page_sizes)
{
	struct gwalk_mode m = la57_mode();
	u64 cr3;

	reset();
	cr3 = map_ia32e(5, LOW_VA, 0x3456789000, 1, up_all, ALL);
	expect_ok(&m, cr3, LOW_VA, GWALK_WRITE | GWALK_USER, 0x3456789123);
	CHECK_EQ(res.level, 1);
	CHECK_EQ(res.top_level, 5);
	CHECK_EQ(res.page_size, PAGE_SIZE);
	CHECK_EQ(res.perm, GWALK_PERM_W | GWALK_PERM_U | GWALK_PERM_X);
	CHECK_EQ(nreads, 5);
	/* The PML5E: at cr3 + 8 * bits 56:48; then the PML4E at bits 47:39 of its table. */
	CHECK_EQ(res.pte_gpa[5], cr3 + 0xa3 * 8);
	CHECK_EQ(res.pte_gpa[4] & 0xfff, ((LOW_VA >> 39) & 0x1ff) * 8);
	CHECK_EQ(res.pte_gpa[4] & ~0xfffULL, res.pte[5] & GENMASK_ULL(51, 12));

	map_ia32e_at(cr3, 5, HIGH_VA, 0x80000000, 2, up_all, ALL);
	expect_ok(&m, cr3, HIGH_VA + 0xabcde, 0, 0x800abcde + 0x1000);
	CHECK_EQ(res.level, 2);
	CHECK_EQ(res.page_size, HUGE_2M_SIZE);
	CHECK_EQ(res.pte_gpa[5], cr3 + 0x15a * 8);

	map_ia32e_at(cr3, 5, 0x0001000040000000ULL, 0x1c0000000, 3, up_all, ALL);
	expect_ok(&m, cr3, 0x000100007fedcba9ULL, 0, 0x1ffedcba9);
	CHECK_EQ(res.level, 3);
	CHECK_EQ(res.page_size, HUGE_1G_SIZE);
	CHECK_EQ(res.pte_gpa[5], cr3 + 1 * 8);
}

/* Canonical means bits 63:57 equal bit 56; nothing is read for a non-canonical address. */
TEST(gwalk_la57_canonical)
{
	struct gwalk_mode m = la57_mode();

	reset();
	CHECK(gwalk_is_canonical_la57(0x00ffffffffffffffULL));
	CHECK(gwalk_is_canonical_la57(0xff00000000000000ULL));
	CHECK(!gwalk_is_canonical_la57(0x0100000000000000ULL));
	CHECK(!gwalk_is_canonical_la57(0xfe00000000000000ULL));
	CHECK(!gwalk_is_canonical_la57(0x8000000000000000ULL));
	static const u64 bad[] = {0x0100000000000000ULL, 0xfeffffffffffffffULL, 0x8000000000001000ULL,
				  0x7f00000000000000ULL};
	for (unsigned int i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ(walk(&m, 0x10000, bad[i], GWALK_WRITE), 0);
		CHECK_EQ(res.fault, GWALK_FAULT_NONCANONICAL);
	}
	CHECK_EQ(nreads, 0);
	/* Addresses only 5-level paging makes canonical walk on (here into an empty PML5). */
	expect_pf(&m, 0x10000, 0x0000800000000000ULL, GWALK_USER, PFERR_USER, 5);
	expect_pf(&m, 0x10000, 0xff7fffffffffffffULL, 0, 0, 5);
	CHECK_EQ(res.pte_gpa[5], 0x10000 + 0x17f * 8);
	/* ... which 4-level paging refuses. */
	m.la57 = false;
	CHECK_EQ(walk(&m, 0x10000, 0x0000800000000000ULL, 0), 0);
	CHECK_EQ(res.fault, GWALK_FAULT_NONCANONICAL);
}

/* PML5Es: not present, PS reserved (table 4-14), address bits at or above MAXPHYADDR reserved, XD reserved without
 * NXE, bits 62:52 ignored. */
TEST(gwalk_la57_pml5e_bits)
{
	struct gwalk_mode m = la57_mode();
	u64 cr3, pml5e;
	gpa_t slot;

	reset();
	cr3 = map_ia32e(5, LOW_VA, 0x5000, 1, up_all, ALL);
	slot = cr3 + 0xa3 * 8;
	pml5e = r64(slot);

	w64(slot, pml5e & ~P);
	expect_pf(&m, cr3, LOW_VA, GWALK_WRITE | GWALK_USER, PFERR_WRITE | PFERR_USER, 5);
	CHECK_EQ(nreads, 1);
	w64(slot, pml5e | PS);
	expect_pf(&m, cr3, LOW_VA, GWALK_WRITE | GWALK_USER, PFERR_PRESENT | PFERR_RSVD | PFERR_WRITE | PFERR_USER, 5);
	expect_pf(&m, cr3, LOW_VA, 0, PFERR_PRESENT | PFERR_RSVD, 5);
	m.gbpages = false; /* PS is reserved there whatever 1G pages do */
	expect_pf(&m, cr3, LOW_VA, 0, PFERR_PRESENT | PFERR_RSVD, 5);
	m.gbpages = true;
	w64(slot, pml5e | BIT(46));
	expect_pf(&m, cr3, LOW_VA, 0, PFERR_PRESENT | PFERR_RSVD, 5);
	w64(slot, pml5e | NX);
	m.nxe = false;
	expect_pf(&m, cr3, LOW_VA, GWALK_FETCH, PFERR_PRESENT | PFERR_RSVD, 5);
	m.nxe = true;
	expect_pf(&m, cr3, LOW_VA, GWALK_FETCH, PFERR_PRESENT | PFERR_FETCH, 1);
	expect_ok(&m, cr3, LOW_VA, GWALK_WRITE, 0x5123);
	CHECK_EQ(res.perm, GWALK_PERM_W | GWALK_PERM_U);
	w64(slot, pml5e | GENMASK_ULL(62, 52));
	expect_ok(&m, cr3, LOW_VA, GWALK_WRITE | GWALK_USER, 0x5123);
}

/* The PML5E's U/S and R/W narrow the translation like every other level's; it gets its A bit like them. */
TEST(gwalk_la57_pml5e_permissions_and_accessed)
{
	struct gwalk_mode m = la57_mode();
	u64 up[GWALK_MAX_LEVELS + 1] = {0, ALL, ALL, ALL, ALL, P | RW};
	u64 cr3;

	reset();
	cr3 = map_ia32e(5, LOW_VA, 0x5000, 1, up, ALL);
	expect_pf(&m, cr3, LOW_VA, GWALK_USER, PFERR_PRESENT | PFERR_USER, 1);
	CHECK_EQ(ncmpxchg, 0);
	expect_ok(&m, cr3, LOW_VA, GWALK_WRITE, 0x5123);
	CHECK_EQ(res.perm, GWALK_PERM_W | GWALK_PERM_X);
	CHECK_EQ(ncmpxchg, 5);
	for (unsigned int l = 1; l <= 5; l++)
		CHECK_EQ(r64(res.pte_gpa[l]) & (GPTE_A | GPTE_D), l == 1 ? GPTE_A | GPTE_D : GPTE_A);

	reset();
	up[5] = P | US;
	cr3 = map_ia32e(5, LOW_VA, 0x5000, 1, up, ALL);
	expect_ok(&m, cr3, LOW_VA, GWALK_USER, 0x5123);
	expect_pf(&m, cr3, LOW_VA, GWALK_USER | GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_USER, 1);

	/* Protection keys work the same under a PML5 (bits 62:59 of the leaf, U/S in all five levels). */
	reset();
	up[5] = ALL;
	cr3 = map_ia32e(5, LOW_VA, 0x5000, 1, up, ALL | PKEY(3));
	m.pke = true;
	m.pkru = PKRU_WD(3);
	expect_pf(&m, cr3, LOW_VA, GWALK_USER | GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK, 1);
	expect_ok(&m, cr3, LOW_VA, GWALK_USER, 0x5123);
}

/* LA57 means nothing outside long mode; 4-level walks do not look at bits 56:48. */
TEST(gwalk_la57_only_in_long_mode)
{
	struct gwalk_mode m = {.pg = true, .pse = true, .la57 = true, .maxphyaddr = 36};
	u64 cr3;

	reset();
	w32(0x10000 + 0x300 * 4, 0xc0400000 | ALL | PS);
	expect_ok(&m, 0x10000, 0xc0012345, 0, 0xc0412345);
	CHECK_EQ(res.top_level, 2);

	/* The same tables walked with 4 levels from the PML4 the PML5E points to. */
	reset();
	m = la57_mode();
	cr3 = map_ia32e(5, 0x00007f0000001000ULL, 0x5000, 1, up_all, ALL);
	expect_ok(&m, cr3, 0x00007f0000001000ULL, 0, 0x5000);
	m.la57 = false;
	expect_ok(&m, r64(cr3) & GENMASK_ULL(51, 12), 0x00007f0000001000ULL, 0, 0x5000);
	CHECK_EQ(res.top_level, 4);
	CHECK_EQ(nreads, 5 + 4);
}
