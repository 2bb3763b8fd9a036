/* Multiboot 1 header and the 32-bit entry of every guest: check for long mode, identity-map 0..4 GiB with 2 MiB
 * pages (uncached from 3 GiB, where the LAPIC, the IOAPIC and unbacked test addresses live), enable long mode and
 * call guest_start(magic, mbi) in 64-bit code. The loader starts us as QEMU -kernel does: 32-bit protected mode,
 * paging off, flat segments, EAX = 0x2BADB002, EBX = the multiboot information. */

#define MB_MAGIC 0x1badb002
/* page-aligned modules, memory information, and the address fields (a.out kludge), so a loader may copy the image
 * raw; the same image is also a valid ELF32 whose one PT_LOAD agrees with the address fields (mbcheck.py). */
#define MB_FLAGS ((1 << 0) | (1 << 1) | (1 << 16))

#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define SEL_CODE32 0x18
#define COM1       0x3f8

	.section .multiboot, "a"
	.balign 4
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.long mb_header                     /* header_addr */
	.long __image_start                 /* load_addr */
	.long __load_end                    /* load_end_addr */
	.long __bss_end                     /* bss_end_addr */
	.long _start                        /* entry_addr */

	.section .text.entry, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	movl %eax, %ebp                     /* magic and info survive in ebp/esi: rep stos uses eax, ecx, edi */
	lgdt gdt_desc
	ljmp $SEL_CODE32, $1f
1:	movl $SEL_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss

	/* Zero the BSS (page tables, stack) in case the loader did not. */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb
	movl $stack_top, %esp
	movl %ebp, boot_magic
	movl %ebx, boot_mbi

	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	testl $(1 << 29), %edx
	jz no_long_mode

	/* PML4[0] -> PDPT; PDPT[0..3] -> the four page directories; 2048 PDEs of 2 MiB. */
	movl $boot_pdpt, %eax
	orl $3, %eax
	movl %eax, boot_pml4
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $12, %eax
	addl $boot_pd, %eax
	orl $3, %eax
	movl %eax, boot_pdpt(,%ecx,8)
	incl %ecx
	cmpl $4, %ecx
	jb 2b
	xorl %ecx, %ecx
3:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax                     /* P, W, PS */
	cmpl $1536, %ecx                    /* 3 GiB and up: PCD | PWT */
	jb 4f
	orl $0x18, %eax
4:	movl %eax, boot_pd(,%ecx,8)
	incl %ecx
	cmpl $2048, %ecx
	jb 3b

	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $(1 << 5), %eax                 /* PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx              /* EFER.LME; NXE stays clear, so bit 63 of a PTE is reserved */
	rdmsr
	orl $(1 << 8), %eax
	wrmsr
	movl %cr0, %eax
	andl $0x9fffffff, %eax              /* caches on (CD, NW clear) */
	orl $0x80010001, %eax               /* PG, WP, PE */
	movl %eax, %cr0
	ljmp $SEL_CODE64, $long_entry

no_long_mode:
	movl $msg_no_lm, %esi
5:	lodsb
	testb %al, %al
	jz 6f
	movl $COM1, %edx
	outb %al, %dx
	jmp 5b
6:	movl $0xf4, %edx
	movl $1, %eax
	outl %eax, %dx
7:	hlt
	jmp 7b

	.code64
long_entry:
	movl $SEL_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movq $stack_top, %rsp
	xorl %ebp, %ebp
	movl boot_magic(%rip), %edi
	movl boot_mbi(%rip), %esi
	call guest_start
8:	cli
	hlt
	jmp 8b

	.section .rodata
msg_no_lm:
	.asciz "TEST guest FAIL no long mode on this CPU\n"

	.section .data
	.balign 16
gdt:
	.quad 0
	.quad 0x00209a0000000000            /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff            /* 0x10: flat data */
	.quad 0x00cf9a000000ffff            /* 0x18: flat 32-bit code */
gdt_end:
	.balign 8
gdt_desc:
	.word gdt_end - gdt - 1
	.quad gdt
	.globl boot_magic, boot_mbi
boot_magic:
	.long 0
boot_mbi:
	.long 0

	.section .bss
	.balign 4096
	.globl boot_pml4, boot_pdpt, boot_pd
boot_pml4:
	.skip 4096
boot_pdpt:
	.skip 4096
boot_pd:
	.skip 4 * 4096
	.balign 16
stack:
	.skip 64 * 1024
	.globl stack_top
stack_top:
