/* The Multiboot (v1) loader. It works in two phases: a plan, which finds the header, turns the a.out kludge or the
 * ELF program headers into a list of segments, places the modules and lays out the boot information, checking every
 * value against the image size, guest RAM and each other; then the writes, which cannot fail for any reason the
 * image controls. So a bad image leaves guest memory untouched, and the check that failed is named in the log. */
#include "vm/loader/multiboot.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"
#include "vm/vm.h"

#define MB_FLAG_PAGE_ALIGN   BIT(0)
#define MB_FLAG_MEMORY_INFO  BIT(1)
#define MB_FLAG_VIDEO_MODE   BIT(2)
#define MB_FLAG_AOUT_KLUDGE  BIT(16)
#define MB_REQUIRED_MASK     0xffffu
#define MB_HEADER_LEN	     12 /* magic, flags, checksum */
#define MB_KLUDGE_HEADER_LEN 32 /* + header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr */

#define MBI_MEM		BIT(0)
#define MBI_CMDLINE	BIT(2)
#define MBI_MODS	BIT(3)
#define MBI_MMAP	BIT(6)
#define MBI_LOADER_NAME BIT(9)

#define MB_MMAP_USABLE	 1
#define MB_MMAP_RESERVED 2
#define MB_MAX_MMAP	 (GUEST_MEM_MAX_RANGES + 3)
#define MB_MAX_SEGS	 16
#define MB_MAX_PHDRS	 64

#define LOW_RAM_END 0x9fc00ULL /* conventional memory; the EBDA sits above it */
#define VGA_START   0xa0000ULL
#define BIOS_START  0xf0000ULL
#define HIGH_MEM    0x100000ULL
#define FOUR_GB	    (1ULL << 32)

#define ELFCLASS32  1
#define ELFCLASS64  2
#define ELFDATA2LSB 1
#define ET_EXEC	    2
#define EM_386	    3
#define EM_X86_64   62
#define PT_LOAD	    1
#define PF_X	    1

static const char mb_loader_name[] = "hv";

/* The information structure, as far as the fields of spec version 0.6.96 go. */
struct mb_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr, drives_length, drives_addr, config_table, boot_loader_name, apm_table;
	u32 vbe_control_info, vbe_mode_info;
	u16 vbe_mode, vbe_interface_seg, vbe_interface_off, vbe_interface_len;
	u64 framebuffer_addr;
	u32 framebuffer_pitch, framebuffer_width, framebuffer_height;
	u8 framebuffer_bpp, framebuffer_type, color_info[6];
} __packed;
static_assert(sizeof(struct mb_info) == 116, "multiboot_info layout");

struct mb_mmap_entry {
	u32 size; /* of the rest of the entry: 20 */
	u64 base, len;
	u32 type;
} __packed;
static_assert(sizeof(struct mb_mmap_entry) == 24, "multiboot mmap entry layout");

struct mb_mod_entry {
	u32 mod_start, mod_end, string, reserved;
};

/* Image bytes [off, off + filesz) go to guest [gpa, gpa + filesz); [gpa + filesz, gpa + memsz) is zeroed. */
struct mb_seg {
	u64 gpa, off, filesz, memsz;
};

struct mb_plan {
	struct mb_seg seg[MB_MAX_SEGS];
	u32 nseg;
	u64 entry;
	u64 kernel_end; /* highest loaded address + 1 */
	u64 mod_gpa[MULTIBOOT_MAX_MODULES];
	u32 nmmap;
	struct mb_mmap_entry mmap[MB_MAX_MMAP];
	/* Boot information, from info_base up: MULTIBOOT_INFO_BASE unless the kernel loads there. */
	u64 info_base;
	u64 mmap_gpa, mods_gpa, name_gpa, cmdline_gpa, modstr_gpa[MULTIBOOT_MAX_MODULES], info_end;
	u64 cmdline_len, modstr_len[MULTIBOOT_MAX_MODULES]; /* with the NUL */
};

#define mb_err(vm, fmt, ...) vm_log(vm, LOG_ERR, "multiboot: " fmt "\n", ##__VA_ARGS__)
#define ULL(x)		     ((unsigned long long)(x))

/* The image is a host buffer with no alignment promise: every multi-byte field is read bytewise. */
static u16 rd16(const u8 *p)
{
	u16 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static u32 rd32(const u8 *p)
{
	u32 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static u64 rd64(const u8 *p)
{
	u64 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

int guest_mem_layout_pc(struct guest_mem_layout *layout, u64 mem_bytes)
{
	memset(layout, 0, sizeof(*layout));
	if (mem_bytes < HUGE_2M_SIZE)
		return -EINVAL;
	layout->ram[0].base = 0;
	if (mem_bytes <= GUEST_LOW_RAM_END) {
		layout->nr_ram = 1;
		layout->ram[0].len = mem_bytes;
	} else {
		layout->nr_ram = 2;
		layout->ram[0].len = GUEST_LOW_RAM_END;
		layout->ram[1].base = FOUR_GB;
		layout->ram[1].len = mem_bytes - GUEST_LOW_RAM_END;
	}
	return 0;
}

/* Shared with the Linux loader (one set of rules for both). */
int guest_mem_layout_check(struct vm *vm, const struct guest_mem_layout *l)
{
	if (l->nr_ram == 0 || l->nr_ram > GUEST_MEM_MAX_RANGES) {
		vm_log(vm, LOG_ERR, "loader: memory layout has %u ranges (1-%u allowed)\n", l->nr_ram,
		       GUEST_MEM_MAX_RANGES);
		return -EINVAL;
	}
	if (l->ram[0].base != 0 || l->ram[0].len < HUGE_2M_SIZE) {
		vm_log(vm, LOG_ERR, "loader: memory layout must start with at least 2 MiB of RAM at 0\n");
		return -EINVAL;
	}
	for (u32 i = 0; i < l->nr_ram; i++) {
		const struct guest_mem_range *r = &l->ram[i];

		if (!r->len || !IS_ALIGNED(r->base | r->len, PAGE_SIZE) || r->base + r->len < r->base ||
		    (i > 0 && r->base < l->ram[i - 1].base + l->ram[i - 1].len)) {
			vm_log(vm, LOG_ERR,
			       "loader: memory layout range %u [%#llx, +%#llx) is empty, unaligned, wrapping or out of "
			       "order\n",
			       i, ULL(r->base), ULL(r->len));
			return -EINVAL;
		}
	}
	return 0;
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

/* Finds the header; returns its offset, or -ENOEXEC after saying why there is none. */
static s64 find_header(struct vm *vm, const u8 *img, u64 size)
{
	u64 limit = MIN(size, (u64)MULTIBOOT_SEARCH_LIMIT), bad_off = ~0ULL;

	for (u64 off = 0; off + MB_HEADER_LEN <= limit; off += 4) {
		if (rd32(img + off) != MULTIBOOT_HEADER_MAGIC)
			continue;
		if ((u32)(MULTIBOOT_HEADER_MAGIC + rd32(img + off + 4) + rd32(img + off + 8)) == 0)
			return (s64)off;
		if (bad_off == ~0ULL)
			bad_off = off;
	}
	if (bad_off != ~0ULL) {
		mb_err(vm, "header at offset %#llx: bad checksum (magic + flags + checksum = %#x, must be 0)",
		       ULL(bad_off), (u32)(MULTIBOOT_HEADER_MAGIC + rd32(img + bad_off + 4) + rd32(img + bad_off + 8)));
		return -ENOEXEC;
	}
	/* A header just beyond the limit is a common link-order mistake; say so rather than "none". */
	for (u64 off = 0; off + MB_HEADER_LEN <= MIN(size, 16ULL * MULTIBOOT_SEARCH_LIMIT); off += 4) {
		if (off + MB_HEADER_LEN > limit && rd32(img + off) == MULTIBOOT_HEADER_MAGIC) {
			mb_err(vm, "header magic at offset %#llx, but the header must lie within the first %u bytes",
			       ULL(off), MULTIBOOT_SEARCH_LIMIT);
			return -ENOEXEC;
		}
	}
	mb_err(vm, "no multiboot header (magic %#x, 4-byte aligned) in the first %u bytes of the %llu-byte image",
	       MULTIBOOT_HEADER_MAGIC, MULTIBOOT_SEARCH_LIMIT, ULL(size));
	return -ENOEXEC;
}

/* The a.out kludge: the header's address fields say which file bytes go where (multiboot spec 3.1.3). */
static int plan_kludge(struct vm *vm, const u8 *img, u64 size, u64 off, struct mb_plan *p)
{
	const u8 *h = img + off;
	u32 header_addr, load_addr, load_end, bss_end, entry;
	u64 text_off, load_size, mem_size;

	if (off + MB_KLUDGE_HEADER_LEN > MIN(size, (u64)MULTIBOOT_SEARCH_LIMIT)) {
		mb_err(vm, "a.out kludge: the address fields at offset %#llx run past the first %u bytes or the file",
		       ULL(off + MB_HEADER_LEN), MULTIBOOT_SEARCH_LIMIT);
		return -ENOEXEC;
	}
	header_addr = rd32(h + 12);
	load_addr = rd32(h + 16);
	load_end = rd32(h + 20);
	bss_end = rd32(h + 24);
	entry = rd32(h + 28);

	if (header_addr < load_addr) {
		mb_err(vm, "a.out kludge: header_addr %#x is below load_addr %#x", header_addr, load_addr);
		return -ENOEXEC;
	}
	if (header_addr - load_addr > off) {
		mb_err(vm, "a.out kludge: header_addr - load_addr = %#x exceeds the header's file offset %#llx",
		       header_addr - load_addr, ULL(off));
		return -ENOEXEC;
	}
	text_off = off - (header_addr - load_addr);
	if (load_end) {
		if (load_end < load_addr) {
			mb_err(vm, "a.out kludge: load_end_addr %#x is below load_addr %#x", load_end, load_addr);
			return -ENOEXEC;
		}
		load_size = load_end - load_addr;
		if (load_size > size - text_off) {
			mb_err(vm, "a.out kludge: load_end_addr %#x needs file bytes up to %#llx, the file has %#llx",
			       load_end, ULL(text_off + load_size), ULL(size));
			return -ENOEXEC;
		}
	} else {
		load_size = size - text_off; /* to the end of the file */
	}
	if (bss_end) {
		if (bss_end < load_addr + load_size) {
			mb_err(vm, "a.out kludge: bss_end_addr %#x is below the end of the loaded text %#llx", bss_end,
			       ULL(load_addr + load_size));
			return -ENOEXEC;
		}
		mem_size = bss_end - load_addr;
	} else {
		mem_size = load_size;
	}
	if (!mem_size) {
		mb_err(vm, "a.out kludge: the image loads nothing (load_addr %#x)", load_addr);
		return -ENOEXEC;
	}
	p->seg[0] = (struct mb_seg){.gpa = load_addr, .off = text_off, .filesz = load_size, .memsz = mem_size};
	p->nseg = 1;
	p->entry = entry;
	return 0;
}

/* A program header in a class-independent form. */
struct elf_phdr {
	u32 type, flags;
	u64 offset, vaddr, paddr, filesz, memsz;
};

static void read_phdr(const u8 *ph, bool is64, struct elf_phdr *e)
{
	if (is64) {
		*e = (struct elf_phdr){.type = rd32(ph),
				       .flags = rd32(ph + 4),
				       .offset = rd64(ph + 8),
				       .vaddr = rd64(ph + 16),
				       .paddr = rd64(ph + 24),
				       .filesz = rd64(ph + 32),
				       .memsz = rd64(ph + 40)};
	} else {
		*e = (struct elf_phdr){.type = rd32(ph),
				       .offset = rd32(ph + 4),
				       .vaddr = rd32(ph + 8),
				       .paddr = rd32(ph + 12),
				       .filesz = rd32(ph + 16),
				       .memsz = rd32(ph + 20),
				       .flags = rd32(ph + 24)};
	}
}

/* One PT_LOAD segment: inside the file, no wrap, below 4 GiB; added to the plan unless it is empty. */
static int plan_elf_segment(struct vm *vm, u32 i, const struct elf_phdr *e, u64 size, struct mb_plan *p)
{
	if (e->filesz > e->memsz) {
		mb_err(vm, "ELF segment %u: p_filesz %#llx exceeds p_memsz %#llx", i, ULL(e->filesz), ULL(e->memsz));
		return -ENOEXEC;
	}
	if (e->offset > size || e->filesz > size - e->offset) {
		mb_err(vm, "ELF segment %u: file bytes [%#llx, +%#llx) run past the end of the %#llx-byte file", i,
		       ULL(e->offset), ULL(e->filesz), ULL(size));
		return -ENOEXEC;
	}
	if (!e->memsz)
		return 0;
	if (e->paddr + e->memsz < e->paddr) {
		mb_err(vm, "ELF segment %u: p_paddr %#llx + p_memsz %#llx overflows", i, ULL(e->paddr), ULL(e->memsz));
		return -ENOEXEC;
	}
	if (e->paddr + e->memsz > FOUR_GB) {
		mb_err(vm, "ELF segment %u: [%#llx, %#llx) runs past 4 GiB, out of reach of a 32-bit entry", i,
		       ULL(e->paddr), ULL(e->paddr + e->memsz));
		return -ENOEXEC;
	}
	if (p->nseg == MB_MAX_SEGS) {
		mb_err(vm, "ELF: more than %u non-empty PT_LOAD segments", MB_MAX_SEGS);
		return -ENOEXEC;
	}
	p->seg[p->nseg++] = (struct mb_seg){.gpa = e->paddr, .off = e->offset, .filesz = e->filesz, .memsz = e->memsz};
	return 0;
}

static int plan_elf(struct vm *vm, const u8 *img, u64 size, struct mb_plan *p)
{
	bool is64, translated = false;
	u64 ehsize, phsize, phoff, entry;
	u32 phentsize, phnum;
	int ret;

	if (size < 52 || img[0] != 0x7f || img[1] != 'E' || img[2] != 'L' || img[3] != 'F') {
		mb_err(vm, "no a.out kludge (flags bit 16) and not an ELF file");
		return -ENOEXEC;
	}
	if (img[4] != ELFCLASS32 && img[4] != ELFCLASS64) {
		mb_err(vm, "ELF: unknown class %u", img[4]);
		return -ENOEXEC;
	}
	is64 = img[4] == ELFCLASS64;
	ehsize = is64 ? 64 : 52;
	phsize = is64 ? 56 : 32;
	if (size < ehsize) {
		mb_err(vm, "ELF64: the %llu-byte file is shorter than the ELF header", ULL(size));
		return -ENOEXEC;
	}
	if (img[5] != ELFDATA2LSB || img[6] != 1 || rd32(img + 20) != 1) {
		mb_err(vm, "ELF: not a little-endian version-1 file");
		return -ENOEXEC;
	}
	if (rd16(img + 16) != ET_EXEC) {
		mb_err(vm, "ELF: e_type %u is not ET_EXEC", rd16(img + 16));
		return -ENOEXEC;
	}
	if (rd16(img + 18) != (is64 ? EM_X86_64 : EM_386)) {
		mb_err(vm, "ELF%s: e_machine %u is not %s", is64 ? "64" : "32", rd16(img + 18),
		       is64 ? "EM_X86_64" : "EM_386");
		return -ENOEXEC;
	}
	entry = is64 ? rd64(img + 24) : rd32(img + 24);
	phoff = is64 ? rd64(img + 32) : rd32(img + 28);
	phentsize = rd16(img + (is64 ? 54 : 42));
	phnum = rd16(img + (is64 ? 56 : 44));
	if (phentsize < phsize || phnum == 0 || phnum > MB_MAX_PHDRS) {
		mb_err(vm, "ELF: program header table of %u entries of %u bytes (1-%u entries of at least %llu bytes)",
		       phnum, phentsize, MB_MAX_PHDRS, ULL(phsize));
		return -ENOEXEC;
	}
	if (phoff > size || (u64)phnum * phentsize > size - phoff) {
		mb_err(vm, "ELF: program header table [%#llx, +%#llx) runs past the end of the %#llx-byte file",
		       ULL(phoff), ULL((u64)phnum * phentsize), ULL(size));
		return -ENOEXEC;
	}

	for (u32 i = 0; i < phnum; i++) {
		struct elf_phdr e;

		read_phdr(img + phoff + (u64)i * phentsize, is64, &e);
		if (e.type != PT_LOAD)
			continue;
		ret = plan_elf_segment(vm, i, &e, size, p);
		if (ret)
			return ret;
		/* e_entry is virtual; for a kernel linked to run elsewhere (higher half) turn it into the physical
		 * address of the same byte, as GRUB and QEMU do. */
		if (!translated && (e.flags & PF_X) && e.vaddr != e.paddr && entry >= e.vaddr &&
		    entry - e.vaddr < e.filesz) {
			entry = entry - e.vaddr + e.paddr;
			translated = true;
		}
	}
	if (!p->nseg) {
		mb_err(vm, "ELF: no PT_LOAD segment loads anything");
		return -ENOEXEC;
	}
	if (entry >= FOUR_GB) {
		mb_err(vm, "ELF64: entry point %#llx is above 4 GiB, out of reach of a 32-bit entry", ULL(entry));
		return -ENOEXEC;
	}
	p->entry = entry;
	return 0;
}

/* Every segment in guest RAM, clear of the boot information and of each other; the entry inside one of them. */
static int check_segments(struct vm *vm, const struct guest_mem_layout *l, struct mb_plan *p)
{
	bool entry_ok = false;

	p->kernel_end = 0;
	for (u32 i = 0; i < p->nseg; i++) {
		const struct mb_seg *s = &p->seg[i];
		u64 end = s->gpa + s->memsz;

		if (!in_low_ram(l, s->gpa, s->memsz)) {
			mb_err(vm, "kernel load range [%#llx, %#llx) is not inside guest RAM below 4 GiB", ULL(s->gpa),
			       ULL(end));
			return -E2BIG;
		}
		if (s->gpa < p->info_end && end > p->info_base) {
			mb_err(vm, "kernel load range [%#llx, %#llx) overlaps the boot information at [%#llx, %#llx)",
			       ULL(s->gpa), ULL(end), ULL(p->info_base), ULL(p->info_end));
			return -ENOEXEC;
		}
		for (u32 j = 0; j < i; j++) {
			if (s->gpa < p->seg[j].gpa + p->seg[j].memsz && end > p->seg[j].gpa) {
				mb_err(vm, "kernel load ranges [%#llx, %#llx) and [%#llx, %#llx) overlap", ULL(s->gpa),
				       ULL(end), ULL(p->seg[j].gpa), ULL(p->seg[j].gpa + p->seg[j].memsz));
				return -ENOEXEC;
			}
		}
		if (p->entry >= s->gpa && p->entry < end)
			entry_ok = true;
		p->kernel_end = MAX(p->kernel_end, end);
	}
	if (!entry_ok) {
		mb_err(vm, "entry point %#llx is outside everything the image loads", ULL(p->entry));
		return -ENOEXEC;
	}
	return 0;
}

/* Modules, one after the other, page aligned, from the end of the kernel (or 1 MiB) up. */
static int place_modules(struct vm *vm, const struct guest_mem_layout *l, const struct mb_module *mods, u32 nmods,
			 struct mb_plan *p)
{
	u64 at = ALIGN_UP(MAX(p->kernel_end, HIGH_MEM), PAGE_SIZE);

	for (u32 i = 0; i < nmods; i++) {
		/* An empty module still needs its address to be RAM. */
		if (!in_low_ram(l, at, MAX(mods[i].size, 1ULL))) {
			mb_err(vm, "module %u (%#llx bytes) does not fit at %#llx in guest RAM below 4 GiB", i,
			       ULL(mods[i].size), ULL(at));
			return -E2BIG;
		}
		p->mod_gpa[i] = at;
		at = ALIGN_UP(at + mods[i].size, PAGE_SIZE);
	}
	return 0;
}

/* The memory map: each RAM range usable, except the legacy holes of the first MiB (EBDA, VGA, BIOS ROM). */
static void plan_mmap(const struct guest_mem_layout *l, struct mb_plan *p)
{
	u64 low_end = l->ram[0].len;

	p->nmmap = 0;
#define ADD(b, e, t)                                                                                                   \
	p->mmap[p->nmmap++] = (struct mb_mmap_entry){.size = 20, .base = (b), .len = (e) - (b), .type = (t)}
	ADD(0, MIN(low_end, LOW_RAM_END), MB_MMAP_USABLE);
	ADD(LOW_RAM_END, VGA_START, MB_MMAP_RESERVED);
	ADD(BIOS_START, HIGH_MEM, MB_MMAP_RESERVED);
	if (low_end > HIGH_MEM)
		ADD(HIGH_MEM, low_end, MB_MMAP_USABLE);
	for (u32 i = 1; i < l->nr_ram; i++)
		ADD(l->ram[i].base, l->ram[i].base + l->ram[i].len, MB_MMAP_USABLE);
#undef ADD
}

/* Size of string s with its NUL; mod is the module it belongs to, or -1 for the kernel. */
static int string_size(struct vm *vm, const char *s, int mod, u64 *len)
{
	size_t n = s ? strnlen(s, MULTIBOOT_CMDLINE_MAX) : 0;

	if (n == MULTIBOOT_CMDLINE_MAX) {
		if (mod < 0)
			mb_err(vm, "kernel command line longer than %u characters", MULTIBOOT_CMDLINE_MAX - 1);
		else
			mb_err(vm, "module %d: command line longer than %u characters", mod, MULTIBOOT_CMDLINE_MAX - 1);
		return -E2BIG;
	}
	*len = n + 1;
	return 0;
}

/* Addresses of everything in the boot information area, from p->info_base up. */
static int plan_info_at(struct vm *vm, const char *cmdline, const struct mb_module *mods, u32 nmods,
			struct mb_plan *p)
{
	u64 at;
	int ret;

	p->mmap_gpa = ALIGN_UP(p->info_base + sizeof(struct mb_info), 8);
	p->mods_gpa = ALIGN_UP(p->mmap_gpa + p->nmmap * sizeof(struct mb_mmap_entry), 16);
	p->name_gpa = p->mods_gpa + nmods * sizeof(struct mb_mod_entry);
	p->cmdline_gpa = p->name_gpa + sizeof(mb_loader_name);
	ret = string_size(vm, cmdline, -1, &p->cmdline_len);
	if (ret)
		return ret;
	at = p->cmdline_gpa + p->cmdline_len;
	for (u32 i = 0; i < nmods; i++) {
		ret = string_size(vm, mods[i].cmdline, (int)i, &p->modstr_len[i]);
		if (ret)
			return ret;
		p->modstr_gpa[i] = at;
		at += p->modstr_len[i];
	}
	p->info_end = at;
	return 0;
}

static bool overlaps_segments(const struct mb_plan *p, u64 start, u64 end)
{
	for (u32 i = 0; i < p->nseg; i++)
		if (start < p->seg[i].gpa + p->seg[i].memsz && end > p->seg[i].gpa)
			return true;
	return false;
}

/* The boot information goes at MULTIBOOT_INFO_BASE, as QEMU puts it, unless the kernel loads there (GRUB's own
 * multiboot image is linked at 0x9000): then at the lowest page above that is clear of every segment. It stays in
 * low memory, well below the area kernels use for their early stacks, and below MULTIBOOT_INFO_LIMIT. */
static int plan_info(struct vm *vm, const char *cmdline, const struct mb_module *mods, u32 nmods, struct mb_plan *p)
{
	for (p->info_base = MULTIBOOT_INFO_BASE; p->info_base < MULTIBOOT_INFO_LIMIT; p->info_base += PAGE_SIZE) {
		int ret = plan_info_at(vm, cmdline, mods, nmods, p);
		if (ret)
			return ret;
		if (p->info_end > MULTIBOOT_INFO_LIMIT)
			break;
		if (!overlaps_segments(p, p->info_base, p->info_end))
			return 0;
	}
	mb_err(vm, "no room for the %#llx bytes of boot information between %#x and %#x clear of the kernel",
	       ULL(p->info_end - p->info_base), MULTIBOOT_INFO_BASE, MULTIBOOT_INFO_LIMIT);
	return -E2BIG;
}

static int check_args(struct vm *vm, const void *image, const struct mb_module *mods, u32 nmods,
		      const struct guest_mem_layout *layout, const struct multiboot_boot_state *out)
{
	if (!image || !layout || !out || (nmods && !mods)) {
		mb_err(vm, "missing image, layout, output or module array");
		return -EINVAL;
	}
	if (nmods > MULTIBOOT_MAX_MODULES) {
		mb_err(vm, "%u modules, at most %u are supported", nmods, MULTIBOOT_MAX_MODULES);
		return -E2BIG;
	}
	for (u32 i = 0; i < nmods; i++) {
		if (mods[i].size && !mods[i].data) {
			mb_err(vm, "module %u has %#llx bytes but no data", i, ULL(mods[i].size));
			return -EINVAL;
		}
	}
	return guest_mem_layout_check(vm, layout);
}

static int plan(struct vm *vm, const u8 *img, u64 size, const char *cmdline, const struct mb_module *mods, u32 nmods,
		const struct guest_mem_layout *layout, struct mb_plan *p)
{
	s64 off = find_header(vm, img, size);
	u32 flags;
	int ret;

	if (off < 0)
		return (int)off;
	flags = rd32(img + off + 4);
	/* Bits 0-15 are requirements: an unknown one means this loader cannot boot the image correctly. */
	if (flags & MB_REQUIRED_MASK & ~(MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO | MB_FLAG_VIDEO_MODE)) {
		mb_err(vm, "header flags %#x require features this loader does not know (bits %#x of 0-15)", flags,
		       flags & MB_REQUIRED_MASK &
			   ~(u32)(MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO | MB_FLAG_VIDEO_MODE));
		return -ENOEXEC;
	}
	if (flags & MB_FLAG_VIDEO_MODE)
		vm_log(vm, LOG_NOTICE, "multiboot: the kernel asks for a video mode (flags bit 2); it gets none\n");

	ret = (flags & MB_FLAG_AOUT_KLUDGE) ? plan_kludge(vm, img, size, (u64)off, p) : plan_elf(vm, img, size, p);
	if (!ret) {
		plan_mmap(layout, p);
		ret = plan_info(vm, cmdline, mods, nmods, p);
	}
	if (!ret)
		ret = check_segments(vm, layout, p);
	if (!ret)
		ret = place_modules(vm, layout, mods, nmods, p);
	return ret;
}

static int write_gpa(struct vm *vm, u64 gpa, const void *src, u64 len, const char *what)
{
	int ret = len ? vm_write_gpa(vm, gpa, src, len) : 0;

	if (ret)
		mb_err(vm, "writing %s to [%#llx, %#llx) failed (%d)", what, ULL(gpa), ULL(gpa + len), ret);
	return ret;
}

static int zero_gpa(struct vm *vm, u64 gpa, u64 len)
{
	static const u8 zeros[PAGE_SIZE];

	while (len) {
		u64 n = MIN(len, (u64)sizeof(zeros));
		int ret = write_gpa(vm, gpa, zeros, n, "bss");

		if (ret)
			return ret;
		gpa += n;
		len -= n;
	}
	return 0;
}

static int write_info(struct vm *vm, const char *cmdline, const struct mb_module *mods, u32 nmods,
		      const struct guest_mem_layout *l, const struct mb_plan *p)
{
	struct mb_info mbi = {0};
	int ret;

	mbi.flags = MBI_MEM | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_LOADER_NAME;
	mbi.mem_lower = (u32)(MIN(l->ram[0].len, LOW_RAM_END) >> 10);
	mbi.mem_upper = (u32)(MIN(l->ram[0].len - HIGH_MEM, (u64)UINT32_MAX << 10) >> 10);
	mbi.cmdline = (u32)p->cmdline_gpa;
	mbi.mods_count = nmods;
	mbi.mods_addr = (u32)p->mods_gpa;
	mbi.mmap_length = p->nmmap * (u32)sizeof(struct mb_mmap_entry);
	mbi.mmap_addr = (u32)p->mmap_gpa;
	mbi.boot_loader_name = (u32)p->name_gpa;

	ret = write_gpa(vm, p->info_base, &mbi, sizeof(mbi), "the boot information");
	if (!ret)
		ret = write_gpa(vm, p->mmap_gpa, p->mmap, mbi.mmap_length, "the memory map");
	if (!ret)
		ret = write_gpa(vm, p->name_gpa, mb_loader_name, sizeof(mb_loader_name), "the loader name");
	if (!ret)
		ret = write_gpa(vm, p->cmdline_gpa, cmdline ? cmdline : "", p->cmdline_len, "the command line");
	for (u32 i = 0; i < nmods && !ret; i++) {
		struct mb_mod_entry e = {
		    .mod_start = (u32)p->mod_gpa[i],
		    .mod_end = (u32)(p->mod_gpa[i] + mods[i].size),
		    .string = (u32)p->modstr_gpa[i],
		};

		ret = write_gpa(vm, p->mods_gpa + i * sizeof(e), &e, sizeof(e), "a module entry");
		if (!ret)
			ret = write_gpa(vm, p->modstr_gpa[i], mods[i].cmdline ? mods[i].cmdline : "", p->modstr_len[i],
					"a module string");
	}
	return ret;
}

int multiboot_load(struct vm *vm, const void *image, u64 size, const char *cmdline, const struct mb_module *mods,
		   u32 nmods, const struct guest_mem_layout *layout, struct multiboot_boot_state *out)
{
	struct mb_plan p;
	int ret;

	memset(&p, 0, sizeof(p));
	ret = check_args(vm, image, mods, nmods, layout, out);
	if (!ret)
		ret = plan(vm, image, size, cmdline, mods, nmods, layout, &p);
	if (ret)
		return ret;

	for (u32 i = 0; i < p.nseg && !ret; i++) {
		const struct mb_seg *s = &p.seg[i];

		ret = write_gpa(vm, s->gpa, (const u8 *)image + s->off, s->filesz, "the kernel");
		if (!ret)
			ret = zero_gpa(vm, s->gpa + s->filesz, s->memsz - s->filesz);
	}
	for (u32 i = 0; i < nmods && !ret; i++)
		ret = write_gpa(vm, p.mod_gpa[i], mods[i].data, mods[i].size, "a module");
	if (!ret)
		ret = write_info(vm, cmdline, mods, nmods, layout, &p);
	if (ret)
		return ret;

	out->entry = (u32)p.entry;
	out->mbi_gpa = (u32)p.info_base;
	vm_log(vm, LOG_INFO, "multiboot: entry %#x, kernel ends at %#llx, %u modules, boot information at %#x\n",
	       out->entry, ULL(p.kernel_end), nmods, out->mbi_gpa);
	return 0;
}
