/* The multiboot2 header. GRUB loads the ELF segments at their physical addresses and enters _start in 32-bit
 * protected mode with paging off, on BIOS and on UEFI alike (we ask for no EFI boot-services handover). */
#define MB2_MAGIC 0xe85250d6
#define MB2_ARCH_I386 0

	.section .multiboot2, "a"
	.balign 8
mb2_header:
	.long MB2_MAGIC
	.long MB2_ARCH_I386
	.long mb2_header_end - mb2_header
	.long -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))

	/* Information request: the tags we cannot boot without. GRUB fails the boot rather than hand us less. */
	.balign 8
1:	.short 1, 0
	.long 2f - 1b
	.long 1         /* command line */
	.long 6         /* memory map */
2:
	/* Module alignment: page-aligned modules can later be mapped into guests without copying. */
	.balign 8
	.short 6, 0
	.long 8

	/* End tag. */
	.balign 8
	.short 0, 0
	.long 8
mb2_header_end:
