/* The image: a low, identity-run boot part (multiboot2 header, 32-bit entry, early page tables, boot stack)
 * followed by the 64-bit kernel, linked in the top 2 GiB and loaded right behind the boot part.
 * Preprocessed with cpp so the addresses come from include/hv/layout.h alone. */
#include "hv/layout.h"

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(_start)

SECTIONS
{
	. = KERNEL_PHYS_BASE;
	__image_start = . + KERNEL_VIRT_BASE;

	/* GRUB looks for the multiboot2 header in the first 32 KiB of the file, so it leads the first segment. */
	.boot : {
		KEEP(*(.multiboot2))
		*(.boot.text)
		*(.boot.data)
	}
	.boot.bss (NOLOAD) : ALIGN(4096) {
		__boot_bss_start = .;
		*(.boot.bss)
		__boot_bss_end = .;
	}

	. = ALIGN(4096) + KERNEL_VIRT_BASE;

	.text : AT(ADDR(.text) - KERNEL_VIRT_BASE) {
		__text_start = .;
		*(.text .text.*)
		. = ALIGN(4096);
		__text_end = .;
	}
	.rodata ALIGN(4096) : AT(ADDR(.rodata) - KERNEL_VIRT_BASE) {
		*(.rodata .rodata.*)
		. = ALIGN(16);
		__ap_tramp_start = .;
		KEEP(*(.ap_tramp))
		__ap_tramp_end = .;
		. = ALIGN(8);
		__rsb_fill_sites_start = .;
		KEEP(*(.rsb_fill_sites))
		__rsb_fill_sites_end = .;
	}
	.data ALIGN(4096) : AT(ADDR(.data) - KERNEL_VIRT_BASE) {
		*(.data .data.*)
	}
	.bss ALIGN(4096) : AT(ADDR(.bss) - KERNEL_VIRT_BASE) {
		__bss_start = .;
		*(.bss .bss.*)
		*(COMMON)
		. = ALIGN(4096);
		__bss_end = .;
	}
	__image_end = .;

	/DISCARD/ : {
		*(.note.gnu.property)
		*(.comment)
		*(.eh_frame)
	}
}
