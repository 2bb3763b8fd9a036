/* Unit tests of mm/pmm.c, the buddy frame allocator. The allocator never touches the frames it manages, so the tests
 * run it over millions of frame numbers with no memory behind them, and check it against a shadow model. */
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "mm/pmm.h"
#include "test.h"

#define BIG (1ULL << 20) /* 4 GiB worth of frame numbers */

static void *meta;

/* A fresh allocator over [base, base + n); its metadata lives until the next call. */
static void setup(struct pmm *p, hfn_t base, u64 n)
{
	free(meta);
	meta = aligned_alloc(8, pmm_metadata_size(base, n) ?: 8);
	CHECK(meta);
	pmm_init(p, base, n, meta);
}

static void check_verify(struct pmm *p)
{
	CHECK_EQ(pmm_verify(p), 0);
}

struct snapshot {
	u64 free, total, blocks[PMM_NR_ORDERS];
};

static void snap(struct pmm *p, struct snapshot *s)
{
	s->free = pmm_free_frames(p);
	s->total = pmm_total_frames(p);
	for (unsigned int k = 0; k < PMM_NR_ORDERS; k++)
		s->blocks[k] = pmm_free_blocks_of_order(p, k);
}

static void check_unchanged(struct pmm *p, const struct snapshot *before)
{
	struct snapshot now;

	snap(p, &now);
	CHECK(memcmp(&now, before, sizeof(now)) == 0);
	check_verify(p);
}

TEST(pmm_metadata_is_nine_bytes_per_frame)
{
	CHECK_EQ(pmm_metadata_size(0, BIG), 9 * BIG);
	CHECK_EQ(pmm_metadata_size(0x123, 3), 32); /* 27 rounded up to 8 */
	CHECK_EQ(pmm_metadata_size(0, 0), 0);
}

TEST(pmm_starts_with_nothing_available)
{
	struct pmm p;
	hfn_t f;

	setup(&p, 0, BIG);
	CHECK_EQ(pmm_free_frames(&p), 0);
	CHECK_EQ(pmm_total_frames(&p), 0);
	CHECK_EQ(pmm_alloc(&p, 0, &f), -ENOMEM);
	check_verify(&p);
}

TEST(pmm_alloc_every_order_aligned_and_disjoint)
{
	struct pmm p;
	hfn_t got[PMM_NR_ORDERS];

	setup(&p, 0, BIG);
	CHECK_EQ(pmm_add_free(&p, 0, BIG), 0);
	CHECK_EQ(pmm_free_blocks_of_order(&p, PMM_MAX_ORDER), 4);
	for (unsigned int k = 0; k < PMM_NR_ORDERS; k++) {
		CHECK_EQ(pmm_alloc(&p, k, &got[k]), 0);
		CHECK_EQ(got[k] % (1ULL << k), 0);
		CHECK(got[k] + (1ULL << k) <= BIG);
		for (unsigned int j = 0; j < k; j++)
			CHECK(got[j] + (1ULL << j) <= got[k] || got[k] + (1ULL << k) <= got[j]);
	}
	CHECK_EQ(pmm_free_frames(&p), BIG - ((1ULL << PMM_NR_ORDERS) - 1));
	check_verify(&p);
	for (unsigned int k = 0; k < PMM_NR_ORDERS; k++)
		CHECK_EQ(pmm_free(&p, got[k], k), 0);
	CHECK_EQ(pmm_free_frames(&p), BIG);
	/* Fully merged again. */
	CHECK_EQ(pmm_free_blocks_of_order(&p, PMM_MAX_ORDER), 4);
	for (unsigned int k = 0; k < PMM_MAX_ORDER; k++)
		CHECK_EQ(pmm_free_blocks_of_order(&p, k), 0);
	check_verify(&p);
}

TEST(pmm_add_free_unaligned_range_gives_maximal_blocks)
{
	struct pmm p;
	const u64 want[PMM_NR_ORDERS] = {[0] = 2, [2] = 2, [3] = 1, [4] = 1};

	setup(&p, 0, BIG);
	/* Frames 3..36: 3 | 4-7 | 8-15 | 16-31 | 32-35 | 36 */
	CHECK_EQ(pmm_add_free(&p, 3, 34), 0);
	for (unsigned int k = 0; k < PMM_NR_ORDERS; k++)
		CHECK_EQ(pmm_free_blocks_of_order(&p, k), want[k]);
	CHECK_EQ(pmm_free_frames(&p), 34);
	check_verify(&p);

	/* Frames 1 .. 2^19+5: one block of every order 0..18 on the way up, then 4 + 1 beyond 2^19. */
	setup(&p, 0, BIG);
	CHECK_EQ(pmm_add_free(&p, 1, (1ULL << 19) + 4), 0);
	for (unsigned int k = 0; k < PMM_NR_ORDERS; k++)
		CHECK_EQ(pmm_free_blocks_of_order(&p, k), k == 0 ? 2 : k == 2 ? 2 : 1);
	check_verify(&p);
}

TEST(pmm_add_free_merges_with_neighbouring_releases)
{
	struct pmm p;

	setup(&p, 0, BIG);
	CHECK_EQ(pmm_add_free(&p, 0, 1), 0);
	CHECK_EQ(pmm_add_free(&p, 1, 1), 0);
	CHECK_EQ(pmm_free_blocks_of_order(&p, 0), 0);
	CHECK_EQ(pmm_free_blocks_of_order(&p, 1), 1);
	CHECK_EQ(pmm_add_free(&p, 4, 4), 0);
	CHECK_EQ(pmm_add_free(&p, 2, 2), 0);
	CHECK_EQ(pmm_free_blocks_of_order(&p, 3), 1);
	CHECK_EQ(pmm_free_blocks_of_order(&p, 1), 0);
	check_verify(&p);
}

TEST(pmm_unaligned_base_blocks_stay_naturally_aligned)
{
	struct pmm p;
	hfn_t f;

	/* Span 0x101..0x401: 0x101 | 0x102-3 | 0x104-7 | ... | 0x180-1ff | 0x200-3ff | 0x400. Blocks align to
	 * absolute frame numbers, not to base. */
	setup(&p, 0x101, 0x300);
	CHECK_EQ(pmm_add_free(&p, 0x101, 0x300), 0);
	for (unsigned int k = 1; k <= 7; k++)
		CHECK_EQ(pmm_free_blocks_of_order(&p, k), 1);
	CHECK_EQ(pmm_free_blocks_of_order(&p, 8), 0);
	CHECK_EQ(pmm_free_blocks_of_order(&p, 9), 1);
	CHECK_EQ(pmm_free_blocks_of_order(&p, 0), 2); /* 0x101, 0x400 */
	check_verify(&p);
	CHECK_EQ(pmm_alloc(&p, 10, &f), -ENOMEM);
	CHECK_EQ(pmm_alloc(&p, 9, &f), 0);
	CHECK_EQ(f, 0x200);
	CHECK_EQ(pmm_free(&p, f, 9), 0);
	/* The buddy of 0x400 (0x401) and of 0x100 lie outside the span; merging must not look there. */
	CHECK_EQ(pmm_free_blocks_of_order(&p, 0), 2);
	check_verify(&p);
}

TEST(pmm_add_free_rejects_overlap_and_out_of_range)
{
	struct pmm p;
	struct snapshot s;

	setup(&p, 0x1000, 0x1000);
	CHECK_EQ(pmm_add_free(&p, 0x1100, 0x100), 0);
	snap(&p, &s);
	CHECK_EQ(pmm_add_free(&p, 0x10ff, 2), -EINVAL);
	CHECK_EQ(pmm_add_free(&p, 0xfff, 2), -EINVAL);
	CHECK_EQ(pmm_add_free(&p, 0x1f00, 0x101), -EINVAL);
	CHECK_EQ(pmm_add_free(&p, 0x3000, 1), -EINVAL);
	CHECK_EQ(pmm_add_free(&p, 0x1800, ~0ULL), -EINVAL);
	check_unchanged(&p, &s);
	CHECK_EQ(pmm_add_free(&p, 0x1f00, 0x100), 0); /* exactly up to the end */
	CHECK_EQ(pmm_add_free(&p, 0x1f00, 0), 0);
	check_verify(&p);
}

TEST(pmm_fragmentation_blocks_large_allocs_until_all_freed)
{
	struct pmm p;
	const u64 n = 1ULL << 16;
	hfn_t *f = malloc(n * sizeof(*f)), g;

	CHECK(f);
	setup(&p, 0, n);
	CHECK_EQ(pmm_add_free(&p, 0, n), 0);
	for (u64 i = 0; i < n; i++)
		CHECK_EQ(pmm_alloc(&p, 0, &f[i]), 0);
	CHECK_EQ(pmm_free_frames(&p), 0);
	CHECK_EQ(pmm_alloc(&p, 0, &g), -ENOMEM);

	/* Free every other frame: half the memory is free, yet not even two contiguous frames. */
	for (u64 i = 0; i < n; i++)
		if (f[i] % 2 == 0)
			CHECK_EQ(pmm_free(&p, f[i], 0), 0);
	CHECK_EQ(pmm_free_frames(&p), n / 2);
	CHECK_EQ(pmm_free_blocks_of_order(&p, 0), n / 2);
	CHECK_EQ(pmm_alloc(&p, 9, &g), -ENOMEM);
	CHECK_EQ(pmm_alloc(&p, 1, &g), -ENOMEM);
	check_verify(&p);

	for (u64 i = 0; i < n; i++)
		if (f[i] % 2 == 1)
			CHECK_EQ(pmm_free(&p, f[i], 0), 0);
	CHECK_EQ(pmm_free_frames(&p), n);
	CHECK_EQ(pmm_free_blocks_of_order(&p, 16), 1);
	check_verify(&p);
	for (u64 i = 0; i < n / 512; i++) {
		CHECK_EQ(pmm_alloc(&p, 9, &g), 0);
		CHECK_EQ(g % 512, 0);
	}
	CHECK_EQ(pmm_free_frames(&p), 0);
	CHECK_EQ(pmm_alloc(&p, 9, &g), -ENOMEM);
	free(f);
}

TEST(pmm_exhaustion_and_bad_order)
{
	struct pmm p;
	hfn_t f;

	setup(&p, 0x800, 16);
	CHECK_EQ(pmm_add_free(&p, 0x800, 8), 0);
	CHECK_EQ(pmm_alloc(&p, 4, &f), -ENOMEM); /* 16 frames exist but only 8 are available */
	CHECK_EQ(pmm_alloc(&p, 3, &f), 0);
	CHECK_EQ(f, 0x800);
	CHECK_EQ(pmm_alloc(&p, 0, &f), -ENOMEM);
	CHECK_EQ(pmm_alloc(&p, PMM_MAX_ORDER + 1, &f), -EINVAL);
	CHECK_EQ(pmm_alloc_below(&p, PMM_MAX_ORDER + 1, ~0ULL, &f), -EINVAL);
	CHECK_EQ(pmm_alloc(&p, 200, &f), -EINVAL);
	CHECK_EQ(pmm_free_blocks_of_order(&p, PMM_MAX_ORDER + 1), 0);
	check_verify(&p);
}

/* f's hex form appears in the last message logged. */
static bool log_names_frame(hfn_t f)
{
	char hex[32];

	snprintf(hex, sizeof(hex), "0x%llx", (unsigned long long)f);
	return strstr(test_last_log, hex) != NULL;
}

TEST(pmm_bad_frees_are_rejected_and_change_nothing)
{
	struct pmm p;
	struct snapshot s;
	hfn_t a, b, c;

	setup(&p, 0x10000, 0x10000);
	CHECK_EQ(pmm_add_free(&p, 0x10000, 0x8000), 0);
	CHECK_EQ(pmm_alloc(&p, 4, &a), 0);
	CHECK_EQ(pmm_alloc(&p, 0, &b), 0);
	CHECK_EQ(pmm_alloc(&p, 0, &c), 0);
	CHECK_EQ(pmm_free(&p, c, 0), 0);
	snap(&p, &s);

	CHECK_EQ(pmm_free(&p, c, 0), -EINVAL); /* double free (c merged back into a bigger block) */
	CHECK(log_names_frame(c));
	CHECK_EQ(pmm_free(&p, a, 3), -EINVAL); /* order smaller than allocated */
	CHECK(log_names_frame(a));
	CHECK_EQ(pmm_free(&p, a, 5), -EINVAL);	   /* larger: also misaligned or not, must be refused */
	CHECK_EQ(pmm_free(&p, a + 1, 0), -EINVAL); /* interior frame of an allocated block */
	CHECK(log_names_frame(a + 1));
	CHECK_EQ(pmm_free(&p, a + 8, 3), -EINVAL);  /* aligned interior sub-block */
	CHECK_EQ(pmm_free(&p, a + 2, 4), -EINVAL);  /* misaligned for the order */
	CHECK_EQ(pmm_free(&p, 0xffff, 0), -EINVAL); /* below base */
	CHECK(log_names_frame(0xffff));
	CHECK_EQ(pmm_free(&p, 0x20000, 0), -EINVAL); /* one past the end */
	CHECK_EQ(pmm_free(&p, ~0ULL, 0), -EINVAL);
	CHECK_EQ(pmm_free(&p, 0x18000, 0), -EINVAL); /* covered but never made available */
	CHECK_EQ(pmm_free(&p, b, PMM_MAX_ORDER + 1), -EINVAL);
	check_unchanged(&p, &s);

	/* A block freed and not yet merged (its buddy is allocated) is caught as a double free too. */
	CHECK_EQ(pmm_free(&p, b, 0), 0);
	snap(&p, &s);
	CHECK_EQ(pmm_free(&p, b, 0), -EINVAL);
	CHECK(strstr(test_last_log, "double free"));
	check_unchanged(&p, &s);

	/* The real frees still work afterwards. */
	CHECK_EQ(pmm_free(&p, a, 4), 0);
	CHECK_EQ(pmm_free_frames(&p), 0x8000);
	check_verify(&p);
}

TEST(pmm_alloc_below_honours_the_limit)
{
	struct pmm p;
	hfn_t f;

	setup(&p, 0, BIG);
	CHECK_EQ(pmm_add_free(&p, 0x80, 0x80), 0); /* 512K..1M: the classic trampoline area */
	CHECK_EQ(pmm_add_free(&p, 0x10000, 0x10000), 0);
	CHECK_EQ(pmm_alloc_below(&p, 8, 0x100, &f), -ENOMEM); /* 256 frames below 1M exist, not aligned */
	for (int i = 0; i < 0x80; i++) {
		CHECK_EQ(pmm_alloc_below(&p, 0, 0x100, &f), 0);
		CHECK(f >= 0x80 && f < 0x100);
	}
	CHECK_EQ(pmm_alloc_below(&p, 0, 0x100, &f), -ENOMEM);
	CHECK_EQ(pmm_alloc(&p, 0, &f), 0);
	CHECK(f >= 0x10000);
	check_verify(&p);

	/* The whole block must be below the limit, not just its first frame. */
	setup(&p, 0, BIG);
	CHECK_EQ(pmm_add_free(&p, 0x80, 8), 0);
	CHECK_EQ(pmm_alloc_below(&p, 2, 0x86, &f), 0);
	CHECK_EQ(f, 0x80);
	CHECK_EQ(pmm_alloc_below(&p, 2, 0x86, &f), -ENOMEM);
	CHECK_EQ(pmm_alloc_below(&p, 2, 0x88, &f), 0);
	CHECK_EQ(f, 0x84);
	CHECK_EQ(pmm_alloc_below(&p, 0, 0, &f), -ENOMEM);

	/* Out of a large block, only the low part is taken and the rest stays free above. */
	setup(&p, 0, BIG);
	CHECK_EQ(pmm_add_free(&p, 0, BIG), 0);
	CHECK_EQ(pmm_alloc_below(&p, 0, 1, &f), 0);
	CHECK_EQ(f, 0);
	CHECK_EQ(pmm_free_frames(&p), BIG - 1);
	CHECK_EQ(pmm_alloc_below(&p, 3, 0x100, &f), 0);
	CHECK(f + 8 <= 0x100);
	check_verify(&p);
}

TEST(pmm_verify_catches_corruption)
{
	struct pmm p;
	hfn_t f;

	setup(&p, 0, 64);
	CHECK_EQ(pmm_add_free(&p, 0, 64), 0);
	CHECK_EQ(pmm_alloc(&p, 2, &f), 0);
	check_verify(&p);
	p.free_frames++;
	CHECK_EQ(pmm_verify(&p), -EINVAL);
	p.free_frames--;
	p.state[f + 1] = p.state[f]; /* a second head inside the block */
	CHECK_EQ(pmm_verify(&p), -EINVAL);
}

TEST(pmm_dump_reports_every_order)
{
	struct pmm p;

	setup(&p, 0, BIG);
	CHECK_EQ(pmm_add_free(&p, 0, BIG - 1), 0);
	pmm_dump(&p);
	/* The last line is the top order: 3 free 1G blocks (the fourth lost a frame). */
	CHECK(strstr(test_last_log, "order 18"));
	CHECK(strstr(test_last_log, ": 3 free"));
}

/* ---- randomized stress against a shadow model ---- */

static u64 rng_state = 0x2545f4914f6cdd1dULL;

static u64 rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

struct live {
	hfn_t f;
	unsigned int order;
};

static unsigned int random_order(void)
{
	u64 r = rng() % 100;

	if (r < 60)
		return 0;
	if (r < 85)
		return 1 + rng() % 4;
	if (r < 98)
		return 5 + rng() % 6;
	return 11 + rng() % 8;
}

TEST(pmm_randomized_stress_against_shadow)
{
	enum { OPS = 30000, MAXLIVE = 4096 };
	static struct live live[MAXLIVE];
	static const struct {
		hfn_t start;
		u64 n;
	} ranges[] = {{1, 0x9e}, {0x100, 0x3ff00}, {0x40123, 0x3fedd}, {0xc0000, 0x40000}, {0x80000, 1}};
	struct pmm p, fresh;
	u8 *avail = calloc(BIG, 1), *owned = calloc(BIG, 1);
	void *fresh_meta;
	u32 nlive = 0;
	u64 total = 0, used = 0, rejected = 0, enomem = 0;

	CHECK(avail && owned);
	test_log_level_max = LOG_ERR - 1; /* thousands of expected rejections */
	setup(&p, 0, BIG);
	for (unsigned int i = 0; i < ARRAY_SIZE(ranges); i++) {
		CHECK_EQ(pmm_add_free(&p, ranges[i].start, ranges[i].n), 0);
		memset(avail + ranges[i].start, 1, ranges[i].n);
		total += ranges[i].n;
	}
	CHECK_EQ(pmm_total_frames(&p), total);

	for (int op = 0; op < OPS; op++) {
		u64 r = rng() % 100;

		if (r < 55 && nlive < MAXLIVE) {
			unsigned int order = random_order();
			bool below = rng() % 10 == 0;
			hfn_t limit = below ? rng() % BIG : ~0ULL, f;
			int ret = below ? pmm_alloc_below(&p, order, limit, &f) : pmm_alloc(&p, order, &f);

			if (ret) {
				CHECK_EQ(ret, -ENOMEM);
				enomem++;
				continue;
			}
			CHECK_EQ(f % (1ULL << order), 0);
			CHECK(f + (1ULL << order) <= BIG);
			if (below)
				CHECK(f + (1ULL << order) <= limit);
			for (u64 i = 0; i < (1ULL << order); i++) {
				if (!avail[f + i] || owned[f + i])
					test_fail(__FILE__, __LINE__,
						  "op %d: frame 0x%llx handed out twice or never added", op,
						  (unsigned long long)(f + i));
				owned[f + i] = 1;
			}
			live[nlive++] = (struct live){f, order};
			used += 1ULL << order;
		} else if (r < 97 && nlive) {
			u32 i = rng() % nlive;
			struct live l = live[i];

			CHECK_EQ(pmm_free(&p, l.f, l.order), 0);
			memset(owned + l.f, 0, 1ULL << l.order);
			live[i] = live[--nlive];
			used -= 1ULL << l.order;
			/* Sometimes free it again, or something else that is wrong: must be refused. */
			if (rng() % 4 == 0) {
				CHECK_EQ(pmm_free(&p, l.f, l.order), -EINVAL);
				rejected++;
			}
		} else if (nlive) {
			struct live l = live[rng() % nlive];

			if (l.order > 0) {
				CHECK_EQ(pmm_free(&p, l.f, l.order - 1), -EINVAL);
				CHECK_EQ(pmm_free(&p, l.f + (1ULL << (l.order - 1)), l.order - 1), -EINVAL);
				rejected += 2;
			}
		}
		CHECK_EQ(pmm_free_frames(&p), total - used);
		if (op % 2000 == 0)
			check_verify(&p);
	}
	test_log_level_max = LOG_WARN;
	fprintf(stderr, "  stress: %u live, %llu of %llu frames used, %llu ENOMEM, %llu rejected\n", nlive,
		(unsigned long long)used, (unsigned long long)total, (unsigned long long)enomem,
		(unsigned long long)rejected);
	check_verify(&p);
	CHECK(rejected > 1000);
	CHECK(enomem > 0 || used > 0);

	while (nlive) {
		nlive--;
		CHECK_EQ(pmm_free(&p, live[nlive].f, live[nlive].order), 0);
	}
	CHECK_EQ(pmm_free_frames(&p), total);
	check_verify(&p);

	/* Eager merging: once everything is back, the free lists are exactly those of a never-used allocator. */
	fresh_meta = malloc(pmm_metadata_size(0, BIG));
	CHECK(fresh_meta);
	pmm_init(&fresh, 0, BIG, fresh_meta);
	for (unsigned int i = 0; i < ARRAY_SIZE(ranges); i++)
		CHECK_EQ(pmm_add_free(&fresh, ranges[i].start, ranges[i].n), 0);
	for (unsigned int k = 0; k < PMM_NR_ORDERS; k++)
		CHECK_EQ(pmm_free_blocks_of_order(&p, k), pmm_free_blocks_of_order(&fresh, k));
	free(fresh_meta);
	free(avail);
	free(owned);
}

TEST(pmm_lock_is_released_and_per_cpu)
{
	struct pmm p;
	hfn_t f;

	setup(&p, 0, 16);
	CHECK_EQ(pmm_add_free(&p, 0, 16), 0);
	CHECK_EQ(pmm_alloc(&p, 0, &f), 0);
	CHECK(!spin_is_held_by_me(&p.lock));
	fake_cpu_id = 1;
	CHECK_EQ(pmm_free(&p, f, 0), 0); /* any CPU may free */
	fake_cpu_id = 0;
	/* Re-entering the allocator while holding its lock is a bug, caught by the lock itself. */
	spin_lock(&p.lock);
	EXPECT_BUG(pmm_alloc(&p, 0, &f));
	spin_unlock(&p.lock);
}
