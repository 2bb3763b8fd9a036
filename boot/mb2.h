/* The multiboot2 boot-information parser. mb2_parse() checks GRUB's information block byte by byte and copies what
 * the hypervisor needs into a self-contained struct boot_info, so nothing later has to trust or even keep the
 * loader's block (its own range is reported so the memory manager can reserve it until parsing is done). */
#ifndef HV_BOOT_MB2_H
#define HV_BOOT_MB2_H

#include "hv/types.h"

#define MB2_BOOTLOADER_MAGIC 0x36d76289u

#define BOOT_MAX_MMAP		256
/* GRUB modules kept per boot: the limit on VMs too (each needs one, its kernel). A boot with more is not cut short in
 * silence: modules_dropped counts the rest, and vm_config_parse then starts no VM (any could be missing a module). */
#define BOOT_MAX_MODULES	128
#define BOOT_CMDLINE_MAX	1024
#define BOOT_MODULE_CMDLINE_MAX 256

/* Multiboot2 tag types (spec section 3.6). */
#define MB2_TAG_END	       0
#define MB2_TAG_CMDLINE	       1
#define MB2_TAG_LOADER_NAME    2
#define MB2_TAG_MODULE	       3
#define MB2_TAG_BASIC_MEMINFO  4
#define MB2_TAG_BOOTDEV	       5
#define MB2_TAG_MMAP	       6
#define MB2_TAG_VBE	       7
#define MB2_TAG_FRAMEBUFFER    8
#define MB2_TAG_ELF_SECTIONS   9
#define MB2_TAG_APM	       10
#define MB2_TAG_EFI32	       11
#define MB2_TAG_EFI64	       12
#define MB2_TAG_SMBIOS	       13
#define MB2_TAG_ACPI_OLD       14
#define MB2_TAG_ACPI_NEW       15
#define MB2_TAG_NETWORK	       16
#define MB2_TAG_EFI_MMAP       17
#define MB2_TAG_EFI_BS	       18
#define MB2_TAG_EFI32_IH       19
#define MB2_TAG_EFI64_IH       20
#define MB2_TAG_LOAD_BASE_ADDR 21

#define MB2_MMAP_ENTRY_MIN 24 /* {u64 base, u64 length, u32 type, u32 reserved} */
#define MB2_EFI_DESC_MIN   40 /* EFI_MEMORY_DESCRIPTOR */
#define ACPI_RSDP_V1_LEN   20
#define ACPI_RSDP_V2_LEN   36

enum boot_mem_type {
	BOOT_MEM_USABLE = 1,
	BOOT_MEM_RESERVED = 2,
	BOOT_MEM_ACPI_RECLAIM = 3,
	BOOT_MEM_ACPI_NVS = 4,
	BOOT_MEM_BAD = 5,
};

/* base + len never wraps: the parser clips a region that would run past 2^64 - 1. */
struct boot_mem_region {
	u64 base;
	u64 len;
	u32 type; /* enum boot_mem_type */
};

struct boot_module {
	u64 start; /* [start, end) physical */
	u64 end;
	char cmdline[BOOT_MODULE_CMDLINE_MAX];
};

struct boot_info {
	char cmdline[BOOT_CMDLINE_MAX];
	char loader_name[64];
	u32 nr_mmap;
	struct boot_mem_region mmap[BOOT_MAX_MMAP];
	bool mmap_from_efi; /* true when the map came from the EFI memory-map tag */
	u32 nr_modules;
	struct boot_module modules[BOOT_MAX_MODULES];
	u32 modules_dropped; /* module tags beyond the first BOOT_MAX_MODULES, not kept */
	bool has_rsdp;
	u8 rsdp_rev;		/* 0 for the ACPI 1.0 tag (14), 2 for the new tag (15) */
	u8 rsdp[36];		/* copy of the RSDP structure from the tag (20 bytes for rev 0) */
	bool efi_booted;	/* an EFI system table tag (11 or 12) was present */
	u64 mbi_start, mbi_end; /* physical range of the information block itself, to be reserved */

	/* Extras beyond the core interface; zero when the tag was absent. */
	u64 efi_systab;	      /* physical address of the EFI system table (tag 11 or 12) */
	u64 efi_image_handle; /* tag 19 or 20 */
	bool efi_bs_active;   /* tag 18: the loader did not call ExitBootServices() */
	bool has_load_base;   /* tag 21 present */
	u64 load_base;	      /* physical address the image was loaded at (tag 21) */
};

/* Parse the multiboot2 information block at `mbi` (already mapped, readable for `avail` bytes; it lives at physical
 * address mbi_phys). Returns 0 or a negative errno after logging with pr_err exactly what was wrong. On error *out is
 * zeroed, so a caller that ignores the return value still sees no half-parsed data. */
int mb2_parse(const void *mbi, size_t avail, u64 mbi_phys, struct boot_info *out);

/* Log the memory map, the modules and the command line at pr_info. */
void mb2_dump(const struct boot_info *bi);

/* "usable", "reserved", ... for enum boot_mem_type; "unknown" for anything else. */
const char *boot_mem_type_name(u32 type);

#endif
