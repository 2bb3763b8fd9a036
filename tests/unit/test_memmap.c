/* Unit tests of mm/memmap.c: building the free list from messy firmware maps, and the find-fit/carve steps the boot
 * code uses to place the allocator's metadata. A randomized test checks the builder against a byte-level model. */
#include <stdlib.h>
#include <string.h>

#include "hv/compiler.h"
#include "hv/errno.h"
#include "mm/memmap.h"
#include "test.h"

#define R(b, l) ((struct mem_range){.base = (b), .len = (l)})
#define MB	(1ULL << 20)

static void check_ranges(const struct mem_range *got, u32 n, const struct mem_range *want, u32 nwant)
{
	CHECK_EQ(n, nwant);
	for (u32 i = 0; i < n; i++) {
		CHECK_EQ(got[i].base, want[i].base);
		CHECK_EQ(got[i].len, want[i].len);
	}
}

/* The output invariants every caller relies on. */
static void check_well_formed(const struct mem_range *r, u32 n)
{
	for (u32 i = 0; i < n; i++) {
		CHECK(r[i].len > 0);
		CHECK_EQ(r[i].base % PAGE_SIZE, 0);
		CHECK_EQ(r[i].len % PAGE_SIZE, 0);
		CHECK(r[i].base + r[i].len <= MEMMAP_TOP);
		CHECK(r[i].base + r[i].len > r[i].base);
		if (i)
			CHECK(r[i - 1].base + r[i - 1].len < r[i].base); /* sorted, and not even touching */
	}
}

TEST(memmap_single_range_passes_through)
{
	struct mem_range u[] = {R(0x100000, 0x7ff00000)}, out[4];
	struct mem_range want[] = {R(0x100000, 0x7ff00000)};
	u32 n = 99;

	CHECK_EQ(memmap_build_free(u, 1, NULL, 0, NULL, 0, out, 4, &n), 0);
	check_ranges(out, n, want, 1);
}

TEST(memmap_empty_and_zero_length_inputs)
{
	struct mem_range u[] = {R(0x5000, 0), R(0x9000, 0)}, h[] = {R(0, 0)}, out[4];
	u32 n = 99;

	CHECK_EQ(memmap_build_free(NULL, 0, NULL, 0, NULL, 0, out, 4, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(memmap_build_free(u, 2, h, 1, h, 1, out, 4, &n), 0);
	CHECK_EQ(n, 0);
	/* A zero-length hole inside a usable range removes nothing. */
	struct mem_range u2[] = {R(0, 0x10000)}, h2[] = {R(0x8000, 0)};
	struct mem_range want[] = {R(0, 0x10000)};
	CHECK_EQ(memmap_build_free(u2, 1, h2, 1, NULL, 0, out, 4, &n), 0);
	check_ranges(out, n, want, 1);
}

TEST(memmap_unsorted_overlapping_usable_merge)
{
	/* 1M..3M; 0..636K; 320K..1M+320K, which overlaps both; a duplicated entry at 256M; and 128M..256M, which
	 * ends where the duplicate starts. */
	struct mem_range u[] = {
	    R(0x100000, 0x200000), R(0, 0x9f000),	  R(0x50000, 0x100000),
	    R(0x10000000, 0x1000), R(0x10000000, 0x1000), R(0x8000000, 0x8000000),
	};
	struct mem_range want[] = {R(0, 0x300000), R(0x8000000, 0x8001000)};
	struct mem_range out[8];
	u32 n;

	CHECK_EQ(memmap_build_free(u, ARRAY_SIZE(u), NULL, 0, NULL, 0, out, 8, &n), 0);
	check_ranges(out, n, want, ARRAY_SIZE(want));
}

TEST(memmap_nonusable_wins_over_usable)
{
	/* Firmware reports ACPI tables inside a usable region, and a reserved region overlapping the top of another. */
	struct mem_range u[] = {R(0, 16 * MB), R(32 * MB, 16 * MB)};
	struct mem_range bad[] = {R(8 * MB, 0x10000), R(47 * MB, 4 * MB), R(0, 0x1000)};
	struct mem_range want[] = {R(0x1000, 8 * MB - 0x1000), R(8 * MB + 0x10000, 8 * MB - 0x10000),
				   R(32 * MB, 15 * MB)};
	struct mem_range out[8];
	u32 n;

	CHECK_EQ(memmap_build_free(u, ARRAY_SIZE(u), bad, ARRAY_SIZE(bad), NULL, 0, out, 8, &n), 0);
	check_ranges(out, n, want, ARRAY_SIZE(want));
	/* A non-usable region covering a usable one entirely removes it. */
	struct mem_range all[] = {R(0, 64 * MB)};
	CHECK_EQ(memmap_build_free(u, ARRAY_SIZE(u), all, 1, NULL, 0, out, 8, &n), 0);
	CHECK_EQ(n, 0);
}

TEST(memmap_unaligned_usable_shrinks_inward)
{
	struct mem_range u[] = {R(0x1234, 0x5678 - 0x1234), R(0x10800, 0x800), R(0x20001, 0x1ffe)};
	struct mem_range want[] = {R(0x2000, 0x3000)};
	struct mem_range out[4];
	u32 n;

	/* 0x10800+0x800 is half a page; 0x20001..0x21fff covers no whole page. */
	CHECK_EQ(memmap_build_free(u, ARRAY_SIZE(u), NULL, 0, NULL, 0, out, 4, &n), 0);
	check_ranges(out, n, want, 1);
}

TEST(memmap_unaligned_holes_grow_outward)
{
	struct mem_range u[] = {R(0, 0x10000)};
	struct mem_range bad[] = {R(0x3fff, 2)}; /* touches the last byte of 0x3000 and first of 0x4000 */
	struct mem_range res[] = {R(0x8800, 1), R(0xf000, 0x1)}; /* one byte each */
	struct mem_range want[] = {R(0, 0x3000), R(0x5000, 0x3000), R(0x9000, 0x6000)};
	struct mem_range out[8];
	u32 n;

	CHECK_EQ(memmap_build_free(u, 1, bad, 1, res, 2, out, 8, &n), 0);
	check_ranges(out, n, want, ARRAY_SIZE(want));
}

TEST(memmap_reserved_punch_holes_and_split)
{
	/* Typical boot: frame 0, the image at 1M, a GRUB module and the multiboot info, all in one usable range. */
	struct mem_range u[] = {R(0, 0x9fc00), R(MB, 255 * MB)};
	struct mem_range acpi[] = {R(0x9fc00, 0x400), R(0xf0000, 0x10000)};
	struct mem_range res[] = {R(0, 1), R(MB, 0x123456), R(8 * MB + 0x10, 0x2000), R(0x9000, 0x1f0)};
	struct mem_range want[] = {
	    R(0x1000, 0x8000),				    /* up to the multiboot info page */
	    R(0xa000, 0x9f000 - 0xa000),		    /* up to the EBDA (0x9fc00 rounds down) */
	    R(MB + 0x124000, 7 * MB - 0x124000),	    /* after the image, up to the module */
	    R(8 * MB + 0x3000, 256 * MB - 8 * MB - 0x3000), /* after the module (0x10..0x2010 spans 3 pages) */
	};
	struct mem_range out[8];
	u32 n;

	CHECK_EQ(memmap_build_free(u, 2, acpi, 2, res, ARRAY_SIZE(res), out, 8, &n), 0);
	check_ranges(out, n, want, ARRAY_SIZE(want));
	check_well_formed(out, n);
	CHECK_EQ(memmap_total(out, n), 0x8000 + 0x95000 + 7 * MB - 0x124000 + 248 * MB - 0x3000);
}

TEST(memmap_adjacent_ranges_coalesce)
{
	/* Split entries that together cover whole pages count as usable, even where neither covers a page alone. */
	struct mem_range u[] = {R(0x3000, 0x1000), R(0x1800, 0x1800), R(0, 0x1800), R(0x4000, 0x2000)};
	struct mem_range want[] = {R(0, 0x6000)};
	struct mem_range out[4];
	u32 n;

	CHECK_EQ(memmap_build_free(u, ARRAY_SIZE(u), NULL, 0, NULL, 0, out, 4, &n), 0);
	check_ranges(out, n, want, 1);

	/* Free runs separated only by a hole never touch each other in the output. */
	struct mem_range hole[] = {R(0x2000, 0x1000)};
	struct mem_range want2[] = {R(0, 0x2000), R(0x3000, 0x3000)};
	CHECK_EQ(memmap_build_free(u, ARRAY_SIZE(u), hole, 1, NULL, 0, out, 4, &n), 0);
	check_ranges(out, n, want2, 2);
}

TEST(memmap_overflow_at_top_of_address_space)
{
	struct mem_range u[] = {R(0xfffffffffff00000ULL, 0x200000), R(0, ~0ULL)};
	struct mem_range want[] = {R(0, MEMMAP_TOP)};
	struct mem_range out[4];
	u32 n;

	CHECK_EQ(memmap_build_free(u, 2, NULL, 0, NULL, 0, out, 4, &n), 0);
	check_ranges(out, n, want, 1);

	/* A region past the top, a region wholly inside the clipped last page, and a hole that overflows. */
	struct mem_range u2[] = {R(0xfffffffffff00000ULL, ~0ULL), R(0xfffffffffffff800ULL, 0x100)};
	struct mem_range bad[] = {R(0xfffffffffff80000ULL, ~0ULL)};
	struct mem_range want2[] = {R(0xfffffffffff00000ULL, 0x80000)};
	CHECK_EQ(memmap_build_free(u2, 2, bad, 1, NULL, 0, out, 4, &n), 0);
	check_ranges(out, n, want2, 1);

	/* A hole reaching the very last byte overflows its own end when grown; nothing may wrap to zero. */
	struct mem_range res[] = {R(0xffffffffffffffffULL, 1), R(~0ULL - 0x2fff, 0x3000)};
	struct mem_range want3[] = {R(0xfffffffffff00000ULL, 0xfd000)};
	CHECK_EQ(memmap_build_free(u2, 1, NULL, 0, res, 2, out, 4, &n), 0);
	check_ranges(out, n, want3, 1);
	check_well_formed(out, n);
}

TEST(memmap_out_array_overflow_is_enospc)
{
	struct mem_range u[] = {R(0, MB)};
	struct mem_range res[10], out[11];
	u32 n;

	for (int i = 0; i < 10; i++)
		res[i] = R(0x2000 + 0x2000 * (u64)i, 0x1000);
	/* Eleven free ranges: [0,0x2000) then the odd pages up to 0x15000 and the rest. */
	CHECK_EQ(memmap_build_free(u, 1, NULL, 0, res, 10, out, 11, &n), 0);
	CHECK_EQ(n, 11);
	check_well_formed(out, n);
	CHECK_EQ(out[10].base, 0x15000);
	CHECK_EQ(out[10].len, MB - 0x15000);

	memset(out, 0xa5, sizeof(out));
	CHECK_EQ(memmap_build_free(u, 1, NULL, 0, res, 10, out, 5, &n), -ENOSPC);
	CHECK_EQ(n, 5);
	CHECK_EQ(out[0].base, 0);
	CHECK_EQ(out[0].len, 0x2000);
	CHECK_EQ(out[4].base, 0x9000);
	CHECK_EQ(out[4].len, 0x1000);
	/* Nothing written past max_out. */
	CHECK_EQ(out[5].base, 0xa5a5a5a5a5a5a5a5ULL);
	CHECK_EQ(memmap_build_free(u, 1, NULL, 0, res, 10, out, 0, &n), -ENOSPC);
	CHECK_EQ(n, 0);
}

TEST(memmap_find_fit_alignment_and_limit)
{
	struct mem_range f[] = {R(0x200000, 0x200000), R(0x1000, 0x2000), R(0x10000, 0x70000)};
	u64 b = 0;

	/* Lowest fit wins, even though the list is not sorted. */
	CHECK(memmap_find_fit(f, 3, 0x2000, PAGE_SIZE, ~0ULL, &b));
	CHECK_EQ(b, 0x1000);
	CHECK(memmap_find_fit(f, 3, 0x2001, PAGE_SIZE, ~0ULL, &b));
	CHECK_EQ(b, 0x10000);
	CHECK(memmap_find_fit(f, 3, 0x1000, 0x20000, ~0ULL, &b));
	CHECK_EQ(b, 0x20000);
	CHECK(memmap_find_fit(f, 3, 0x1000, MB, ~0ULL, &b));
	CHECK_EQ(b, 0x200000);
	CHECK(memmap_find_fit(f, 3, 0x200000, 0x200000, ~0ULL, &b));
	CHECK_EQ(b, 0x200000);
	CHECK(!memmap_find_fit(f, 3, 0x200001, PAGE_SIZE, ~0ULL, &b));

	/* The limit bounds the end of the block, inclusively. */
	CHECK(!memmap_find_fit(f, 3, 0x1000, MB, 0x200fff, &b));
	CHECK(memmap_find_fit(f, 3, 0x1000, MB, 0x201000, &b));
	CHECK_EQ(b, 0x200000);
	CHECK(memmap_find_fit(f, 3, 0x70000, PAGE_SIZE, 0x80000, &b));
	CHECK_EQ(b, 0x10000);
	CHECK(!memmap_find_fit(f, 3, 0x70000, PAGE_SIZE, 0x7ffff, &b));

	/* Degenerate requests. */
	b = 0x1234;
	CHECK(!memmap_find_fit(f, 3, 0, PAGE_SIZE, ~0ULL, &b));
	CHECK(!memmap_find_fit(f, 3, 0x1000, 0x3000, ~0ULL, &b));
	CHECK(!memmap_find_fit(f, 3, 0x1000, 0, ~0ULL, &b));
	CHECK(!memmap_find_fit(f, 0, 0x1000, PAGE_SIZE, ~0ULL, &b));
	CHECK_EQ(b, 0x1234);

	/* Alignment so large that aligning a high base would wrap. */
	struct mem_range top[] = {R(0xfffffffffff00000ULL, 0xff000)};
	CHECK(!memmap_find_fit(top, 1, 0x1000, 1ULL << 63, ~0ULL, &b));
	CHECK(memmap_find_fit(top, 1, 0xff000, PAGE_SIZE, ~0ULL, &b));
	CHECK_EQ(b, 0xfffffffffff00000ULL);
}

TEST(memmap_carve_middle_head_tail_and_across)
{
	struct mem_range f[8] = {R(0x1000, 0xf000), R(0x20000, 0x10000), R(0x40000, 0x4000)};
	u32 n = 3;

	/* Middle of the first range, unaligned: grows to pages 0x4000..0x6000. */
	CHECK_EQ(memmap_carve(f, &n, 8, 0x4800, 0x1000), 0);
	struct mem_range w1[] = {R(0x1000, 0x3000), R(0x6000, 0xa000), R(0x20000, 0x10000), R(0x40000, 0x4000)};
	check_ranges(f, n, w1, 4);

	/* Head and tail. */
	CHECK_EQ(memmap_carve(f, &n, 8, 0x20000, 0x1000), 0);
	CHECK_EQ(memmap_carve(f, &n, 8, 0x2f000, 0x1000), 0);
	struct mem_range w2[] = {R(0x1000, 0x3000), R(0x6000, 0xa000), R(0x21000, 0xe000), R(0x40000, 0x4000)};
	check_ranges(f, n, w2, 4);

	/* Across ranges: the tail of one, a whole one, the head of the next. */
	CHECK_EQ(memmap_carve(f, &n, 8, 0xe000, 0x33000), 0);
	struct mem_range w3[] = {R(0x1000, 0x3000), R(0x6000, 0x8000), R(0x41000, 0x3000)};
	check_ranges(f, n, w3, 3);

	/* A range that is not free at all, and a zero-size carve, change nothing. */
	CHECK_EQ(memmap_carve(f, &n, 8, 0x100000, 0x1000), 0);
	CHECK_EQ(memmap_carve(f, &n, 8, 0x2000, 0), 0);
	check_ranges(f, n, w3, 3);

	/* Exactly one whole range. */
	CHECK_EQ(memmap_carve(f, &n, 8, 0x1000, 0x3000), 0);
	struct mem_range w4[] = {R(0x6000, 0x8000), R(0x41000, 0x3000)};
	check_ranges(f, n, w4, 2);
	check_well_formed(f, n);
}

TEST(memmap_carve_needing_a_slot_when_full_is_enospc)
{
	struct mem_range f[2] = {R(0x1000, 0x1000), R(0x10000, 0x10000)};
	struct mem_range want[] = {R(0x1000, 0x1000), R(0x10000, 0x10000)};
	u32 n = 2;

	CHECK_EQ(memmap_carve(f, &n, 2, 0x18000, 0x1000), -ENOSPC);
	check_ranges(f, n, want, 2);
	/* Trimming an end needs no slot, so it still works when full. */
	CHECK_EQ(memmap_carve(f, &n, 2, 0x1f000, 0x1000), 0);
	CHECK_EQ(f[1].len, 0xf000);
}

TEST(memmap_build_then_place_metadata)
{
	/* The boot flow: build, find room for the allocator's metadata below 4G, carve it out. */
	struct mem_range u[] = {R(0, 0x9f000), R(MB, 3 * 1024 * MB), R(4096 * MB, 4096 * MB)};
	struct mem_range res[] = {R(MB, 2 * MB)};
	struct mem_range f[8];
	u32 n;
	u64 before, b;

	CHECK_EQ(memmap_build_free(u, 3, NULL, 0, res, 1, f, 8, &n), 0);
	before = memmap_total(f, n);
	CHECK(memmap_find_fit(f, n, 9 * MB + 5, 2 * MB, 4096 * MB, &b));
	CHECK_EQ(b, 4 * MB);
	CHECK_EQ(memmap_carve(f, &n, 8, b, 9 * MB + 5), 0);
	CHECK_EQ(memmap_total(f, n), before - (9 * MB + PAGE_SIZE));
	check_well_formed(f, n);
}

/* Randomized: the builder against a byte-level model of a small address space. */
#define MODEL_PAGES 48
#define MODEL_BYTES (MODEL_PAGES * PAGE_SIZE)

static u64 rng_state = 0x9e3779b97f4a7c15ULL;

static u64 rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static struct mem_range random_range(void)
{
	/* Mostly page-ish bounds, some byte-granular, some zero-length, some running off the model's end. */
	u64 base = (rng() % 4 == 0) ? rng() % MODEL_BYTES : (rng() % MODEL_PAGES) * PAGE_SIZE + (rng() % 3) * 0x800;
	u64 len = (rng() % 8 == 0) ? 0 : (rng() % 6 + 1) * PAGE_SIZE + ((rng() % 3 == 0) ? rng() % PAGE_SIZE : 0);

	if (base + len > MODEL_BYTES)
		len = MODEL_BYTES - base;
	return R(base, len);
}

TEST(memmap_randomized_against_byte_model)
{
	static u8 usable[MODEL_BYTES], hole[MODEL_BYTES];

	for (int trial = 0; trial < 400; trial++) {
		struct mem_range u[6], bad[4], res[4], out[MODEL_PAGES];
		u32 nu = rng() % 7, nn = rng() % 5, nr = rng() % 5, n;
		u32 k = 0;

		memset(usable, 0, sizeof(usable));
		memset(hole, 0, sizeof(hole));
		for (u32 i = 0; i < nu; i++) {
			u[i] = random_range();
			memset(usable + u[i].base, 1, u[i].len);
		}
		for (u32 i = 0; i < nn; i++) {
			bad[i] = random_range();
			memset(hole + bad[i].base, 1, bad[i].len);
		}
		for (u32 i = 0; i < nr; i++) {
			res[i] = random_range();
			memset(hole + res[i].base, 1, res[i].len);
		}
		CHECK_EQ(memmap_build_free(u, nu, bad, nn, res, nr, out, MODEL_PAGES, &n), 0);
		check_well_formed(out, n);

		/* Page p must be in the output iff every byte is usable and none is in a hole. */
		for (u32 p = 0; p < MODEL_PAGES; p++) {
			u64 pa = (u64)p * PAGE_SIZE;
			bool want = true, got = false;

			for (u64 b = pa; b < pa + PAGE_SIZE; b++)
				want &= usable[b] && !hole[b];
			while (k < n && out[k].base + out[k].len <= pa)
				k++;
			got = k < n && out[k].base <= pa;
			if (want != got)
				test_fail(__FILE__, __LINE__, "trial %d page %u: want %d got %d", trial, p, want, got);
		}
	}
}
