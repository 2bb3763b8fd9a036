/* The Linux x86 boot protocol loader. Like the Multiboot loader it works in two phases: a plan, which reads every
 * setup header field through a bounds check, validates it, and places the kernel, the initrd and the e820 map against
 * guest RAM and each other; then the writes, which cannot fail for any reason the image controls. So a bad image
 * leaves guest memory untouched, and the check that failed is named in the log. */
#include "vm/loader/linux.h"
#include "arch/x86/cpu.h"
#include "arch/x86/msr_index.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"
#include "vm/vm.h"

/* Setup header fields: offsets in the image, and the same offsets in struct boot_params, which embeds the header. */
#define HDR_START	     0x1f1
#define HDR_SETUP_SECTS	     0x1f1
#define HDR_SYSSIZE	     0x1f4
#define HDR_VID_MODE	     0x1fa
#define HDR_BOOT_FLAG	     0x1fe
#define HDR_JUMP	     0x200
#define HDR_MAGIC	     0x202
#define HDR_VERSION	     0x206
#define HDR_KERNEL_VERSION   0x20e
#define HDR_TYPE_OF_LOADER   0x210
#define HDR_LOADFLAGS	     0x211
#define HDR_CODE32_START     0x214
#define HDR_RAMDISK_IMAGE    0x218
#define HDR_RAMDISK_SIZE     0x21c
#define HDR_HEAP_END_PTR     0x224
#define HDR_CMD_LINE_PTR     0x228
#define HDR_INITRD_ADDR_MAX  0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE	     0x234
#define HDR_XLOADFLAGS	     0x236
#define HDR_CMDLINE_SIZE     0x238
#define HDR_HW_SUBARCH	     0x23c
#define HDR_HW_SUBARCH_DATA  0x240
#define HDR_PAYLOAD_OFFSET   0x248
#define HDR_PAYLOAD_LENGTH   0x24c
#define HDR_SETUP_DATA	     0x250
#define HDR_PREF_ADDRESS     0x258
#define HDR_INIT_SIZE	     0x260
#define HDR_MIN_END	     0x264 /* the header must reach past init_size, the last field read */
#define HDR_MAX_END	     0x281 /* 0x202 + the largest forward short jump; boot_params has room up to 0x290 */

#define BOOT_FLAG_MAGIC	 0xaa55
#define HDRS_MAGIC	 0x53726448 /* "HdrS" */
#define JMP_SHORT	 0xeb
#define PROTOCOL_MIN	 0x020c /* 2.12: xloadflags, so the 64-bit entry can be known */
#define SECTOR		 512
#define PARAGRAPH	 16 /* syssize's unit */
#define ENTRY64_OFFSET	 0x200
#define LOADED_HIGH	 BIT(0)
#define CAN_USE_HEAP	 BIT(7)
#define XLF_KERNEL_64	 BIT(0)
#define LOADER_UNDEFINED 0xff
#define VID_MODE_NORMAL	 0xffff
/* The real-mode setup code is never run, so its heap is unused; this is the value of the protocol's sample layout
 * (heap up to 0xe000 of the real-mode segment, minus 0x200), so CAN_USE_HEAP at least comes with a sane pointer. */
#define HEAP_END_PTR 0xde00

/* boot_params fields outside the setup header (Documentation/arch/x86/zero-page.rst). */
#define BP_ACPI_RSDP_ADDR    0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_ALT_MEM_K	     0x1e0
#define BP_E820_ENTRIES	     0x1e8
#define BP_E820_TABLE	     0x2d0
#define BP_E820_MAX	     128

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3

#define LOW_RAM_END	0x9fc00ULL /* conventional memory; the EBDA, VGA and BIOS areas follow */
#define HIGH_MEM	0x100000ULL
#define FOUR_GB		(1ULL << 32)
#define RELOC_BASE	(16ULL << 20) /* where a relocated kernel goes, leaving the low 16 MiB to DMA zones */
#define RSDP_MIN_LEN	20
#define VERSION_LOG_MAX 64
#define LX_E820_MAX	(2 * GUEST_MEM_MAX_RANGES + 4)
#define PTE_P		BIT(0)
#define PTE_RW		BIT(1)
#define PTE_PS		BIT(7)
#define LX_NR_PDS	4

/* Segment attributes, packed as in arch/x86/virt.h: type[3:0] S[4] DPL[6:5] P[7] AVL[8] L[9] D/B[10] G[11]. */
#define SEG_CODE64 0xa9b /* execute/read, accessed, S, P, L, G */
#define SEG_CODE32 0xc9b /* execute/read, accessed, S, P, D, G */
#define SEG_DATA   0xc93 /* read/write, accessed, S, P, B, G */
#define SEG_TSS	   0x08b /* busy TSS, P: VMX wants a usable TR even though nothing switches tasks */

/* The fixed areas may not overlap, must stay in conventional memory, and the page directories must fit. */
static_assert(LINUX_GDT_GPA + PAGE_SIZE <= LINUX_ZERO_PAGE_GPA, "GDT page overlaps the zero page");
static_assert(LINUX_ZERO_PAGE_GPA + PAGE_SIZE <= LINUX_PML4_GPA, "zero page overlaps the page tables");
static_assert(LINUX_PML4_GPA + PAGE_SIZE == LINUX_PDPT_GPA && LINUX_PDPT_GPA + PAGE_SIZE == LINUX_PD_GPA,
	      "page table layout");
static_assert(LINUX_PD_GPA + LX_NR_PDS * PAGE_SIZE == LINUX_PT_END, "four page directories map 4 GiB");
static_assert(LINUX_PT_END <= LINUX_CMDLINE_GPA, "page tables overlap the command line");
static_assert(LINUX_CMDLINE_GPA + LINUX_CMDLINE_MAX <= LOW_RAM_END, "command line runs into the EBDA");
static_assert(NR_VCPU_GPRS == 16, "linux_load's regs[16] is in enum vcpu_reg order");

struct lx_e820 {
	u64 addr, size;
	u32 type;
} __packed;
static_assert(sizeof(struct lx_e820) == 20, "boot_e820_entry layout");

/* The header fields the loader reads, widened. */
struct lx_hdr {
	u16 version, kernel_version, xloadflags;
	u8 loadflags, relocatable;
	u32 setup_sects, syssize, hdr_end, initrd_addr_max, kernel_alignment, cmdline_size, init_size;
	u32 payload_offset, payload_length;
	u64 pref_address;
};

struct lx_plan {
	struct lx_hdr h;
	u64 setup_size, pm_size; /* the file: setup area, then the protected-mode kernel (and what follows it) */
	u64 sys_size;		 /* the protected-mode kernel's size as the header gives it: syssize * 16 */
	u64 load;		 /* where the protected-mode kernel goes; code32_start */
	u64 run;		 /* where it decompresses */
	u64 kstart, kend;	 /* everything the kernel touches before it reads the e820 map */
	u64 initrd_gpa;
	u64 cmdline_len; /* without the NUL */
	u64 acpi_end;
	bool entry64;
	u32 ne820;
	struct lx_e820 e820[LX_E820_MAX];
};

/* The header checks run before the VM exists (linux_check_image), so they name it by its name alone. */
#define lx_err_name(name, fmt, ...) log_printf(LOG_ERR, "vm %s: linux: " fmt "\n", (name), ##__VA_ARGS__)
#define lx_err(vm, fmt, ...)	    lx_err_name((vm)->name, fmt, ##__VA_ARGS__)
#define ULL(x)		     ((unsigned long long)(x))

static bool overlaps(u64 a, u64 a_end, u64 b, u64 b_end)
{
	return a < b_end && b < a_end;
}

/* Whether [gpa, gpa + len) lies wholly in one RAM range and below 4 GiB. */
static bool in_low_ram(const struct guest_mem_layout *l, u64 gpa, u64 len)
{
	if (len > FOUR_GB || gpa > FOUR_GB - len)
		return false;
	for (u32 i = 0; i < l->nr_ram; i++)
		if (gpa >= l->ram[i].base && gpa + len <= l->ram[i].base + l->ram[i].len)
			return true;
	return false;
}

static bool in_ram(const struct guest_mem_layout *l, u64 gpa, u64 len)
{
	for (u32 i = 0; i < l->nr_ram; i++)
		if (gpa >= l->ram[i].base && len <= l->ram[i].len && gpa - l->ram[i].base <= l->ram[i].len - len)
			return true;
	return false;
}


static int check_args(struct vm *vm, const void *image, const struct linux_boot_params_in *in,
		      const struct guest_mem_layout *layout, const struct vcpu_boot_state *st, const u64 *regs)
{
	if (!image || !in || !layout || !st || !regs) {
		lx_err(vm, "missing image, parameters, layout or output");
		return -EINVAL;
	}
	if (in->initrd_size && !in->initrd) {
		lx_err(vm, "initrd of %#llx bytes but no data", ULL(in->initrd_size));
		return -EINVAL;
	}
	return guest_mem_layout_check(vm, layout);
}

/* The ACPI area lies in RAM, clear of the loader's own areas; the RSDP, if given, lies in it (or in RAM without it). */
static int check_acpi(struct vm *vm, const struct linux_boot_params_in *in, const struct guest_mem_layout *l,
		      struct lx_plan *p)
{
	u64 start = in->acpi_start, len = in->acpi_len, rsdp = in->acpi_rsdp_gpa;

	p->acpi_end = start + len;
	if (len) {
		if (!in_ram(l, start, len)) {
			lx_err(vm, "ACPI area [%#llx, +%#llx) is not inside one guest RAM range", ULL(start), ULL(len));
			return -EINVAL;
		}
		if (overlaps(start, p->acpi_end, LINUX_GDT_GPA, LINUX_PT_END) ||
		    overlaps(start, p->acpi_end, LINUX_CMDLINE_GPA, LINUX_CMDLINE_GPA + LINUX_CMDLINE_MAX)) {
			lx_err(vm,
			       "ACPI area [%#llx, %#llx) overlaps the loader's GDT, zero page, page tables or command "
			       "line ([%#llx, %#llx) and [%#llx, %#llx))",
			       ULL(start), ULL(p->acpi_end), LINUX_GDT_GPA, LINUX_PT_END, LINUX_CMDLINE_GPA,
			       LINUX_CMDLINE_GPA + LINUX_CMDLINE_MAX);
			return -EINVAL;
		}
	}
	if (!rsdp)
		return 0;
	if (len ? rsdp < start || rsdp > p->acpi_end - RSDP_MIN_LEN || len < RSDP_MIN_LEN
		: !in_ram(l, rsdp, RSDP_MIN_LEN)) {
		lx_err(vm, "ACPI RSDP at %#llx is not inside %s", ULL(rsdp), len ? "the ACPI area" : "guest RAM");
		return -EINVAL;
	}
	return 0;
}

/* Reads the little-endian field [off, off + width) of the setup header, or says the image ends before it. */
static int rd_field(const char *who, const u8 *img, u64 size, u32 off, u32 width, const char *name, u64 *val)
{
	u64 v = 0;

	if (size < off + width) {
		lx_err_name(who, "the %llu-byte image ends before setup header field %s at %#x", ULL(size), name, off);
		return -ENOEXEC;
	}
	__builtin_memcpy(&v, img + off, width); /* x86 is little-endian; the image has no alignment promise */
	*val = v;
	return 0;
}

/*
 * What the header promises against what the image holds (Documentation/arch/x86/boot.rst): after the setup area of
 * setup_sects + 1 sectors comes the protected-mode kernel, syssize 16-byte paragraphs of it; its payload, the
 * compressed kernel, is [payload_offset, + payload_length) from the kernel's start; and init_size, the memory the
 * kernel needs from where it runs, holds at least the kernel itself (it is the decompressor's whole footprint, bss
 * and extraction room included). An image cut short, by a copy or a download, fails here with the sizes, rather than
 * loading and triple-faulting in the decompressor. Bytes after the promised kernel (Debian's signed kernels carry
 * their signature there) are allowed, and loaded with the rest as GRUB and QEMU do.
 */
static int check_sizes(const char *who, u64 size, struct lx_plan *p)
{
	const struct lx_hdr *h = &p->h;

	p->sys_size = (u64)h->syssize * PARAGRAPH;
	if (!p->sys_size) {
		lx_err_name(who, "syssize is 0: the header promises no protected-mode kernel");
		return -ENOEXEC;
	}
	if (p->sys_size > p->pm_size) {
		lx_err_name(who,
			    "truncated image: it has %#llx bytes, and its header promises %#llx (setup_sects %u: a "
			    "%#llx-byte setup area; syssize %#x: a %#llx-byte protected-mode kernel), %#llx more",
			    ULL(size), ULL(p->setup_size + p->sys_size), h->setup_sects, ULL(p->setup_size), h->syssize,
			    ULL(p->sys_size), ULL(p->sys_size - p->pm_size));
		return -ENOEXEC;
	}
	if ((u64)h->payload_offset + h->payload_length > p->sys_size) {
		lx_err_name(who,
			    "payload_offset %#x + payload_length %#x run past the %#llx-byte protected-mode kernel "
			    "(syssize %#x)",
			    h->payload_offset, h->payload_length, ULL(p->sys_size), h->syssize);
		return -ENOEXEC;
	}
	if (h->init_size < p->sys_size) {
		lx_err_name(who, "init_size %#x is smaller than the %#llx-byte protected-mode kernel (syssize %#x)",
			    h->init_size, ULL(p->sys_size), h->syssize);
		return -ENOEXEC;
	}
	return 0;
}

/* Every field in order of offset (syssize once the image is known to be a bzImage), each read only when the image
 * holds it, each checked as soon as it is read; then the sizes the header promises. */
static int parse_header(const char *who, const u8 *img, u64 size, struct lx_plan *p)
{
	struct lx_hdr *h = &p->h;
	u64 v;
	int ret;

#define FIELD(off, width, name)                                                                                        \
	do {                                                                                                           \
		ret = rd_field(who, img, size, off, width, name, &v);                                                  \
		if (ret)                                                                                               \
			return ret;                                                                                    \
	} while (0)

	FIELD(HDR_BOOT_FLAG, 2, "boot_flag");
	if (v != BOOT_FLAG_MAGIC) {
		lx_err_name(who, "boot_flag at 0x1fe is %#llx, not 0xAA55: not a Linux kernel image", ULL(v));
		return -ENOEXEC;
	}
	FIELD(HDR_MAGIC, 4, "header");
	if (v != HDRS_MAGIC) {
		lx_err_name(who, "header at 0x202 is %#llx, not \"HdrS\": not a bzImage (or a pre-2.00 zImage)",
			    ULL(v));
		return -ENOEXEC;
	}
	FIELD(HDR_VERSION, 2, "version");
	h->version = (u16)v;
	if (h->version < PROTOCOL_MIN) {
		lx_err_name(who,
			    "boot protocol %u.%02u is too old: 2.12 or later is needed (xloadflags, the 64-bit entry)",
			    h->version >> 8, h->version & 0xff);
		return -ENOEXEC;
	}
	/* The jump at 0x200 doubles as the header's length: its end is 0x202 + the byte at 0x201. */
	h->hdr_end = HDR_MAGIC + img[HDR_JUMP + 1];
	if (img[HDR_JUMP] != JMP_SHORT || h->hdr_end < HDR_MIN_END || h->hdr_end > HDR_MAX_END) {
		lx_err_name(
		    who,
		    "setup header length: the jump at 0x200 is %02x %02x; it must be a short jump (0xEB) ending the "
		    "header between %#x and %#x",
		    img[HDR_JUMP], img[HDR_JUMP + 1], HDR_MIN_END, HDR_MAX_END);
		return -ENOEXEC;
	}
	h->setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4; /* 0 means 4, for old kernels */
	/* At 0x1f4, before boot_flag, but read only now that the image is known to be a bzImage whose protocol gives
	 * it four bytes (2.04+); checked with the other sizes, at the end. */
	FIELD(HDR_SYSSIZE, 4, "syssize");
	h->syssize = (u32)v;
	FIELD(HDR_KERNEL_VERSION, 2, "kernel_version");
	h->kernel_version = (u16)v;
	FIELD(HDR_LOADFLAGS, 1, "loadflags");
	h->loadflags = (u8)v;
	if (!(h->loadflags & LOADED_HIGH)) {
		lx_err_name(who, "loadflags %#x lack LOADED_HIGH: a zImage that loads at 0x10000 is not supported",
			    h->loadflags);
		return -ENOEXEC;
	}
	FIELD(HDR_INITRD_ADDR_MAX, 4, "initrd_addr_max");
	h->initrd_addr_max = (u32)v;
	FIELD(HDR_KERNEL_ALIGNMENT, 4, "kernel_alignment");
	h->kernel_alignment = (u32)v;
	if (h->kernel_alignment < PAGE_SIZE || (h->kernel_alignment & (h->kernel_alignment - 1))) {
		lx_err_name(who, "kernel_alignment %#x is not a power of two of at least 4 KiB", h->kernel_alignment);
		return -ENOEXEC;
	}
	FIELD(HDR_RELOCATABLE, 1, "relocatable_kernel");
	h->relocatable = (u8)v;
	FIELD(HDR_XLOADFLAGS, 2, "xloadflags");
	h->xloadflags = (u16)v;
	FIELD(HDR_CMDLINE_SIZE, 4, "cmdline_size");
	h->cmdline_size = (u32)v;
	FIELD(HDR_PAYLOAD_OFFSET, 4, "payload_offset");
	h->payload_offset = (u32)v;
	FIELD(HDR_PAYLOAD_LENGTH, 4, "payload_length");
	h->payload_length = (u32)v;
	FIELD(HDR_PREF_ADDRESS, 8, "pref_address");
	h->pref_address = v;
	FIELD(HDR_INIT_SIZE, 4, "init_size");
	h->init_size = (u32)v;
	if (!h->init_size) {
		lx_err_name(who, "init_size is 0: the kernel says nothing of the memory it needs to start");
		return -ENOEXEC;
	}
#undef FIELD

	if (size < h->hdr_end) {
		lx_err_name(who, "the %llu-byte image ends inside the setup header, which runs to %#x", ULL(size),
			    h->hdr_end);
		return -ENOEXEC;
	}
	p->setup_size = (u64)(h->setup_sects + 1) * SECTOR;
	if (size <= p->setup_size) {
		lx_err_name(
		    who,
		    "setup_sects %u: the setup area of %#llx bytes leaves nothing of the %#llx-byte image for the "
		    "protected-mode kernel",
		    h->setup_sects, ULL(p->setup_size), ULL(size));
		return -ENOEXEC;
	}
	p->pm_size = size - p->setup_size;
	ret = check_sizes(who, size, p);
	if (ret)
		return ret;
	p->entry64 = h->xloadflags & XLF_KERNEL_64;
	if (p->entry64 && p->sys_size <= ENTRY64_OFFSET) {
		lx_err_name(who,
			    "XLF_KERNEL_64: the 64-bit entry at offset 0x200 lies beyond the %#llx-byte protected-mode "
			    "kernel",
			    ULL(p->sys_size));
		return -ENOEXEC;
	}
	return 0;
}

/*
 * The kernel's footprint when loaded at `load`, and whether it is usable. A relocatable kernel decompresses at its
 * load address rounded up to kernel_alignment, but never below LOAD_PHYSICAL_ADDR, which the header publishes as
 * pref_address (arch/x86/boot/compressed/head_64.S): loading it lower does not make it need less. A non-relocatable
 * one runs at pref_address only. The footprint is one range, [load, max(image end, run + init_size)), in one RAM
 * range below 4 GiB (so the 64-bit identity map covers it), above the first MiB and clear of the ACPI area.
 */
static bool kernel_fits(const struct guest_mem_layout *l, const struct linux_boot_params_in *in, struct lx_plan *p,
			u64 load)
{
	u64 run = MAX(load, p->h.pref_address), end;

	if (load < HIGH_MEM || load >= FOUR_GB || run >= FOUR_GB || p->pm_size > FOUR_GB)
		return false;
	end = MAX(load + p->pm_size, run + p->h.init_size);
	if (!in_low_ram(l, load, end - load) || (in->acpi_len && overlaps(load, end, in->acpi_start, p->acpi_end)))
		return false;
	p->load = load;
	p->run = run;
	p->kstart = load;
	p->kend = end;
	return true;
}

/* The lowest aligned load address from base that fits. Only the RAM range starts and the ACPI area's end bound
 * the fitting addresses from below, so the lowest fit is the lowest fitting one among those candidates. */
static bool place_relocated(const struct guest_mem_layout *l, const struct linux_boot_params_in *in, struct lx_plan *p,
			    u64 base)
{
	u64 align = p->h.kernel_alignment, best = ~0ULL;
	u64 cand[GUEST_MEM_MAX_RANGES + 1];
	u32 n = 0;

	for (u32 i = 0; i < l->nr_ram; i++)
		cand[n++] = ALIGN_UP(MAX(base, l->ram[i].base), align);
	if (in->acpi_len)
		cand[n++] = ALIGN_UP(MAX(base, p->acpi_end), align);
	for (u32 i = 0; i < n; i++)
		if (cand[i] < best && kernel_fits(l, in, p, cand[i]))
			best = cand[i];
	return best != ~0ULL && kernel_fits(l, in, p, best);
}

static int place_kernel(struct vm *vm, const struct guest_mem_layout *l, const struct linux_boot_params_in *in,
			struct lx_plan *p)
{
	const struct lx_hdr *h = &p->h;
	bool pref_ok = IS_ALIGNED(h->pref_address, h->relocatable ? (u64)h->kernel_alignment : PAGE_SIZE) &&
		       kernel_fits(l, in, p, h->pref_address);

	if (pref_ok)
		return 0;
	if (!h->relocatable) {
		lx_err(vm,
		       "the kernel is not relocatable and pref_address %#llx (+ init_size %#x) is not page aligned "
		       "guest RAM between 1 MiB and 4 GiB clear of the ACPI area",
		       ULL(h->pref_address), h->init_size);
		return -E2BIG;
	}
	if (place_relocated(l, in, p, RELOC_BASE) || place_relocated(l, in, p, HIGH_MEM))
		return 0;
	lx_err(vm,
	       "no room for the kernel: %#llx bytes of image and init_size %#x, aligned to %#x, decompressing at "
	       "or above pref_address %#llx, in guest RAM between 1 MiB and 4 GiB",
	       ULL(p->pm_size), h->init_size, h->kernel_alignment, ULL(h->pref_address));
	return -E2BIG;
}

/* As high as possible below the limit, stepping down below each obstacle it would overlap; each step lowers the top,
 * so this ends. */
static int place_initrd(struct vm *vm, const struct guest_mem_layout *l, const struct linux_boot_params_in *in,
			struct lx_plan *p)
{
	u64 size = in->initrd_size, limit = MIN((u64)p->h.initrd_addr_max + 1, l->ram[0].len),
	    top = MIN(limit, FOUR_GB);

	if (!size)
		return 0;
	for (;;) {
		u64 gpa;

		if (size > top || ALIGN_DOWN(top - size, PAGE_SIZE) < HIGH_MEM) {
			lx_err(vm,
			       "initrd of %#llx bytes does not fit between 1 MiB and %#llx (initrd_addr_max %#x, low "
			       "RAM end %#llx) clear of the kernel at [%#llx, %#llx)%s",
			       ULL(size), ULL(limit), p->h.initrd_addr_max, ULL(l->ram[0].len), ULL(p->kstart),
			       ULL(p->kend), in->acpi_len ? " and the ACPI area" : "");
			return -E2BIG;
		}
		gpa = ALIGN_DOWN(top - size, PAGE_SIZE);
		if (overlaps(gpa, gpa + size, p->kstart, p->kend)) {
			top = p->kstart;
		} else if (in->acpi_len && overlaps(gpa, gpa + size, in->acpi_start, p->acpi_end)) {
			top = in->acpi_start;
		} else {
			p->initrd_gpa = gpa;
			return 0;
		}
	}
}

static u32 range_type(const struct guest_mem_layout *l, const struct linux_boot_params_in *in, const struct lx_plan *p,
		      u64 a)
{
	if (in->acpi_len && a >= in->acpi_start && a < p->acpi_end)
		return E820_ACPI;
	if (a >= LOW_RAM_END && a < HIGH_MEM)
		return E820_RESERVED;
	return in_ram(l, a, 1) ? E820_RAM : 0;
}

/* The e820 map: RAM ranges as RAM, except the legacy area [0x9fc00, 1 MiB), which is never RAM, and the ACPI area.
 * Every boundary of every input goes into one sorted list; between two neighbours the type cannot change. */
static void plan_e820(const struct guest_mem_layout *l, const struct linux_boot_params_in *in, struct lx_plan *p)
{
	u64 pts[LX_E820_MAX + 1];
	u32 n = 0;

	for (u32 i = 0; i < l->nr_ram; i++) {
		pts[n++] = l->ram[i].base;
		pts[n++] = l->ram[i].base + l->ram[i].len;
	}
	pts[n++] = LOW_RAM_END;
	pts[n++] = HIGH_MEM;
	if (in->acpi_len) {
		pts[n++] = in->acpi_start;
		pts[n++] = p->acpi_end;
	}
	for (u32 i = 1; i < n; i++)
		for (u32 j = i; j > 0 && pts[j - 1] > pts[j]; j--) {
			u64 t = pts[j];
			pts[j] = pts[j - 1];
			pts[j - 1] = t;
		}
	p->ne820 = 0;
	for (u32 i = 0; i + 1 < n; i++) {
		u64 a = pts[i], b = pts[i + 1];
		u32 type = range_type(l, in, p, a);
		struct lx_e820 *last = p->ne820 ? &p->e820[p->ne820 - 1] : NULL;

		if (a == b || !type)
			continue;
		if (last && last->type == type && last->addr + last->size == a)
			last->size += b - a;
		else
			p->e820[p->ne820++] = (struct lx_e820){.addr = a, .size = b - a, .type = type};
	}
}

static int plan_cmdline(struct vm *vm, const char *cmdline, struct lx_plan *p)
{
	u64 len = cmdline ? strnlen(cmdline, LINUX_CMDLINE_MAX) : 0;

	if (len == LINUX_CMDLINE_MAX) {
		lx_err(vm, "command line longer than the loader's %llu characters", LINUX_CMDLINE_MAX - 1);
		return -E2BIG;
	}
	if (len > p->h.cmdline_size) {
		lx_err(vm, "command line of %llu characters is longer than the kernel's cmdline_size %u", ULL(len),
		       p->h.cmdline_size);
		return -E2BIG;
	}
	p->cmdline_len = len;
	return 0;
}

static int plan(struct vm *vm, const u8 *img, u64 size, const struct linux_boot_params_in *in,
		const struct guest_mem_layout *l, struct lx_plan *p)
{
	int ret = check_acpi(vm, in, l, p);

	if (!ret)
		ret = parse_header(vm->name, img, size, p);
	if (!ret && in->entry32)
		p->entry64 = false; /* every kernel has the 32-bit entry at code32_start; protocol 2.12 checked above */
	if (!ret)
		ret = plan_cmdline(vm, in->cmdline, p);
	if (!ret)
		ret = place_kernel(vm, l, in, p);
	if (!ret)
		ret = place_initrd(vm, l, in, p);
	if (!ret)
		plan_e820(l, in, p);
	return ret;
}

/* The kernel's version string, for the log: at kernel_version + 0x200, inside the setup area, printable only. */
static void version_string(const u8 *img, const struct lx_plan *p, char *buf, size_t cap)
{
	u64 off = p->h.kernel_version + (u64)ENTRY64_OFFSET;
	size_t n = 0;

	if (p->h.kernel_version) {
		/* The release comes first, up to a space: enough to tell kernels apart on one log line. */
		for (; n + 1 < cap && off + n < p->setup_size && img[off + n] && img[off + n] != ' '; n++)
			buf[n] = img[off + n] >= 0x20 && img[off + n] < 0x7f ? (char)img[off + n] : '?';
	}
	if (!n) {
		memcpy(buf, "(no version)", sizeof("(no version)"));
		return;
	}
	buf[n] = '\0';
}

static int write_gpa(struct vm *vm, u64 gpa, const void *src, u64 len, const char *what)
{
	int ret = len ? vm_write_gpa(vm, gpa, src, len) : 0;

	if (ret)
		lx_err(vm, "writing %s to [%#llx, %#llx) failed (%d)", what, ULL(gpa), ULL(gpa + len), ret);
	return ret;
}

static int zero_gpa(struct vm *vm, u64 gpa, u64 len)
{
	static const u8 zeros[PAGE_SIZE];

	for (u64 done = 0; done < len; done += sizeof(zeros)) {
		int ret = write_gpa(vm, gpa + done, zeros, MIN(len - done, (u64)sizeof(zeros)), "zeroes");

		if (ret)
			return ret;
	}
	return 0;
}

static void put(u8 *buf, u32 off, u64 v, u32 width)
{
	__builtin_memcpy(buf + off, &v, width);
}

/* A flat 4 GiB descriptor with the given packed attributes (access byte attr[7:0], flags attr[11:8]). */
static u64 gdt_desc(u16 attr)
{
	return 0x000f00000000ffffULL | ((u64)(attr & 0xff) << 40) | ((u64)((attr >> 8) & 0xf) << 52);
}

static int write_gdt(struct vm *vm, const struct lx_plan *p)
{
	const u64 gdt[4] = {0, 0, gdt_desc(p->entry64 ? SEG_CODE64 : SEG_CODE32), gdt_desc(SEG_DATA)};

	static_assert(LINUX_BOOT_CS == 2 * 8 && LINUX_BOOT_DS == 3 * 8, "GDT slots of __BOOT_CS and __BOOT_DS");
	return write_gpa(vm, LINUX_GDT_GPA, gdt, sizeof(gdt), "the GDT");
}

/* PML4[0] -> PDPT, PDPT[0..3] -> four page directories of 2 MiB pages: [0, 4 GiB) mapped 1:1, writable. */
static int write_page_tables(struct vm *vm)
{
	u64 e[64];
	int ret;

	e[0] = LINUX_PDPT_GPA | PTE_P | PTE_RW;
	ret = write_gpa(vm, LINUX_PML4_GPA, e, sizeof(e[0]), "the PML4");
	for (u32 i = 0; i < LX_NR_PDS; i++)
		e[i] = (LINUX_PD_GPA + i * PAGE_SIZE) | PTE_P | PTE_RW;
	if (!ret)
		ret = write_gpa(vm, LINUX_PDPT_GPA, e, LX_NR_PDS * sizeof(e[0]), "the PDPT");
	for (u64 base = 0; base < FOUR_GB && !ret; base += ARRAY_SIZE(e) * HUGE_2M_SIZE) {
		for (u32 i = 0; i < ARRAY_SIZE(e); i++)
			e[i] = (base + i * HUGE_2M_SIZE) | PTE_P | PTE_RW | PTE_PS;
		ret = write_gpa(vm, LINUX_PD_GPA + (base >> HUGE_2M_SHIFT) * sizeof(e[0]), e, sizeof(e),
				"a page directory");
	}
	return ret;
}

/* The zero page: zeroed, the image's setup header copied in, then the loader's fields written over it. */
static int write_zero_page(struct vm *vm, const u8 *img, const struct linux_boot_params_in *in,
			   const struct guest_mem_layout *l, const struct lx_plan *p)
{
	u8 hdr[HDR_MAX_END]; /* indexed by zero-page offset; [HDR_START, hdr_end) is used */
	u8 tail[BP_E820_ENTRIES + 1 - BP_ALT_MEM_K];
	u8 low[BP_EXT_RAMDISK_SIZE + 4 - BP_ACPI_RSDP_ADDR];
	u64 gpa = LINUX_ZERO_PAGE_GPA;
	int ret;

	memcpy(hdr + HDR_START, img + HDR_START, p->h.hdr_end - HDR_START);
	put(hdr, HDR_VID_MODE, VID_MODE_NORMAL, 2);
	put(hdr, HDR_TYPE_OF_LOADER, LOADER_UNDEFINED, 1);
	put(hdr, HDR_LOADFLAGS, p->h.loadflags | CAN_USE_HEAP, 1);
	put(hdr, HDR_CODE32_START, p->load, 4);
	put(hdr, HDR_RAMDISK_IMAGE, (u32)p->initrd_gpa, 4);
	put(hdr, HDR_RAMDISK_SIZE, (u32)in->initrd_size, 4);
	put(hdr, HDR_HEAP_END_PTR, HEAP_END_PTR, 2);
	put(hdr, HDR_CMD_LINE_PTR, LINUX_CMDLINE_GPA, 4);
	/* Fields a loader writes that an image could have preset: a PC, and no setup_data list. hdr_end >= HDR_MIN_END
	 * puts them inside the copied header. */
	static_assert(HDR_SETUP_DATA + 8 <= HDR_MIN_END, "loader-written fields lie in every accepted header");
	put(hdr, HDR_HW_SUBARCH, 0, 4);
	put(hdr, HDR_HW_SUBARCH_DATA, 0, 8);
	put(hdr, HDR_SETUP_DATA, 0, 8);

	memset(low, 0, sizeof(low));
	put(low, 0, in->acpi_rsdp_gpa, 8);
	put(low, BP_EXT_RAMDISK_IMAGE - BP_ACPI_RSDP_ADDR, p->initrd_gpa >> 32, 4);
	put(low, BP_EXT_RAMDISK_SIZE - BP_ACPI_RSDP_ADDR, in->initrd_size >> 32, 4);
	memset(tail, 0, sizeof(tail));
	put(tail, 0, (MIN(l->ram[0].len, FOUR_GB) - HIGH_MEM) >> 10, 4); /* alt_mem_k: KiB above 1 MiB */
	put(tail, BP_E820_ENTRIES - BP_ALT_MEM_K, p->ne820, 1);

	ret = zero_gpa(vm, gpa, PAGE_SIZE);
	if (!ret)
		ret = write_gpa(vm, gpa + HDR_START, hdr + HDR_START, p->h.hdr_end - HDR_START, "the setup header");
	if (!ret)
		ret = write_gpa(vm, gpa + BP_ACPI_RSDP_ADDR, low, sizeof(low), "the zero page");
	if (!ret)
		ret = write_gpa(vm, gpa + BP_ALT_MEM_K, tail, sizeof(tail), "the zero page");
	if (!ret)
		ret = write_gpa(vm, gpa + BP_E820_TABLE, p->e820, p->ne820 * sizeof(p->e820[0]), "the e820 table");
	return ret;
}

static int write_all(struct vm *vm, const u8 *img, const struct linux_boot_params_in *in,
		     const struct guest_mem_layout *l, const struct lx_plan *p)
{
	int ret = zero_gpa(vm, LINUX_GDT_GPA, PAGE_SIZE);

	if (!ret)
		ret = write_gdt(vm, p);
	if (!ret)
		ret = write_zero_page(vm, img, in, l, p);
	if (!ret && p->entry64)
		ret = zero_gpa(vm, LINUX_PML4_GPA, LINUX_PT_END - LINUX_PML4_GPA);
	if (!ret && p->entry64)
		ret = write_page_tables(vm);
	if (!ret)
		ret = write_gpa(vm, LINUX_CMDLINE_GPA, in->cmdline ? in->cmdline : "", p->cmdline_len,
				"the command line");
	if (!ret)
		ret = write_gpa(vm, LINUX_CMDLINE_GPA + p->cmdline_len, "", 1, "the command line");
	if (!ret)
		ret = write_gpa(vm, p->load, img + p->setup_size, p->pm_size, "the kernel");
	if (!ret)
		ret = write_gpa(vm, p->initrd_gpa, in->initrd, in->initrd_size, "the initrd");
	return ret;
}

static void fill_state(const struct lx_plan *p, struct vcpu_boot_state *st, u64 regs[16])
{
	const struct vcpu_segment data = {.selector = LINUX_BOOT_DS, .limit = 0xffffffff, .attr = SEG_DATA};

	memset(st, 0, sizeof(*st));
	for (int i = 0; i < NR_SEGS; i++)
		st->seg[i] = data;
	st->seg[SEG_CS] = (struct vcpu_segment){
	    .selector = LINUX_BOOT_CS, .limit = 0xffffffff, .attr = p->entry64 ? SEG_CODE64 : SEG_CODE32};
	st->seg[SEG_LDTR] = (struct vcpu_segment){.attr = SEG_ATTR_UNUSABLE};
	st->seg[SEG_TR] = (struct vcpu_segment){.limit = 0x67, .attr = SEG_TSS};
	st->gdt = (struct vcpu_dtable){.base = LINUX_GDT_GPA, .limit = 4 * 8 - 1};
	st->rflags = BIT(1); /* interrupts off */
	if (p->entry64) {
		st->cr0 = CR0_PE | CR0_ET | CR0_PG;
		st->cr3 = LINUX_PML4_GPA;
		st->cr4 = CR4_PAE;
		st->efer = EFER_LME | EFER_LMA;
		st->rip = p->load + ENTRY64_OFFSET;
	} else {
		st->cr0 = CR0_PE | CR0_ET;
		st->rip = p->load; /* code32_start */
	}
	memset(regs, 0, NR_VCPU_GPRS * sizeof(regs[0]));
	regs[VCPU_RSI] = LINUX_ZERO_PAGE_GPA;
}

bool linux_is_bzimage(const void *image, u64 size)
{
	const u8 *img = image;
	u16 flag;
	u32 magic;

	if (!img || size < HDR_MAGIC + 4)
		return false;
	__builtin_memcpy(&flag, img + HDR_BOOT_FLAG, 2);
	__builtin_memcpy(&magic, img + HDR_MAGIC, 4);
	return flag == BOOT_FLAG_MAGIC && magic == HDRS_MAGIC;
}

int linux_check_image(const char *name, const void *image, u64 size)
{
	struct lx_plan p;

	if (!image)
		return -EINVAL;
	memset(&p, 0, sizeof(p));
	return parse_header(name, image, size, &p);
}

int linux_load(struct vm *vm, const void *image, u64 size, const struct linux_boot_params_in *in,
	       const struct guest_mem_layout *layout, struct vcpu_boot_state *st, u64 regs[16])
{
	struct lx_plan p;
	char version[VERSION_LOG_MAX];
	int ret;

	memset(&p, 0, sizeof(p));
	ret = check_args(vm, image, in, layout, st, regs);
	if (!ret)
		ret = plan(vm, image, size, in, layout, &p);
	if (!ret)
		ret = write_all(vm, image, in, layout, &p);
	if (ret)
		return ret;

	fill_state(&p, st, regs);
	version_string(image, &p, version, sizeof(version));
	if (in->initrd_size)
		vm_log(vm, LOG_INFO,
		       "linux: kernel %s (protocol %u.%02u) at %#llx, runs at %#llx (init_size %#x); initrd at %#llx "
		       "(%#llx bytes); command line %llu bytes; %s entry at %#llx\n",
		       version, p.h.version >> 8, p.h.version & 0xff, ULL(p.load), ULL(p.run), p.h.init_size,
		       ULL(p.initrd_gpa), ULL(in->initrd_size), ULL(p.cmdline_len), p.entry64 ? "64-bit" : "32-bit",
		       ULL(st->rip));
	else
		vm_log(vm, LOG_INFO,
		       "linux: kernel %s (protocol %u.%02u) at %#llx, runs at %#llx (init_size %#x); no initrd; "
		       "command line %llu bytes; %s entry at %#llx\n",
		       version, p.h.version >> 8, p.h.version & 0xff, ULL(p.load), ULL(p.run), p.h.init_size,
		       ULL(p.cmdline_len), p.entry64 ? "64-bit" : "32-bit", ULL(st->rip));
	return 0;
}
