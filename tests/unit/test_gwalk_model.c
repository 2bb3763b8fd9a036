/* The guest walker against its reference model (gwalk_model.c) on pseudo-random page tables in every paging format
 * (32-bit, PAE with and without PDPTE registers, 4-level, 5-level), with random paging controls (CR0.WP, PSE, SMEP,
 * SMAP, RFLAGS.AC, NXE, 1G pages, MAXPHYADDR, CR4.PKE and PKRU) and accesses: the two must agree on every field of
 * the result, on the callback errors, and on the A/D bits written to memory. */
#include "gwalk_fixture.h"
#include "gwalk_model.h"

enum fmt { F_32BIT, F_PAE, F_4LEVEL, F_5LEVEL };

#define POOL	   0x100000ULL /* table pages of the random tables */
#define POOL_PAGES 12	       /* few, so that tables alias each other now and then */

static u64 rng;

static u64 rnd(void)
{
	/* xorshift64*: any fixed seed gives the same tables, run after run. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

/* True with probability n/16. */
static bool chance(unsigned int n)
{
	return (rnd() & 15) < n;
}

static gpa_t pool_page(void)
{
	return POOL + (rnd() % POOL_PAGES) * PAGE_SIZE;
}

/* A random entry: mostly present and user-accessible, the other permissions, A/D, PS, XD and the key at random,
 * sometimes one stray bit (which may be reserved); the address of a pool page when it points to a table, of a random
 * frame (now and then above MAXPHYADDR) when it maps a page, and rarely outside the fake memory. */
static u64 random_entry(unsigned int level)
{
	u64 e = (chance(15) ? GPTE_P : 0) | (chance(12) ? GPTE_RW : 0) | (chance(15) ? GPTE_US : 0) |
		(chance(8) ? GPTE_A : 0) | (chance(8) ? GPTE_D : 0) | (chance(3) ? GPTE_NX : 0) | (rnd() & GPTE_PKEY);

	if (level == 2 || level == 3 ? chance(6) : chance(1))
		e |= GPTE_PS;
	if (chance(1))
		e |= BIT(rnd() % 63);
	if (chance(1) && chance(4))
		e |= (rnd() & GENMASK_ULL(51, 12)) | GMEM_SIZE;
	else if (level > 1 && !(e & GPTE_PS))
		e |= pool_page();
	else
		e |= rnd() & (chance(12) ? GENMASK_ULL(35, 12) : GENMASK_ULL(51, 12));
	return e;
}

static unsigned int top_of(enum fmt f)
{
	static const unsigned int top[] = {[F_32BIT] = 2, [F_PAE] = 3, [F_4LEVEL] = 4, [F_5LEVEL] = 5};

	return top[f];
}

/* Where the entry of `level` for gva lives in `table`, in format f (the generator's own arithmetic, SDM 4.3 to 4.5). */
static gpa_t slot(enum fmt f, gpa_t table, gva_t gva, unsigned int level)
{
	if (f == F_32BIT)
		return table + ((gva >> (12 + 10 * (level - 1))) & 0x3ff) * 4;
	if (f == F_PAE && level == 3)
		return table + ((gva >> 30) & 3) * 8;
	return table + ((gva >> (12 + 9 * (level - 1))) & 0x1ff) * 8;
}

static void put(enum fmt f, gpa_t a, u64 e)
{
	if (f == F_32BIT)
		w32(a, (u32)e);
	else
		w64(a, e);
}

/* Writes random entries along gva's path from cr3 down, each pointing (mostly) to a pool page where the next one is
 * written, so that most walks go deep; then a few stray entries anywhere in the pool. */
static void build_path(enum fmt f, u64 cr3, gva_t gva)
{
	gpa_t table = f == F_PAE ? (cr3 & 0xffffffe0) : (cr3 & ~0xfffULL & 0xffffffffffULL);

	for (unsigned int level = top_of(f); level >= 1; level--) {
		u64 e = random_entry(level);

		if (f == F_PAE && level == 3 && chance(12))
			e &= ~(GENMASK_ULL(8, 5) | GENMASK_ULL(2, 1) | GPTE_NX); /* mostly a valid PDPTE */
		if (f == F_32BIT)
			e = (u32)e;
		if (table >= GMEM_SIZE)
			return;
		put(f, slot(f, table, gva, level), e);
		if (!(e & GPTE_P) || (level <= 3 && (e & GPTE_PS)))
			return;
		table = e & GENMASK_ULL(51, 12);
	}
	for (unsigned int i = 0; i < 4; i++)
		put(f, pool_page() + (rnd() & 0xff8), random_entry(1 + rnd() % 5));
}

static gva_t random_gva(enum fmt f)
{
	gva_t gva = rnd();

	if (f == F_4LEVEL && chance(14))
		gva = (u64)((s64)(gva << 16) >> 16);
	if (f == F_5LEVEL && chance(14))
		gva = (u64)((s64)(gva << 7) >> 7);
	return gva;
}

static u32 random_access(void)
{
	static const u32 kind[] = {0, GWALK_WRITE, GWALK_FETCH};
	static const u32 who[] = {0, GWALK_USER, GWALK_IMPLICIT, GWALK_IMPLICIT | GWALK_USER};

	return kind[rnd() % 3] | who[rnd() % 4];
}

static struct gwalk_mode random_mode(enum fmt f, u64 *pdptes, u64 cr3)
{
	static const u8 maxphy[] = {0, 32, 36, 39, 40, 46, 48, 52, 60, 255};
	u64 s = rnd();
	struct gwalk_mode m = {
	    .pg = chance(15),
	    .wp = s & 1,
	    .pse = s & 2,
	    .smep = s & 4,
	    .smap = s & 8,
	    .ac = s & 16,
	    .nxe = s & 32,
	    .gbpages = s & 64,
	    .pke = s & 128,
	    /* Junk where the format ignores them: LA57 and PKE outside long mode, PAE in it. */
	    .pae = f == F_PAE || (f != F_32BIT && (s & 256)),
	    .lma = f >= F_4LEVEL,
	    .la57 = f == F_5LEVEL || (f != F_4LEVEL && (s & 512)),
	    .maxphyaddr = maxphy[rnd() % 10],
	};

	/* PKRU: random, or all rights denied, or none. */
	m.pkru = (u32)(chance(2) ? ~0ULL : chance(2) ? 0 : rnd());
	if (f == F_PAE && chance(8)) {
		/* PDPTE registers: what the CPU loaded at cr3, perhaps changed since in memory. */
		for (unsigned int i = 0; i < 4; i++)
			pdptes[i] = r64((cr3 & 0xffffffe0) + i * 8);
		if (chance(4))
			pdptes[rnd() % 4] = random_entry(3);
		m.pdptes = pdptes;
	}
	return m;
}

static void fail_round(unsigned int round, const char *what, const struct gwalk_mode *m, u64 cr3, gva_t gva, u32 access)
{
	test_fail(__FILE__, __LINE__,
		  "round %u: %s differs (lma %d la57 %d pae %d pse %d wp %d smep %d smap %d ac %d nxe %d gb %d pke %d "
		  "pkru %#x maxphy %u pdptes %d) cr3 %#" PRIx64 " gva %#" PRIx64 " access %#x",
		  round, what, m->lma, m->la57, m->pae, m->pse, m->wp, m->smep, m->smap, m->ac, m->nxe, m->gbpages,
		  m->pke, m->pkru, m->maxphyaddr, m->pdptes != NULL, cr3, gva, access);
}

/* One round: the read-only walk must match the model exactly; the A/D walk too, with the model's bits added to the
 * entries and to memory, unless two levels share an entry (gmodel_entries_distinct). Returns the walk's return. */
static int one_round(unsigned int round, enum fmt f)
{
	u64 pdptes[4], old[GWALK_MAX_LEVELS + 1];
	u64 cr3 = pool_page() | (f == F_PAE ? rnd() & 0xfe0 : rnd() & 0xfff);
	gva_t gva = random_gva(f);
	u32 access = random_access();
	struct gwalk_mode m;
	struct gmodel want;
	const char *diff;
	unsigned int lowest; /* the last level the walk reads (0: none) */
	int r;

	build_path(f, cr3, gva);
	m = random_mode(f, pdptes, cr3);
	fail_gpa = ~0ULL;
	gmodel_walk(&m, cr3, gva, access, ops_ro.read_gpa, gmem, &want);
	lowest = want.res.level ? want.res.level : want.res.fault_level;
	if (want.ret == 0 && lowest && chance(1)) {
		/* A read that fails on one entry of the path: the walk fails with the callback's error. */
		fail_gpa = want.res.pte_gpa[lowest + rnd() % (want.res.top_level - lowest + 1)];
		fail_err = chance(8) ? -ENOENT : 7;
		gmodel_walk(&m, cr3, gva, access, ops_ro.read_gpa, gmem, &want);
	}

	r = gwalk(&m, cr3, gva, access, &ops_ro, gmem, &res);
	if (r != want.ret)
		fail_round(round, "return value", &m, cr3, gva, access);
	if (r == 0 && (diff = gmodel_compare(&res, &want, false)))
		fail_round(round, diff, &m, cr3, gva, access);

	if (r || !gmodel_entries_distinct(&want))
		return r;
	for (unsigned int l = lowest; l && l <= want.res.top_level; l++)
		old[l] = r64(want.res.pte_gpa[l]);
	r = gwalk(&m, cr3, gva, access, &ops_ad, gmem, &res);
	if (r != 0)
		fail_round(round, "A/D walk's return value", &m, cr3, gva, access);
	if ((diff = gmodel_compare(&res, &want, true)))
		fail_round(round, diff, &m, cr3, gva, access);
	for (unsigned int l = lowest; l && l <= want.res.top_level; l++) {
		gpa_t a = want.res.pte_gpa[l];
		u64 now = f == F_32BIT ? r32(a) : r64(a), was = f == F_32BIT ? (u32)old[l] : old[l];

		if (m.pdptes && l == 3)
			continue; /* the PDPTE registers, not memory */
		if (now != (was | want.ad[l]))
			fail_round(round, "memory after A/D", &m, cr3, gva, access);
		put(f, a, was); /* undo, so that later rounds still find A/D bits to set */
	}
	return 0;
}

TEST(gwalk_model_random_tables)
{
	unsigned int faults = 0, translations = 0, pk_faults = 0, errors = 0;

	reset();
	rng = 0x9e3779b97f4a7c15ULL;
	for (unsigned int i = 0; i < POOL_PAGES * PAGE_SIZE / 8; i++)
		w64(POOL + i * 8, random_entry(1 + i % 5));
	for (unsigned int round = 0; round < 200000; round++) {
		if (one_round(round, (enum fmt)(round % 4)))
			errors++;
		else if (res.fault == GWALK_FAULT_NONE)
			translations++;
		else if (res.fault == GWALK_FAULT_PF && (res.error_code & PFERR_PK))
			pk_faults++;
		else if (res.fault == GWALK_FAULT_PF)
			faults++;
	}
	/* The generator must reach every outcome often, or the agreement above proves little. */
	CHECK(translations > 10000);
	CHECK(faults > 10000);
	CHECK(pk_faults > 1000);
	CHECK(errors > 1000);
}
