/* The Multiboot (version 1) loader: puts a guest kernel, its modules and the boot information into guest memory the
 * way QEMU's -kernel does, and says where the vCPU starts. The kernel image and modules are host buffers (GRUB
 * modules through the direct map) and untrusted: every field is checked before anything is written to the guest. */
#ifndef VM_LOADER_MULTIBOOT_H
#define VM_LOADER_MULTIBOOT_H

#include "hv/types.h"

struct vm;

#define MULTIBOOT_HEADER_MAGIC	   0x1BADB002u /* in the image */
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u /* in EAX at entry */
#define MULTIBOOT_SEARCH_LIMIT	   8192	       /* the header lies wholly in the image's first 8 KiB */
#define MULTIBOOT_MAX_MODULES	   8
#define MULTIBOOT_CMDLINE_MAX	   4096 /* any command-line string, with its NUL */

/* The boot information (struct, memory map, module list, strings) is built from here upward, below the EBDA. */
#define MULTIBOOT_INFO_BASE  0x9000
#define MULTIBOOT_INFO_LIMIT 0x9fc00

/* Guest RAM as the VM's memslots lay it out. The loader derives the Multiboot memory map from it (the legacy holes
 * in the first MiB are marked reserved there) and refuses to put anything outside it. */
#define GUEST_MEM_MAX_RANGES 4
#define GUEST_LOW_RAM_END    0xe0000000ULL /* 3.5 GiB: RAM beyond it moves above 4 GiB, leaving a PCI hole */

struct guest_mem_range {
	u64 base, len; /* page aligned */
};

/* Sorted and disjoint; ram[0] starts at 0 and is at least 2 MiB. */
struct guest_mem_layout {
	u32 nr_ram;
	struct guest_mem_range ram[GUEST_MEM_MAX_RANGES];
};

/* The PC layout for mem_bytes of RAM: [0, mem) when mem <= 3.5 GiB, else [0, 3.5G) and [4G, 4G + mem - 3.5G). The
 * VM's memslots must match it. Returns 0, or -EINVAL below 2 MiB. */
int guest_mem_layout_pc(struct guest_mem_layout *layout, u64 mem_bytes);
/* 0 when layout is sorted, disjoint, page-aligned and starts with at least 2 MiB at 0; else -EINVAL, logged. Both
 * loaders require it. */
int guest_mem_layout_check(struct vm *vm, const struct guest_mem_layout *l);

/* A module for the guest: data[0..size) is copied into guest memory; cmdline is its Multiboot string (NULL = ""). */
struct mb_module {
	const void *data;
	u64 size;
	const char *cmdline;
};

/*
 * Where the vCPU starts. The caller enters it in 32-bit protected mode with paging off, flat 4 GiB code and data
 * segments, EAX = MULTIBOOT_BOOTLOADER_MAGIC, EBX = mbi_gpa, EFLAGS = 0x2 (interrupts off), at EIP = entry.
 */
struct multiboot_boot_state {
	u32 entry;
	u32 mbi_gpa;
};

/*
 * Load a Multiboot kernel image[0..size) with command line cmdline (NULL = "", passed verbatim: QEMU and GRUB put the
 * kernel's file name first, we do not) and mods[0..nmods) into vm's RAM as described by layout, and fill *out.
 *
 * Kernel: with header flags bit 16 the a.out-kludge address fields decide what is loaded where; otherwise the image
 * must be an ELF32 (i386) or ELF64 (x86-64, an extension QEMU refuses) executable whose PT_LOAD segments are loaded
 * at p_paddr (entry = e_entry, translated from virtual to physical when it lies in an executable segment whose
 * p_vaddr differs, as GRUB and QEMU do). Everything must lie in guest RAM below 4 GiB, clear of the boot information
 * at MULTIBOOT_INFO_BASE, and the entry point inside what was loaded. Header flag bit 0 (page-aligned modules) is
 * always honoured, bit 1 (memory information) always provided, bit 2 (video mode) ignored with a note; any other of
 * the required bits 0-15 makes the image unloadable.
 *
 * Modules go page-aligned after the kernel's highest loaded address (and not below 1 MiB). The boot information
 * gets flags MEM, CMDLINE, MODS, MMAP and LOADER_NAME ("hv"); no boot device.
 *
 * Returns 0, or after a pr_err naming the check that failed: -EINVAL for bad arguments or layout, -ENOEXEC for an
 * image that is not a loadable Multiboot kernel, -E2BIG when the image, the modules or the strings do not fit the
 * VM's RAM or the loader's limits, or vm_write_gpa's error. Nothing is written to the guest unless every check passed.
 */
int multiboot_load(struct vm *vm, const void *image, u64 size, const char *cmdline, const struct mb_module *mods,
		   u32 nmods, const struct guest_mem_layout *layout, struct multiboot_boot_state *out);

#endif
