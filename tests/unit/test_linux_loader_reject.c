/* Unit tests of the Linux boot protocol loader (vm/loader/linux.c) on malformed images and bad arguments: each is
 * refused with its error and log line, leaving guest RAM untouched. */
#include <stdlib.h>
#include <string.h>

#include "linux_loader_fixture.h"

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
	    {0x248, 4, "payload_offset"},   {0x24c, 4, "payload_length"},
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
	put32(img + 0x1f4, 0x200 / 16); /* syssize: the image is whole, and its kernel too short for the entry */
	put32(img + 0x248, 0);
	put32(img + 0x24c, 0x100);
	CHECK_REJECT(load(), -ENOEXEC, "the 64-bit entry at offset 0x200 lies beyond the 0x200-byte protected-mode");
	/* Without XLF_KERNEL_64 the same image starts at its first byte. */
	put16(img + 0x236, 0);
	CHECK_EQ(load(), 0);
	CHECK_EQ(st.rip, PREF);
}

/* A bzImage cut short (boot.rst: syssize is the protected-mode kernel's size in 16-byte paragraphs): every length
 * below what setup_sects and syssize promise is refused with the sizes, and guest RAM stays untouched. */
TEST(linux_reject_truncated_image)
{
	char msg[256];

	setup();
	for (u64 cut = SETUP + 1; cut < SETUP + PM_SIZE; cut += cut < SETUP + 0x40 ? 1 : 0x1f1) {
		snprintf(
		    msg, sizeof(msg),
		    "truncated image: it has %#llx bytes, and its header promises 0x3a00 (setup_sects 4: a 0xa00-byte "
		    "setup area; syssize 0x300: a 0x3000-byte protected-mode kernel), %#llx more",
		    (unsigned long long)cut, (unsigned long long)(SETUP + PM_SIZE - cut));
		CHECK_REJECT(load_image(img, cut), -ENOEXEC, msg);
	}
	/* Half of it, as a copy cut short would leave it, and one byte short. */
	CHECK_REJECT(load_image(img, (SETUP + PM_SIZE) / 2), -ENOEXEC, "truncated image: it has 0x1d00 bytes");
	CHECK_REJECT(load_image(img, SETUP + PM_SIZE - 1), -ENOEXEC, "0x3000-byte protected-mode kernel), 0x1 more");
	/* Whole, it loads; with bytes after the kernel (a signed kernel's signature) too, and they are loaded. */
	CHECK_EQ(load_image(img, SETUP + PM_SIZE), 0);
	setup();
	CHECK_EQ(load_image(img, SETUP + PM_SIZE + 0x5c0), 0);
	check_bytes(PREF, img + SETUP, PM_SIZE + 0x5c0);
	/* A larger syssize is a longer promise. */
	setup();
	put32(img + 0x1f4, PM_SIZE / 16 + 1);
	CHECK_REJECT(load(), -ENOEXEC, "header promises 0x3a10 (setup_sects 4: a 0xa00-byte setup area; syssize 0x301");
	setup();
	put32(img + 0x1f4, 0xffffffff); /* 64 GiB: no overflow */
	CHECK_REJECT(load(), -ENOEXEC, "syssize 0xffffffff: a 0xffffffff0-byte protected-mode kernel");
	setup();
	put32(img + 0x1f4, 0);
	CHECK_REJECT(load(), -ENOEXEC, "syssize is 0: the header promises no protected-mode kernel");
}

TEST(linux_reject_payload_outside_kernel)
{
	setup();
	put32(img + 0x24c, PM_SIZE - PAYLOAD_OFF + 1);
	CHECK_REJECT(load(), -ENOEXEC,
		     "payload_offset 0x2cc + payload_length 0x2d35 run past the 0x3000-byte protected-mode kernel "
		     "(syssize 0x300)");
	setup();
	put32(img + 0x248, 0xffffffff); /* no wrap in 32 bits */
	put32(img + 0x24c, 2);
	CHECK_REJECT(load(), -ENOEXEC, "payload_offset 0xffffffff + payload_length 0x2 run past");
	/* To the kernel's last byte is inside. */
	setup();
	put32(img + 0x24c, PM_SIZE - PAYLOAD_OFF);
	CHECK_EQ(load(), 0);
}

TEST(linux_reject_init_size_below_kernel)
{
	setup();
	put32(img + 0x260, PM_SIZE - 16);
	CHECK_REJECT(load(), -ENOEXEC,
		     "init_size 0x2ff0 is smaller than the 0x3000-byte protected-mode kernel (syssize 0x300)");
	setup();
	put32(img + 0x260, PM_SIZE);
	CHECK_EQ(load(), 0);
}

/* linux_check_image: the same header checks before the VM exists, named by the VM's name alone. */
TEST(linux_check_image_without_a_vm)
{
	setup();
	CHECK_EQ(linux_check_image("early", img, img_size), 0);
	CHECK_EQ(linux_check_image("early", img, img_size / 2), -ENOEXEC);
	CHECK_LAST_LOG("vm early: linux: truncated image: it has 0x1d00 bytes");
	put16(img + 0x206, 0x020b);
	CHECK_EQ(linux_check_image("early", img, img_size), -ENOEXEC);
	CHECK_LAST_LOG("vm early: linux: boot protocol 2.11 is too old");
	CHECK_EQ(linux_check_image("early", NULL, img_size), -EINVAL);
	CHECK(ram_untouched());
}

TEST(linux_kernel_version_read_is_bounded)
{
	setup();
	put16(img + 0x20e, 0);
	CHECK_EQ(load(), 0);
	CHECK_LAST_LOG("kernel (no version) (protocol");

	/* Pointing past the setup area: not read. */
	setup();
	put16(img + 0x20e, SETUP - 0x200);
	CHECK_EQ(load(), 0);
	CHECK_LAST_LOG("kernel (no version) (protocol");

	/* Running unterminated to the end of the setup area, with a control character: cut there, made printable. */
	setup();
	put16(img + 0x20e, SETUP - 5 - 0x200);
	memcpy(img + SETUP - 5, "ab\001cd", 5);
	CHECK_EQ(load(), 0);
	CHECK_LAST_LOG("kernel ab?cd (protocol");

	/* Very long: cut to the log's limit. */
	setup();
	memset(img + 0x400, 'v', 0x200);
	img[0x600] = '\0';
	CHECK_EQ(load(), 0);
	CHECK_LAST_LOG("kernel vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv (protocol");
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
