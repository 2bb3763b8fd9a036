/* Unit tests of the Linux boot protocol loader (vm/loader/linux.c). Synthetic bzImages (a setup area with the header
 * at 0x1f1, then a patterned protected-mode kernel) are loaded from exact-size heap copies, so ASan catches any read
 * past the image; results are read back from the fake guest RAM: the whole zero page against one built here from
 * boot.rst's offsets, the e820 map, kernel and initrd placement, page tables, GDT and the vCPU state. A real kernel
 * is checked too when one can be found ($LINUX_BZIMAGE, build/linux/, /boot). */
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "fake_platform.h"
#include "fake_vm.h"
#include "hv/errno.h"
#include "vm/loader/linux.h"

#define MiB	    (1ULL << 20)
#define RAM	    (64 * MiB)
#define IMG_CAP	    (128 * 1024)
#define SECTS	    4
#define SETUP	    ((SECTS + 1) * 512)
#define PM_SIZE	    0x3000
#define PREF	    (16 * MiB)
#define INIT_SIZE   (8 * MiB)
#define ALIGN	    (2 * MiB)
#define HDR_END	    0x26c
#define ZP	    LINUX_ZERO_PAGE_GPA
#define VERSION_STR "6.9.0-synth (hv@test) #1 SMP"
#define CMDLINE	    "console=ttyS0 root=/dev/ram0"

struct e820 {
	u64 addr, size;
	u32 type;
};

static struct vm vm;
static struct guest_mem_layout layout;
static struct linux_boot_params_in in;
static struct vcpu_boot_state st;
static u64 regs[16];
static u8 img[IMG_CAP];
static u64 img_size;
static u8 initrd[1 << 20];

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

static u64 get(u64 gpa, u32 width)
{
	u64 v = 0;
	void *p = fake_vm_gpa(gpa, width);

	CHECK(p);
	memcpy(&v, p, width);
	return v;
}

static u8 pattern(u64 i)
{
	return (u8)(i * 7 + 3);
}

/* A bzImage as a 64-bit relocatable kernel of protocol 2.15 presents itself. Every byte the header does not define
 * keeps the pattern, so fields the loader must overwrite or must not copy show up in the zero-page comparison. */
static void bzimage(void)
{
	for (u64 i = 0; i < IMG_CAP; i++)
		img[i] = pattern(i);
	img[0x1f1] = SECTS;
	put16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = HDR_END - 0x202;
	memcpy(img + 0x202, "HdrS", 4);
	put16(img + 0x206, 0x020f);
	put16(img + 0x20e, 0x400 - 0x200);
	memcpy(img + 0x400, VERSION_STR, sizeof(VERSION_STR));
	img[0x211] = 0x21; /* LOADED_HIGH, QUIET_FLAG: the loader keeps what it does not own */
	put32(img + 0x214, 0x100000);
	put32(img + 0x22c, 0x7fffffff);
	put32(img + 0x230, ALIGN);
	img[0x234] = 1;
	img[0x235] = 21;
	put16(img + 0x236, 0x3); /* XLF_KERNEL_64, XLF_CAN_BE_LOADED_ABOVE_4G */
	put32(img + 0x238, 0x7ff);
	put64(img + 0x258, PREF);
	put32(img + 0x260, INIT_SIZE);
	img_size = SETUP + PM_SIZE;
}

static void setup_ram(u64 ram, u64 layout_mem)
{
	fake_vm_destroy(&vm);
	fake_vm_init(&vm, ram);
	CHECK_EQ(guest_mem_layout_pc(&layout, layout_mem), 0);
	memset(&st, 0xcc, sizeof(st));
	memset(regs, 0xcc, sizeof(regs));
	memset(&in, 0, sizeof(in));
	in.cmdline = CMDLINE;
	in.acpi_start = 0xe0000;
	in.acpi_len = 0x20000;
	in.acpi_rsdp_gpa = 0xf0000;
	for (u64 i = 0; i < sizeof(initrd); i++)
		initrd[i] = (u8)(i * 13 + 1);
	bzimage();
}

static void setup(void)
{
	setup_ram(RAM, RAM);
}

static int load_image(const u8 *src, u64 size)
{
	u8 *copy = malloc(size ? size : 1);
	int ret;

	CHECK(copy);
	memcpy(copy, src, size);
	ret = linux_load(&vm, copy, size, &in, &layout, &st, regs);
	free(copy);
	return ret;
}

static int load(void)
{
	return load_image(img, img_size);
}

static bool ram_untouched(void)
{
	static const u8 zeros[1 << 20];

	for (u64 off = 0; off < fake_vm.ram_bytes; off += sizeof(zeros))
		if (memcmp(fake_vm.ram + off, zeros, MIN(sizeof(zeros), fake_vm.ram_bytes - off)))
			return false;
	return true;
}

#define CHECK_LOG(s)                                                                                                   \
	do {                                                                                                           \
		if (!strstr(test_last_log, (s)))                                                                       \
			test_fail(__FILE__, __LINE__, "last log lacks \"%s\": %s", (s), test_last_log);                \
	} while (0)

/* A load that must fail with err and the given message, leaving guest RAM untouched. */
#define CHECK_REJECT(call, err, msg)                                                                                   \
	do {                                                                                                           \
		CHECK_EQ((call), (u64)(s64)(err));                                                                     \
		CHECK_LOG(msg);                                                                                        \
		CHECK(ram_untouched());                                                                                \
	} while (0)

static void check_bytes(u64 gpa, const u8 *want, u64 len)
{
	const u8 *g = fake_vm_gpa(gpa, len);

	CHECK(g);
	for (u64 i = 0; i < len; i++)
		if (g[i] != want[i])
			test_fail(__FILE__, __LINE__, "guest byte %#llx is %#x, expected %#x",
				  (unsigned long long)(gpa + i), g[i], want[i]);
}

static void check_zero(u64 gpa, u64 len)
{
	const u8 *g = fake_vm_gpa(gpa, len);

	CHECK(g);
	for (u64 i = 0; i < len; i++)
		if (g[i])
			test_fail(__FILE__, __LINE__, "guest byte %#llx is %#x, expected 0",
				  (unsigned long long)(gpa + i), g[i]);
}

/*
 * The zero page the loader must build for the image src, written out here from boot.rst and zero-page.rst: zeroes,
 * the setup header [0x1f1, 0x202 + src[0x201]) copied, then the loader's fields.
 */
static void expect_zero_page(u8 *zp, const u8 *src, u64 load_gpa, u64 initrd_gpa, u64 initrd_size, u64 low_ram,
			     const struct e820 *e, u32 ne)
{
	memset(zp, 0, 4096);
	memcpy(zp + 0x1f1, src + 0x1f1, 0x202 + src[0x201] - 0x1f1);
	put16(zp + 0x1fa, 0xffff);     /* vid_mode: normal */
	zp[0x210] = 0xff;	       /* type_of_loader: undefined */
	zp[0x211] = src[0x211] | 0x80; /* loadflags |= CAN_USE_HEAP */
	put32(zp + 0x214, (u32)load_gpa);
	put32(zp + 0x218, (u32)initrd_gpa);
	put32(zp + 0x21c, (u32)initrd_size);
	put16(zp + 0x224, 0xde00); /* heap_end_ptr */
	put32(zp + 0x228, LINUX_CMDLINE_GPA);
	put32(zp + 0x23c, 0); /* hardware_subarch: PC */
	put64(zp + 0x240, 0);
	put64(zp + 0x250, 0); /* setup_data */
	put64(zp + 0x070, in.acpi_rsdp_gpa);
	put32(zp + 0x0c0, (u32)(initrd_gpa >> 32));
	put32(zp + 0x0c4, (u32)(initrd_size >> 32));
	put32(zp + 0x1e0, (u32)((low_ram - MiB) >> 10)); /* alt_mem_k */
	zp[0x1e8] = (u8)ne;
	for (u32 i = 0; i < ne; i++) {
		put64(zp + 0x2d0 + 20 * i, e[i].addr);
		put64(zp + 0x2d0 + 20 * i + 8, e[i].size);
		put32(zp + 0x2d0 + 20 * i + 16, e[i].type);
	}
}

static void check_zero_page(const u8 *want)
{
	check_bytes(ZP, want, 4096);
}

/* The e820 map of the default setup: 64 MiB, ACPI area [0xe0000, 1 MiB). */
static const struct e820 e820_64m[] = {
    {0, 0x9fc00, 1},
    {0x9fc00, 0xe0000 - 0x9fc00, 2},
    {0xe0000, 0x20000, 3},
    {MiB, RAM - MiB, 1},
};

static void check_e820(const struct e820 *e, u32 n)
{
	CHECK_EQ(get(ZP + 0x1e8, 1), n);
	for (u32 i = 0; i < n; i++) {
		u64 at = ZP + 0x2d0 + 20 * i;

		if (get(at, 8) != e[i].addr || get(at + 8, 8) != e[i].size || get(at + 16, 4) != e[i].type)
			test_fail(__FILE__, __LINE__, "e820[%u] is {%#llx, %#llx, %llu}, expected {%#llx, %#llx, %u}",
				  i, (unsigned long long)get(at, 8), (unsigned long long)get(at + 8, 8),
				  (unsigned long long)get(at + 16, 4), (unsigned long long)e[i].addr,
				  (unsigned long long)e[i].size, e[i].type);
	}
	check_zero(ZP + 0x2d0 + 20 * n, 20);
}

/* Every nonzero guest byte lies in an area the loader owns: nothing is scribbled anywhere else. */
static void check_only_known_areas(u64 kernel, u64 initrd_gpa, u64 initrd_size)
{
	const struct {
		u64 start, end;
	} area[] = {
	    {LINUX_GDT_GPA, LINUX_GDT_GPA + 32}, {ZP, ZP + 4096},
	    {LINUX_PML4_GPA, LINUX_PT_END},	 {LINUX_CMDLINE_GPA, LINUX_CMDLINE_GPA + LINUX_CMDLINE_MAX},
	    {kernel, kernel + img_size - SETUP}, {initrd_gpa, initrd_gpa + initrd_size},
	};

	for (u64 a = 0; a < fake_vm.ram_bytes; a++) {
		bool known = false;

		if (!fake_vm.ram[a])
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(area); i++)
			known |= a >= area[i].start && a < area[i].end;
		if (!known)
			test_fail(__FILE__, __LINE__, "guest byte %#llx was written (%#x)", (unsigned long long)a,
				  fake_vm.ram[a]);
	}
}

/* ---- good images ---- */

TEST(linux_is_bzimage_checks_both_magics)
{
	setup();
	CHECK(linux_is_bzimage(img, img_size));
	CHECK(linux_is_bzimage(img, 0x206));
	CHECK(!linux_is_bzimage(img, 0x205));
	CHECK(!linux_is_bzimage(NULL, img_size));
	img[0x1fe] = 0x54;
	CHECK(!linux_is_bzimage(img, img_size));
	bzimage();
	img[0x205] = 'T';
	CHECK(!linux_is_bzimage(img, img_size));
	memcpy(img, "\177ELF", 4);
	CHECK(!linux_is_bzimage(img, 3));
}

TEST(linux_zero_page_is_complete_and_exact)
{
	static u8 want[4096];

	setup();
	CHECK_EQ(load(), 0);
	expect_zero_page(want, img, PREF, 0, 0, RAM, e820_64m, ARRAY_SIZE(e820_64m));
	check_zero_page(want);
	/* A few fields spelled out, so a mistake shared by the loader and expect_zero_page would still show. */
	CHECK_EQ(get(ZP + 0x210, 1), 0xff);
	CHECK_EQ(get(ZP + 0x211, 1), 0xa1);
	CHECK_EQ(get(ZP + 0x214, 4), PREF);
	CHECK_EQ(get(ZP + 0x228, 4), 0x20000);
	CHECK_EQ(get(ZP + 0x070, 8), 0xf0000);
	CHECK_EQ(get(ZP + 0x1ef, 1), 0); /* sentinel */
	CHECK_EQ(get(ZP + 0x1e0, 4), (RAM - MiB) >> 10);
	CHECK_EQ(get(ZP + 0x202, 4), 0x53726448);
	check_zero(ZP + HDR_END, 0x290 - HDR_END); /* nothing past the header's own length is copied */
	check_e820(e820_64m, ARRAY_SIZE(e820_64m));
}

TEST(linux_kernel_and_cmdline_land_where_expected)
{
	setup();
	CHECK_EQ(load(), 0);
	check_bytes(PREF, img + SETUP, PM_SIZE);
	check_bytes(LINUX_CMDLINE_GPA, (const u8 *)CMDLINE, sizeof(CMDLINE)); /* with its NUL */
	check_only_known_areas(PREF, 0, 0);
	CHECK_LOG("kernel 6.9.0-synth (protocol 2.15) at 0x1000000, runs at 0x1000000 (init_size 0x800000)");
	CHECK_LOG("no initrd; command line 28 bytes; 64-bit entry at 0x1000200");
}

TEST(linux_setup_sects_zero_means_four)
{
	setup();
	img[0x1f1] = 0;
	CHECK_EQ(load(), 0);
	check_bytes(PREF, img + SETUP, PM_SIZE);
	CHECK_EQ(get(ZP + 0x1f1, 1), 0); /* the header is copied as the kernel wrote it */
}

TEST(linux_64bit_page_tables_map_4g_identity)
{
	setup();
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(LINUX_PML4_GPA, 8), LINUX_PDPT_GPA | 3);
	check_zero(LINUX_PML4_GPA + 8, 4096 - 8);
	for (u64 i = 0; i < 4; i++)
		CHECK_EQ(get(LINUX_PDPT_GPA + 8 * i, 8), (LINUX_PD_GPA + 4096 * i) | 3);
	check_zero(LINUX_PDPT_GPA + 32, 4096 - 32);
	for (u64 i = 0; i < 2048; i++) {
		u64 pde = get(LINUX_PD_GPA + 8 * i, 8);

		if (pde != ((i << 21) | 0x83))
			test_fail(__FILE__, __LINE__, "PDE %llu is %#llx", (unsigned long long)i,
				  (unsigned long long)pde);
	}
	CHECK_EQ(get(LINUX_PT_END - 8, 8), 0xffe00000ULL | 0x83);
}

/* The access byte and flags nibble of a GDT descriptor, in the packed attr layout of struct vcpu_segment. */
static u16 desc_attr(u64 d)
{
	return (u16)(((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 8));
}

static void check_flat(u64 d)
{
	CHECK_EQ(d & 0xffff, 0xffff);		/* limit 15:0 */
	CHECK_EQ((d >> 48) & 0xf, 0xf);		/* limit 19:16 */
	CHECK_EQ(d & 0xff000000ffff0000ULL, 0); /* base */
}

TEST(linux_64bit_gdt_and_entry_state)
{
	setup();
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(LINUX_GDT_GPA, 8), 0);
	CHECK_EQ(get(LINUX_GDT_GPA + 8, 8), 0);
	CHECK_EQ(get(LINUX_GDT_GPA + 0x10, 8), 0x00af9b000000ffffULL);
	CHECK_EQ(get(LINUX_GDT_GPA + 0x18, 8), 0x00cf93000000ffffULL);
	check_flat(get(LINUX_GDT_GPA + 0x10, 8));
	CHECK_EQ(st.gdt.base, LINUX_GDT_GPA);
	CHECK_EQ(st.gdt.limit, 0x1f);

	CHECK_EQ(st.seg[SEG_CS].selector, 0x10);
	CHECK_EQ(st.seg[SEG_CS].base, 0);
	CHECK_EQ(st.seg[SEG_CS].limit, 0xffffffff);
	CHECK_EQ(st.seg[SEG_CS].attr, 0xa9b); /* code, S, P, L, G; D clear */
	CHECK_EQ(st.seg[SEG_CS].attr, desc_attr(get(LINUX_GDT_GPA + 0x10, 8)));
	for (int s = 0; s < NR_SEGS; s++) {
		if (s == SEG_CS || s == SEG_LDTR || s == SEG_TR)
			continue;
		CHECK_EQ(st.seg[s].selector, 0x18);
		CHECK_EQ(st.seg[s].base, 0);
		CHECK_EQ(st.seg[s].limit, 0xffffffff);
		CHECK_EQ(st.seg[s].attr, 0xc93);
		CHECK_EQ(st.seg[s].attr, desc_attr(get(LINUX_GDT_GPA + 0x18, 8)));
	}
	CHECK_EQ(st.seg[SEG_LDTR].attr, SEG_ATTR_UNUSABLE);
	CHECK_EQ(st.seg[SEG_TR].attr, 0x08b);
	CHECK_EQ(st.seg[SEG_TR].limit, 0x67);
	CHECK_EQ(st.seg[SEG_TR].selector, 0);

	CHECK_EQ(st.cr0, 0x80000011ULL); /* PG, ET, PE */
	CHECK_EQ(st.cr3, LINUX_PML4_GPA);
	CHECK_EQ(st.cr4, 0x20);	  /* PAE */
	CHECK_EQ(st.efer, 0x500); /* LMA, LME */
	CHECK_EQ(st.rip, PREF + 0x200);
	CHECK_EQ(st.rflags, 0x2);
	CHECK_EQ(st.idt.base, 0);
	CHECK_EQ(st.idt.limit, 0);
	for (int r = 0; r < 16; r++)
		CHECK_EQ(regs[r], r == 6 ? ZP : 0); /* RSI is register 6 */
}

TEST(linux_32bit_entry_without_xlf_kernel_64)
{
	setup();
	put16(img + 0x236, 0x0);
	CHECK_EQ(load(), 0);
	CHECK_EQ(st.cr0, 0x11);
	CHECK_EQ(st.cr3, 0);
	CHECK_EQ(st.cr4, 0);
	CHECK_EQ(st.efer, 0);
	CHECK_EQ(st.rip, PREF);
	CHECK_EQ(get(ZP + 0x214, 4), PREF); /* code32_start */
	CHECK_EQ(st.seg[SEG_CS].selector, 0x10);
	CHECK_EQ(st.seg[SEG_CS].attr, 0xc9b);
	CHECK_EQ(st.seg[SEG_DS].selector, 0x18);
	CHECK_EQ(st.seg[SEG_SS].attr, 0xc93);
	CHECK_EQ(get(LINUX_GDT_GPA + 0x10, 8), 0x00cf9b000000ffffULL);
	CHECK_EQ(st.seg[SEG_CS].attr, desc_attr(get(LINUX_GDT_GPA + 0x10, 8)));
	CHECK_EQ(get(LINUX_GDT_GPA + 0x18, 8), 0x00cf93000000ffffULL);
	CHECK_EQ(st.rflags, 0x2);
	CHECK_EQ(regs[VCPU_RSI], ZP);
	CHECK_EQ(regs[VCPU_RBX] | regs[VCPU_RBP] | regs[VCPU_RDI] | regs[VCPU_RSP], 0);
	check_zero(LINUX_PML4_GPA, LINUX_PT_END - LINUX_PML4_GPA); /* paging off: no tables */
	CHECK_LOG("32-bit entry at 0x1000000");
}

TEST(linux_e820_maps)
{
	static const struct e820 no_acpi[] = {{0, 0x9fc00, 1}, {0x9fc00, 0x60400, 2}, {MiB, RAM - MiB, 1}};
	static const struct e820 big[] = {
	    {0, 0x9fc00, 1},
	    {0x9fc00, 0x60400, 2},
	    {MiB, 0xe0000000ULL - 0x10000 - MiB, 1},
	    {0xe0000000ULL - 0x10000, 0x10000, 3},
	    {1ULL << 32, 1ULL << 30, 1},
	};
	static u8 want[4096];

	setup();
	in.acpi_len = 0;
	in.acpi_rsdp_gpa = 0;
	CHECK_EQ(load(), 0);
	check_e820(no_acpi, ARRAY_SIZE(no_acpi));
	CHECK_EQ(get(ZP + 0x070, 8), 0);

	/* 4.5 GiB: low RAM ends at 3.5 GiB, the rest sits above 4 GiB; ACPI tables at the top of low RAM. Only the low
	 * 64 MiB are backed here, which is all this load writes. */
	setup_ram(RAM, 0xe0000000ULL + (1ULL << 30));
	in.acpi_start = 0xe0000000ULL - 0x10000;
	in.acpi_len = 0x10000;
	in.acpi_rsdp_gpa = in.acpi_start + 0x40;
	CHECK_EQ(load(), 0);
	check_e820(big, ARRAY_SIZE(big));
	expect_zero_page(want, img, PREF, 0, 0, 0xe0000000ULL, big, ARRAY_SIZE(big));
	check_zero_page(want);
}

TEST(linux_initrd_goes_high_page_aligned)
{
	static u8 want[4096];
	const u64 size = 0x12345, gpa = (RAM - size) & ~0xfffULL;

	setup();
	in.initrd = initrd;
	in.initrd_size = size;
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x218, 4), gpa);
	CHECK_EQ(get(ZP + 0x21c, 4), size);
	CHECK_EQ(get(ZP + 0x0c0, 4), 0);
	CHECK_EQ(get(ZP + 0x0c4, 4), 0);
	CHECK(gpa + size <= RAM && gpa >= PREF + INIT_SIZE);
	check_bytes(gpa, initrd, size);
	expect_zero_page(want, img, PREF, gpa, size, RAM, e820_64m, ARRAY_SIZE(e820_64m));
	check_zero_page(want);
	check_only_known_areas(PREF, gpa, size);
	CHECK_LOG("initrd at 0x3fed000 (0x12345 bytes)");
}

TEST(linux_initrd_respects_initrd_addr_max_and_kernel)
{
	const u64 size = 0x80000;

	/* initrd_addr_max is the highest byte the initrd may occupy. */
	setup();
	put32(img + 0x22c, 32 * MiB - 1);
	in.initrd = initrd;
	in.initrd_size = size;
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x218, 4), 32 * MiB - size);
	check_bytes(32 * MiB - size, initrd, size);

	/* Below initrd_addr_max the space above the kernel's init_size range is too small: it goes below the kernel. */
	setup();
	put32(img + 0x22c, PREF + INIT_SIZE + size - 2);
	in.initrd = initrd;
	in.initrd_size = size;
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x218, 4), PREF - size);
	check_bytes(PREF - size, initrd, size);
	check_only_known_areas(PREF, PREF - size, size);

	/* ... and exactly enough room above it is used. */
	setup();
	put32(img + 0x22c, PREF + INIT_SIZE + size - 1);
	in.initrd = initrd;
	in.initrd_size = size;
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x218, 4), PREF + INIT_SIZE);
}

TEST(linux_initrd_too_big_is_refused)
{
	setup();
	in.initrd = initrd;
	in.initrd_size = 60 * MiB; /* only its size matters: nothing is read before it is placed */
	CHECK_REJECT(load(), -E2BIG, "initrd of 0x3c00000 bytes does not fit");
	/* Below 1 MiB + its size there is no room at all. */
	setup();
	put32(img + 0x22c, MiB + 0x1000 - 2);
	in.initrd = initrd;
	in.initrd_size = 0x1000;
	CHECK_REJECT(load(), -E2BIG, "initrd_addr_max 0x100ffe");
}

TEST(linux_pref_address_or_relocation)
{
	/* No preferred address: the lowest 2 MiB-aligned address from 16 MiB. */
	setup();
	put64(img + 0x258, 0);
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x214, 4), 16 * MiB);
	CHECK_EQ(st.rip, 16 * MiB + 0x200);
	check_bytes(16 * MiB, img + SETUP, PM_SIZE);

	/* pref_address in the first MiB is not usable. */
	setup();
	put64(img + 0x258, 0x10000);
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x214, 4), 16 * MiB);

	/* The ACPI area sits where the kernel prefers to go: the next aligned address after it. */
	setup();
	in.acpi_start = PREF;
	in.acpi_len = 0x10000;
	in.acpi_rsdp_gpa = PREF;
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x214, 4), PREF + ALIGN);
	CHECK_LOG("at 0x1200000, runs at 0x1200000");

	/* A misaligned pref_address: loaded aligned below it, but the kernel still decompresses at pref_address
	 * (LOAD_PHYSICAL_ADDR), so the initrd must clear [pref_address, + init_size). */
	setup();
	put64(img + 0x258, PREF + MiB);
	put32(img + 0x22c, PREF + MiB + INIT_SIZE + 0x1000 - 1);
	in.initrd = initrd;
	in.initrd_size = 0x2000;
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x214, 4), PREF);
	CHECK_LOG("at 0x1000000, runs at 0x1100000");
	CHECK_EQ(get(ZP + 0x218, 4), PREF - 0x2000);

	/* A small VM: nothing fits from 16 MiB, so the kernel goes from 1 MiB, aligned. */
	setup_ram(8 * MiB, 8 * MiB);
	put64(img + 0x258, MiB);
	put32(img + 0x260, 4 * MiB);
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x214, 4), 2 * MiB);
	CHECK_EQ(st.rip, 2 * MiB + 0x200);
	check_bytes(2 * MiB, img + SETUP, PM_SIZE);

	/* pref_address beyond RAM: relocating cannot help, the kernel would decompress up there anyway. */
	setup();
	put64(img + 0x258, 128 * MiB);
	CHECK_REJECT(load(), -E2BIG, "no room for the kernel");
}

TEST(linux_not_relocatable_needs_pref_address)
{
	setup();
	img[0x234] = 0;
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x214, 4), PREF);

	setup();
	img[0x234] = 0;
	put64(img + 0x258, 128 * MiB);
	CHECK_REJECT(load(), -E2BIG, "not relocatable and pref_address 0x8000000");
	setup();
	img[0x234] = 0;
	put64(img + 0x258, PREF + 0x800);
	CHECK_REJECT(load(), -E2BIG, "not relocatable");
	setup();
	img[0x234] = 0;
	put64(img + 0x258, ~0ULL - 0xfff);
	CHECK_REJECT(load(), -E2BIG, "not relocatable");
}

TEST(linux_cmdline_bounded_by_cmdline_size)
{
	static char line[0x801];

	setup();
	memset(line, 'x', 0x7ff);
	line[0x7ff] = '\0';
	in.cmdline = line;
	CHECK_EQ(load(), 0);
	check_bytes(LINUX_CMDLINE_GPA, (const u8 *)line, 0x800);

	setup();
	memset(line, 'x', 0x800);
	line[0x800] = '\0';
	in.cmdline = line;
	CHECK_REJECT(load(), -E2BIG, "command line of 2048 characters is longer than the kernel's cmdline_size 2047");

	setup();
	in.cmdline = NULL;
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(LINUX_CMDLINE_GPA, 1), 0);
	CHECK_LOG("command line 0 bytes");
}

/* ---- malformed images ---- */

TEST(linux_reject_truncated_at_each_field)
{
	static const struct {
		u32 off, width;
		const char *name;
	} f[] = {
	    {0x1fe, 2, "boot_flag"},	    {0x202, 4, "header"},
	    {0x206, 2, "version"},	    {0x20e, 2, "kernel_version"},
	    {0x211, 1, "loadflags"},	    {0x22c, 4, "initrd_addr_max"},
	    {0x230, 4, "kernel_alignment"}, {0x234, 1, "relocatable_kernel"},
	    {0x236, 2, "xloadflags"},	    {0x238, 4, "cmdline_size"},
	    {0x258, 8, "pref_address"},	    {0x260, 4, "init_size"},
	};
	char msg[96];

	setup();
	CHECK_REJECT(load_image(img, 0), -ENOEXEC,
		     "the 0-byte image ends before setup header field boot_flag at 0x1fe");
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		for (u32 cut = f[i].off; cut < f[i].off + f[i].width; cut++) {
			snprintf(msg, sizeof(msg), "the %u-byte image ends before setup header field %s at %#x", cut,
				 f[i].name, f[i].off);
			CHECK_REJECT(load_image(img, cut), -ENOEXEC, msg);
		}
	}
	for (u32 cut = 0x264; cut < HDR_END; cut++)
		CHECK_REJECT(load_image(img, cut), -ENOEXEC, "ends inside the setup header, which runs to 0x26c");
	for (u32 cut = HDR_END; cut <= SETUP; cut += 0x33)
		CHECK_REJECT(load_image(img, cut), -ENOEXEC,
			     "setup_sects 4: the setup area of 0xa00 bytes leaves nothing");
	CHECK_REJECT(load_image(img, SETUP), -ENOEXEC, "setup_sects 4");
}

TEST(linux_reject_wrong_magic)
{
	setup();
	put16(img + 0x1fe, 0xaa56);
	CHECK_REJECT(load(), -ENOEXEC, "boot_flag at 0x1fe is 0xaa56, not 0xAA55");
	setup();
	memcpy(img + 0x202, "HdrZ", 4);
	CHECK_REJECT(load(), -ENOEXEC, "not \"HdrS\"");
}

TEST(linux_reject_old_protocol)
{
	setup();
	put16(img + 0x206, 0x020b);
	CHECK_REJECT(load(), -ENOEXEC, "boot protocol 2.11 is too old: 2.12 or later is needed");
	setup();
	put16(img + 0x206, 0x0200);
	CHECK_REJECT(load(), -ENOEXEC, "boot protocol 2.00 is too old");
	setup();
	put16(img + 0x206, 0x020c);
	CHECK_EQ(load(), 0);
}

TEST(linux_reject_bad_header_length)
{
	setup();
	img[0x200] = 0xe9;
	CHECK_REJECT(load(), -ENOEXEC, "the jump at 0x200 is e9 6a");
	setup();
	img[0x201] = 0x264 - 0x202 - 1;
	CHECK_REJECT(load(), -ENOEXEC, "short jump (0xEB) ending the header between 0x264 and 0x281");
	setup();
	img[0x201] = 0x80; /* a backward jump */
	CHECK_REJECT(load(), -ENOEXEC, "setup header length");
	/* The longest header is copied whole, and not a byte further. */
	setup();
	img[0x201] = 0x7f;
	CHECK_EQ(load(), 0);
	check_bytes(ZP + 0x26c, img + 0x26c, 0x281 - 0x26c);
	check_zero(ZP + 0x281, 0x290 - 0x281);
}

TEST(linux_reject_setup_sects_too_big)
{
	setup();
	img[0x1f1] = 200;
	CHECK_REJECT(load(), -ENOEXEC, "setup_sects 200: the setup area of 0x19200 bytes leaves nothing of the 0x3a00");
	setup();
	img[0x1f1] = 255;
	CHECK_REJECT(load(), -ENOEXEC, "setup_sects 255");
}

TEST(linux_reject_missing_loaded_high)
{
	setup();
	img[0x211] = 0x20;
	CHECK_REJECT(load(), -ENOEXEC, "loadflags 0x20 lack LOADED_HIGH");
}

TEST(linux_reject_bad_kernel_alignment)
{
	static const u32 bad[] = {0, 0x800, 0x3000, 0x200001, 0x80000001};
	char msg[64];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		setup();
		put32(img + 0x230, bad[i]);
		snprintf(msg, sizeof(msg), "kernel_alignment %#x is not a power of two", bad[i]);
		CHECK_REJECT(load(), -ENOEXEC, msg);
	}
	/* 4 KiB is the smallest accepted. */
	setup();
	put32(img + 0x230, 0x1000);
	CHECK_EQ(load(), 0);
}

TEST(linux_reject_init_size)
{
	setup();
	put32(img + 0x260, 0);
	CHECK_REJECT(load(), -ENOEXEC, "init_size is 0");
	setup();
	put32(img + 0x260, 0xfff00000);
	CHECK_REJECT(load(), -E2BIG, "no room for the kernel");
	/* 60 MiB from pref_address does not fit 64 MiB, and relocating lower cannot help. */
	setup();
	put32(img + 0x260, 60 * MiB);
	CHECK_REJECT(load(), -E2BIG, "init_size 0x3c00000");
	/* Exactly to the end of RAM fits. */
	setup();
	put32(img + 0x260, RAM - PREF);
	CHECK_EQ(load(), 0);
}

TEST(linux_reject_64bit_entry_outside_image)
{
	setup();
	img_size = SETUP + 0x200;
	CHECK_REJECT(load(), -ENOEXEC, "the 64-bit entry at offset 0x200 lies beyond the 0x200-byte protected-mode");
	/* Without XLF_KERNEL_64 the same image starts at its first byte. */
	put16(img + 0x236, 0);
	CHECK_EQ(load(), 0);
	CHECK_EQ(st.rip, PREF);
}

TEST(linux_kernel_version_read_is_bounded)
{
	setup();
	put16(img + 0x20e, 0);
	CHECK_EQ(load(), 0);
	CHECK_LOG("kernel (no version) (protocol");

	/* Pointing past the setup area: not read. */
	setup();
	put16(img + 0x20e, SETUP - 0x200);
	CHECK_EQ(load(), 0);
	CHECK_LOG("kernel (no version) (protocol");

	/* Running unterminated to the end of the setup area, with a control character: cut there, made printable. */
	setup();
	put16(img + 0x20e, SETUP - 5 - 0x200);
	memcpy(img + SETUP - 5, "ab\001cd", 5);
	CHECK_EQ(load(), 0);
	CHECK_LOG("kernel ab?cd (protocol");

	/* Very long: cut to the log's limit. */
	setup();
	memset(img + 0x400, 'v', 0x200);
	img[0x600] = '\0';
	CHECK_EQ(load(), 0);
	CHECK_LOG("kernel vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv (protocol");
}

TEST(linux_acpi_area_and_rsdp_checks)
{
	setup();
	in.acpi_rsdp_gpa = 0xd0000;
	CHECK_REJECT(load(), -EINVAL, "ACPI RSDP at 0xd0000 is not inside the ACPI area");
	setup();
	in.acpi_rsdp_gpa = 0x100000 - 19;
	CHECK_REJECT(load(), -EINVAL, "ACPI RSDP at 0xfffed");
	setup();
	in.acpi_rsdp_gpa = 0x100000 - 20;
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x070, 8), 0x100000 - 20);

	setup();
	in.acpi_start = RAM - 0x1000;
	in.acpi_len = 0x2000;
	in.acpi_rsdp_gpa = 0;
	CHECK_REJECT(load(), -EINVAL, "ACPI area [0x3fff000, +0x2000) is not inside one guest RAM range");
	setup();
	in.acpi_start = ~0ULL - 0xfff;
	in.acpi_len = 0x2000; /* wraps */
	in.acpi_rsdp_gpa = 0;
	CHECK_REJECT(load(), -EINVAL, "is not inside one guest RAM range");
	setup();
	in.acpi_start = 0x7000;
	in.acpi_len = 0x100;
	in.acpi_rsdp_gpa = 0;
	CHECK_REJECT(load(), -EINVAL, "overlaps the loader's GDT, zero page, page tables or command line");

	/* No area: the RSDP need only be in RAM. */
	setup();
	in.acpi_len = 0;
	in.acpi_rsdp_gpa = 0xf0000;
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x070, 8), 0xf0000);
	setup();
	in.acpi_len = 0;
	in.acpi_rsdp_gpa = RAM - 4;
	CHECK_REJECT(load(), -EINVAL, "is not inside guest RAM");
}

TEST(linux_bad_arguments)
{
	struct guest_mem_layout bad;

	setup();
	CHECK_REJECT(linux_load(&vm, NULL, img_size, &in, &layout, &st, regs), -EINVAL, "missing image");
	CHECK_REJECT(linux_load(&vm, img, img_size, NULL, &layout, &st, regs), -EINVAL, "missing image");
	CHECK_REJECT(linux_load(&vm, img, img_size, &in, NULL, &st, regs), -EINVAL, "missing image");
	CHECK_REJECT(linux_load(&vm, img, img_size, &in, &layout, NULL, regs), -EINVAL, "missing image");
	CHECK_REJECT(linux_load(&vm, img, img_size, &in, &layout, &st, NULL), -EINVAL, "missing image");
	in.initrd_size = 10;
	CHECK_REJECT(load(), -EINVAL, "initrd of 0xa bytes but no data");
	in.initrd_size = 0;
	bad = layout;
	bad.nr_ram = 0;
	CHECK_REJECT(linux_load(&vm, img, img_size, &in, &bad, &st, regs), -EINVAL, "memory layout has 0 ranges");
	bad = layout;
	bad.ram[0].base = 0x1000;
	CHECK_REJECT(linux_load(&vm, img, img_size, &in, &bad, &st, regs), -EINVAL, "at least 2 MiB of RAM at 0");
	bad = layout;
	bad.nr_ram = 2;
	bad.ram[1] = (struct guest_mem_range){RAM - 0x1000, 0x2000};
	CHECK_REJECT(linux_load(&vm, img, img_size, &in, &bad, &st, regs), -EINVAL, "out of order");
}

/* ---- a real kernel, when there is one ---- */

static char real_path[4096];

static bool find_real_kernel(void)
{
	static const char *const globs[] = {"build/linux/vmlinuz*", "build/linux/boot/vmlinuz-*",
					    "build/linux/*/boot/vmlinuz-*", "/boot/vmlinuz-*"};
	const char *env = getenv("LINUX_BZIMAGE");

	if (env && *env) {
		snprintf(real_path, sizeof(real_path), "%s",
			 env); /* asked for by name: a missing file fails the test */
		return true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(globs); i++) {
		glob_t g;
		bool found = glob(globs[i], 0, NULL, &g) == 0 && g.gl_pathc > 0;

		if (found)
			snprintf(real_path, sizeof(real_path), "%s", g.gl_pathv[g.gl_pathc - 1]);
		globfree(&g);
		if (found)
			return true;
	}
	return false;
}

static u8 *read_file(const char *path, u64 *size)
{
	FILE *f = fopen(path, "rb");
	u8 *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*size = (u64)n;
	}
	fclose(f);
	return buf;
}

static u64 rd(const u8 *p, u32 off, u32 width)
{
	u64 v = 0;

	memcpy(&v, p + off, width);
	return v;
}

/* The real kernel's header, read here independently of the loader, must be what the loader acted on. */
static void linux_real_kernel_header(void)
{
	static const struct e820 e820_real[] = {
	    {0, 0x9fc00, 1}, {0x9fc00, 0x40400, 2}, {0xe0000, 0x20000, 3}, {MiB, 256 * MiB - MiB, 1}};
	static u8 want[4096];
	u64 size = 0, load_gpa, run, init_size, align, initrd_gpa, isize = 0x10000;
	u8 *k = read_file(real_path, &size);
	u32 sects, setup_size, version, xlf;
	char release[65] = "", logline[160];

	printf("  real kernel: %s\n", real_path);
	if (!k)
		test_fail(__FILE__, __LINE__, "cannot read %s", real_path);
	CHECK(size > 0x1000);
	CHECK(linux_is_bzimage(k, size));
	sects = k[0x1f1] ? k[0x1f1] : 4;
	setup_size = (sects + 1) * 512;
	version = (u32)rd(k, 0x206, 2);
	xlf = (u32)rd(k, 0x236, 2);
	align = rd(k, 0x230, 4);
	init_size = rd(k, 0x260, 4);
	CHECK(version >= 0x020c);
	CHECK(k[0x211] & 1);
	CHECK(k[0x234]); /* every distribution kernel is relocatable */
	CHECK(rd(k, 0x258, 8) % align == 0);
	CHECK(rd(k, 0x20e, 2) && rd(k, 0x20e, 2) + 0x200 < setup_size);
	for (u32 i = 0; i < 64 && k[rd(k, 0x20e, 2) + 0x200 + i] > ' '; i++)
		release[i] = (char)k[rd(k, 0x20e, 2) + 0x200 + i];
	CHECK(strlen(release) > 0);

	setup_ram(256 * MiB, 256 * MiB);
	in.initrd = initrd;
	in.initrd_size = isize;
	CHECK_EQ(load_image(k, size), 0);

	load_gpa = rd(k, 0x258, 8); /* pref_address fits 256 MiB for any sane kernel */
	run = load_gpa;
	CHECK(run + init_size <= 256 * MiB);
	CHECK_EQ(get(ZP + 0x214, 4), load_gpa);
	CHECK_EQ(st.rip, (xlf & 1) ? load_gpa + 0x200 : load_gpa);
	check_bytes(load_gpa, k + setup_size, size - setup_size);
	initrd_gpa = get(ZP + 0x218, 4);
	CHECK_EQ(initrd_gpa, (MIN(rd(k, 0x22c, 4) + 1, 256 * MiB) - isize) & ~0xfffULL);
	CHECK(initrd_gpa >= run + init_size || initrd_gpa + isize <= load_gpa);
	check_bytes(initrd_gpa, initrd, isize);
	expect_zero_page(want, k, load_gpa, initrd_gpa, isize, 256 * MiB, e820_real, ARRAY_SIZE(e820_real));
	check_zero_page(want);
	snprintf(logline, sizeof(logline), "kernel %s (protocol %u.%02u) at %#llx", release, version >> 8,
		 version & 0xff, (unsigned long long)load_gpa);
	CHECK_LOG(logline);
	printf("  %s", test_last_log);
	free(k);
	fake_vm_destroy(&vm);
}

/* Registered only when a kernel is there: a skipped test prints SKIP, never a PASS that checked nothing. */
__attribute__((constructor)) static void register_real_kernel_test(void)
{
	if (find_real_kernel())
		test_register("linux_real_kernel_header", linux_real_kernel_header);
	else
		printf("SKIP linux_real_kernel_header: no kernel in $LINUX_BZIMAGE, build/linux/ or /boot\n");
}
