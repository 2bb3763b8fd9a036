/* The hypervisor's virtual memory layout, shared by the linker script, the boot assembly and C.
 *
 *   0xffff800000000000  direct map of all physical memory (PHYS_MAP_BASE + pa), 1G or 2M pages, RW, NX
 *   0xffffc00000000000  ioremap area: device MMIO mapped uncached with 4K pages
 *   0xffffffff80000000  the image (KERNEL_VIRT_BASE + pa), loaded by GRUB at KERNEL_PHYS_BASE
 *
 * The image sits at a fixed physical address so that the 32-bit entry can run before paging without relocation. */
#ifndef HV_LAYOUT_H
#define HV_LAYOUT_H

#define KERNEL_PHYS_BASE 0x200000
#define KERNEL_VIRT_BASE 0xffffffff80000000
#define PHYS_MAP_BASE 0xffff800000000000
#define IOREMAP_BASE 0xffffc00000000000
#define IOREMAP_SIZE 0x40000000 /* 1 GiB of device windows is plenty for LAPIC, IOAPIC, HPET */

#define BOOT_STACK_SIZE 0x4000
#define CPU_STACK_SIZE 0x4000
#define IST_STACK_SIZE 0x2000

/* Early boot maps the first 4 GiB: enough for the image, the multiboot information and the frame allocator's
 * metadata, which is carved below that line. */
#define EARLY_MAP_SIZE 0x100000000

#define GDT_KERNEL_CS 0x08
#define GDT_KERNEL_DS 0x10
#define GDT_TSS 0x18

#endif
