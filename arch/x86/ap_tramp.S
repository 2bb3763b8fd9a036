/* The application-processor trampoline. It is copied to a page below 1 MiB and entered by SIPI in real mode at
 * CS = page >> 4, IP = 0. It goes straight from real mode to long mode (PAE, LME and PG+PE in one CR0 write), then
 * jumps to the kernel. The BSP patches the data block at the end (its offsets are fixed by this file) before each
 * SIPI: absolute addresses of the GDT and the 64-bit code, CR3 (below 4 GiB), EFER, the stack and the entry. */
#include "hv/layout.h"

	.section .ap_tramp, "a"
	.code16
	.globl ap_tramp_start
ap_tramp_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	lgdtl tramp_gdt_desc - ap_tramp_start
	movl %cr4, %eax
	orl $(1 << 5), %eax                 /* PAE */
	movl %eax, %cr4
	movl tramp_cr3 - ap_tramp_start, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx
	movl tramp_efer - ap_tramp_start, %eax
	xorl %edx, %edx
	wrmsr
	movl $0x80010001, %eax              /* PG, WP, PE */
	movl %eax, %cr0
	ljmpl *(tramp_jump - ap_tramp_start)

	.code64
tramp_long:
	movw $GDT_KERNEL_DS, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movq tramp_stack(%rip), %rsp
	movq tramp_percpu(%rip), %rdi
	movq tramp_entry(%rip), %rax
	xorl %ebp, %ebp
	pushq $0
	jmp *%rax

	.balign 8
tramp_gdt:
	.quad 0
	.quad 0x00af9a000000ffff
	.quad 0x00cf92000000ffff
	.globl tramp_gdt_desc, tramp_jump, tramp_cr3, tramp_efer, tramp_stack, tramp_percpu, tramp_entry
	.globl tramp_gdt, tramp_long
tramp_gdt_desc:
	.short 23
	.long 0                             /* patched: page + (tramp_gdt - start) */
tramp_jump:
	.long 0                             /* patched: page + (tramp_long - start) */
	.short GDT_KERNEL_CS
tramp_cr3:	.long 0
tramp_efer:	.long 0
	.balign 8
tramp_stack:	.quad 0
tramp_percpu:	.quad 0
tramp_entry:	.quad 0
	.globl ap_tramp_end
ap_tramp_end:
