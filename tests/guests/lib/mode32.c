/* mode32_run(): the 32-bit IDT and TSS set-up around the switch in mode32.S (see mode32.h). */
#include "mode32.h"
#include "user.h"

struct dtr32 {
	u16 limit;
	u32 base;
} __attribute__((packed));

extern char m32_stubs[], m32_pf[], m32_int80[];
void mode32_switch(struct m32_params *p); /* mode32.S */

static u64 idt32[USER_VECTOR + 1] __attribute__((aligned(16)));
struct dtr32 m32_idt_desc; /* loaded by mode32.S in compatibility mode */
static u8 kstack32[8 * KiB] __attribute__((aligned(16)));

/* A 32-bit interrupt gate (type 0xE) through the flat 32-bit code segment. */
static u64 gate32(const char *handler, int dpl)
{
	u64 a = (u64)handler;
	return (a & 0xffff) | (u64)SEL_CODE32 << 16 | (u64)(0x8e | dpl << 5) << 40 | ((a >> 16) & 0xffff) << 48;
}

/* mode32.S has these offsets as numbers. */
_Static_assert(sizeof(struct m32_op) == 36 && __builtin_offsetof(struct m32_op, res_lo) == 28, "m32_op layout");
_Static_assert(__builtin_offsetof(struct m32_params, user_fetch) == 32 &&
		   __builtin_offsetof(struct m32_params, fatal_cr2) == 52,
	       "m32_params layout");
_Static_assert(M32_READ == 13 && M32_FETCH == 15 && M32_NR_KINDS == 16, "m32_kind numbers");

bool mode32_run(struct m32_params *p)
{
	user_init();
	if (!m32_idt_desc.limit) {
		for (int v = 0; v < 32; v++)
			idt32[v] = gate32(m32_stubs + 16 * v, 0);
		idt32[14] = gate32(m32_pf, 0);
		idt32[USER_VECTOR] = gate32(m32_int80, 3);
		m32_idt_desc.limit = sizeof(idt32) - 1;
		m32_idt_desc.base = (u32)(u64)idt32;
	}
	if ((u64)p >= 4 * GiB || (p->efer & (1u << 8)))
		test_fail("mode32_run: parameters above 4 GiB or EFER.LME set");
	p->done = 0;
	p->fatal_vector = 0;
	user_tss_set32((u32)(u64)&kstack32[sizeof(kstack32)], SEL_DATA);
	mode32_switch(p);
	user_tss_set64();
	return !p->fatal_vector;
}
