/* The 32-bit entry: check that a multiboot2 loader started us on a CPU with long mode, build the early page tables,
 * enable long mode and jump to the 64-bit entry. Runs at physical addresses with paging off. Anything wrong here is
 * reported on COM1 by polling, because nothing else exists yet. */
#include "hv/layout.h"

#define MB2_BOOTLOADER_MAGIC 0x36d76289
#define COM1 0x3f8
#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_PS 0x80
#define V2P(x) ((x) - KERNEL_VIRT_BASE)

	.section .boot.text, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	movl %eax, %edi                     /* loader magic, kept in edi/esi until the 64-bit call */
	movl %ebx, %esi                     /* multiboot information, physical */

	/* Zero both BSS areas before anything lives there; GRUB zero-fills too, but a loader that does not must not
	 * leave stale page-table entries. Only eax, ecx, edi are clobbered by rep stos: save edi first. */
	movl %edi, %ebp
	movl $__boot_bss_start, %edi
	movl $__boot_bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb
	movl $V2P(__bss_start), %edi
	movl $V2P(__bss_end), %ecx
	subl %edi, %ecx
	rep stosb
	movl %ebp, %edi

	movl $boot32_stack_top, %esp

	cmpl $MB2_BOOTLOADER_MAGIC, %edi
	jne .Lno_multiboot2

	/* CPUID exists when EFLAGS.ID can be toggled. */
	pushfl
	popl %eax
	movl %eax, %ecx
	xorl $(1 << 21), %eax
	pushl %eax
	popfl
	pushfl
	popl %eax
	pushl %ecx
	popfl
	cmpl %eax, %ecx
	je .Lno_long_mode

	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb .Lno_long_mode
	movl $0x80000001, %eax
	cpuid
	testl $(1 << 29), %edx              /* LM */
	jz .Lno_long_mode
	movl %edx, %ebx                     /* keep NX (bit 20) for EFER below */

	call build_early_page_tables

	movl %cr4, %eax
	orl $(1 << 5), %eax                 /* PAE */
	movl %eax, %cr4
	movl $early_pml4, %eax
	movl %eax, %cr3

	movl $0xc0000080, %ecx              /* EFER */
	rdmsr
	orl $(1 << 8), %eax                 /* LME */
	testl $(1 << 20), %ebx
	jz 1f
	orl $(1 << 11), %eax                /* NXE, so later page tables may use NX */
1:	wrmsr

	movl %cr0, %eax
	orl $((1 << 31) | (1 << 16) | 1), %eax /* PG, WP, PE */
	movl %eax, %cr0

	lgdt early_gdt_desc
	ljmp $GDT_KERNEL_CS, $entry64

/* Identity map and direct map of the first 4 GiB with 2M pages, and the image window at KERNEL_VIRT_BASE. */
build_early_page_tables:
	movl $early_pd, %edx
	xorl %ecx, %ecx                     /* entry index over 4 * 512 entries */
1:	movl %ecx, %eax
	shll $21, %eax                      /* low 32 bits of the 2M frame address */
	orl $(PTE_P | PTE_W | PTE_PS), %eax
	movl %eax, (%edx, %ecx, 8)
	movl %ecx, %eax
	shrl $11, %eax                      /* high bits of (index << 21) */
	movl %eax, 4(%edx, %ecx, 8)
	incl %ecx
	cmpl $2048, %ecx
	jne 1b

	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $12, %eax
	addl $early_pd, %eax
	orl $(PTE_P | PTE_W), %eax
	movl %eax, early_pdpt_low(, %ecx, 8)
	incl %ecx
	cmpl $4, %ecx
	jne 2b

	movl $early_pdpt_low, %eax
	orl $(PTE_P | PTE_W), %eax
	movl %eax, early_pml4                       /* [0]: identity, for the jump into 64-bit mode */
	movl %eax, early_pml4 + 256 * 8             /* [256]: PHYS_MAP_BASE */
	movl $early_pdpt_high, %eax
	orl $(PTE_P | PTE_W), %eax
	movl %eax, early_pml4 + 511 * 8             /* [511]: KERNEL_VIRT_BASE window */
	movl $early_pd, %eax
	orl $(PTE_P | PTE_W), %eax
	movl %eax, early_pdpt_high + 510 * 8        /* -2 GiB maps physical 0..1 GiB */
	ret

.Lno_multiboot2:
	movl $msg_no_mb2, %esi
	jmp .Lfatal
.Lno_long_mode:
	movl $msg_no_lm, %esi
.Lfatal:
	call early_serial_init
1:	lodsb
	testb %al, %al
	jz 3f
	movb %al, %bl
	movw $(COM1 + 5), %dx
2:	inb %dx, %al
	testb $0x20, %al
	jz 2b
	movw $COM1, %dx
	movb %bl, %al
	outb %al, %dx
	jmp 1b
3:	cli
	hlt
	jmp 3b

early_serial_init:
	movw $(COM1 + 1), %dx
	xorb %al, %al
	outb %al, %dx                       /* no interrupts */
	movw $(COM1 + 3), %dx
	movb $0x80, %al
	outb %al, %dx                       /* DLAB */
	movw $COM1, %dx
	movb $1, %al
	outb %al, %dx                       /* divisor 1: 115200 baud */
	movw $(COM1 + 1), %dx
	xorb %al, %al
	outb %al, %dx
	movw $(COM1 + 3), %dx
	movb $3, %al
	outb %al, %dx                       /* 8N1 */
	ret

	.code64
entry64:
	movw $GDT_KERNEL_DS, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorw %ax, %ax
	movw %ax, %fs
	movw %ax, %gs
	movabsq $boot_stack_top, %rsp
	xorl %ebp, %ebp                     /* terminates backtraces */
	/* edi = loader magic, esi = multiboot information (zero-extended by the 32-bit moves above) */
	movabsq $kmain, %rax
	pushq $0                            /* fake return address: kmain never returns */
	jmp *%rax

	.section .boot.data, "a"
	.balign 8
early_gdt:
	.quad 0
	.quad 0x00af9a000000ffff            /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff            /* 0x10: data */
early_gdt_end:
early_gdt_desc:
	.short early_gdt_end - early_gdt - 1
	.long early_gdt
msg_no_mb2:
	.asciz "hv: fatal: not started by a multiboot2 loader (bad magic in EAX); boot this image with GRUB's multiboot2 command\r\n"
msg_no_lm:
	.asciz "hv: fatal: this CPU has no 64-bit long mode; the hypervisor needs an x86-64 processor\r\n"

	.section .boot.bss, "aw", @nobits
	.balign 4096
	.globl early_pml4
early_pml4:	.skip 4096
early_pdpt_low:	.skip 4096
early_pdpt_high: .skip 4096
early_pd:	.skip 4 * 4096
boot32_stack:	.skip 1024
boot32_stack_top:

	.section .bss
	.balign 16
	.globl boot_stack, boot_stack_top
boot_stack:	.skip BOOT_STACK_SIZE
boot_stack_top:
