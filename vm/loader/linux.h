/* The Linux x86 boot protocol loader (Documentation/arch/x86/boot.rst): puts a bzImage, its initrd, command line and
 * zero page (struct boot_params) into guest memory and says how the vCPU starts: at the 64-bit entry when the kernel
 * has one, else at the 32-bit protected-mode entry. The image is a GRUB module, so untrusted: every header field is
 * checked before anything is written to the guest. */
#ifndef VM_LOADER_LINUX_H
#define VM_LOADER_LINUX_H

#include "arch/x86/virt.h"
#include "hv/types.h"
#include "vm/loader/multiboot.h" /* struct guest_mem_layout */

struct vm;

/*
 * Guest memory the loader uses for itself, all in conventional memory below the EBDA and clear of each other (the
 * loader checks that at build time). The kernel, the initrd and the ACPI area must stay clear of them.
 *
 *   0x06000  GDT: null, null, __BOOT_CS (0x10), __BOOT_DS (0x18)
 *   0x07000  zero page (struct boot_params, 4 KiB); RSI/ESI points here at entry
 *   0x09000  PML4, 0x0a000 PDPT, 0x0b000-0x0efff four page directories: 2 MiB pages mapping [0, 4 GiB) 1:1
 *            (64-bit entry only; the area is left alone for the 32-bit entry)
 *   0x20000  command line, NUL-terminated, at most LINUX_CMDLINE_MAX bytes with the NUL
 */
#define LINUX_GDT_GPA	    0x6000ULL
#define LINUX_ZERO_PAGE_GPA 0x7000ULL
#define LINUX_PML4_GPA	    0x9000ULL
#define LINUX_PDPT_GPA	    0xa000ULL
#define LINUX_PD_GPA	    0xb000ULL /* four pages */
#define LINUX_PT_END	    0xf000ULL
#define LINUX_CMDLINE_GPA   0x20000ULL
#define LINUX_CMDLINE_MAX   0x10000ULL

#define LINUX_BOOT_CS 0x10
#define LINUX_BOOT_DS 0x18

/* Whether image[0..size) looks like a bzImage: boot_flag 0xAA55 at 0x1fe and "HdrS" at 0x202. Says nothing about
 * whether linux_load will accept it. */
bool linux_is_bzimage(const void *image, u64 size);

/* linux_load's checks of the image alone: the setup header, and every size it promises against the image's length
 * (the setup area, syssize's protected-mode kernel, the payload inside it, init_size holding it), so a truncated
 * image is refused. For use before the VM has memory: `name` is the VM's, for the log. Returns 0, -EINVAL for a NULL
 * image, or -ENOEXEC after a pr_err naming the check that failed. */
int linux_check_image(const char *name, const void *image, u64 size);

/* What the loader hands the kernel besides the image. */
struct linux_boot_params_in {
	const char *cmdline; /* NULL = "" */
	const void *initrd;  /* initrd[0..initrd_size); initrd_size 0 = no initrd */
	u64 initrd_size;
	u64 acpi_rsdp_gpa; /* written to boot_params.acpi_rsdp_addr; 0 if none (the kernel then scans for it) */
	/* Where the ACPI tables are: reported as e820 type 3 (ACPI reclaimable). acpi_len 0 = no area. It must lie in
	 * guest RAM, and a nonzero acpi_rsdp_gpa must lie inside it. */
	u64 acpi_start, acpi_len;
	/* Start at the 32-bit boot-protocol entry even if the kernel has a 64-bit one (the VM's entry=32): protected
	 * mode with paging off, as a 32-bit boot loader starts it. */
	bool entry32;
};

/*
 * Load the bzImage image[0..size) into vm's RAM as described by layout, with in's command line, initrd and ACPI
 * information, and fill the vCPU's starting state: *st and regs (enum vcpu_reg order: RAX RCX RDX RBX RSP RBP RSI RDI
 * R8..R15).
 *
 * Requirements on the image: boot protocol 2.12 or later, LOADED_HIGH, kernel_alignment a power of two of at least
 * 4 KiB, a setup header at least up to init_size, the file holding the whole setup area and the syssize * 16 bytes
 * of protected-mode kernel after it (more is allowed, and loaded too), the payload inside those, init_size at least
 * that kernel's size.
 *
 * Placement: the protected-mode kernel (file bytes from (setup_sects + 1) * 512 on) goes at pref_address when that
 * is kernel_alignment aligned and [pref_address, + init_size) is guest RAM below 4 GiB, at or above 1 MiB and clear of
 * the ACPI area; otherwise a relocatable kernel goes at the lowest kernel_alignment-aligned address from 16 MiB (from
 * 1 MiB when nothing fits from 16 MiB) where it fits, and a non-relocatable one is refused. A relocatable kernel
 * decompresses at max(its load address, pref_address) (LOAD_PHYSICAL_ADDR), so that range is what must fit. The
 * initrd goes page aligned, as high as possible below min(initrd_addr_max + 1, end of the RAM range at 0), clear of
 * the kernel's range and the ACPI area.
 *
 * Entry: with xloadflags XLF_KERNEL_64 (unless in->entry32), 64-bit mode at load address + 0x200, paging on with the
 * identity map above, CS = 0x10 (64-bit code), DS = ES = SS = FS = GS = 0x18, RSI = the zero page, interrupts off.
 * Without it, 32-bit protected mode with paging off at code32_start (= the load address), flat CS = 0x10 and data 0x18,
 * ESI = the zero page. Every other GPR is 0.
 *
 * Returns 0, or after a vm_log(LOG_ERR) naming the check that failed: -EINVAL for bad arguments, layout or ACPI
 * area, -ENOEXEC for an image that is not a loadable bzImage, -E2BIG when the kernel, the initrd or the command line
 * does not fit the VM's RAM or the kernel's limits, or vm_write_gpa's error. Nothing is written to the guest unless
 * every check passed.
 */
int linux_load(struct vm *vm, const void *image, u64 size, const struct linux_boot_params_in *in,
	       const struct guest_mem_layout *layout, struct vcpu_boot_state *st, u64 regs[16]);

#endif
