/* Descriptor tables: the per-CPU GDT with its TSS, and the one IDT every CPU shares. */
#ifndef ARCH_X86_DESC_H
#define ARCH_X86_DESC_H

#include "hv/types.h"

struct tss64;

/* Saved by the interrupt stubs (isr.S), in push order reversed: the layout of the stack at the C handler. */
struct irq_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error_code;
	u64 rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

void desc_build_gdt(u64 gdt[5], struct tss64 *tss);
void desc_load_gdt(u64 *gdt, u16 size);
void desc_load_tss(void);
void idt_init(void);
void idt_load(void);

/* Vectors the hypervisor uses for itself. */
#define VEC_WAKE 0xee       /* wakes a CPU from HLT; see kernel/work.c */
#define VEC_HOST_TIMER 0xef /* bounds guest run time; see host_timer_arm */
#define VEC_SPURIOUS 0xff

#endif
