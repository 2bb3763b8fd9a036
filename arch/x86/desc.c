/* GDT, TSS and IDT setup. The IDT is built once by the BSP and loaded by every CPU; each CPU has its own GDT so that
 * its TSS (and so its IST stacks) is its own. */
#include "arch/x86/desc.h"
#include "hv/compiler.h"
#include "hv/layout.h"
#include "kernel/percpu.h"

struct idt_entry {
	u16 off0;
	u16 sel;
	u8 ist;
	u8 type;
	u16 off1;
	u32 off2;
	u32 zero;
} __packed;

struct desc_ptr {
	u16 limit;
	u64 base;
} __packed;

static struct idt_entry idt[256] __aligned(16);
extern const u64 isr_stub_table[256]; /* isr.S */
extern const char isr_host_db[];      /* isr.S */

void desc_build_gdt(u64 gdt[5], struct tss64 *tss)
{
	u64 base = (u64)tss, limit = sizeof(*tss) - 1;

	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffffULL; /* 64-bit code, DPL 0 */
	gdt[2] = 0x00cf92000000ffffULL; /* data */
	/* 64-bit available TSS: a 16-byte system descriptor. */
	gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) | (((limit >> 16) & 0xf) << 48) |
		 (((base >> 24) & 0xff) << 56);
	gdt[4] = base >> 32;
}

void desc_load_gdt(u64 *gdt, u16 size)
{
	struct desc_ptr p = { .limit = size - 1, .base = (u64)gdt };

	__asm__ __volatile__("lgdt %0\n\t"
			     "pushq %1\n\t"
			     "leaq 1f(%%rip), %%rax\n\t"
			     "pushq %%rax\n\t"
			     "lretq\n"
			     "1:\n\t"
			     "movl %2, %%eax\n\t"
			     "movl %%eax, %%ds\n\t"
			     "movl %%eax, %%es\n\t"
			     "movl %%eax, %%ss\n\t"
			     :
			     : "m"(p), "i"((u64)GDT_KERNEL_CS), "i"(GDT_KERNEL_DS)
			     : "rax", "memory");
}

void desc_load_tss(void)
{
	__asm__ __volatile__("ltr %w0" ::"r"(GDT_TSS));
}

static void idt_set(int vec, u64 handler, int ist)
{
	idt[vec] = (struct idt_entry){
		.off0 = handler & 0xffff,
		.sel = GDT_KERNEL_CS,
		.ist = ist,
		.type = 0x8e, /* present, DPL 0, 64-bit interrupt gate */
		.off1 = (handler >> 16) & 0xffff,
		.off2 = handler >> 32,
	};
}

void idt_init(void)
{
	for (int v = 0; v < 256; v++)
		idt_set(v, isr_stub_table[v], 0);
	/* Exceptions that can strike with a broken stack get known-good stacks of their own. */
	idt_set(2, isr_stub_table[2], IST_NMI);
	idt_set(8, isr_stub_table[8], IST_DF);
	idt_set(18, isr_stub_table[18], IST_MC);
	/* The host uses no debug facility (its DR7 is 0x400 outside the guest), so a #DB here can only be a guest's
	 * that leaked out: Bochs 2.7's SVM keeps a guest's pending single-step trap across the #VMEXIT of the #DB
	 * intercept and delivers it again right after VMRUN, before the host's GS is back. Dropped, touching nothing. */
	idt_set(1, (u64)isr_host_db, 0);
}

void idt_load(void)
{
	struct desc_ptr p = { .limit = sizeof(idt) - 1, .base = (u64)idt };
	__asm__ __volatile__("lidt %0" ::"m"(p));
}
