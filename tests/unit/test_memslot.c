/* Unit tests of mm/memslot.c (lookup, backing levels, adding slots, cleanup) and mm/track/level.c (huge-page
 * disallow counts). Slots for the backing-level tests are built by hand with made-up chunk addresses, which nothing
 * dereferences, so 1 GiB-contiguous backing can be described without 1 GiB of fake memory. */
#include <stdlib.h>
#include <string.h>

#include "fake_platform.h"
#include "hv/errno.h"
#include "hv/platform.h"
#include "mm/track/level.h"
#include "test.h"
#include "mm/memslot.h"

#define GIG (1ULL << 18) /* pages */
#define M2 512ULL        /* pages */

/* A slot over made-up host addresses: chunk i at hpa + i * 2M; 1G regions wholly inside marked contiguous if asked. */
static void fake_slot(struct memslot *s, gfn_t base, u64 npages, hpa_t hpa, bool contig)
{
	u64 first = base / GIG, n1g = (base + npages - 1) / GIG - first + 1;

	memset(s, 0, sizeof(*s));
	s->base_gfn = base;
	s->npages = npages;
	s->chunks = calloc(npages / M2, sizeof(hpa_t));
	s->contig_1g = calloc(n1g, 1);
	s->chunk_state = malloc(npages / M2);
	memset(s->chunk_state, CHUNK_CLEAN, npages / M2); /* made-up host addresses: never cleared */
	for (u64 i = 0; i < npages / M2; i++)
		s->chunks[i] = hpa + i * (M2 << PAGE_SHIFT);
	for (u64 g = 0; g < n1g && contig; g++) {
		gfn_t start = (first + g) * GIG;
		s->contig_1g[g] = start >= base && start + GIG <= base + npages;
	}
}

static void fake_slot_free(struct memslot *s)
{
	track_slot_free(s);
	free(s->chunks);
	free(s->contig_1g);
	free(s->chunk_state);
}

static struct memslots ms;
static u64 base_frames;

static void ms_setup(void)
{
	memset(&ms, 0, sizeof(ms));
	base_frames = fake_mem_frames_in_use();
}

static void ms_teardown(void)
{
	memslots_destroy(&ms);
	CHECK_EQ(ms.n, 0);
	CHECK_EQ(fake_mem_frames_in_use(), base_frames);
}

TEST(memslot_add_and_find)
{
	ms_setup();
	CHECK_EQ(memslot_add(&ms, 4 * M2, 2 * M2), 0);
	CHECK_EQ(memslot_add(&ms, 0, M2), 0);
	CHECK_EQ(memslot_add(&ms, 100 * M2, 3 * M2), 0);
	CHECK_EQ(memslot_add(&ms, 10 * M2, M2), 0);
	CHECK_EQ(ms.n, 4);
	/* Sorted by base, whatever the order of adding. */
	for (u32 i = 1; i < ms.n; i++)
		CHECK(ms.slots[i - 1].base_gfn < ms.slots[i].base_gfn);
	CHECK_EQ(memslot_find(&ms, 0)->base_gfn, 0);
	CHECK_EQ(memslot_find(&ms, M2 - 1)->base_gfn, 0);
	CHECK(!memslot_find(&ms, M2));
	CHECK(!memslot_find(&ms, 4 * M2 - 1));
	CHECK_EQ(memslot_find(&ms, 4 * M2)->base_gfn, 4 * M2);
	CHECK_EQ(memslot_find(&ms, 6 * M2 - 1)->base_gfn, 4 * M2);
	CHECK(!memslot_find(&ms, 6 * M2));
	CHECK_EQ(memslot_find(&ms, 10 * M2 + 7)->base_gfn, 10 * M2);
	CHECK_EQ(memslot_find(&ms, 103 * M2 - 1)->base_gfn, 100 * M2);
	CHECK(!memslot_find(&ms, 103 * M2));
	CHECK(!memslot_find(&ms, ~0ULL));
	/* Distinct ids; chunks 2M aligned, distinct, zeroed, and translations follow them. */
	for (u32 i = 0; i < ms.n; i++) {
		for (u32 j = i + 1; j < ms.n; j++)
			CHECK(ms.slots[i].id != ms.slots[j].id);
	}
	struct memslot *s = memslot_find(&ms, 100 * M2);
	memslot_prepare(s, 100 * M2, 3 * M2); /* the backing is cleared on first use (memslot_prepare_clears_...) */
	for (int c = 0; c < 3; c++) {
		CHECK(IS_ALIGNED(s->chunks[c], 1ULL << 21));
		CHECK(c == 0 || s->chunks[c] != s->chunks[c - 1]);
		const u8 *p = phys_to_virt(s->chunks[c]);
		for (u64 b = 0; b < (1ULL << 21); b += 4093)
			CHECK_EQ(p[b], 0);
	}
	CHECK_EQ(memslot_gfn_to_hpa(s, 100 * M2 + M2 + 5), s->chunks[1] + 5 * PAGE_SIZE);
	ms_teardown();
}

/* memslot_find looks at the last slot first, then searches the others: the same answers as a plain scan, for gfns
 * in, between, below and above slots of every layout from 1 to MAX_MEMSLOTS slots. */
TEST(memslot_find_matches_a_linear_scan)
{
	static struct memslots ms;
	u64 seed = 12345;

	for (unsigned int round = 0; round < 200; round++) {
		gfn_t base = 0;

		memset(&ms, 0, sizeof(ms));
		ms.n = 1 + round % MAX_MEMSLOTS;
		for (u32 i = 0; i < ms.n; i++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			base += ((seed >> 33) % 3) * M2; /* a gap of 0 to 2 chunks */
			ms.slots[i].base_gfn = base;
			ms.slots[i].npages = (1 + (seed >> 40) % 4) * M2;
			base += ms.slots[i].npages;
		}
		for (gfn_t g = 0; g < base + 2 * M2; g += 97) {
			struct memslot *want = NULL;

			for (u32 i = 0; i < ms.n; i++)
				if (g >= ms.slots[i].base_gfn && g - ms.slots[i].base_gfn < ms.slots[i].npages)
					want = &ms.slots[i];
			CHECK(memslot_find(&ms, g) == want);
		}
		CHECK(!memslot_find(&ms, ~0ULL));
	}
	ms.n = 0;
	CHECK(!memslot_find(&ms, 0));
}

TEST(memslot_add_rejects_overlap_and_misalignment)
{
	ms_setup();
	CHECK_EQ(memslot_add(&ms, 4 * M2, 4 * M2), 0);
	u64 gen = ms.generation, frames = fake_mem_frames_in_use();
	CHECK_EQ(memslot_add(&ms, 4 * M2, M2), -EINVAL);
	CHECK_EQ(memslot_add(&ms, 7 * M2, 2 * M2), -EINVAL);
	CHECK_EQ(memslot_add(&ms, 2 * M2, 3 * M2), -EINVAL);
	CHECK_EQ(memslot_add(&ms, 0, 100 * M2), -EINVAL);
	CHECK_EQ(memslot_add(&ms, 8 * M2 + 1, M2), -EINVAL);
	CHECK_EQ(memslot_add(&ms, 8 * M2, M2 + 1), -EINVAL);
	CHECK_EQ(memslot_add(&ms, 8 * M2, 0), -EINVAL);
	CHECK_EQ(memslot_add(&ms, (1ULL << 36) - M2, 2 * M2), -EINVAL); /* past the 4-level reach */
	CHECK_EQ(memslot_add(&ms, ~0ULL - M2 + 1, M2), -EINVAL);
	CHECK_EQ(memslot_add_flags(&ms, 8 * M2, M2, 0x80), -EINVAL);
	CHECK_EQ(ms.n, 1);
	CHECK_EQ(ms.generation, gen);
	CHECK_EQ(fake_mem_frames_in_use(), frames);
	/* Touching but not overlapping is fine, on both sides. */
	CHECK_EQ(memslot_add(&ms, 8 * M2, M2), 0);
	CHECK_EQ(memslot_add_flags(&ms, 3 * M2, M2, MEMSLOT_READONLY), 0);
	CHECK_EQ(memslot_find(&ms, 3 * M2)->flags, MEMSLOT_READONLY);
	CHECK_EQ(memslot_find(&ms, 8 * M2)->flags, 0);
	CHECK_EQ(ms.generation, gen + 2);
	ms_teardown();
}

TEST(memslot_add_runs_out_of_slots)
{
	ms_setup();
	for (int i = 0; i < MAX_MEMSLOTS; i++)
		CHECK_EQ(memslot_add(&ms, (u64)i * 2 * M2, M2), 0);
	CHECK_EQ(memslot_add(&ms, 100 * M2, M2), -ENOSPC);
	CHECK_EQ(ms.n, MAX_MEMSLOTS);
	ms_teardown();
}

TEST(memslot_add_enomem_frees_everything_taken)
{
	ms_setup();
	CHECK_EQ(memslot_add(&ms, 0, M2), 0);
	u64 gen = ms.generation, frames = fake_mem_frames_in_use();
	/* Fail at every point of a 5-chunk slot: nothing of it may stay behind. */
	for (u64 n = 0; n < 5; n++) {
		fake_mem_fail_after(n);
		int r = memslot_add(&ms, 16 * M2, 5 * M2);
		fake_mem_fail_after(~0ULL);
		CHECK_EQ(r, -ENOMEM);
		CHECK_EQ(ms.n, 1);
		CHECK_EQ(ms.generation, gen);
		CHECK_EQ(fake_mem_frames_in_use(), frames);
		CHECK(!memslot_find(&ms, 16 * M2));
	}
	CHECK_EQ(memslot_add(&ms, 16 * M2, 5 * M2), 0);
	ms_teardown();
}

TEST(memslot_add_falls_back_to_2m_chunks)
{
	ms_setup();
	/* The fake memory (256 MiB) has no 1 GiB block: a 1G-aligned 1G slot comes in 2M chunks, not contiguous. */
	CHECK_EQ(memslot_add(&ms, GIG, 16 * M2), 0);
	CHECK_EQ(memslot_add(&ms, 2 * GIG, 32 * M2), 0);
	struct memslot *s = memslot_find(&ms, 2 * GIG);
	CHECK_EQ(s->contig_1g[0], 0);
	CHECK_EQ(memslot_backing_level(s, 2 * GIG + 3), 2);
	ms_teardown();
}

TEST(memslots_destroy_frees_everything)
{
	ms_setup();
	CHECK_EQ(memslot_add(&ms, 0, 4 * M2), 0);
	CHECK_EQ(memslot_add(&ms, 64 * M2, 8 * M2), 0);
	CHECK_EQ(track_disallow_huge(&ms.slots[1], 64 * M2 + 3), 0); /* per-slot track state goes too */
	CHECK_EQ(fake_mem_frames_in_use(), base_frames + 12 * M2);
	u64 gen = ms.generation;
	ms_teardown();
	CHECK(ms.generation > gen);
	CHECK(!memslot_find(&ms, 0));
}

TEST(memslot_backing_level_at_slot_edges)
{
	struct memslot s;

	/* [1G - 2M, 3G + 2M): only the 1G regions [1G, 2G) and [2G, 3G) lie wholly inside. */
	fake_slot(&s, GIG - M2, 2 * GIG + 2 * M2, 0x100000000000ULL - (M2 << PAGE_SHIFT), true);
	CHECK_EQ(memslot_backing_level(&s, GIG - M2), 2);
	CHECK_EQ(memslot_backing_level(&s, GIG - 1), 2);
	CHECK_EQ(memslot_backing_level(&s, GIG), 3);
	CHECK_EQ(memslot_backing_level(&s, 2 * GIG - 1), 3);
	CHECK_EQ(memslot_backing_level(&s, 2 * GIG + 12345), 3);
	CHECK_EQ(memslot_backing_level(&s, 3 * GIG), 2);
	CHECK_EQ(memslot_backing_level(&s, 3 * GIG + M2 - 1), 2);
	EXPECT_BUG(memslot_backing_level(&s, 3 * GIG + M2));
	EXPECT_BUG(memslot_backing_level(&s, GIG - M2 - 1));
	fake_slot_free(&s);
}

TEST(memslot_backing_level_needs_contig_and_equal_alignment)
{
	struct memslot s;

	fake_slot(&s, GIG, 2 * GIG, 0x40000000000ULL, false);
	CHECK_EQ(memslot_backing_level(&s, GIG + 7), 2);
	fake_slot_free(&s);
	fake_slot(&s, GIG, 2 * GIG, 0x40000000000ULL, true);
	CHECK_EQ(memslot_backing_level(&s, GIG + 7), 3);
	fake_slot_free(&s);
	/* Marked contiguous but the host run is only 2M aligned: gfn and hpa disagree in their 1G offset. */
	fake_slot(&s, GIG, 2 * GIG, 0x40000000000ULL + (M2 << PAGE_SHIFT), true);
	CHECK_EQ(memslot_backing_level(&s, GIG + 7), 2);
	fake_slot_free(&s);
}

TEST(track_max_level_default_and_counts)
{
	struct memslot s;

	fake_slot(&s, 0, 2 * GIG, 0x40000000000ULL, true);
	CHECK_EQ(track_max_level(&s, 5), 3);
	CHECK(!s.track); /* a query allocates nothing */
	CHECK_EQ(track_disallow_huge(&s, GIG + 3 * M2 + 9), 0);
	CHECK_EQ(track_max_level(&s, GIG + 3 * M2), 1);         /* same 2M region */
	CHECK_EQ(track_max_level(&s, GIG + 3 * M2 + M2 - 1), 1);
	CHECK_EQ(track_max_level(&s, GIG + 4 * M2), 2);          /* same 1G region, other 2M */
	CHECK_EQ(track_max_level(&s, GIG - 1), 3);               /* other 1G region */
	/* Counts nest. */
	CHECK_EQ(track_disallow_huge(&s, GIG + 3 * M2), 0);
	track_allow_huge(&s, GIG + 3 * M2 + 9);
	CHECK_EQ(track_max_level(&s, GIG + 3 * M2), 1);
	track_allow_huge(&s, GIG + 3 * M2);
	CHECK_EQ(track_max_level(&s, GIG + 3 * M2), 3);
	/* Undoing what was never done is a bug. */
	EXPECT_BUG(track_allow_huge(&s, GIG + 3 * M2));
	EXPECT_BUG(track_max_level(&s, 2 * GIG));
	fake_slot_free(&s);
	CHECK(!s.track);
}

/* A slot without track state is answered inline (mm/track/level.h) from its bounds alone: the same as the counted
 * path gives, for slots aligned and not to 1G, at every 2M region. */
TEST(track_max_level_inline_matches_the_counted_path)
{
	static const gfn_t bases[] = {0, M2, GIG - M2, GIG, 3 * GIG + 5 * M2};
	static const u64 sizes[] = {M2, 3 * M2, GIG, GIG + M2, 2 * GIG + 7 * M2};
	struct memslot s;

	for (unsigned int b = 0; b < ARRAY_SIZE(bases); b++) {
		for (unsigned int z = 0; z < ARRAY_SIZE(sizes); z++) {
			fake_slot(&s, bases[b], sizes[z], 0x40000000000ULL, true);
			for (gfn_t g = s.base_gfn; g < s.base_gfn + s.npages; g += M2 / 2 + 1)
				CHECK_EQ(track_max_level(&s, g), __track_max_level_counted(&s, g));
			CHECK(!s.track);
			fake_slot_free(&s);
		}
	}
}

TEST(track_misaligned_slot_edges_are_disallowed)
{
	struct memslot s;

	/* [2M, 1G + 4M): the first and the last 1G regions stick out of the slot. */
	fake_slot(&s, M2, GIG + 3 * M2, 0x40000000000ULL, true);
	CHECK_EQ(track_max_level(&s, M2), 2);
	CHECK_EQ(track_max_level(&s, GIG + M2), 2);
	/* The same once the counts exist (allocated by a disallow elsewhere). */
	CHECK_EQ(track_disallow_huge(&s, GIG + 2 * M2), 0);
	CHECK_EQ(track_max_level(&s, M2), 2);
	CHECK_EQ(track_max_level(&s, GIG + 2 * M2 + 5), 1);
	CHECK_EQ(track_max_level(&s, GIG + 3 * M2), 2);
	CHECK_EQ(track_max_level(&s, GIG), 2);
	track_allow_huge(&s, GIG + 2 * M2);
	CHECK_EQ(track_max_level(&s, GIG + 2 * M2), 2);
	/* The edge count is not a disallow anyone may undo. */
	EXPECT_BUG(track_allow_huge(&s, M2));
	fake_slot_free(&s);

	/* A 1G-aligned slot of exactly 1G has no sticking-out region. */
	fake_slot(&s, GIG, GIG, 0x40000000000ULL, true);
	CHECK_EQ(track_max_level(&s, GIG), 3);
	CHECK_EQ(track_disallow_huge(&s, GIG), 0);
	track_allow_huge(&s, GIG);
	CHECK_EQ(track_max_level(&s, 2 * GIG - 1), 3);
	fake_slot_free(&s);
}

/* Guest RAM comes dirty from the allocator and reads as zero once prepared: exactly the chunks asked for, once. */
TEST(memslot_prepare_clears_on_first_use)
{
	ms_setup();
	CHECK_EQ(memslot_add(&ms, 0, 4 * M2), 0);
	struct memslot *s = memslot_find(&ms, 0);
	const u8 *c[4];
	for (int i = 0; i < 4; i++) {
		c[i] = phys_to_virt(s->chunks[i]);
		CHECK_EQ(s->chunk_state[i], CHUNK_DIRTY);
		CHECK_EQ(c[i][0], FAKE_DIRTY_BYTE);
	}
	/* One page in chunk 1 clears all of chunk 1 and nothing else. */
	memslot_prepare(s, M2 + 7, 1);
	CHECK_EQ(s->chunk_state[1], CHUNK_CLEAN);
	for (u64 b = 0; b < (M2 << PAGE_SHIFT); b += 4093)
		CHECK_EQ(c[1][b], 0);
	CHECK_EQ(c[1][(M2 << PAGE_SHIFT) - 1], 0);
	CHECK_EQ(s->chunk_state[0], CHUNK_DIRTY);
	CHECK_EQ(s->chunk_state[2], CHUNK_DIRTY);
	CHECK_EQ(c[2][0], FAKE_DIRTY_BYTE);
	/* Clean stays clean: data written after the first clearing survives another prepare. */
	((u8 *)c[1])[100] = 0x5a;
	memslot_prepare(s, M2, M2);
	CHECK_EQ(c[1][100], 0x5a);
	/* A range across chunks 2-3, and one running past the slot's end, are clipped to the slot. */
	memslot_prepare(s, 3 * M2 - 1, 2);
	CHECK_EQ(s->chunk_state[2], CHUNK_CLEAN);
	CHECK_EQ(s->chunk_state[3], CHUNK_CLEAN);
	CHECK_EQ(c[3][12345], 0);
	memslot_prepare(s, 0, 100 * M2);
	CHECK_EQ(s->chunk_state[0], CHUNK_CLEAN);
	CHECK_EQ(c[0][0], 0);
	ms_teardown();
}
