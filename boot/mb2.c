/* The multiboot2 boot-information parser: validates the block GRUB hands over and copies what the hypervisor needs
 * into struct boot_info. The block is loader-provided input, so every length is checked before it is used, every
 * read stays inside [mbi, mbi + total_size), and a malformed block is an -EINVAL with a precise message, not a panic.
 *
 * Two phases: pass 1 walks the tags once, validating each one's structure (even tags whose data we end up not
 * using), copying strings and modules, and remembering where the memory-map and RSDP tags are. Phase 2 then makes
 * the choices that depend on the whole block: tag 6 over tag 17, tag 15 over tag 14, and the EFI type conversion,
 * which depends on whether boot services were left running (tag 18, which may come after the map).
 */
#include "boot/mb2.h"
#include "hv/compiler.h"
#include "hv/errno.h"
#include "hv/log.h"
#include "hv/string.h"

#define MB2_HDR_LEN   8 /* u32 total_size, u32 reserved; and the same for each tag: u32 type, u32 size */
#define MB2_TAG_ALIGN 8

/* EFI_MEMORY_TYPE values, UEFI spec 7.2. */
#define EFI_LOADER_CODE		1
#define EFI_LOADER_DATA		2
#define EFI_BOOT_SERVICES_CODE	3
#define EFI_BOOT_SERVICES_DATA	4
#define EFI_CONVENTIONAL_MEMORY 7
#define EFI_UNUSABLE_MEMORY	8
#define EFI_ACPI_RECLAIM_MEMORY 9
#define EFI_ACPI_MEMORY_NVS	10

struct mb2_ctx {
	const u8 *blk;
	u32 total;
	struct boot_info *out;
	/* Offsets of the first tag of each kind phase 2 needs; 0 means absent (offset 0 is the block header). */
	u32 mmap_off, efi_mmap_off, rsdp_v1_off, rsdp_v2_off;
	u32 modules_dropped;
	u32 regions_dropped;
};

/* Entries inside a tag need not be naturally aligned (entry_size and descr_size are arbitrary), so every multi-byte
 * field is read bytewise; __builtin_memcpy of a constant size still compiles to a single load under -fno-builtin. */
static inline u32 rd32(const u8 *p)
{
	u32 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static inline u64 rd64(const u8 *p)
{
	u64 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

#define tag_err(type, off, fmt, ...) pr_err("mb2: tag %u at offset %#x: " fmt "\n", (type), (off), ##__VA_ARGS__)

const char *boot_mem_type_name(u32 type)
{
	switch (type) {
	case BOOT_MEM_USABLE:
		return "usable";
	case BOOT_MEM_RESERVED:
		return "reserved";
	case BOOT_MEM_ACPI_RECLAIM:
		return "ACPI reclaimable";
	case BOOT_MEM_ACPI_NVS:
		return "ACPI NVS";
	case BOOT_MEM_BAD:
		return "bad";
	default:
		return "unknown";
	}
}

static int check_min_size(u32 type, u32 off, u32 size, u32 min, const char *what)
{
	if (size >= min)
		return 0;
	tag_err(type, off, "size %u is smaller than the %u bytes of %s", size, min, what);
	return -EINVAL;
}

/* The string at tag offset `at` must end with a NUL inside the tag; *len gets its length without the NUL. */
static int check_string(const u8 *tag, u32 type, u32 off, u32 size, u32 at, u32 *len)
{
	int ret = check_min_size(type, off, size, at + 1, "its fixed fields and a NUL-terminated string");

	if (ret)
		return ret;
	*len = (u32)strnlen((const char *)tag + at, size - at);
	if (*len == size - at) {
		tag_err(type, off, "string at tag offset %u is not NUL-terminated within the tag's %u bytes", at, size);
		return -EINVAL;
	}
	return 0;
}

static void copy_string(char *dst, u32 cap, const u8 *src, u32 len, const char *what)
{
	if (len >= cap) {
		pr_warn("mb2: %s is %u bytes long; truncating it to %u\n", what, len, cap - 1);
		len = cap - 1;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* A tag kind that should occur once: keep the first, because later duplicates are more likely the anomaly. */
static bool first_of_kind(u32 *slot, u32 type, u32 off)
{
	if (*slot) {
		pr_warn("mb2: tag %u at offset %#x duplicates the one at %#x; ignoring it\n", type, off, *slot);
		return false;
	}
	*slot = off;
	return true;
}

static int parse_string_tag(struct mb2_ctx *c, const u8 *tag, u32 type, u32 off, u32 size, u32 *seen)
{
	struct boot_info *bi = c->out;
	u32 len;
	int ret = check_string(tag, type, off, size, MB2_HDR_LEN, &len);

	if (ret || !first_of_kind(seen, type, off))
		return ret;
	if (type == MB2_TAG_CMDLINE)
		copy_string(bi->cmdline, sizeof(bi->cmdline), tag + MB2_HDR_LEN, len, "command line");
	else
		copy_string(bi->loader_name, sizeof(bi->loader_name), tag + MB2_HDR_LEN, len, "boot loader name");
	return 0;
}

static int parse_module(struct mb2_ctx *c, const u8 *tag, u32 off, u32 size)
{
	struct boot_info *bi = c->out;
	struct boot_module *m;
	u32 start, end, len;
	int ret = check_string(tag, MB2_TAG_MODULE, off, size, 16, &len);

	if (ret)
		return ret;
	start = rd32(tag + 8);
	end = rd32(tag + 12);
	if (end < start) {
		tag_err(MB2_TAG_MODULE, off, "mod_end %#x is below mod_start %#x", end, start);
		return -EINVAL;
	}
	if (bi->nr_modules == BOOT_MAX_MODULES) {
		c->modules_dropped++;
		return 0;
	}
	m = &bi->modules[bi->nr_modules++];
	m->start = start;
	m->end = end;
	copy_string(m->cmdline, sizeof(m->cmdline), tag + 16, len, "module command line");
	return 0;
}

/* Tags 6 and 17 share a layout: u32 entry size, u32 entry version, then whole entries filling the rest of the tag. */
static int check_map_tag(u32 type, u32 off, const u8 *tag, u32 size, u32 min_entry)
{
	int ret = check_min_size(type, off, size, 16, "its entry size and version");
	u32 esz;

	if (ret)
		return ret;
	esz = rd32(tag + 8);
	if (esz < min_entry) {
		tag_err(type, off, "entry size %u is below the minimum of %u", esz, min_entry);
		return -EINVAL;
	}
	if ((size - 16) % esz) {
		tag_err(type, off, "%u bytes of entries are not a whole number of %u-byte entries", size - 16, esz);
		return -EINVAL;
	}
	return 0;
}

static int parse_tag(struct mb2_ctx *c, u32 type, u32 off, u32 size, u32 *seen_cmdline, u32 *seen_loader)
{
	struct boot_info *bi = c->out;
	const u8 *tag = c->blk + off;
	int ret = 0;

	switch (type) {
	case MB2_TAG_CMDLINE:
		return parse_string_tag(c, tag, type, off, size, seen_cmdline);
	case MB2_TAG_LOADER_NAME:
		return parse_string_tag(c, tag, type, off, size, seen_loader);
	case MB2_TAG_MODULE:
		return parse_module(c, tag, off, size);
	case MB2_TAG_MMAP:
		ret = check_map_tag(type, off, tag, size, MB2_MMAP_ENTRY_MIN);
		if (!ret)
			first_of_kind(&c->mmap_off, type, off);
		return ret;
	case MB2_TAG_EFI_MMAP:
		ret = check_map_tag(type, off, tag, size, MB2_EFI_DESC_MIN);
		if (!ret)
			first_of_kind(&c->efi_mmap_off, type, off);
		return ret;
	case MB2_TAG_ACPI_OLD:
		ret = check_min_size(type, off, size, MB2_HDR_LEN + ACPI_RSDP_V1_LEN, "an ACPI 1.0 RSDP");
		if (!ret)
			first_of_kind(&c->rsdp_v1_off, type, off);
		return ret;
	case MB2_TAG_ACPI_NEW:
		ret = check_min_size(type, off, size, MB2_HDR_LEN + ACPI_RSDP_V2_LEN, "an ACPI 2.0 RSDP");
		if (!ret)
			first_of_kind(&c->rsdp_v2_off, type, off);
		return ret;
	case MB2_TAG_EFI32:
	case MB2_TAG_EFI64:
		ret = check_min_size(type, off, size, type == MB2_TAG_EFI32 ? 12 : 16, "a system table pointer");
		if (!ret) {
			bi->efi_booted = true;
			bi->efi_systab = type == MB2_TAG_EFI32 ? rd32(tag + 8) : rd64(tag + 8);
		}
		return ret;
	case MB2_TAG_EFI32_IH:
	case MB2_TAG_EFI64_IH:
		ret = check_min_size(type, off, size, type == MB2_TAG_EFI32_IH ? 12 : 16, "an image handle");
		if (!ret)
			bi->efi_image_handle = type == MB2_TAG_EFI32_IH ? rd32(tag + 8) : rd64(tag + 8);
		return ret;
	case MB2_TAG_EFI_BS:
		bi->efi_bs_active = true;
		return 0;
	case MB2_TAG_LOAD_BASE_ADDR:
		ret = check_min_size(type, off, size, 12, "a load base address");
		if (!ret) {
			bi->has_load_base = true;
			bi->load_base = rd32(tag + 8);
		}
		return ret;
	case MB2_TAG_BASIC_MEMINFO:
	case MB2_TAG_BOOTDEV:
	case MB2_TAG_VBE:
	case MB2_TAG_FRAMEBUFFER:
	case MB2_TAG_ELF_SECTIONS:
	case MB2_TAG_APM:
	case MB2_TAG_SMBIOS:
	case MB2_TAG_NETWORK:
		return 0;
	default:
		pr_debug("mb2: skipping unknown tag %u at offset %#x (%u bytes)\n", type, off, size);
		return 0;
	}
}

/* Pass 1: the tag walk. Each tag header is bounds-checked before it is read and each tag before its body is. */
static int walk_tags(struct mb2_ctx *c)
{
	u32 seen_cmdline = 0, seen_loader = 0;
	u64 off = MB2_HDR_LEN; /* u64: aligning the last tag's end up may pass 2^32 - 1 */

	for (;;) {
		u32 type, size;
		int ret;

		if (off + MB2_HDR_LEN > c->total) {
			pr_err(
			    "mb2: no end tag (type 0): the tags run to offset %#llx of the %u-byte block without one\n",
			    (unsigned long long)off, c->total);
			return -EINVAL;
		}
		type = rd32(c->blk + off);
		size = rd32(c->blk + off + 4);
		if (size < MB2_HDR_LEN) {
			tag_err(type, (u32)off, "size %u is below the 8-byte tag header", size);
			return -EINVAL;
		}
		if (size > c->total - off) {
			tag_err(type, (u32)off, "size %u runs past total_size %u", size, c->total);
			return -EINVAL;
		}
		if (type == MB2_TAG_END) {
			if (size != MB2_HDR_LEN) {
				tag_err(type, (u32)off, "end tag has size %u, not 8", size);
				return -EINVAL;
			}
			return 0;
		}
		ret = parse_tag(c, type, (u32)off, size, &seen_cmdline, &seen_loader);
		if (ret)
			return ret;
		off = ALIGN_UP(off + size, MB2_TAG_ALIGN);
	}
}

/* Append a region, or grow the previous one when `merge` and it ends exactly where this one starts. */
static void add_region(struct mb2_ctx *c, u64 base, u64 len, u32 type, bool merge)
{
	struct boot_info *bi = c->out;
	struct boot_mem_region *prev = bi->nr_mmap ? &bi->mmap[bi->nr_mmap - 1] : NULL;

	/* Clip to end at 2^64 - 1 rather than 2^64, so base + len is representable for every consumer. */
	if (len > ~base) {
		pr_warn("mb2: region base %#llx length %#llx wraps past 2^64; clipping it\n", (unsigned long long)base,
			(unsigned long long)len);
		len = ~base;
	}
	if (!len)
		return;
	if (merge && prev && prev->type == type && prev->base + prev->len == base) {
		prev->len += len; /* cannot wrap: base + len was clipped above */
		return;
	}
	if (bi->nr_mmap == BOOT_MAX_MMAP) {
		c->regions_dropped++;
		return;
	}
	bi->mmap[bi->nr_mmap++] = (struct boot_mem_region){.base = base, .len = len, .type = type};
}

static u32 mb2_type_to_boot(u32 t)
{
	switch (t) {
	case 1:
		return BOOT_MEM_USABLE;
	case 3:
		return BOOT_MEM_ACPI_RECLAIM;
	case 4:
		return BOOT_MEM_ACPI_NVS;
	case 5:
		return BOOT_MEM_BAD;
	default:
		return BOOT_MEM_RESERVED;
	}
}

/* While boot services run (tag 18) their code and data are still live firmware memory, so they are not ours. */
static u32 efi_type_to_boot(u32 t, bool bs_active)
{
	switch (t) {
	case EFI_BOOT_SERVICES_CODE:
	case EFI_BOOT_SERVICES_DATA:
		return bs_active ? BOOT_MEM_RESERVED : BOOT_MEM_USABLE;
	case EFI_LOADER_CODE:
	case EFI_LOADER_DATA:
	case EFI_CONVENTIONAL_MEMORY:
		return BOOT_MEM_USABLE;
	case EFI_ACPI_RECLAIM_MEMORY:
		return BOOT_MEM_ACPI_RECLAIM;
	case EFI_ACPI_MEMORY_NVS:
		return BOOT_MEM_ACPI_NVS;
	case EFI_UNUSABLE_MEMORY:
		return BOOT_MEM_BAD;
	default:
		return BOOT_MEM_RESERVED;
	}
}

/* Tag 6 is taken as given (GRUB already merged it); only zero-length and wrapping entries are fixed up. */
static void build_mmap_mb2(struct mb2_ctx *c)
{
	const u8 *tag = c->blk + c->mmap_off;
	u32 size = rd32(tag + 4), esz = rd32(tag + 8);

	for (u32 at = 16; at < size; at += esz) {
		const u8 *e = tag + at;

		add_region(c, rd64(e), rd64(e + 8), mb2_type_to_boot(rd32(e + 16)), false);
	}
}

/* The firmware map is fine-grained (one descriptor per allocation), so neighbours of one converted type merge. */
static void build_mmap_efi(struct mb2_ctx *c)
{
	const u8 *tag = c->blk + c->efi_mmap_off;
	u32 size = rd32(tag + 4), dsz = rd32(tag + 8);

	if (c->out->efi_bs_active)
		pr_warn("mb2: EFI boot services are still running; keeping their memory reserved\n");
	for (u32 at = 16; at < size; at += dsz) {
		const u8 *d = tag + at;
		u64 pages = rd64(d + 24);
		u64 len = pages > (~0ULL >> PAGE_SHIFT) ? ~0ULL : pages << PAGE_SHIFT;

		add_region(c, rd64(d + 8), len, efi_type_to_boot(rd32(d), c->out->efi_bs_active), true);
	}
	c->out->mmap_from_efi = true;
}

static int build_mmap(struct mb2_ctx *c)
{
	struct boot_info *bi = c->out;

	if (c->mmap_off)
		build_mmap_mb2(c);
	/* An empty tag 6 is as good as none, and the EFI map may still describe the machine. */
	if (!bi->nr_mmap && c->efi_mmap_off) {
		if (c->mmap_off)
			pr_warn("mb2: memory map tag 6 has no regions; using the EFI memory map (tag 17)\n");
		build_mmap_efi(c);
	}
	if (c->regions_dropped)
		pr_warn("mb2: memory map has %u more regions than the %u kept; ignoring them\n", c->regions_dropped,
			BOOT_MAX_MMAP);
	if (!bi->nr_mmap) {
		if (!c->mmap_off && !c->efi_mmap_off)
			pr_err("mb2: no memory map: neither tag 6 nor tag 17 (EFI memory map) is present\n");
		else
			pr_err("mb2: the memory map has no non-empty regions\n");
		return -EINVAL;
	}
	return 0;
}

static u8 byte_sum(const u8 *p, u32 n)
{
	u8 sum = 0;

	while (n--)
		sum += *p++;
	return sum;
}

static bool rsdp_is_valid(const u8 *r, u32 len, u32 type)
{
	if (memcmp(r, "RSD PTR ", 8) != 0) {
		pr_warn("mb2: RSDP in tag %u has no \"RSD PTR \" signature; ignoring it\n", type);
		return false;
	}
	if (byte_sum(r, ACPI_RSDP_V1_LEN)) {
		pr_warn("mb2: RSDP in tag %u fails its checksum; ignoring it\n", type);
		return false;
	}
	if (len == ACPI_RSDP_V2_LEN && byte_sum(r, ACPI_RSDP_V2_LEN)) {
		pr_warn("mb2: RSDP in tag %u fails its extended checksum; ignoring it\n", type);
		return false;
	}
	return true;
}

/* The 2.0 RSDP carries the XSDT address, so it wins whenever it is valid; a bad one still leaves the 1.0 copy. */
static void pick_rsdp(struct mb2_ctx *c)
{
	static const struct {
		u32 type, len;
		u8 rev;
	} kinds[] = {
	    {MB2_TAG_ACPI_NEW, ACPI_RSDP_V2_LEN, 2},
	    {MB2_TAG_ACPI_OLD, ACPI_RSDP_V1_LEN, 0},
	};
	struct boot_info *bi = c->out;

	for (u32 i = 0; i < ARRAY_SIZE(kinds); i++) {
		u32 off = kinds[i].type == MB2_TAG_ACPI_NEW ? c->rsdp_v2_off : c->rsdp_v1_off;
		const u8 *r = c->blk + off + MB2_HDR_LEN;

		if (!off || !rsdp_is_valid(r, kinds[i].len, kinds[i].type))
			continue;
		bi->has_rsdp = true;
		bi->rsdp_rev = kinds[i].rev;
		memcpy(bi->rsdp, r, kinds[i].len);
		return;
	}
}

static int parse_block(const void *mbi, size_t avail, u64 mbi_phys, struct boot_info *out)
{
	struct mb2_ctx c = {.blk = mbi, .out = out};
	int ret;

	if (!mbi || !out) {
		pr_err("mb2: no information block (mbi %p, out %p)\n", mbi, (void *)out);
		return -EINVAL;
	}
	if (!IS_ALIGNED((uintptr_t)mbi, MB2_TAG_ALIGN) || !IS_ALIGNED(mbi_phys, MB2_TAG_ALIGN)) {
		pr_err("mb2: information block at %p (phys %#llx) is not 8-byte aligned\n", mbi,
		       (unsigned long long)mbi_phys);
		return -EINVAL;
	}
	if (avail < 16) {
		pr_err("mb2: only %llu bytes of the information block are readable; 16 is the minimum\n",
		       (unsigned long long)avail);
		return -EINVAL;
	}
	c.total = rd32(c.blk);
	if (c.total < 16) {
		pr_err("mb2: total_size %u is below the 16-byte minimum (header and end tag)\n", c.total);
		return -EINVAL;
	}
	if (c.total > avail) {
		pr_err("mb2: total_size %u exceeds the %llu readable bytes\n", c.total, (unsigned long long)avail);
		return -EINVAL;
	}
	if (c.total > ~mbi_phys) {
		pr_err("mb2: information block at %#llx with total_size %u wraps past 2^64\n",
		       (unsigned long long)mbi_phys, c.total);
		return -EINVAL;
	}
	out->mbi_start = mbi_phys;
	out->mbi_end = mbi_phys + c.total;

	ret = walk_tags(&c);
	if (ret)
		return ret;
	out->modules_dropped = c.modules_dropped;
	if (c.modules_dropped)
		pr_err("mb2: %u modules beyond the first %u cannot be kept\n", c.modules_dropped, BOOT_MAX_MODULES);
	ret = build_mmap(&c);
	if (ret)
		return ret;
	pick_rsdp(&c);
	return 0;
}

int mb2_parse(const void *mbi, size_t avail, u64 mbi_phys, struct boot_info *out)
{
	int ret;

	if (out)
		memset(out, 0, sizeof(*out));
	ret = parse_block(mbi, avail, mbi_phys, out);
	if (ret && out)
		memset(out, 0, sizeof(*out));
	return ret;
}

void mb2_dump(const struct boot_info *bi)
{
	pr_info("mb2: loaded by \"%s\", command line \"%s\"\n", bi->loader_name, bi->cmdline);
	pr_info("mb2: memory map (%s), %u regions:\n", bi->mmap_from_efi ? "from EFI" : "multiboot2", bi->nr_mmap);
	for (u32 i = 0; i < bi->nr_mmap; i++) {
		const struct boot_mem_region *r = &bi->mmap[i];

		pr_info("mb2:   [0x%016llx, 0x%016llx) %s\n", (unsigned long long)r->base,
			(unsigned long long)(r->base + r->len), boot_mem_type_name(r->type));
	}
	for (u32 i = 0; i < bi->nr_modules; i++) {
		const struct boot_module *m = &bi->modules[i];

		pr_info("mb2: module %u [0x%llx, 0x%llx) \"%s\"\n", i, (unsigned long long)m->start,
			(unsigned long long)m->end, m->cmdline);
	}
	if (bi->has_rsdp)
		pr_info("mb2: ACPI RSDP revision %u from the boot loader\n", bi->rsdp_rev);
	if (bi->efi_booted)
		pr_info("mb2: booted from EFI, system table at 0x%llx%s\n", (unsigned long long)bi->efi_systab,
			bi->efi_bs_active ? ", boot services still running" : "");
	pr_info("mb2: information block at [0x%llx, 0x%llx)\n", (unsigned long long)bi->mbi_start,
		(unsigned long long)bi->mbi_end);
}
