/* The multiboot2 parser (boot/mb2.c) against random mutations and every truncation of a full block: it rejects or
 * returns a boot_info that keeps its invariants, and ASan sees no read past the block. */
#include <string.h>

#include "mb2_fixture.h"

static u64 rng_state;

static u64 rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* What a successful parse must guarantee however odd the input was. */
static void check_invariants(const struct boot_info *b)
{
	CHECK(b->nr_mmap >= 1 && b->nr_mmap <= BOOT_MAX_MMAP);
	for (u32 i = 0; i < b->nr_mmap; i++) {
		CHECK(b->mmap[i].len != 0);
		CHECK(b->mmap[i].base + b->mmap[i].len > b->mmap[i].base);
		CHECK(b->mmap[i].type >= BOOT_MEM_USABLE && b->mmap[i].type <= BOOT_MEM_BAD);
	}
	CHECK(b->nr_modules <= BOOT_MAX_MODULES);
	for (u32 i = 0; i < b->nr_modules; i++) {
		CHECK(b->modules[i].end >= b->modules[i].start);
		CHECK(strnlen(b->modules[i].cmdline, BOOT_MODULE_CMDLINE_MAX) < BOOT_MODULE_CMDLINE_MAX);
	}
	CHECK(strnlen(b->cmdline, BOOT_CMDLINE_MAX) < BOOT_CMDLINE_MAX);
	CHECK(strnlen(b->loader_name, sizeof(b->loader_name)) < sizeof(b->loader_name));
	CHECK(b->rsdp_rev == 0 || b->rsdp_rev == 2);
	CHECK(b->mbi_start == MBI_PHYS && b->mbi_end > b->mbi_start);
}

/* Mutate a valid block thousands of times. Half the mutations write boundary values into aligned u32 fields, which
 * is where sizes and counts live; the rest flip random bits anywhere. The buffer handed over is exactly as long as
 * the (possibly mutated) total_size claims when that fits, so ASan sees any read past it. */
TEST(mb2_fuzz_random_mutations)
{
	static const u32 interesting[] = {0, 1, 7, 8, 9, 15, 16, 23, 24, 40, 0x7fffffff, 0xfffffff8, 0xffffffff};
	static struct mbb base, m;
	int saved_level = test_log_level_max;
	u32 ok = 0, bad = 0;

	build_full(&base);
	rng_state = 0x9e3779b97f4a7c15ULL;
	for (u32 iter = 0; iter < 5000; iter++) {
		u32 nmut = 1 + rng() % 4, ts, n;
		int ret;

		memcpy(m.buf, base.buf, base.len);
		m.len = base.len;
		for (u32 k = 0; k < nmut; k++) {
			u64 r = rng();

			if (r & 1) {
				u32 at = (u32)((r >> 8) % (m.len / 4)) * 4;

				put32(m.buf + at, (r >> 40) & 1 ? interesting[(r >> 48) % ARRAY_SIZE(interesting)]
								: (u32)(r >> 16) % 64);
			} else {
				m.buf[(r >> 8) % m.len] ^= (u8)(1u << ((r >> 32) % 8));
			}
		}
		ts = get32(m.buf);
		n = ts >= 16 && ts <= m.len ? ts : m.len;
		test_log_level_max = -1;
		ret = parse_bytes(m.buf, n, &bi);
		test_log_level_max = saved_level;
		CHECK(ret == 0 || ret == -EINVAL);
		if (ret == 0) {
			check_invariants(&bi);
			ok++;
		} else {
			bad++;
		}
	}
	/* Both outcomes must be common, or the fuzzer is not exercising the parser. */
	CHECK(ok > 500);
	CHECK(bad > 500);
}

/* Every total_size short of the real one cuts off at least the end tag, and must be rejected without reading past
 * the shortened block. */
TEST(mb2_every_truncation_rejected)
{
	int saved_level = test_log_level_max;

	build_full(&blk);
	test_log_level_max = -1;
	for (u32 ts = 0; ts < blk.len; ts++) {
		static struct mbb t;
		int ret;

		memcpy(t.buf, blk.buf, blk.len);
		put32(t.buf, ts);
		ret = parse_bytes(t.buf, ts, &bi);
		if (ret != -EINVAL) {
			test_log_level_max = saved_level;
			CHECK_EQ(ret, -EINVAL);
		}
	}
	test_log_level_max = saved_level;
	CHECK_EQ(parse(&blk), 0);
}
