/* Unit tests of the multiboot2 parser (boot/mb2.c): every tag it knows, memory maps in both formats, and blocks
 * broken in the ways a loader or a hostile module could break them, each built tag by tag (mb2_fixture.h). Random
 * mutation and truncation are test_mb2_fuzz.c. */
#include <stdlib.h>
#include <string.h>

#include "mb2_fixture.h"

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
	CHECK_EQ(bi.modules_dropped, 8); /* counted, for vm_config_parse to refuse every VM */
	CHECK(log_has("mb2: 8 modules beyond the first 128 cannot be kept"));
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
