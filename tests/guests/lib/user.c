/* Ring 3 for guest tests (see user.h): the GDT with user segments and a 64-bit TSS, and the INT 0x80 way back. An
 * exception at CPL 3 arrives on the TSS's RSP0 stack; a test's handler may end the user call with user_abort(). */
#include "user.h"

struct dtr {
	u16 limit;
	u64 base;
} __attribute__((packed));

#define TSS_SIZE 104 /* up to and with the I/O map base, which points past the limit: no I/O bitmap */

static u64 gdt[9] __attribute__((aligned(16)));
static u8 tss[TSS_SIZE] __attribute__((aligned(16)));
static u8 kstack[16 * KiB] __attribute__((aligned(16)));
static bool ready;
u64 user_kernel_rsp; /* user.S: RSP of user_call's frame, where user_resume continues */
extern const char user_resume[];

void user_tss_set64(void)
{
	u64 rsp0 = (u64)&kstack[sizeof(kstack)];
	memcpy(&tss[4], &rsp0, 8);
}

void user_tss_set32(u32 esp0, u16 ss0)
{
	memset(&tss[4], 0, 8);
	memcpy(&tss[4], &esp0, 4);
	memcpy(&tss[8], &ss0, 2);
}

void user_abort(struct trap_frame *f, u64 ret)
{
	if ((f->cs & 3) != 3)
		trap_fatal(f);
	f->rip = (u64)user_resume;
	f->cs = SEL_CODE64;
	f->ss = SEL_DATA;
	f->rsp = user_kernel_rsp;
	f->rflags = 0x2;
	f->rax = ret;
}

static void on_int80(struct trap_frame *f)
{
	user_abort(f, f->rax);
}

void user_init(void)
{
	if (ready)
		return;
	struct dtr d;
	asm volatile("sgdt %0" : "=m"(d));
	memcpy(gdt, (const void *)d.base, 4 * 8); /* null, 64-bit code, data, 32-bit code, as entry.S has them */
	gdt[4] = 0x00cffa000000ffffULL;		  /* 32-bit code, DPL 3 */
	gdt[5] = 0x00cff2000000ffffULL;		  /* data, DPL 3 */
	gdt[6] = 0x0020fa0000000000ULL;		  /* 64-bit code, DPL 3 */
	u64 base = (u64)tss, limit = TSS_SIZE - 1;
	gdt[7] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ULL << 40 | ((limit >> 16) & 0xf) << 48 |
		 ((base >> 24) & 0xff) << 56; /* present, type 9: available 64-bit TSS */
	gdt[8] = base >> 32;
	u16 iomap = TSS_SIZE;
	memcpy(&tss[102], &iomap, 2);
	user_tss_set64();
	d.limit = sizeof(gdt) - 1;
	d.base = (u64)gdt;
	/* Same selectors for what is loaded now (0x08, 0x10): no segment reload needed. */
	asm volatile("lgdt %0" : : "m"(d) : "memory");
	asm volatile("ltr %w0" : : "r"((u16)SEL_TSS) : "memory");
	trap_set_handler(USER_VECTOR, on_int80);
	trap_set_user_gate(USER_VECTOR);
	ready = true;
}
