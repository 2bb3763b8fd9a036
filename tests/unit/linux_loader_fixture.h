/* The fixture shared by the Linux loader tests (test_linux_loader_*.c): a synthetic bzImage (a setup area with the
 * header at 0x1f1, then a patterned protected-mode kernel) loaded from an exact-size heap copy, so ASan catches any
 * read past the image, into fake guest RAM that the checks read back. */
#ifndef LINUX_LOADER_FIXTURE_H
#define LINUX_LOADER_FIXTURE_H

#include "loader_checks.h"
#include "fake_vm.h"
#include "hv/errno.h"
#include "test.h"
#include "vm/loader/linux.h"

#define MiB	    (1ULL << 20)
#define RAM	    (64 * MiB)
#define IMG_CAP	    (128 * 1024)
#define SECTS	    4
#define SETUP	    ((SECTS + 1) * 512)
#define PM_SIZE	    0x3000 /* syssize * 16: the image ends with its protected-mode kernel */
#define PAYLOAD_OFF 0x2cc  /* as Debian's 6.1 kernel has it */
#define PAYLOAD_LEN (PM_SIZE - PAYLOAD_OFF - 0x100)
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

extern struct vm vm;
extern struct guest_mem_layout layout;
extern struct linux_boot_params_in in;
extern struct vcpu_boot_state st;
extern u64 regs[16];
extern u8 img[IMG_CAP];
extern u64 img_size;
extern u8 initrd[1 << 20];

void put16(u8 *p, u16 v);
void put32(u8 *p, u32 v);
void put64(u8 *p, u64 v);
u64 get(u64 gpa, u32 width); /* a guest-RAM read */

/* Rewrite img as a 64-bit relocatable kernel of protocol 2.15 presents itself. */
void bzimage(void);
/* A fresh VM of `ram` bytes whose layout describes `layout_mem`, default boot parameters, the initrd pattern and a
 * fresh bzImage; setup() is the default 64 MiB. */
void setup_ram(u64 ram, u64 layout_mem);
void setup(void);
/* linux_load() of src from an exact-size heap copy; load() loads img. */
int load_image(const u8 *src, u64 size);
int load(void);
bool ram_untouched(void);

void check_bytes(u64 gpa, const u8 *want, u64 len);
void check_zero(u64 gpa, u64 len);
/* The zero page the loader must build for the image src (see linux_loader_fixture.c), into zp. */
void expect_zero_page(u8 *zp, const u8 *src, u64 load_gpa, u64 initrd_gpa, u64 initrd_size, u64 low_ram,
		      const struct e820 *e, u32 ne);
void check_zero_page(const u8 *want);

#endif
