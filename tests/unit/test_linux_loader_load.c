/* Unit tests of what the Linux boot protocol loader (vm/loader/linux.c) makes of a good image, read back from fake
 * guest RAM: the whole zero page against one built here from boot.rst's offsets, the e820 map, kernel, command line
 * and initrd placement, relocation, page tables, GDT and the vCPU's entry state. */
#include <stdlib.h>
#include <string.h>

#include "linux_loader_fixture.h"

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
	CHECK_LAST_LOG("kernel 6.9.0-synth (protocol 2.15) at 0x1000000, runs at 0x1000000 (init_size 0x800000)");
	CHECK_LAST_LOG("no initrd; command line 28 bytes; 64-bit entry at 0x1000200");
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

/* The 32-bit boot protocol's state: a kernel without XLF_KERNEL_64, or any kernel with in.entry32 (entry=32). */
static void check_32bit_entry(void)
{
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
	CHECK_LAST_LOG("32-bit entry at 0x1000000");
}

TEST(linux_32bit_entry_without_xlf_kernel_64)
{
	setup();
	put16(img + 0x236, 0x0);
	check_32bit_entry();
}

TEST(linux_32bit_entry_asked_of_a_64bit_kernel)
{
	setup();
	in.entry32 = true;
	check_32bit_entry();
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
	CHECK_LAST_LOG("initrd at 0x3fed000 (0x12345 bytes)");
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
	CHECK_LAST_LOG("at 0x1200000, runs at 0x1200000");

	/* A misaligned pref_address: loaded aligned below it, but the kernel still decompresses at pref_address
	 * (LOAD_PHYSICAL_ADDR), so the initrd must clear [pref_address, + init_size). */
	setup();
	put64(img + 0x258, PREF + MiB);
	put32(img + 0x22c, PREF + MiB + INIT_SIZE + 0x1000 - 1);
	in.initrd = initrd;
	in.initrd_size = 0x2000;
	CHECK_EQ(load(), 0);
	CHECK_EQ(get(ZP + 0x214, 4), PREF);
	CHECK_LAST_LOG("at 0x1000000, runs at 0x1100000");
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
	CHECK_LAST_LOG("command line 0 bytes");
}
