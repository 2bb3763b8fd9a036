/* Protection keys in the guest walker (SDM Vol. 3A 4.6.1, 4.6.2 and the PK bit of 4.7): hand-written cases with
 * exact error codes, then every combination of PKRU rights, access, leaf permissions and paging controls against the
 * reference model (gwalk_model.c). The expected values are the SDM's; where it could be read two ways (PK alongside
 * an ordinary violation), they follow what KVM's permission_fault() computes and kvm-unit-tests' access test expects
 * of real CPUs. */
#include "gwalk_fixture.h"
#include "gwalk_model.h"

#define GVA  0x7f0000401000ULL
#define PAGE 0x5000ULL
#define KEY  6

static struct gwalk_mode pk_mode(u32 pkru)
{
	struct gwalk_mode m = lm_mode();

	m.pke = true;
	m.pkru = pkru;
	return m;
}

/* User-mode accesses: AD stops every data access, WD every write; fetches never ask PKRU. */
TEST(gwalk_pku_user_accesses)
{
	struct gwalk_mode m = pk_mode(PKRU_WD(KEY));
	u64 cr3;

	reset();
	cr3 = map4(GVA, PAGE, 1, up_all, ALL | PKEY(KEY));
	expect_pf(&m, cr3, GVA, GWALK_USER | GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK, 1);
	expect_ok(&m, cr3, GVA, GWALK_USER, PAGE);
	expect_ok(&m, cr3, GVA, GWALK_USER | GWALK_FETCH, PAGE);
	CHECK_EQ(res.perm, GWALK_PERM_W | GWALK_PERM_U | GWALK_PERM_X); /* PKRU is not part of the translation */

	m.pkru = PKRU_AD(KEY);
	expect_pf(&m, cr3, GVA, GWALK_USER, PFERR_PRESENT | PFERR_USER | PFERR_PK, 1);
	expect_pf(&m, cr3, GVA, GWALK_USER | GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK, 1);
	expect_ok(&m, cr3, GVA, GWALK_USER | GWALK_FETCH, PAGE);
	expect_ok(&m, cr3, GVA, GWALK_FETCH, PAGE);

	/* Only the leaf's key counts: every other key denied, this one free. */
	m.pkru = ~(u32)(PKRU_AD(KEY) | PKRU_WD(KEY));
	expect_ok(&m, cr3, GVA, GWALK_USER | GWALK_WRITE, PAGE);
	/* Key 15 is PKRU bits 31:30. */
	w64(res.pte_gpa[1], PAGE | ALL | PKEY(15));
	m.pkru = (u32)PKRU_WD(15);
	expect_pf(&m, cr3, GVA, GWALK_USER | GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK, 1);
	m.pkru = (u32)PKRU_AD(15);
	expect_pf(&m, cr3, GVA, GWALK_USER, PFERR_PRESENT | PFERR_USER | PFERR_PK, 1);
}

/* Supervisor-mode data accesses to user-mode addresses obey PKRU too; WD stops their writes only with CR0.WP. */
TEST(gwalk_pku_supervisor_accesses)
{
	struct gwalk_mode m = pk_mode(PKRU_WD(KEY));
	u64 cr3;

	reset();
	cr3 = map4(GVA, PAGE, 1, up_all, ALL | PKEY(KEY));
	expect_pf(&m, cr3, GVA, GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_PK, 1);
	expect_ok(&m, cr3, GVA, 0, PAGE);
	m.wp = false;
	expect_ok(&m, cr3, GVA, GWALK_WRITE, PAGE);
	/* ... but a user-mode write still faults with WP = 0. */
	expect_pf(&m, cr3, GVA, GWALK_USER | GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK, 1);

	m.pkru = PKRU_AD(KEY);
	expect_pf(&m, cr3, GVA, 0, PFERR_PRESENT | PFERR_PK, 1);
	expect_pf(&m, cr3, GVA, GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_PK, 1); /* AD even with WP = 0 */
	expect_ok(&m, cr3, GVA, GWALK_FETCH, PAGE);
}

/* Implicit supervisor accesses (GDT, IDT, TSS) are supervisor-mode accesses, keys included (4.6.1 makes no
 * exception for them outside SMAP): a user-mode address with AD faults, WD stops their writes with CR0.WP only, and
 * the error code says supervisor even at CPL 3. */
TEST(gwalk_pku_implicit_accesses)
{
	struct gwalk_mode m = pk_mode(PKRU_AD(KEY));
	u64 cr3;

	reset();
	cr3 = map4(GVA, PAGE, 1, up_all, ALL | PKEY(KEY));
	expect_pf(&m, cr3, GVA, GWALK_IMPLICIT, PFERR_PRESENT | PFERR_PK, 1);
	expect_pf(&m, cr3, GVA, GWALK_IMPLICIT | GWALK_USER, PFERR_PRESENT | PFERR_PK, 1);
	m.pkru = PKRU_WD(KEY);
	expect_ok(&m, cr3, GVA, GWALK_IMPLICIT | GWALK_USER, PAGE);
	expect_pf(&m, cr3, GVA, GWALK_IMPLICIT | GWALK_USER | GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_PK, 1);
	m.wp = false;
	expect_ok(&m, cr3, GVA, GWALK_IMPLICIT | GWALK_USER | GWALK_WRITE, PAGE);
}

/* PK is reported whenever PKRU denies the access, also when R/W, SMAP or WP deny it as well (4.7 defines the bit by
 * PKRU alone); it is never reported for a fault PKRU has no part in. */
TEST(gwalk_pku_with_ordinary_faults)
{
	struct gwalk_mode m = pk_mode(PKRU_WD(KEY));
	u64 cr3;

	reset();
	cr3 = map4(GVA, PAGE, 1, up_all, P | US | PKEY(KEY)); /* read-only */
	expect_pf(&m, cr3, GVA, GWALK_USER | GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK, 1);
	expect_pf(&m, cr3, GVA, GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_PK, 1);
	m.pkru = 0;
	expect_pf(&m, cr3, GVA, GWALK_USER | GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_USER, 1);
	/* WD denies a supervisor write only with WP; without it R/W does not either. */
	m.pkru = PKRU_WD(KEY);
	m.wp = false;
	expect_ok(&m, cr3, GVA, GWALK_WRITE, PAGE);

	/* SMAP and AD together; AD alone once RFLAGS.AC lifts SMAP; SMAP alone with the key's rights. */
	m = pk_mode(PKRU_AD(KEY));
	m.smap = true;
	expect_pf(&m, cr3, GVA, 0, PFERR_PRESENT | PFERR_PK, 1);
	m.ac = true;
	expect_pf(&m, cr3, GVA, 0, PFERR_PRESENT | PFERR_PK, 1);
	m.pkru = 0;
	m.ac = false;
	expect_pf(&m, cr3, GVA, 0, PFERR_PRESENT, 1);

	/* A fetch PKRU would deny as data: XD alone speaks, without PK. */
	m = pk_mode(PKRU_AD(KEY));
	w64(res.pte_gpa[1], PAGE | ALL | NX | PKEY(KEY));
	expect_pf(&m, cr3, GVA, GWALK_USER | GWALK_FETCH, PFERR_PRESENT | PFERR_USER | PFERR_FETCH, 1);

	/* Reserved bits and not-present entries end the walk before any key: no PK. */
	w64(res.pte_gpa[1], PAGE | ALL | BIT(50) | PKEY(KEY));
	expect_pf(&m, cr3, GVA, GWALK_USER, PFERR_PRESENT | PFERR_RSVD | PFERR_USER, 1);
	w64(res.pte_gpa[1], PAGE | RW | US | PKEY(KEY));
	expect_pf(&m, cr3, GVA, GWALK_USER, PFERR_USER, 1);
}

/* The key of a supervisor-mode address is ignored: U/S = 0 anywhere on the path (not only in the leaf). */
TEST(gwalk_pku_supervisor_pages)
{
	struct gwalk_mode m = pk_mode(~0u);
	u64 up[GWALK_MAX_LEVELS + 1] = {0, ALL, ALL, P | RW, ALL, ALL};
	u64 cr3;

	reset();
	cr3 = map4(GVA, PAGE, 1, up, ALL | PKEY(KEY));
	expect_ok(&m, cr3, GVA, GWALK_WRITE, PAGE);
	expect_ok(&m, cr3, GVA, GWALK_IMPLICIT, PAGE);
	expect_pf(&m, cr3, GVA, GWALK_USER, PFERR_PRESENT | PFERR_USER, 1);
	expect_pf(&m, cr3, GVA, GWALK_USER | GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_USER, 1);
}

/* Keys only with CR4.PKE and only in IA-32e paging; non-leaf entries' bits 62:59 are not keys; large leaves carry
 * their own; a denied access sets no A or D bit. */
TEST(gwalk_pku_when_keys_apply)
{
	struct gwalk_mode m = pk_mode(~0u);
	u64 up[GWALK_MAX_LEVELS + 1] = {0, 0, ALL | PKEY(1), ALL | PKEY(2), ALL | PKEY(3), ALL};
	u64 cr3;

	reset();
	cr3 = map4(GVA, PAGE, 1, up, ALL | PKEY(KEY));
	m.pke = false;
	expect_ok(&m, cr3, GVA, GWALK_USER | GWALK_WRITE, PAGE);
	/* Only key 6 denied: the upper entries' 1, 2 and 3 are not looked at. */
	m = pk_mode(PKRU_AD(KEY));
	ncmpxchg = 0;
	reset();
	cr3 = map4(GVA, PAGE, 1, up, ALL | PKEY(KEY));
	expect_pf(&m, cr3, GVA, GWALK_USER, PFERR_PRESENT | PFERR_USER | PFERR_PK, 1);
	CHECK_EQ(ncmpxchg, 0);
	for (unsigned int l = 1; l <= 4; l++)
		CHECK(!(r64(res.pte_gpa[l]) & (GPTE_A | GPTE_D)));
	m.pkru = PKRU_AD(1) | PKRU_AD(2) | PKRU_AD(3);
	expect_ok(&m, cr3, GVA, GWALK_USER | GWALK_WRITE, PAGE);

	/* 2M and 1G leaves: their bits 62:59. */
	m.pkru = PKRU_WD(9);
	reset();
	cr3 = map4(0x40200000, 0x600000, 2, up_all, ALL | PKEY(9));
	expect_pf(&m, cr3, 0x40212345, GWALK_USER | GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK,
		  2);
	expect_ok(&m, cr3, 0x40212345, GWALK_USER, 0x612345);
	reset();
	cr3 = map4(0x80000000, 0xc0000000, 3, up_all, ALL | PKEY(9));
	expect_pf(&m, cr3, 0x80012345, GWALK_WRITE, PFERR_PRESENT | PFERR_WRITE | PFERR_PK, 3);
	expect_ok(&m, cr3, 0x80012345, 0, 0xc0012345);

	/* PAE paging has no keys, whatever CR4.PKE says: bits 62:59 are reserved there. */
	struct gwalk_mode pae = {.pg = true, .pae = true, .wp = true, .maxphyaddr = 36, .pke = true, .pkru = ~0u};
	reset();
	w64(0x10000, 0x11000 | P);
	w64(0x11000, 0x600000 | ALL | PS);
	expect_ok(&pae, 0x10000, 0x1234, GWALK_USER | GWALK_WRITE, 0x601234);
	w64(0x11000, 0x600000 | ALL | PS | PKEY(1));
	expect_pf(&pae, 0x10000, 0x1234, GWALK_USER, PFERR_PRESENT | PFERR_RSVD | PFERR_USER, 2);
}

/*
 * Every combination, checked against the model: 4- and 5-level paging; 4K, 2M and 1G leaves with U/S and R/W each on
 * or off and keys 0, 5, 10 and 15; for each, AD/WD of the leaf's key in all four combinations (the other keys the
 * opposite); CR4.PKE, CR0.WP, SMAP, RFLAGS.AC and SMEP on and off; reads, writes and fetches, user-mode, supervisor,
 * implicit and implicit at CPL 3.
 */
TEST(gwalk_pku_every_combination)
{
	static const u32 kinds[] = {0, GWALK_WRITE, GWALK_FETCH};
	static const u32 whos[] = {0, GWALK_USER, GWALK_IMPLICIT, GWALK_IMPLICIT | GWALK_USER};
	unsigned int walks = 0, pk = 0, pk_and_more = 0;

	for (unsigned int top = 4; top <= 5; top++) {
		u64 cr3;

		reset();
		cr3 = new_table();
		for (unsigned int leaf = 1; leaf <= 3; leaf++) {
			for (unsigned int perm = 0; perm < 4; perm++) {
				for (unsigned int key = 0; key < 16; key += 5) {
					gva_t gva = ((u64)key << 35) | ((u64)leaf << 32) | ((u64)perm << 30);
					u64 flags = P | (perm & 1 ? RW : 0) | (perm & 2 ? US : 0) | PKEY(key);
					u64 up[GWALK_MAX_LEVELS + 1] = {0, 0, ALL, ALL, ALL, ALL};

					/* Tables made here carry another key, which must not count. */
					for (unsigned int l = leaf + 1; l <= 3; l++)
						up[l] |= PKEY(15 - key);
					map_ia32e_at(cr3, top, gva, 0x40000000ULL * (1 + leaf), leaf, up, flags);
					for (unsigned int c = 0; c < 4 * 32 * 12; c++) {
						unsigned int adwd = c & 3, ctl = (c >> 2) & 31;
						u32 others = ((~adwd & 3) * 0x55555555u) & ~(3u << (2 * key));
						struct gwalk_mode m = lm_mode();
						u32 access = kinds[(c >> 7) % 3] | whos[(c >> 7) / 3];
						struct gmodel want;
						const char *diff;

						m.la57 = top == 5;
						m.pkru = others | (adwd << (2 * key));
						m.pke = ctl & 1;
						m.wp = ctl & 2;
						m.smap = ctl & 4;
						m.ac = ctl & 8;
						m.smep = ctl & 16;
						gmodel_walk(&m, cr3, gva, access, ops_ro.read_gpa, gmem, &want);
						CHECK_EQ(gwalk(&m, cr3, gva, access, &ops_ro, gmem, &res), 0);
						diff = gmodel_compare(&res, &want, false);
						if (diff)
							test_fail(__FILE__, __LINE__,
								  "%s differs: top %u leaf %u perm %u key %u pkru %#x "
								  "ctl %#x access %#x",
								  diff, top, leaf, perm, key, m.pkru, ctl, access);
						CHECK_EQ(res.level, leaf); /* every walk reaches the leaf */
						walks++;
						if (!(res.error_code & PFERR_PK))
							continue;
						/* PK: with P, on a data access to a user-mode address, never with RSVD
						 */
						CHECK(m.pke && (res.perm & GWALK_PERM_U) && !(access & GWALK_FETCH));
						CHECK_EQ(res.error_code & (PFERR_PRESENT | PFERR_RSVD), PFERR_PRESENT);
						pk++;
						pk_and_more += (access & GWALK_WRITE) && !(res.perm & GWALK_PERM_W);
					}
				}
			}
		}
	}
	CHECK_EQ(walks, 2 * 3 * 4 * 4 * 4 * 32 * 12);
	CHECK(pk > 1000);
	CHECK(pk_and_more > 100);
}
