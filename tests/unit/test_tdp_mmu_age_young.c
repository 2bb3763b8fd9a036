/* mmu_age_gfn_range_young (the working-set scan's walk, mm/ept/tdp_age.c): one aging walk that says which gfns a
 * young leaf maps, for EPT with A/D, EPT without A/D (access tracking) and NPT: 4K leaves mark their gfn, a 2M leaf
 * marks every gfn of it inside the range (clipped at the range's ends), old and unmapped gfns stay clear, the walk
 * ages what it marks (a second call marks nothing), and an access after it marks the gfn again. */
#include "tdp_mmu_fixture.h"

#define NBITS 1024 /* the range asked about: 2 x 512 gfns */

static const gfn_t BASE = GIG; /* the 2M region at BASE gets a 2M leaf, the one at BASE + M2 4K leaves */

static bool bit(const u64 *m, u64 i)
{
	return m[i / 64] >> (i % 64) & 1;
}

/* The access a vCPU makes: the hardware sets A, or the access-tracked leaf faults into the fast path. */
static void access_gfn(const struct pt_format *f, gfn_t gfn)
{
	u64 *p = leaf_sptep(fx.vcpu.current, gfn, NULL);

	CHECK(p);
	if (f->ad_enabled) {
		__atomic_fetch_or(p, f->accessed, __ATOMIC_SEQ_CST);
		return;
	}
	struct mmu_fault flt = {.gpa = gfn << PAGE_SHIFT, .gfn = gfn, .access = SPTE_ACC_READ};
	flt.slot = memslot_find(&fx.mmu.slots, gfn);
	CHECK(tdp_fast_page_fault(&fx.mmu, fx.vcpu.current, &flt));
}

static void map(const struct pt_format *f)
{
	int level;

	setup(f);
	fake_slot(0, 2 * GIG, FAKE_HPA, true, 0);
	fx.mmu.tdp.max_huge_level = 2;
	CHECK_EQ(fault(BASE + 100, SPTE_ACC_READ, &level), MMU_FAULT_FIXED);
	CHECK_EQ(level, 2);
	fx.mmu.tdp.max_huge_level = 1;
	for (gfn_t g = BASE + M2 + 3; g < BASE + M2 + 40; g += 9) { /* 3, 12, 21, 30, 39 */
		CHECK_EQ(fault(g, SPTE_ACC_WRITE, &level), MMU_FAULT_FIXED);
		CHECK_EQ(level, 1);
	}
}

TEST(age_young_marks_leaves_of_each_size)
{
	const struct pt_format *f;

	for_each_format(f) {
		u64 m[NBITS / 64] = { 0 };
		u64 aged = fx.mmu.stats.aged_leaves;

		map(f);
		aged = fx.mmu.stats.aged_leaves;
		mmu_age_gfn_range_young(&fx.mmu, BASE, BASE + NBITS, m);
		for (u64 i = 0; i < NBITS; i++) {
			bool want = i < 512 || (i >= 512 + 3 && i < 512 + 40 && (i - 512 - 3) % 9 == 0);
			if (bit(m, i) != want)
				test_fail(__FILE__, __LINE__, "%s: gfn BASE+%llu marked %d", f->name, (unsigned long long)i,
					  bit(m, i));
		}
		CHECK_EQ(fx.mmu.stats.aged_leaves - aged, 1 + 5); /* the 2M leaf once, each 4K leaf once */
		/* Aged: a second walk marks nothing, and says so without changing a leaf. */
		memset(m, 0, sizeof(m));
		mmu_age_gfn_range_young(&fx.mmu, BASE, BASE + NBITS, m);
		for (u64 i = 0; i < NBITS / 64; i++)
			CHECK_EQ(m[i], 0);
		CHECK(!mmu_test_age_gfn_range(&fx.mmu, BASE, BASE + NBITS));
		/* One 4K access and one access anywhere in the 2M leaf: exactly those come back. */
		access_gfn(f, BASE + M2 + 21);
		access_gfn(f, BASE + 511);
		mmu_age_gfn_range_young(&fx.mmu, BASE, BASE + NBITS, m);
		for (u64 i = 0; i < NBITS; i++)
			CHECK_EQ(bit(m, i), i < 512 || i == 512 + 21);
		teardown();
	}
}

TEST(age_young_clips_a_huge_leaf_to_the_range)
{
	const struct pt_format *f;

	for_each_format(f) {
		u64 m[NBITS / 64];

		map(f);
		/* A range that starts in the middle of the 2M leaf, bit 0 for BASE + 500: the leaf's last 12 gfns, and
		 * the 4K leaves at BASE + M2 + 3, 12, 21, 30 and 39 (bits 15, 24, 33, 42, 51). */
		memset(m, 0, sizeof(m));
		mmu_age_gfn_range_young(&fx.mmu, BASE + 500, BASE + 500 + 64, m);
		CHECK_EQ(m[0], ((1ULL << 12) - 1) | 1ULL << 15 | 1ULL << 24 | 1ULL << 33 | 1ULL << 42 | 1ULL << 51);
		for (u64 i = 1; i < NBITS / 64; i++)
			CHECK_EQ(m[i], 0); /* nothing past the range's 64 bits is written */
		/* The whole leaf was aged (it is one mapping): the rest of it is old now too. */
		CHECK(!mmu_test_age_gfn_range(&fx.mmu, BASE, BASE + 500));
		teardown();
	}
}

/* An engine without a walk of its own for it falls back on test-age gfn by gfn, then one age: same answers. */
TEST(age_young_fallback_through_age_gfn_range)
{
	const struct pt_format *f;

	for_each_format(f) {
		struct mmu_engine e;
		const struct mmu_engine *saved;
		u64 m[NBITS / 64] = { 0 };

		map(f);
		saved = fx.mmu.engine;
		e = *saved;
		e.age_gfn_range_young = NULL;
		fx.mmu.engine = &e;
		mmu_age_gfn_range_young(&fx.mmu, BASE, BASE + NBITS, m);
		for (u64 i = 0; i < NBITS; i++)
			CHECK_EQ(bit(m, i), i < 512 || (i >= 512 + 3 && i < 512 + 40 && (i - 512 - 3) % 9 == 0));
		CHECK(!mmu_test_age_gfn_range(&fx.mmu, BASE, BASE + NBITS));
		fx.mmu.engine = saved;
		teardown();
	}
}
