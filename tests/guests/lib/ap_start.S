/* How an application processor gets from its SIPI to C. After INIT and a SIPI with vector V, an AP runs in real mode
 * at CS = V << 8, IP = 0. smp_init() copies ap_tramp..ap_tramp_end to that page and patches in the BSP's GDTR; the
 * only code there is what must run from it: load the GDT and enter protected mode. From then on the AP runs in the
 * image, at its link address: it loads the BSP's page tables (ap_boot_cr3), turns on long mode exactly as entry.S
 * does, takes its stack from ap_boot_stack and calls smp_ap_main(). Selectors are entry.S's GDT. */

#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define SEL_CODE32 0x18

	.section .text
	.code16
	.globl ap_tramp, ap_tramp_gdtr, ap_tramp_end
ap_tramp:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	lgdtl ap_tramp_gdtr - ap_tramp      /* DS-relative: the copy in this page */
	movl %cr0, %eax
	orl $1, %eax                        /* PE */
	movl %eax, %cr0
	ljmpl $SEL_CODE32, $ap_start32      /* an absolute address in the image, below 4 GiB */
	.balign 8
ap_tramp_gdtr:
	.word 0                             /* limit, patched */
	.long 0                             /* base, patched */
ap_tramp_end:

	.code32
	.balign 16
ap_start32:
	movl $SEL_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl ap_boot_cr3, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $(1 << 5), %eax                 /* PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx              /* EFER.LME, NXE clear as on the BSP */
	rdmsr
	orl $(1 << 8), %eax
	wrmsr
	movl %cr0, %eax
	andl $0x9fffffff, %eax              /* caches on: INIT leaves CD and NW set */
	orl $0x80010001, %eax               /* PG, WP, PE */
	movl %eax, %cr0
	ljmp $SEL_CODE64, $ap_start64

	.code64
ap_start64:
	movl $SEL_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movq ap_boot_stack(%rip), %rsp
	xorl %ebp, %ebp
	call smp_ap_main
1:	cli
	hlt
	jmp 1b

	.section .data
	.balign 8
	.globl ap_boot_cr3, ap_boot_stack
ap_boot_stack:
	.quad 0
ap_boot_cr3:
	.long 0
