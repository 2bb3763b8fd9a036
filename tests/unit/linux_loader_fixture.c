/* The synthetic bzImage, the fake VM it loads into and the guest-RAM checks behind the Linux loader tests; see
 * linux_loader_fixture.h. */
#include <stdlib.h>
#include <string.h>

#include "linux_loader_fixture.h"

struct vm vm;
struct guest_mem_layout layout;
struct linux_boot_params_in in;
struct vcpu_boot_state st;
u64 regs[16];
u8 img[IMG_CAP];
u64 img_size;
u8 initrd[1 << 20];

void put16(u8 *p, u16 v)
{
	memcpy(p, &v, 2);
}

void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}

void put64(u8 *p, u64 v)
{
	memcpy(p, &v, 8);
}

u64 get(u64 gpa, u32 width)
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
void bzimage(void)
{
	for (u64 i = 0; i < IMG_CAP; i++)
		img[i] = pattern(i);
	img[0x1f1] = SECTS;
	put32(img + 0x1f4, PM_SIZE / 16); /* syssize */
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
	put32(img + 0x248, PAYLOAD_OFF);
	put32(img + 0x24c, PAYLOAD_LEN);
	put64(img + 0x258, PREF);
	put32(img + 0x260, INIT_SIZE);
	img_size = SETUP + PM_SIZE;
}

void setup_ram(u64 ram, u64 layout_mem)
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

void setup(void)
{
	setup_ram(RAM, RAM);
}

int load_image(const u8 *src, u64 size)
{
	u8 *copy = malloc(size ? size : 1);
	int ret;

	CHECK(copy);
	memcpy(copy, src, size);
	ret = linux_load(&vm, copy, size, &in, &layout, &st, regs);
	free(copy);
	return ret;
}

int load(void)
{
	return load_image(img, img_size);
}

bool ram_untouched(void)
{
	static const u8 zeros[1 << 20];

	for (u64 off = 0; off < fake_vm.ram_bytes; off += sizeof(zeros))
		if (memcmp(fake_vm.ram + off, zeros, MIN(sizeof(zeros), fake_vm.ram_bytes - off)))
			return false;
	return true;
}

void check_bytes(u64 gpa, const u8 *want, u64 len)
{
	const u8 *g = fake_vm_gpa(gpa, len);

	CHECK(g);
	for (u64 i = 0; i < len; i++)
		if (g[i] != want[i])
			test_fail(__FILE__, __LINE__, "guest byte %#llx is %#x, expected %#x",
				  (unsigned long long)(gpa + i), g[i], want[i]);
}

void check_zero(u64 gpa, u64 len)
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
void expect_zero_page(u8 *zp, const u8 *src, u64 load_gpa, u64 initrd_gpa, u64 initrd_size, u64 low_ram,
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

void check_zero_page(const u8 *want)
{
	check_bytes(ZP, want, 4096);
}
