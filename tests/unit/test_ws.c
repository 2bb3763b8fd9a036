/* The working-set estimator's pure part (vm/ws_gen.c): the per-page generations a scan moves on, the report's
 * buckets (checked exactly, and against a model that keeps each page's whole history of scans), and the report
 * line. The scan itself is mmu_age_gfn_range_young (test_tdp_mmu_age_young.c) and the guest's view is
 * tests/guests/workingset.c. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "vm/ws.h"

static void set_bit(u64 *m, u64 i)
{
	m[i / 64] |= 1ULL << (i % 64);
}

TEST(ws_update_ages_and_resets)
{
	u8 age[130] = {0};
	u64 young[3] = {0};

	age[1] = 1, age[2] = 7, age[3] = WS_AGE_MAX - 1, age[4] = WS_AGE_MAX, age[5] = 200;
	set_bit(young, 5);
	set_bit(young, 64);  /* across words */
	set_bit(young, 129); /* the last page */
	ws_gen_update(age, young, 130);
	CHECK_EQ(age[0], WS_AGE_NEVER); /* never seen, not seen now: still never */
	CHECK_EQ(age[1], 2);
	CHECK_EQ(age[2], 8);
	CHECK_EQ(age[3], WS_AGE_MAX);
	CHECK_EQ(age[4], WS_AGE_MAX); /* saturated */
	CHECK_EQ(age[5], 1);	      /* young again */
	CHECK_EQ(age[64], 1);
	CHECK_EQ(age[129], 1);
	CHECK_EQ(age[128], WS_AGE_NEVER);
	/* n bounds the update: a bit past it changes nothing. */
	u8 two[3] = {5, 5, 5};
	u64 all = ~0ULL;
	ws_gen_update(two, &all, 2);
	CHECK_EQ(two[0], 1);
	CHECK_EQ(two[1], 1);
	CHECK_EQ(two[2], 5);
}

TEST(ws_count_buckets_exactly)
{
	/* One page of each age; young[b] counts ages 1..2^b. */
	static const u8 ages[] = {0, 1, 2, 3, 4, 5, 8, 9, 16, 17, 64, 65, 128, 129, 200, 255, 0};
	static const u64 want[WS_BUCKETS] = {1, 2, 4, 6, 8, 9, 10, 12};
	struct ws_report r;

	memset(&r, 0, sizeof(r));
	ws_gen_count(ages, sizeof(ages), &r);
	for (int b = 0; b < WS_BUCKETS; b++)
		CHECK_EQ(r.young[b], want[b]);
	CHECK_EQ(r.idle, 3); /* 129, 200, 255 */
	CHECK_EQ(r.never, 2);
	CHECK_EQ(r.pages, sizeof(ages));
	/* Counting adds: a second range goes on top of the first. */
	ws_gen_count(ages, 2, &r);
	CHECK_EQ(r.young[0], 2);
	CHECK_EQ(r.never, 3);
	CHECK_EQ(r.pages, sizeof(ages) + 2);
}

/* A model with the whole history: for each page, the scans it was young in. Random answers over many scans; after
 * each scan the report must equal what the history says. */
TEST(ws_against_a_history_model)
{
	enum { N = 200, SCANS = 400 };
	static u8 age[N];
	static bool hist[SCANS][N];
	u64 young[(N + 63) / 64];

	srand(12);
	memset(age, 0, sizeof(age));
	for (int s = 0; s < SCANS; s++) {
		memset(young, 0, sizeof(young));
		for (int i = 0; i < N; i++) {
			/* Pages with different habits: some hot, some rare, some never. */
			int p = i % 4 == 0 ? 90 : i % 4 == 1 ? 10 : i % 4 == 2 ? 1 : 0;
			hist[s][i] = rand() % 100 < p;
			if (hist[s][i])
				set_bit(young, (u64)i);
		}
		ws_gen_update(age, young, N);

		struct ws_report r, m;
		memset(&r, 0, sizeof(r));
		memset(&m, 0, sizeof(m));
		ws_gen_count(age, N, &r);
		for (int i = 0; i < N; i++) {
			int ago = 0; /* scans ago it was last young, counting this one as 1; 0 never */
			for (int t = s; t >= 0 && !ago; t--)
				if (hist[t][i])
					ago = s - t + 1;
			if (!ago)
				m.never++;
			else if (ago > 128)
				m.idle++;
			for (int b = 0; b < WS_BUCKETS; b++)
				if (ago && ago <= 1 << b)
					m.young[b]++;
		}
		for (int b = 0; b < WS_BUCKETS; b++)
			CHECK_EQ(r.young[b], m.young[b]);
		CHECK_EQ(r.idle, m.idle);
		CHECK_EQ(r.never, m.never);
		CHECK_EQ(r.young[WS_BUCKETS - 1] + r.idle + r.never, N);
	}
}

TEST(ws_report_line)
{
	struct ws_report r = {
	    .scans = 42, .pages = 4096, .young = {1, 2, 4, 8, 256, 512, 1024, 2048}, .idle = 48, .never = 2000};
	char buf[512];
	int n = ws_report_format(buf, sizeof(buf), "vm1", 10000, &r);

	CHECK_STR(buf, "vm vm1: working set after 42 scans every 10 ms: touched in the last 1: 4 KiB, 2: 8 KiB, "
		       "4: 16 KiB, 8: 32 KiB, 16: 1 MiB, 32: 2 MiB, 64: 4 MiB, 128: 8 MiB; idle longer 192 KiB, never "
		       "touched 8000 KiB, of 16 MiB\n");
	CHECK_EQ(n, strlen(buf));
	ws_report_format(buf, sizeof(buf), "x", 2000000, &r);
	CHECK(strstr(buf, "vm x: working set after 42 scans every 2 s:") == buf);
	ws_report_format(buf, sizeof(buf), "x", 1500, &r);
	CHECK(strstr(buf, "every 1500 us:"));
	r.reclaimed = 512;
	r.refaulted = 3;
	ws_report_format(buf, sizeof(buf), "x", 1000, &r);
	CHECK(strstr(buf, "of 16 MiB; reclaimed 512 pages, refaulted 3\n"));
	/* A short buffer: cut, terminated, and the length it would have had. */
	char small[24];
	memset(small, 'z', sizeof(small));
	int full = ws_report_format(buf, sizeof(buf), "vm1", 10000, &r);
	CHECK_EQ(ws_report_format(small, sizeof(small), "vm1", 10000, &r), full);
	CHECK_STR(small, "vm vm1: working set aft");
}

/* reclaim=on offers a chunk only when every page of it is cold for WS_RECLAIM_AGE scans or was never young. */
TEST(ws_cold_for_reclaim)
{
	u8 age[512];

	memset(age, WS_RECLAIM_AGE, sizeof(age));
	CHECK(ws_gen_is_cold(age, 512, WS_RECLAIM_AGE));
	age[100] = WS_AGE_NEVER;
	age[101] = WS_AGE_MAX;
	CHECK(ws_gen_is_cold(age, 512, WS_RECLAIM_AGE));
	age[511] = WS_RECLAIM_AGE - 1; /* the last page young one scan too recently */
	CHECK(!ws_gen_is_cold(age, 512, WS_RECLAIM_AGE));
	CHECK(ws_gen_is_cold(age, 511, WS_RECLAIM_AGE)); /* n bounds the look */
	age[0] = 1;
	CHECK(!ws_gen_is_cold(age, 1, WS_RECLAIM_AGE));
	memset(age, WS_AGE_NEVER, sizeof(age));
	CHECK(ws_gen_is_cold(age, 512, WS_RECLAIM_AGE)); /* in use, but never young since the estimator started */
}
