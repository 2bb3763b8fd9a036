/* Unit tests of the multiboot2 parser (boot/mb2.c). Blocks are built tag by tag with small builder helpers, and each
 * parse runs on an exact-size heap copy of the block, so ASan reports any read past total_size or past `avail`. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "fake_platform.h"
#include "boot/mb2.h"
#include "hv/compiler.h"
#include "hv/errno.h"

#define BLK_CAP	 65536
#define MBI_PHYS 0x10000ULL

struct mbb {
	u8 buf[BLK_CAP] __aligned(8);
	u32 len;
};

struct ent {
	u64 base, len;
	u32 type;
};

struct efid {
	u32 type;
	u64 phys, pages;
};

static struct mbb blk;
static struct boot_info bi;

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}

static void put64(u8 *p, u64 v)
{
	memcpy(p, &v, 8);
}

static u32 get32(const u8 *p)
{
	u32 v;

	memcpy(&v, p, 4);
	return v;
}

static void mbb_init(struct mbb *b)
{
	memset(b->buf, 0, sizeof(b->buf));
	b->len = 8;
}

/* Start a tag of `size` bytes (header included) at the next 8-byte boundary and return it. */
static u8 *mbb_tag(struct mbb *b, u32 type, u32 size)
{
	u8 *t;

	b->len = ALIGN_UP(b->len, 8);
	CHECK(b->len + size <= BLK_CAP);
	t = b->buf + b->len;
	put32(t, type);
	put32(t + 4, size);
	b->len += size;
	return t;
}

static void mbb_end(struct mbb *b)
{
	mbb_tag(b, 0, 8);
	put32(b->buf, b->len);
}

static u32 mbb_str(struct mbb *b, u32 type, const char *s)
{
	u32 n = (u32)strlen(s) + 1;
	u8 *t = mbb_tag(b, type, 8 + n);

	memcpy(t + 8, s, n);
	return (u32)(t - b->buf);
}

static u32 mbb_module(struct mbb *b, u32 start, u32 end, const char *s)
{
	u32 n = (u32)strlen(s) + 1;
	u8 *t = mbb_tag(b, 3, 16 + n);

	put32(t + 8, start);
	put32(t + 12, end);
	memcpy(t + 16, s, n);
	return (u32)(t - b->buf);
}

static u32 mbb_mmap(struct mbb *b, const struct ent *e, u32 n, u32 esz)
{
	u8 *t = mbb_tag(b, 6, 16 + n * esz);

	put32(t + 8, esz);
	for (u32 i = 0; i < n; i++) {
		u8 *p = t + 16 + i * esz;

		put64(p, e[i].base);
		put64(p + 8, e[i].len);
		put32(p + 16, e[i].type);
		memset(p + 24, 0xee, esz - 24); /* a future entry version's extra fields must be skipped, not read */
	}
	return (u32)(t - b->buf);
}

static u32 mbb_efi_mmap(struct mbb *b, const struct efid *d, u32 n, u32 dsz)
{
	u8 *t = mbb_tag(b, 17, 16 + n * dsz);

	put32(t + 8, dsz);
	put32(t + 12, 1);
	for (u32 i = 0; i < n; i++) {
		u8 *p = t + 16 + i * dsz;

		put32(p, d[i].type);
		put64(p + 8, d[i].phys);
		put64(p + 16, 0xffff800000000000ULL + d[i].phys);
		put64(p + 24, d[i].pages);
		put64(p + 32, 0xf);
		memset(p + 40, 0xee, dsz - 40);
	}
	return (u32)(t - b->buf);
}

static void mbb_u64(struct mbb *b, u32 type, u64 v)
{
	put64(mbb_tag(b, type, 16) + 8, v);
}

static void mbb_u32(struct mbb *b, u32 type, u32 v)
{
	put32(mbb_tag(b, type, 12) + 8, v);
}

static u8 sum8(const u8 *p, u32 n)
{
	u8 s = 0;

	while (n--)
		s += *p++;
	return s;
}

/* A valid RSDP of revision 0 (20 bytes) or 2 (36 bytes) with recognisable table addresses. */
static void make_rsdp(u8 *r, u8 rev, u32 rsdt)
{
	u32 len = rev ? 36 : 20;

	memset(r, 0, len);
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "HVTEST", 6);
	r[15] = rev;
	put32(r + 16, rsdt);
	r[8] = (u8)-sum8(r, 20);
	if (rev) {
		put32(r + 20, 36);
		put64(r + 24, 0x7fe1000ULL + rsdt);
		r[32] = (u8)-sum8(r, 36);
	}
}

static u8 *mbb_rsdp(struct mbb *b, u8 rev, u32 rsdt)
{
	u8 *t = mbb_tag(b, rev ? 15 : 14, 8 + (rev ? 36 : 20));

	make_rsdp(t + 8, rev, rsdt);
	return t + 8;
}

/* Parse `len` bytes of `src` from an exact-size heap copy, so the block's end is an ASan redzone. */
static int parse_bytes(const u8 *src, u32 len, struct boot_info *out)
{
	u8 *p = malloc(len ? len : 1);
	int ret;

	CHECK(p);
	memcpy(p, src, len);
	ret = mb2_parse(p, len, MBI_PHYS, out);
	free(p);
	return ret;
}

static int parse(const struct mbb *b)
{
	return parse_bytes(b->buf, b->len, &bi);
}

static bool log_has(const char *s)
{
	return strstr(test_last_log, s) != NULL;
}

static const struct ent small_map[] = {
    {0, 0x9fc00, 1},
    {0x100000, 0x7ff00000, 1},
};

/* The smallest block the parser accepts: a memory map and the end tag. */
static void build_minimal(struct mbb *b)
{
	mbb_init(b);
	mbb_mmap(b, small_map, ARRAY_SIZE(small_map), 24);
}

static const struct ent full_map[] = {
    {0x0, 0x9fc00, 1},	       {0x9fc00, 0x400, 2},	 {0xf0000, 0x10000, 2},
    {0x100000, 0x7fde0000, 1}, {0x7fee0000, 0x10000, 3}, {0x7fef0000, 0x10000, 4},
    {0x80000000, 0x1000, 5},   {0xfec00000, 0x1000, 12}, {0x100000000, 0x80000000, 1},
};

static u8 full_rsdp_v2[36];

/* One block with every tag kind the parser knows, plus ignored and unknown ones, in a GRUB-like order except that
 * the old RSDP comes first so that "v2 wins" is not an accident of order. */
static void build_full(struct mbb *b)
{
	mbb_init(b);
	mbb_str(b, 1, "loglevel=7 console=com1");
	mbb_str(b, 2, "GRUB 2.06-13+deb12u1");
	mbb_module(b, 0x200000, 0x280000, "guest.bin root=/dev/vda");
	mbb_module(b, 0x300000, 0x301000, "initrd");
	put64(mbb_tag(b, 4, 16) + 8, 0x27f0000000280ULL); /* basic meminfo: ignored */
	mbb_tag(b, 5, 20);				  /* bootdev: ignored */
	mbb_mmap(b, full_map, ARRAY_SIZE(full_map), 24);
	mbb_tag(b, 8, 38);  /* framebuffer: ignored */
	mbb_tag(b, 9, 20);  /* ELF sections: ignored */
	mbb_tag(b, 10, 28); /* APM: ignored */
	mbb_rsdp(b, 0, 0x7fe0000);
	memcpy(full_rsdp_v2, mbb_rsdp(b, 2, 0x7fe0100), 36);
	mbb_u64(b, 12, 0x7f9e0018ULL);
	mbb_tag(b, 16, 64);	       /* network: ignored */
	mbb_u64(b, 20, 0x7e1c1198ULL); /* EFI64 image handle */
	mbb_u32(b, 21, 0x1000000);
	mbb_tag(b, 99, 13); /* unknown: skipped */
	mbb_end(b);
}

TEST(mb2_full_block_every_tag)
{
	build_full(&blk);
	CHECK_EQ(parse(&blk), 0);

	CHECK_STR(bi.cmdline, "loglevel=7 console=com1");
	CHECK_STR(bi.loader_name, "GRUB 2.06-13+deb12u1");

	CHECK_EQ(bi.nr_modules, 2);
	CHECK_EQ(bi.modules[0].start, 0x200000);
	CHECK_EQ(bi.modules[0].end, 0x280000);
	CHECK_STR(bi.modules[0].cmdline, "guest.bin root=/dev/vda");
	CHECK_EQ(bi.modules[1].start, 0x300000);
	CHECK_EQ(bi.modules[1].end, 0x301000);
	CHECK_STR(bi.modules[1].cmdline, "initrd");

	CHECK(!bi.mmap_from_efi);
	CHECK_EQ(bi.nr_mmap, ARRAY_SIZE(full_map));
	for (u32 i = 0; i < ARRAY_SIZE(full_map); i++) {
		CHECK_EQ(bi.mmap[i].base, full_map[i].base);
		CHECK_EQ(bi.mmap[i].len, full_map[i].len);
	}
	CHECK_EQ(bi.mmap[0].type, BOOT_MEM_USABLE);
	CHECK_EQ(bi.mmap[1].type, BOOT_MEM_RESERVED);
	CHECK_EQ(bi.mmap[4].type, BOOT_MEM_ACPI_RECLAIM);
	CHECK_EQ(bi.mmap[5].type, BOOT_MEM_ACPI_NVS);
	CHECK_EQ(bi.mmap[6].type, BOOT_MEM_BAD);
	CHECK_EQ(bi.mmap[7].type, BOOT_MEM_RESERVED); /* type 12 is unknown to multiboot2 */
	CHECK_EQ(bi.mmap[8].type, BOOT_MEM_USABLE);

	CHECK(bi.has_rsdp);
	CHECK_EQ(bi.rsdp_rev, 2);
	CHECK(memcmp(bi.rsdp, full_rsdp_v2, 36) == 0);
	CHECK(memcmp(bi.rsdp, "RSD PTR ", 8) == 0);

	CHECK(bi.efi_booted);
	CHECK_EQ(bi.efi_systab, 0x7f9e0018ULL);
	CHECK_EQ(bi.efi_image_handle, 0x7e1c1198ULL);
	CHECK(!bi.efi_bs_active);
	CHECK(bi.has_load_base);
	CHECK_EQ(bi.load_base, 0x1000000);

	CHECK_EQ(bi.mbi_start, MBI_PHYS);
	CHECK_EQ(bi.mbi_end, MBI_PHYS + blk.len);
}

TEST(mb2_minimal_block_defaults)
{
	build_minimal(&blk);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK_STR(bi.cmdline, "");
	CHECK_STR(bi.loader_name, "");
	CHECK_EQ(bi.nr_modules, 0);
	CHECK_EQ(bi.nr_mmap, 2);
	CHECK(!bi.has_rsdp);
	CHECK(!bi.efi_booted);
	CHECK(!bi.has_load_base);
}

TEST(mb2_efi_map_converted_and_merged)
{
	static const struct efid d[] = {
	    {7, 0x0, 0x9f},	    /* conventional                          \ merge: */
	    {4, 0x9f000, 1},	    /* boot services data, adjacent          / [0, 0xa0000) */
	    {0, 0xa0000, 0x60},	    /* reserved */
	    {1, 0x100000, 0x100},   /* loader code                           \ */
	    {2, 0x200000, 0x100},   /* loader data                            | merge: */
	    {3, 0x300000, 0x100},   /* boot services code                     | [0x100000, */
	    {7, 0x400000, 0x1000},  /* conventional                          /  0x1400000) */
	    {9, 0x1400000, 0x10},   /* ACPI reclaim                          \ merge */
	    {9, 0x1410000, 0x10},   /* ACPI reclaim                          / */
	    {10, 0x1420000, 0x10},  /* ACPI NVS: adjacent but another type */
	    {8, 0x1430000, 0x1},    /* unusable -> bad */
	    {5, 0x1431000, 0x1},    /* runtime code                          \ */
	    {6, 0x1432000, 0x1},    /* runtime data                           | merge as reserved */
	    {11, 0x1433000, 0x1},   /* MMIO                                  / */
	    {7, 0x2000000, 0x0},    /* zero pages: dropped */
	    {7, 0x2000000, 0x100},  /* conventional */
	    {7, 0x3000000, 0x100},  /* conventional after a gap: separate */
	    {14, 0x4000000, 0x100}, /* persistent memory: reserved */
	    {15, 0x4100000, 0x100}, /* unaccepted: reserved, merges with the above */
	};
	static const struct ent want[] = {
	    {0x0, 0xa0000, BOOT_MEM_USABLE},	     {0xa0000, 0x60000, BOOT_MEM_RESERVED},
	    {0x100000, 0x1300000, BOOT_MEM_USABLE},  {0x1400000, 0x20000, BOOT_MEM_ACPI_RECLAIM},
	    {0x1420000, 0x10000, BOOT_MEM_ACPI_NVS}, {0x1430000, 0x1000, BOOT_MEM_BAD},
	    {0x1431000, 0x3000, BOOT_MEM_RESERVED},  {0x2000000, 0x100000, BOOT_MEM_USABLE},
	    {0x3000000, 0x100000, BOOT_MEM_USABLE},  {0x4000000, 0x200000, BOOT_MEM_RESERVED},
	};

	mbb_init(&blk);
	mbb_str(&blk, 1, "efi");
	mbb_u64(&blk, 12, 0x7f9e0018ULL);
	mbb_efi_mmap(&blk, d, ARRAY_SIZE(d), 48); /* descriptors larger than the 40 bytes we read */
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK(bi.mmap_from_efi);
	CHECK(bi.efi_booted);
	CHECK_EQ(bi.nr_mmap, ARRAY_SIZE(want));
	for (u32 i = 0; i < ARRAY_SIZE(want); i++) {
		CHECK_EQ(bi.mmap[i].base, want[i].base);
		CHECK_EQ(bi.mmap[i].len, want[i].len);
		CHECK_EQ(bi.mmap[i].type, want[i].type);
	}
}

/* Tag 18 means the firmware still owns its boot-services memory, even if tag 18 follows the map. */
TEST(mb2_efi_map_boot_services_active_keeps_bs_memory)
{
	static const struct efid d[] = {
	    {7, 0x0, 0x10},
	    {3, 0x10000, 0x10},
	    {4, 0x20000, 0x10},
	    {7, 0x30000, 0x10},
	};

	mbb_init(&blk);
	mbb_efi_mmap(&blk, d, ARRAY_SIZE(d), 40);
	mbb_tag(&blk, 18, 8);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK(bi.efi_bs_active);
	CHECK_EQ(bi.nr_mmap, 3);
	CHECK_EQ(bi.mmap[0].type, BOOT_MEM_USABLE);
	CHECK_EQ(bi.mmap[1].base, 0x10000);
	CHECK_EQ(bi.mmap[1].len, 0x20000);
	CHECK_EQ(bi.mmap[1].type, BOOT_MEM_RESERVED);
	CHECK_EQ(bi.mmap[2].type, BOOT_MEM_USABLE);
}

TEST(mb2_tag6_preferred_over_efi_map)
{
	static const struct efid d[] = {{7, 0x0, 0x100000}};

	mbb_init(&blk);
	mbb_efi_mmap(&blk, d, 1, 40); /* first in the block, still loses */
	mbb_mmap(&blk, small_map, ARRAY_SIZE(small_map), 24);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK(!bi.mmap_from_efi);
	CHECK_EQ(bi.nr_mmap, 2);
	CHECK_EQ(bi.mmap[1].base, 0x100000);
	CHECK_EQ(bi.mmap[1].len, 0x7ff00000);
}

TEST(mb2_mmap_wide_entries_zero_length_and_wrap)
{
	static const struct ent e[] = {
	    {0x1000, 0, 1}, /* zero length: dropped */
	    {0x0, 0x9f000, 1},
	    {0x100000, 0x100000, 0},		/* type 0: reserved */
	    {0xfffffffffffff000ULL, 0x2000, 1}, /* wraps past 2^64: clipped */
	};

	mbb_init(&blk);
	mbb_mmap(&blk, e, ARRAY_SIZE(e), 32); /* a future, larger entry format */
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK_EQ(bi.nr_mmap, 3);
	CHECK_EQ(bi.mmap[0].base, 0);
	CHECK_EQ(bi.mmap[0].len, 0x9f000);
	CHECK_EQ(bi.mmap[1].type, BOOT_MEM_RESERVED);
	CHECK_EQ(bi.mmap[2].base, 0xfffffffffffff000ULL);
	CHECK_EQ(bi.mmap[2].len, 0xfff);
	CHECK(bi.mmap[2].base + bi.mmap[2].len > bi.mmap[2].base);
}

TEST(mb2_no_memory_map_is_an_error)
{
	mbb_init(&blk);
	mbb_str(&blk, 1, "no map");
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("no memory map"));
}

TEST(mb2_empty_tag6_falls_back_to_efi_map)
{
	static const struct ent e[] = {{0x1000, 0, 1}};
	static const struct efid d[] = {{7, 0x0, 0x100}};

	mbb_init(&blk);
	mbb_mmap(&blk, e, 1, 24);
	mbb_efi_mmap(&blk, d, 1, 40);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK(bi.mmap_from_efi);
	CHECK_EQ(bi.nr_mmap, 1);
	CHECK_EQ(bi.mmap[0].len, 0x100000);

	/* Without the EFI map there is nothing to fall back to. */
	mbb_init(&blk);
	mbb_mmap(&blk, e, 1, 24);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("no non-empty regions"));
}

TEST(mb2_total_size_exceeds_avail)
{
	u8 *p;

	build_full(&blk);
	p = malloc(blk.len);
	CHECK(p);
	memcpy(p, blk.buf, blk.len);
	CHECK_EQ(mb2_parse(p, blk.len - 8, MBI_PHYS, &bi), -EINVAL);
	CHECK(log_has("exceeds"));
	CHECK_EQ(mb2_parse(p, 12, MBI_PHYS, &bi), -EINVAL);
	CHECK(log_has("readable"));
	free(p);
}

TEST(mb2_total_size_below_minimum)
{
	build_full(&blk);
	put32(blk.buf, 8);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("below the 16-byte minimum"));
}

TEST(mb2_tag_runs_past_total_size)
{
	u32 off;

	/* The mmap tag claims more bytes than the block has left. */
	mbb_init(&blk);
	mbb_str(&blk, 1, "x");
	off = mbb_mmap(&blk, small_map, ARRAY_SIZE(small_map), 24);
	mbb_end(&blk);
	put32(blk.buf + off + 4, blk.len - off + 1);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("tag 6 at offset 0x18"));
	CHECK(log_has("runs past total_size"));

	/* A well-formed tag cut off by a smaller total_size: the parse copy is exactly total_size bytes. */
	build_minimal(&blk);
	mbb_end(&blk);
	CHECK_EQ(parse_bytes(blk.buf, 24, &bi), -EINVAL);
	put32(blk.buf, 24);
	CHECK_EQ(parse_bytes(blk.buf, 24, &bi), -EINVAL);
	CHECK(log_has("runs past total_size"));
}

TEST(mb2_missing_end_tag)
{
	build_minimal(&blk);
	put32(blk.buf, blk.len); /* no end tag appended */
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("no end tag"));

	/* An end tag with the wrong size is no end tag either. */
	build_minimal(&blk);
	mbb_tag(&blk, 0, 16);
	put32(blk.buf, blk.len);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("end tag has size 16"));
}

TEST(mb2_tag_size_below_header)
{
	u8 *t;

	build_minimal(&blk);
	t = mbb_tag(&blk, 1, 8);
	put32(t + 4, 4);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("tag 1 at offset"));
	CHECK(log_has("below the 8-byte tag header"));

	/* Size 0 would make a naive walker loop forever on the same tag. */
	put32(t + 4, 0);
	CHECK_EQ(parse(&blk), -EINVAL);
}

TEST(mb2_unterminated_strings)
{
	u8 *t;

	build_minimal(&blk);
	t = mbb_tag(&blk, 1, 8 + 3);
	memcpy(t + 8, "abc", 3);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("tag 1 at offset"));
	CHECK(log_has("not NUL-terminated"));

	build_minimal(&blk);
	t = mbb_tag(&blk, 2, 8); /* no room even for the NUL */
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("tag 2 at offset"));

	build_minimal(&blk);
	t = mbb_tag(&blk, 3, 16 + 4);
	put32(t + 8, 0x100000);
	put32(t + 12, 0x200000);
	memcpy(t + 16, "mod1", 4);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("tag 3 at offset"));
	CHECK(log_has("not NUL-terminated"));
}

TEST(mb2_mmap_entry_size_below_24)
{
	u32 off;

	mbb_init(&blk);
	off = mbb_mmap(&blk, small_map, ARRAY_SIZE(small_map), 24);
	mbb_end(&blk);
	put32(blk.buf + off + 8, 20);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("tag 6 at offset 0x8"));
	CHECK(log_has("entry size 20"));

	/* Zero would divide by zero in a naive entry count. */
	put32(blk.buf + off + 8, 0);
	CHECK_EQ(parse(&blk), -EINVAL);

	/* A partial trailing entry. */
	put32(blk.buf + off + 8, 32);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("whole number"));
}

TEST(mb2_efi_descriptor_size_below_40)
{
	static const struct efid d[] = {{7, 0x0, 0x100}};
	u32 off;

	build_minimal(&blk); /* even an unused EFI map must be well-formed */
	off = mbb_efi_mmap(&blk, d, 1, 40);
	mbb_end(&blk);
	put32(blk.buf + off + 8, 32);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("tag 17"));
}

TEST(mb2_module_end_below_start)
{
	mbb_init(&blk);
	mbb_module(&blk, 0x300000, 0x200000, "backwards");
	mbb_mmap(&blk, small_map, ARRAY_SIZE(small_map), 24);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("tag 3 at offset 0x8"));
	CHECK(log_has("mod_end"));

	/* An empty module is odd but well-formed. */
	mbb_init(&blk);
	mbb_module(&blk, 0x300000, 0x300000, "");
	mbb_mmap(&blk, small_map, ARRAY_SIZE(small_map), 24);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK_EQ(bi.nr_modules, 1);
	CHECK_STR(bi.modules[0].cmdline, "");
}

TEST(mb2_misaligned_mbi)
{
	u8 *p;

	build_full(&blk);
	p = malloc(blk.len + 4);
	CHECK(p);
	memcpy(p + 4, blk.buf, blk.len);
	CHECK_EQ(mb2_parse(p + 4, blk.len, MBI_PHYS, &bi), -EINVAL);
	CHECK(log_has("not 8-byte aligned"));
	free(p);

	CHECK_EQ(parse_bytes(blk.buf, blk.len, &bi), 0);
	CHECK_EQ(mb2_parse(blk.buf, blk.len, MBI_PHYS + 4, &bi), -EINVAL);
	CHECK_EQ(mb2_parse(NULL, blk.len, MBI_PHYS, &bi), -EINVAL);
}

TEST(mb2_block_wrapping_phys_space)
{
	build_minimal(&blk);
	mbb_end(&blk);
	CHECK_EQ(mb2_parse(blk.buf, blk.len, 0xfffffffffffffff8ULL, &bi), -EINVAL);
	CHECK(log_has("wraps"));
}

TEST(mb2_bad_rsdp_ignored_not_fatal)
{
	u8 *r;

	/* Bad checksum on the only RSDP. */
	build_minimal(&blk);
	r = mbb_rsdp(&blk, 0, 0x7fe0000);
	r[19] ^= 0x01;
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK(!bi.has_rsdp);
	CHECK_EQ(bi.nr_mmap, 2);

	/* Bad signature. */
	r[19] ^= 0x01;
	r[0] = 'X';
	CHECK_EQ(parse(&blk), 0);
	CHECK(!bi.has_rsdp);
	CHECK(log_has("signature"));

	/* A v2 copy whose extended checksum fails loses to a valid v1. */
	build_minimal(&blk);
	r = mbb_rsdp(&blk, 2, 0x7fe0100);
	r[30] ^= 0x40; /* beyond the first 20 bytes: only the extended checksum sees it */
	mbb_rsdp(&blk, 0, 0x7fe0000);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK(bi.has_rsdp);
	CHECK_EQ(bi.rsdp_rev, 0);
	CHECK_EQ(get32(bi.rsdp + 16), 0x7fe0000);
	for (u32 i = 20; i < 36; i++)
		CHECK_EQ(bi.rsdp[i], 0);
}

TEST(mb2_rsdp_v2_wins_in_either_order)
{
	build_minimal(&blk);
	mbb_rsdp(&blk, 2, 0x7fe0100);
	mbb_rsdp(&blk, 0, 0x7fe0000);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK(bi.has_rsdp);
	CHECK_EQ(bi.rsdp_rev, 2);
	CHECK_EQ(get32(bi.rsdp + 16), 0x7fe0100);
	CHECK_EQ(get32(bi.rsdp + 20), 36);
}

TEST(mb2_rsdp_tag_too_short)
{
	u8 *t;

	build_minimal(&blk);
	t = mbb_tag(&blk, 15, 8 + 20); /* a v1-sized copy in the v2 tag */
	make_rsdp(t + 8, 0, 0x7fe0000);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(log_has("tag 15"));
}

TEST(mb2_too_many_modules_clamped)
{
	char name[32];

	mbb_init(&blk);
	for (u32 i = 0; i < BOOT_MAX_MODULES + 8; i++) {
		snprintf(name, sizeof(name), "mod%u", i);
		mbb_module(&blk, 0x1000000 + i * 0x10000, 0x1000000 + i * 0x10000 + 0x800, name);
	}
	mbb_mmap(&blk, small_map, ARRAY_SIZE(small_map), 24);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK_EQ(bi.nr_modules, BOOT_MAX_MODULES);
	for (u32 i = 0; i < BOOT_MAX_MODULES; i++) {
		snprintf(name, sizeof(name), "mod%u", i);
		CHECK_STR(bi.modules[i].cmdline, name);
		CHECK_EQ(bi.modules[i].start, 0x1000000 + i * 0x10000);
	}
	CHECK_EQ(bi.nr_mmap, 2); /* parsing carried on past the dropped modules */
}

TEST(mb2_too_many_regions_clamped)
{
	static struct ent e[BOOT_MAX_MMAP + 44];

	for (u32 i = 0; i < ARRAY_SIZE(e); i++)
		e[i] = (struct ent){.base = (u64)i << 21, .len = 0x100000, .type = 1};
	mbb_init(&blk);
	mbb_mmap(&blk, e, ARRAY_SIZE(e), 24);
	mbb_str(&blk, 1, "after the map");
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK_EQ(bi.nr_mmap, BOOT_MAX_MMAP);
	CHECK_EQ(bi.mmap[BOOT_MAX_MMAP - 1].base, (u64)(BOOT_MAX_MMAP - 1) << 21);
	CHECK_STR(bi.cmdline, "after the map");
}

TEST(mb2_long_strings_truncated)
{
	static char big[3000];
	char mod[BOOT_MODULE_CMDLINE_MAX + 50];

	memset(big, 'c', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(mod, 'm', sizeof(mod) - 1);
	mod[sizeof(mod) - 1] = '\0';
	build_minimal(&blk);
	mbb_str(&blk, 1, big);
	mbb_str(&blk, 2, "a boot loader with a name much longer than sixty-three characters, which is the limit");
	mbb_module(&blk, 0x100000, 0x200000, mod);
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK_EQ(strlen(bi.cmdline), BOOT_CMDLINE_MAX - 1);
	CHECK(bi.cmdline[0] == 'c' && bi.cmdline[BOOT_CMDLINE_MAX - 2] == 'c');
	CHECK_EQ(strlen(bi.loader_name), sizeof(bi.loader_name) - 1);
	CHECK_EQ(strlen(bi.modules[0].cmdline), BOOT_MODULE_CMDLINE_MAX - 1);
	CHECK(log_has("truncating"));
}

TEST(mb2_duplicate_tags_first_wins)
{
	build_minimal(&blk);
	mbb_str(&blk, 1, "first");
	mbb_str(&blk, 1, "second");
	mbb_end(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK_STR(bi.cmdline, "first");
}

TEST(mb2_error_leaves_output_zeroed)
{
	static const u8 zero[sizeof(struct boot_info)];

	build_full(&blk);
	CHECK_EQ(parse(&blk), 0);
	CHECK(bi.nr_mmap != 0);
	put32(blk.buf + 8 + 4, 3); /* first tag's size below the header */
	CHECK_EQ(parse(&blk), -EINVAL);
	CHECK(memcmp(&bi, zero, sizeof(bi)) == 0);
}

TEST(mb2_dump_and_type_names)
{
	CHECK_STR(boot_mem_type_name(BOOT_MEM_USABLE), "usable");
	CHECK_STR(boot_mem_type_name(BOOT_MEM_RESERVED), "reserved");
	CHECK_STR(boot_mem_type_name(BOOT_MEM_ACPI_RECLAIM), "ACPI reclaimable");
	CHECK_STR(boot_mem_type_name(BOOT_MEM_ACPI_NVS), "ACPI NVS");
	CHECK_STR(boot_mem_type_name(BOOT_MEM_BAD), "bad");
	CHECK_STR(boot_mem_type_name(0), "unknown");
	CHECK_STR(boot_mem_type_name(77), "unknown");

	build_full(&blk);
	CHECK_EQ(parse(&blk), 0);
	mb2_dump(&bi);
	CHECK(log_has("information block at [0x10000, 0x"));
}

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
