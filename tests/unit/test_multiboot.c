/* Unit tests of the Multiboot loader (vm/loader/multiboot.c). Images (a.out kludge, ELF32, ELF64) are built here byte
 * by byte and every load runs on an exact-size heap copy, so ASan catches any read past the image. Results are read
 * back from the fake guest RAM: loaded bytes, zeroed bss, the info structure, memory map, modules and strings. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "loader_checks.h"
#include "fake_vm.h"
#include "hv/errno.h"
#include "vm/loader/multiboot.h"

#define RAM	 (16ULL << 20)
#define IMG_CAP	 (64 * 1024)
#define MB_MAGIC 0x1BADB002u

static struct vm vm;
static struct guest_mem_layout layout;
static struct multiboot_boot_state st;
static u8 img[IMG_CAP];

static void put16(u8 *p, u16 v)
{
	memcpy(p, &v, 2);
}

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}

static void put64(u8 *p, u64 v)
{
	memcpy(p, &v, 8);
}

static u32 get32(u64 gpa)
{
	u32 v;
	void *p = fake_vm_gpa(gpa, 4);

	CHECK(p);
	memcpy(&v, p, 4);
	return v;
}

static u64 get64(u64 gpa)
{
	u64 v;
	void *p = fake_vm_gpa(gpa, 8);

	CHECK(p);
	memcpy(&v, p, 8);
	return v;
}

static const char *gstr(u64 gpa)
{
	const char *s = fake_vm_gpa(gpa, 1);

	CHECK(s);
	CHECK(memchr(s, 0, fake_vm.ram_bytes - gpa));
	return s;
}

static u8 pattern(u64 i)
{
	return (u8)(i * 7 + 3);
}

static void setup_ram(u64 ram, u64 layout_mem)
{
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, ram);
	CHECK_EQ(guest_mem_layout_pc(&layout, layout_mem), 0);
	memset(&st, 0, sizeof(st));
	for (u64 i = 0; i < IMG_CAP; i++)
		img[i] = pattern(i);
}

static void setup(void)
{
	setup_ram(RAM, RAM);
}

/* Load an exact-size copy of img[0..size). */
static int load_mods(u64 size, const char *cmdline, const struct mb_module *mods, u32 nmods)
{
	u8 *copy = malloc(size ? size : 1);
	int ret;

	CHECK(copy);
	memcpy(copy, img, size);
	ret = multiboot_load(&vm, copy, size, cmdline, mods, nmods, &layout, &st);
	free(copy);
	return ret;
}

static int load(u64 size)
{
	return load_mods(size, "", NULL, 0);
}

static void mb_header(u32 off, u32 flags)
{
	put32(img + off, MB_MAGIC);
	put32(img + off + 4, flags);
	put32(img + off + 8, -(MB_MAGIC + flags));
}

static void kludge(u32 off, u32 header_addr, u32 load_addr, u32 load_end, u32 bss_end, u32 entry)
{
	mb_header(off, 0x00010003);
	put32(img + off + 12, header_addr);
	put32(img + off + 16, load_addr);
	put32(img + off + 20, load_end);
	put32(img + off + 24, bss_end);
	put32(img + off + 28, entry);
}

struct seg {
	u32 type, flags;
	u64 offset, vaddr, paddr, filesz, memsz;
};

/* An ELF executable: header, program headers from 0x40 (0x34 for ELF32), the multiboot header at 0x400. */
static void elf(bool is64, u64 entry, const struct seg *s, u16 n)
{
	u64 phoff = is64 ? 64 : 52;

	memset(img, 0, 0x400);
	memcpy(img, "\177ELF", 4);
	img[4] = is64 ? 2 : 1;
	img[5] = 1;
	img[6] = 1;
	put16(img + 16, 2);
	put16(img + 18, is64 ? 62 : 3);
	put32(img + 20, 1);
	if (is64) {
		put64(img + 24, entry);
		put64(img + 32, phoff);
		put16(img + 52, 64);
		put16(img + 54, 56);
		put16(img + 56, n);
	} else {
		put32(img + 24, (u32)entry);
		put32(img + 28, (u32)phoff);
		put16(img + 40, 52);
		put16(img + 42, 32);
		put16(img + 44, n);
	}
	for (u16 i = 0; i < n; i++) {
		if (is64) {
			u8 *ph = img + phoff + 56 * i;

			put32(ph, s[i].type);
			put32(ph + 4, s[i].flags);
			put64(ph + 8, s[i].offset);
			put64(ph + 16, s[i].vaddr);
			put64(ph + 24, s[i].paddr);
			put64(ph + 32, s[i].filesz);
			put64(ph + 40, s[i].memsz);
		} else {
			u8 *ph = img + phoff + 32 * i;

			put32(ph, s[i].type);
			put32(ph + 4, (u32)s[i].offset);
			put32(ph + 8, (u32)s[i].vaddr);
			put32(ph + 12, (u32)s[i].paddr);
			put32(ph + 16, (u32)s[i].filesz);
			put32(ph + 20, (u32)s[i].memsz);
			put32(ph + 24, s[i].flags);
		}
	}
	mb_header(0x400, 0x00000003);
}

static void check_loaded(u64 gpa, u64 file_off, u64 len)
{
	const u8 *g = fake_vm_gpa(gpa, len);

	CHECK(g);
	for (u64 i = 0; i < len; i++)
		if (g[i] != pattern(file_off + i))
			test_fail(__FILE__, __LINE__, "guest byte %#llx is %#x, file byte %#llx was %#x",
				  (unsigned long long)(gpa + i), g[i], (unsigned long long)(file_off + i),
				  pattern(file_off + i));
}

static void check_fill(u64 gpa, u64 len, u8 v)
{
	const u8 *g = fake_vm_gpa(gpa, len);

	CHECK(g);
	for (u64 i = 0; i < len; i++)
		if (g[i] != v)
			test_fail(__FILE__, __LINE__, "guest byte %#llx is %#x, expected %#x",
				  (unsigned long long)(gpa + i), g[i], v);
}

static bool ram_untouched(void)
{
	for (u64 i = 0; i < fake_vm.ram_bytes; i++)
		if (fake_vm.ram[i])
			return false;
	return true;
}

/* ---- good images ---- */

TEST(mb_kludge_loads_text_and_zeroes_bss)
{
	setup();
	/* Text from file offset 0 at 1 MiB, header at 0x40, 0x1800 bytes loaded, bss to 0x104000. */
	kludge(0x40, 0x100040, 0x100000, 0x101800, 0x104000, 0x100080);
	memset(fake_vm_gpa(0x101800, 0x4000), 0xcc, 0x4000); /* bss must be zeroed, what follows it left alone */
	CHECK_EQ(load(0x3000), 0);
	CHECK_EQ(st.entry, 0x100080);
	CHECK_EQ(st.mbi_gpa, MULTIBOOT_INFO_BASE);
	check_loaded(0x100000, 0, 0x40);
	CHECK_EQ(get32(0x100040), MB_MAGIC);
	check_loaded(0x100060, 0x60, 0x1800 - 0x60);
	check_fill(0x101800, 0x2800, 0);
	check_fill(0x104000, 0x1800, 0xcc);
}

TEST(mb_kludge_text_offset_and_load_to_eof)
{
	setup();
	/* header_addr - load_addr = 0x100 < header offset 0x200: the text starts at file offset 0x100. */
	kludge(0x200, 0x200100, 0x200000, 0, 0, 0x200000);
	CHECK_EQ(load(0x1234), 0);
	CHECK_EQ(st.entry, 0x200000);
	check_loaded(0x200000, 0x100, 0x100);
	check_loaded(0x200120, 0x220, 0x1234 - 0x220);
	check_fill(0x200000 + 0x1234 - 0x100, 0x100, 0);
	/* Modules go after the kernel's end, page aligned. */
	CHECK_EQ(get32(MULTIBOOT_INFO_BASE + 20), 0);
}

TEST(mb_elf32_segments_bss_and_entry)
{
	struct seg s[] = {
	    {.type = 4, .offset = 0x100, .filesz = 0x20, .memsz = 0x20}, /* PT_NOTE: not loaded */
	    {.type = 1,
	     .flags = 5,
	     .offset = 0x1000,
	     .vaddr = 0x100000,
	     .paddr = 0x100000,
	     .filesz = 0x800,
	     .memsz = 0x800},
	    {.type = 1,
	     .flags = 6,
	     .offset = 0x2000,
	     .vaddr = 0x103000,
	     .paddr = 0x103000,
	     .filesz = 0x180,
	     .memsz = 0x3000},
	    {.type = 1, .flags = 6, .offset = 0x2000, .vaddr = 0x300000, .paddr = 0x300000}, /* empty */
	};

	setup();
	elf(false, 0x100010, s, 4);
	memset(fake_vm_gpa(0x103000, 0x4000), 0xcc, 0x4000);
	CHECK_EQ(load(0x2180), 0);
	CHECK_EQ(st.entry, 0x100010);
	check_loaded(0x100000, 0x1000, 0x800);
	check_loaded(0x103000, 0x2000, 0x180);
	check_fill(0x103180, 0x3000 - 0x180, 0);
	check_fill(0x106000, 0x1000, 0xcc);
	check_fill(0x100800, 0x2800, 0);
	check_fill(0x300000, 0x10, 0);
}

TEST(mb_elf32_higher_half_entry_is_translated)
{
	struct seg s[] = {
	    {.type = 1,
	     .flags = 5,
	     .offset = 0x1000,
	     .vaddr = 0xc0100000,
	     .paddr = 0x100000,
	     .filesz = 0x1000,
	     .memsz = 0x2000},
	};

	setup();
	elf(false, 0xc010000c, s, 1);
	CHECK_EQ(load(0x2000), 0);
	CHECK_EQ(st.entry, 0x10000c);
	check_loaded(0x100000, 0x1000, 0x1000);
}

TEST(mb_elf64_is_accepted)
{
	struct seg s[] = {
	    {.type = 1,
	     .flags = 5,
	     .offset = 0x1000,
	     .vaddr = 0xffffffff80200000ULL,
	     .paddr = 0x200000,
	     .filesz = 0x900,
	     .memsz = 0x900},
	    {.type = 1,
	     .flags = 6,
	     .offset = 0x1900,
	     .vaddr = 0xffffffff80201000ULL,
	     .paddr = 0x201000,
	     .filesz = 0x100,
	     .memsz = 0x1000},
	};

	setup();
	elf(true, 0xffffffff80200040ULL, s, 2);
	CHECK_EQ(load(0x1a00), 0);
	CHECK_EQ(st.entry, 0x200040);
	check_loaded(0x200000, 0x1000, 0x900);
	check_loaded(0x201000, 0x1900, 0x100);
	check_fill(0x201100, 0xf00, 0);
	/* A physical entry point is taken as it is. */
	setup();
	elf(true, 0x200100, s, 2);
	CHECK_EQ(load(0x1a00), 0);
	CHECK_EQ(st.entry, 0x200100);
}

TEST(mb_info_struct_cmdline_and_loader_name)
{
	u32 mbi, n;

	setup();
	kludge(0, 0x100000, 0x100000, 0, 0x110000, 0x100000);
	CHECK_EQ(load_mods(0x800, "/boot/kernel console=ttyS0", NULL, 0), 0);
	mbi = st.mbi_gpa;
	CHECK(mbi >= 0x9000 && mbi < 0x9fc00);
	CHECK_EQ(get32(mbi + 0), 0x24d); /* MEM, CMDLINE, MODS, MMAP, LOADER_NAME; not BOOTDEV */
	CHECK_EQ(get32(mbi + 4), 639);
	CHECK_EQ(get32(mbi + 8), (RAM >> 10) - 1024);
	CHECK_EQ(get32(mbi + 12), 0);
	CHECK_STR(gstr(get32(mbi + 16)), "/boot/kernel console=ttyS0");
	CHECK_EQ(get32(mbi + 20), 0);
	CHECK_STR(gstr(get32(mbi + 64)), "hv");
	/* Memory map: usable low RAM, EBDA and BIOS reserved, usable from 1 MiB to the end. */
	n = get32(mbi + 44) / 24;
	CHECK_EQ(get32(mbi + 44), 4 * 24);
	u32 mm = get32(mbi + 48);
	CHECK(mm < 0x9fc00);
	static const u64 want[4][3] = {
	    {0, 0x9fc00, 1}, {0x9fc00, 0x400, 2}, {0xf0000, 0x10000, 2}, {0x100000, RAM - 0x100000, 1}};
	for (u32 i = 0; i < n; i++) {
		CHECK_EQ(get32(mm + 24 * i), 20);
		CHECK_EQ(get64(mm + 24 * i + 4), want[i][0]);
		CHECK_EQ(get64(mm + 24 * i + 12), want[i][1]);
		CHECK_EQ(get32(mm + 24 * i + 20), want[i][2]);
	}
	/* A NULL command line is an empty string, still flagged. */
	setup();
	kludge(0, 0x100000, 0x100000, 0, 0, 0x100000);
	CHECK_EQ(load_mods(0x800, NULL, NULL, 0), 0);
	CHECK_STR(gstr(get32(st.mbi_gpa + 16)), "");
}

TEST(mb_modules_page_aligned_with_strings)
{
	static u8 m0[5000], m2[100];
	struct mb_module mods[3] = {
	    {.data = m0, .size = sizeof(m0), .cmdline = "initrd"},
	    {.data = NULL, .size = 0, .cmdline = NULL},
	    {.data = m2, .size = sizeof(m2), .cmdline = "third module"},
	};
	u32 ma;

	for (size_t i = 0; i < sizeof(m0); i++)
		m0[i] = (u8)(i ^ 0x5a);
	memset(m2, 0x77, sizeof(m2));
	setup();
	/* The kernel ends at 0x103001, not page aligned. */
	kludge(0, 0x100000, 0x100000, 0x101000, 0x103001, 0x100000);
	CHECK_EQ(load_mods(0x1000, "k", mods, 3), 0);
	CHECK_EQ(get32(st.mbi_gpa + 20), 3);
	ma = get32(st.mbi_gpa + 24);
	CHECK_EQ(ma % 4, 0);
	CHECK_EQ(get32(ma + 0), 0x104000);
	CHECK_EQ(get32(ma + 4), 0x104000 + 5000);
	CHECK_STR(gstr(get32(ma + 8)), "initrd");
	CHECK_EQ(get32(ma + 16), 0x106000);
	CHECK_EQ(get32(ma + 20), 0x106000);
	CHECK_STR(gstr(get32(ma + 24)), "");
	CHECK_EQ(get32(ma + 32), 0x106000);
	CHECK_EQ(get32(ma + 36), 0x106000 + 100);
	CHECK_STR(gstr(get32(ma + 40)), "third module");
	CHECK(memcmp(fake_vm_gpa(0x104000, sizeof(m0)), m0, sizeof(m0)) == 0);
	check_fill(0x106000, 100, 0x77);
	/* The strings sit in the boot information area. */
	CHECK(get32(ma + 40) < MULTIBOOT_INFO_LIMIT);
}

TEST(mb_modules_start_at_1mib_after_a_low_kernel)
{
	static u8 m0[16] = "module";
	struct mb_module mod = {.data = m0, .size = sizeof(m0), .cmdline = "m"};

	setup();
	kludge(0, 0x20000, 0x20000, 0, 0, 0x20000);
	CHECK_EQ(load_mods(0x1000, "", &mod, 1), 0);
	CHECK_EQ(get32(get32(st.mbi_gpa + 24)), 0x100000);
}

TEST(mb_memory_map_above_4g)
{
	u32 mm;

	/* 6 GiB of layout: only the first 16 MiB are backed by the fake, which is all the loader writes. */
	setup_ram(RAM, 6ULL << 30);
	CHECK_EQ(layout.nr_ram, 2);
	kludge(0, 0x100000, 0x100000, 0, 0, 0x100000);
	CHECK_EQ(load(0x1000), 0);
	CHECK_EQ(get32(st.mbi_gpa + 8), (0xe0000000u >> 10) - 1024);
	CHECK_EQ(get32(st.mbi_gpa + 44), 5 * 24);
	mm = get32(st.mbi_gpa + 48);
	CHECK_EQ(get64(mm + 3 * 24 + 4), 0x100000);
	CHECK_EQ(get64(mm + 3 * 24 + 12), 0xe0000000 - 0x100000);
	CHECK_EQ(get64(mm + 4 * 24 + 4), 1ULL << 32);
	CHECK_EQ(get64(mm + 4 * 24 + 12), (6ULL << 30) - 0xe0000000);
	CHECK_EQ(get32(mm + 4 * 24 + 20), 1);
}

TEST(mb_layout_pc)
{
	struct guest_mem_layout l;

	CHECK_EQ(guest_mem_layout_pc(&l, 64ULL << 20), 0);
	CHECK_EQ(l.nr_ram, 1);
	CHECK_EQ(l.ram[0].len, 64ULL << 20);
	CHECK_EQ(guest_mem_layout_pc(&l, 0xe0000000), 0);
	CHECK_EQ(l.nr_ram, 1);
	CHECK_EQ(guest_mem_layout_pc(&l, 64ULL << 30), 0);
	CHECK_EQ(l.nr_ram, 2);
	CHECK_EQ(l.ram[0].len, 0xe0000000);
	CHECK_EQ(l.ram[1].base, 1ULL << 32);
	CHECK_EQ(l.ram[1].len, (64ULL << 30) - 0xe0000000);
	CHECK_EQ(guest_mem_layout_pc(&l, 1ULL << 20), -EINVAL);
}

TEST(mb_flags_video_noted_unknown_required_refused)
{
	setup();
	kludge(0, 0x100000, 0x100000, 0, 0, 0x100000);
	mb_header(0, 0x00010007); /* bit 2: a video mode, which we ignore */
	CHECK_EQ(load(0x1000), 0);
	setup();
	kludge(0, 0x100000, 0x100000, 0, 0, 0x100000);
	mb_header(0, 0x00030003); /* bit 17 is optional: ignored */
	CHECK_EQ(load(0x1000), 0);
	setup();
	kludge(0, 0x100000, 0x100000, 0, 0, 0x100000);
	mb_header(0, 0x00010009); /* bit 3: a requirement we do not know */
	CHECK_REJECT(load(0x1000), -ENOEXEC, "require features this loader does not know (bits 0x8");
}

/* ---- malformed images ---- */

TEST(mb_no_header_bad_checksum_header_too_far)
{
	setup();
	CHECK_REJECT(load(0x3000), -ENOEXEC, "no multiboot header");
	CHECK_REJECT(load(0), -ENOEXEC, "no multiboot header");
	CHECK_REJECT(load(11), -ENOEXEC, "no multiboot header");
	kludge(0x100, 0x100100, 0x100000, 0, 0, 0x100000);
	put32(img + 0x108, 0x12345678);
	CHECK_REJECT(load(0x3000), -ENOEXEC, "header at offset 0x100: bad checksum");
	setup();
	kludge(8192, 0x102000, 0x100000, 0, 0, 0x100000);
	CHECK_REJECT(load(0x3000), -ENOEXEC,
		     "header magic at offset 0x2000, but the header must lie within the first 8192");
	setup();
	kludge(8184, 0x101ff8, 0x100000, 0, 0, 0x100000); /* straddles the limit */
	CHECK_REJECT(load(0x3000), -ENOEXEC, "must lie within the first 8192");
	/* The header's last byte at 8191 is fine, but the kludge fields must fit too. */
	setup();
	kludge(8180, 0x101ff4, 0x100000, 0, 0, 0x100000);
	CHECK_REJECT(load(0x3000), -ENOEXEC, "address fields at offset 0x2000 run past the first 8192 bytes");
	setup();
	kludge(0x10, 0x100010, 0x100000, 0, 0, 0x100000);
	CHECK_REJECT(load(0x20), -ENOEXEC, "run past the first 8192 bytes or the file");
	/* Unaligned magic does not count. */
	setup();
	kludge(0x102, 0x100102, 0x100000, 0, 0, 0x100000);
	CHECK_REJECT(load(0x3000), -ENOEXEC, "no multiboot header");
}

TEST(mb_kludge_bad_addresses)
{
	setup();
	kludge(0x40, 0x0fff40, 0x100000, 0, 0, 0x100000);
	CHECK_REJECT(load(0x1000), -ENOEXEC, "header_addr 0xfff40 is below load_addr 0x100000");
	kludge(0x40, 0x100080, 0x100000, 0, 0, 0x100000);
	CHECK_REJECT(load(0x1000), -ENOEXEC, "header_addr - load_addr = 0x80 exceeds the header's file offset 0x40");
	kludge(0x40, 0x100040, 0x100000, 0x0fffff, 0, 0x100000);
	CHECK_REJECT(load(0x1000), -ENOEXEC, "load_end_addr 0xfffff is below load_addr 0x100000");
	kludge(0x40, 0x100040, 0x100000, 0x101001, 0, 0x100000);
	CHECK_REJECT(load(0x1000), -ENOEXEC, "load_end_addr 0x101001 needs file bytes up to 0x1001");
	kludge(0x40, 0x100040, 0x100000, 0x100800, 0x1007ff, 0x100000);
	CHECK_REJECT(load(0x1000), -ENOEXEC, "bss_end_addr 0x1007ff is below the end of the loaded text");
	kludge(0x40, 0x100040, 0x100000, 0x100800, 0, 0x100800);
	CHECK_REJECT(load(0x1000), -ENOEXEC, "entry point 0x100800 is outside everything the image loads");
	kludge(0x40, 0x100040, 0x100000, 0, 0x2000000, 0x100000);
	CHECK_REJECT(load(0x1000), -E2BIG, "kernel load range [0x100000, 0x2000000) is not inside guest RAM");
	kludge(0x40, 0xffffff40, 0xffffff00, 0, 0, 0xffffff00);
	CHECK_REJECT(load(0x1000), -E2BIG, "not inside guest RAM below 4 GiB");
	/* A kernel over the usual boot-information address (GRUB's multiboot image is linked at 0x9000) moves the
	 * boot information to the first free page above it; a kernel covering all of low memory leaves no room. */
	kludge(0x40, 0x8040, 0x8000, 0, 0, 0x8000);
	CHECK_EQ(load(0x2000), 0);
	CHECK_EQ(st.mbi_gpa, 0xa000);
	setup();
	kludge(0x40, 0x1040, 0x1000, 0, 0x9fc00, 0x1000);
	CHECK_REJECT(load(0x2000), -E2BIG, "no room for the");
}

TEST(mb_elf_segment_checks)
{
	struct seg s[2] = {
	    {.type = 1,
	     .flags = 5,
	     .offset = 0x1000,
	     .vaddr = 0x100000,
	     .paddr = 0x100000,
	     .filesz = 0x1000,
	     .memsz = 0x1000},
	};

	setup();
	elf(false, 0x100000, s, 1);
	CHECK_REJECT(load(0x1fff), -ENOEXEC,
		     "ELF segment 0: file bytes [0x1000, +0x1000) run past the end of the 0x1fff-byte file");
	s[0].filesz = 0x2000;
	elf(false, 0x100000, s, 1);
	CHECK_REJECT(load(0x3000), -ENOEXEC, "p_filesz 0x2000 exceeds p_memsz 0x1000");
	s[0].filesz = 0x1000;
	s[0].paddr = 0x1000000; /* 16 MiB: the first byte past RAM */
	elf(false, 0x1000000, s, 1);
	CHECK_REJECT(load(0x2000), -E2BIG, "kernel load range [0x1000000, 0x1001000) is not inside guest RAM");
	s[0].paddr = 0xfffff000;
	s[0].memsz = 0x2000;
	elf(false, 0xfffff000, s, 1);
	CHECK_REJECT(load(0x2000), -ENOEXEC, "[0xfffff000, 0x100001000) runs past 4 GiB");
	s[0].paddr = 0x100000;
	s[0].memsz = 0x1000;
	s[1] = s[0];
	s[1].paddr = 0x100800;
	elf(false, 0x100000, s, 2);
	CHECK_REJECT(load(0x2000), -ENOEXEC,
		     "kernel load ranges [0x100800, 0x101800) and [0x100000, 0x101000) overlap");
	s[1].type = 6; /* PT_PHDR: ignored */
	elf(false, 0x100000, s, 2);
	CHECK_EQ(load(0x2000), 0);
}

TEST(mb_elf64_overflow_and_entry_above_4g)
{
	struct seg s[] = {
	    {.type = 1,
	     .flags = 5,
	     .offset = 0x1000,
	     .vaddr = 0x100000,
	     .paddr = 0xfffffffffffff000ULL,
	     .filesz = 0x1000,
	     .memsz = 0x2000},
	};

	setup();
	elf(true, 0x100000, s, 1);
	CHECK_REJECT(load(0x2000), -ENOEXEC, "p_paddr 0xfffffffffffff000 + p_memsz 0x2000 overflows");
	s[0].paddr = 0x100000;
	elf(true, 0x100000000ULL, s, 1);
	CHECK_REJECT(load(0x2000), -ENOEXEC, "entry point 0x100000000 is above 4 GiB");
	/* An entry the vaddr translation does not cover stays virtual, and is refused. */
	s[0].vaddr = 0xffffffff80100000ULL;
	elf(true, 0xffffffff90000000ULL, s, 1);
	CHECK_REJECT(load(0x2000), -ENOEXEC, "is above 4 GiB");
	s[0].offset = 0xffffffffffffff00ULL;
	elf(true, 0xffffffff80100000ULL, s, 1);
	CHECK_REJECT(load(0x2000), -ENOEXEC, "run past the end");
}

TEST(mb_elf_header_checks)
{
	struct seg s[] = {
	    {.type = 1,
	     .flags = 5,
	     .offset = 0x1000,
	     .vaddr = 0x100000,
	     .paddr = 0x100000,
	     .filesz = 0x100,
	     .memsz = 0x100},
	};

	setup();
	elf(false, 0x100000, s, 1);
	img[0] = 0x7e;
	CHECK_REJECT(load(0x1100), -ENOEXEC, "not an ELF file");
	elf(false, 0x100000, s, 1);
	img[4] = 3;
	CHECK_REJECT(load(0x1100), -ENOEXEC, "unknown class 3");
	elf(false, 0x100000, s, 1);
	img[5] = 2;
	CHECK_REJECT(load(0x1100), -ENOEXEC, "not a little-endian version-1 file");
	elf(false, 0x100000, s, 1);
	put16(img + 16, 3);
	CHECK_REJECT(load(0x1100), -ENOEXEC, "e_type 3 is not ET_EXEC");
	elf(false, 0x100000, s, 1);
	put16(img + 18, 62);
	CHECK_REJECT(load(0x1100), -ENOEXEC, "ELF32: e_machine 62 is not EM_386");
	elf(true, 0x100000, s, 1);
	put16(img + 18, 3);
	CHECK_REJECT(load(0x1100), -ENOEXEC, "ELF64: e_machine 3 is not EM_X86_64");
	elf(false, 0x100000, s, 0);
	CHECK_REJECT(load(0x1100), -ENOEXEC, "program header table of 0 entries");
	elf(false, 0x100000, s, 1);
	put16(img + 42, 16);
	CHECK_REJECT(load(0x1100), -ENOEXEC, "program header table of 1 entries of 16 bytes");
	elf(false, 0x100000, s, 1);
	put16(img + 44, 0xffff);
	CHECK_REJECT(load(0x1100), -ENOEXEC, "program header table of 65535 entries");
	elf(false, 0x100000, s, 1);
	put32(img + 28, 0x10f0);
	CHECK_REJECT(load(0x1100), -ENOEXEC, "program header table [0x10f0, +0x20) runs past the end");
	elf(false, 0x100000, s, 1);
	put32(img + 52 + 20, 0);
	put32(img + 52 + 16, 0);
	CHECK_REJECT(load(0x1100), -ENOEXEC, "no PT_LOAD segment loads anything");
	elf(false, 0x100000, s, 1);
	img[4] = 2; /* claims ELF64 in a 60-byte file */
	mb_header(0x20, 3);
	CHECK_REJECT(load(60), -ENOEXEC, "shorter than the ELF header");
}

TEST(mb_module_and_string_limits)
{
	static struct mb_module mods[MULTIBOOT_MAX_MODULES + 1];
	static u8 data[64];
	static char longline[MULTIBOOT_CMDLINE_MAX + 1];

	for (u32 i = 0; i <= MULTIBOOT_MAX_MODULES; i++)
		mods[i] = (struct mb_module){.data = data, .size = sizeof(data), .cmdline = "m"};
	setup();
	kludge(0, 0x100000, 0x100000, 0, 0, 0x100000);
	CHECK_EQ(load_mods(0x1000, "", mods, MULTIBOOT_MAX_MODULES), 0);
	CHECK_EQ(get32(st.mbi_gpa + 20), MULTIBOOT_MAX_MODULES);
	setup();
	kludge(0, 0x100000, 0x100000, 0, 0, 0x100000);
	CHECK_REJECT(load_mods(0x1000, "", mods, MULTIBOOT_MAX_MODULES + 1), -E2BIG, "9 modules, at most 8");
	/* A module larger than the RAM left after the kernel. */
	mods[1].size = RAM - 0x101000;
	CHECK_REJECT(load_mods(0x1000, "", mods, 2), -E2BIG, "module 1 (0xeff000 bytes) does not fit at 0x102000");
	mods[1].size = 1ULL << 40;
	CHECK_REJECT(load_mods(0x1000, "", mods, 2), -E2BIG, "does not fit at 0x102000 in guest RAM below 4 GiB");
	mods[1].size = sizeof(data);
	mods[1].data = NULL;
	CHECK_REJECT(load_mods(0x1000, "", mods, 2), -EINVAL, "module 1 has 0x40 bytes but no data");
	mods[1].data = data;
	memset(longline, 'x', MULTIBOOT_CMDLINE_MAX);
	CHECK_REJECT(load_mods(0x1000, longline, mods, 2), -E2BIG, "kernel command line longer than 4095");
	mods[1].cmdline = longline;
	CHECK_REJECT(load_mods(0x1000, "", mods, 2), -E2BIG, "module 1: command line longer than 4095");
	longline[MULTIBOOT_CMDLINE_MAX - 1] = '\0';
	CHECK_EQ(load_mods(0x1000, longline, mods, 2), 0);
	CHECK_EQ(strlen(gstr(get32(st.mbi_gpa + 16))), MULTIBOOT_CMDLINE_MAX - 1);
}

TEST(mb_boot_information_area_is_protected)
{
	static struct mb_module mods[MULTIBOOT_MAX_MODULES];
	static char line[MULTIBOOT_CMDLINE_MAX];
	static u8 data[8];

	/* With every string at its longest the area is [0x9000, 0x12163): struct 0x74, map 4 * 24 (from 0x9078), module
	 * list 8 * 16 (from 0x90e0), "hv", then nine 4 KiB strings from 0x9163. A kernel there is refused. */
	memset(line, 'y', sizeof(line) - 1);
	for (u32 i = 0; i < MULTIBOOT_MAX_MODULES; i++)
		mods[i] = (struct mb_module){.data = data, .size = sizeof(data), .cmdline = line};
	setup();
	/* A kernel inside that area pushes the whole area above itself, every pointer moving with it. */
	kludge(0, 0x12000, 0x12000, 0, 0, 0x12000);
	CHECK_EQ(load_mods(0x1000, line, mods, MULTIBOOT_MAX_MODULES), 0);
	CHECK_EQ(st.mbi_gpa, 0x13000);
	CHECK_EQ(get32(st.mbi_gpa + 48), 0x13078);
	CHECK(get32(st.mbi_gpa + 16) >= 0x13000);
	kludge(0, 0x13000, 0x13000, 0, 0, 0x13000);
	CHECK_EQ(load_mods(0x1000, line, mods, MULTIBOOT_MAX_MODULES), 0);
	CHECK_EQ(get32(st.mbi_gpa + 48), 0x9078);
	CHECK_EQ(get32(st.mbi_gpa + 24), 0x90e0);
	CHECK_EQ(get32(st.mbi_gpa + 64), 0x9160);
	CHECK_EQ(get32(st.mbi_gpa + 16), 0x9163);
	CHECK_EQ(strlen(gstr(get32(0x90e0 + 7 * 16 + 8))), MULTIBOOT_CMDLINE_MAX - 1);
	/* Below the area is fine too. */
	setup();
	kludge(0, 0x1000, 0x1000, 0, 0x9000, 0x1000);
	CHECK_EQ(load(0x800), 0);
}

TEST(mb_bad_arguments_and_layouts)
{
	struct guest_mem_layout bad;

	setup();
	kludge(0, 0x100000, 0x100000, 0, 0, 0x100000);
	CHECK_REJECT(multiboot_load(&vm, NULL, 0x1000, "", NULL, 0, &layout, &st), -EINVAL, "missing image");
	CHECK_REJECT(multiboot_load(&vm, img, 0x1000, "", NULL, 1, &layout, &st), -EINVAL, "missing image");
	bad = layout;
	bad.nr_ram = 0;
	CHECK_REJECT(multiboot_load(&vm, img, 0x1000, "", NULL, 0, &bad, &st), -EINVAL, "0 ranges");
	bad = layout;
	bad.ram[0].base = 0x1000;
	CHECK_REJECT(multiboot_load(&vm, img, 0x1000, "", NULL, 0, &bad, &st), -EINVAL, "at least 2 MiB of RAM at 0");
	bad = layout;
	bad.nr_ram = 2;
	bad.ram[1] = (struct guest_mem_range){.base = 0x800000, .len = 0x1000};
	CHECK_REJECT(multiboot_load(&vm, img, 0x1000, "", NULL, 0, &bad, &st), -EINVAL, "range 1");
	bad.ram[1] = (struct guest_mem_range){.base = 1ULL << 32, .len = 0x123};
	CHECK_REJECT(multiboot_load(&vm, img, 0x1000, "", NULL, 0, &bad, &st), -EINVAL, "unaligned");
}

TEST(mb_truncations_never_read_past_the_image)
{
	struct seg s[] = {
	    {.type = 1,
	     .flags = 5,
	     .offset = 0x800,
	     .vaddr = 0x100000,
	     .paddr = 0x100000,
	     .filesz = 0x400,
	     .memsz = 0x1000},
	};
	int ok = 0, level = test_log_level_max;

	/* Every prefix of a valid ELF64 and of a valid kludge image: an error or a load, never an over-read. */
	test_log_level_max = 2; /* a thousand rejections need not be echoed */
	setup();
	elf(true, 0x100000, s, 1);
	for (u64 n = 0; n <= 0xc00; n++) {
		fake_vm_destroy(&vm);
		fake_vm_init(&vm, RAM);
		ok += load(n) == 0;
	}
	CHECK_EQ(ok, 1);
	setup();
	kludge(0x40, 0x100040, 0x100000, 0x100400, 0, 0x100000);
	ok = 0;
	for (u64 n = 0; n <= 0x400; n++) {
		fake_vm_destroy(&vm);
		fake_vm_init(&vm, RAM);
		ok += load(n) == 0;
	}
	test_log_level_max = level;
	CHECK_EQ(ok, 1);
}
