/* Multiboot 1 information: copied into `boot` at start, plus the list of ranges a test must not overwrite, so that
 * tests can ask for free RAM wherever the loader put the image, the modules and the information itself. */
#include "guest.h"

struct boot_info boot;

static void add_reserved(u64 start, u64 end)
{
	if (end <= start || boot.nr_reserved >= ARRAY_SIZE(boot.reserved))
		return;
	struct mem_region *r = &boot.reserved[boot.nr_reserved++];
	r->start = ALIGN_DOWN(start, PAGE_SIZE);
	r->end = ALIGN_UP(end, PAGE_SIZE);
	r->type = 0;
}

static void add_reserved_string(u32 addr)
{
	if (addr)
		add_reserved(addr, addr + strlen((const char *)(u64)addr) + 1);
}

void mb_init(u32 magic, u32 mbi_phys)
{
	boot.magic = magic;
	boot.cmdline = "";
	add_reserved(0, 1 * MiB);
	add_reserved((u64)__image_start, (u64)__image_end);
	if (magic != MB_LOADER_MAGIC || !mbi_phys)
		return;
	const struct mb_info *mbi = (const struct mb_info *)(u64)mbi_phys;
	boot.mbi = mbi;
	add_reserved(mbi_phys, mbi_phys + sizeof(*mbi));
	if ((mbi->flags & MB_INFO_CMDLINE) && mbi->cmdline) {
		boot.cmdline = (const char *)(u64)mbi->cmdline;
		add_reserved_string(mbi->cmdline);
	}
	if (mbi->flags & MB_INFO_LOADER) {
		boot.loader = (const char *)(u64)mbi->boot_loader_name;
		add_reserved_string(mbi->boot_loader_name);
	}
	if ((mbi->flags & MB_INFO_MODS) && mbi->mods_count) {
		boot.nr_mods = mbi->mods_count;
		boot.mods = (const struct mb_module *)(u64)mbi->mods_addr;
		add_reserved(mbi->mods_addr, mbi->mods_addr + (u64)mbi->mods_count * sizeof(struct mb_module));
		for (u32 i = 0; i < boot.nr_mods; i++) {
			add_reserved(boot.mods[i].mod_start, boot.mods[i].mod_end);
			add_reserved_string(boot.mods[i].string);
		}
	}
	if (mbi->flags & MB_INFO_MMAP) {
		add_reserved(mbi->mmap_addr, (u64)mbi->mmap_addr + mbi->mmap_length);
		u64 p = mbi->mmap_addr, end = p + mbi->mmap_length;
		while (p + 24 <= end && boot.nr_regions < MEM_MAX_REGIONS) {
			u32 size = *(const u32 *)p;
			u64 addr = *(const u64 *)(p + 4), len = *(const u64 *)(p + 12);
			u32 type = *(const u32 *)(p + 20);
			if (len) {
				struct mem_region *r = &boot.regions[boot.nr_regions++];
				r->start = addr;
				r->end = addr + len;
				r->type = type;
				if (type == MEM_RAM) {
					boot.ram_bytes += len;
					if (r->end > boot.ram_top)
						boot.ram_top = r->end;
				}
			}
			p += (u64)size + 4;
		}
	} else if (mbi->flags & MB_INFO_MEM) {
		/* No map: the two classic ranges. */
		boot.regions[0] = (struct mem_region){0, (u64)mbi->mem_lower * KiB, MEM_RAM};
		boot.regions[1] = (struct mem_region){1 * MiB, 1 * MiB + (u64)mbi->mem_upper * KiB, MEM_RAM};
		boot.nr_regions = 2;
		boot.ram_bytes = (u64)(mbi->mem_lower + mbi->mem_upper) * KiB;
		boot.ram_top = boot.regions[1].end;
	}
}

static bool overlaps(u64 a0, u64 a1, u64 b0, u64 b1)
{
	return a0 < b1 && b0 < a1;
}

bool mmap_overlaps(u64 start, u64 end)
{
	for (u32 i = 0; i < boot.nr_regions; i++)
		if (overlaps(start, end, boot.regions[i].start, boot.regions[i].end))
			return true;
	return false;
}

/* The end of the first reserved range that overlaps [start, end), or 0. */
static u64 reserved_hit(u64 start, u64 end)
{
	u64 hit = 0;
	for (u32 i = 0; i < boot.nr_reserved; i++)
		if (overlaps(start, end, boot.reserved[i].start, boot.reserved[i].end) && boot.reserved[i].end > hit)
			hit = boot.reserved[i].end;
	return hit;
}

/* RAM regions may overlap reserved entries in odd maps: RAM counts only where no non-RAM entry claims it. */
static bool in_ram(u64 start, u64 end)
{
	bool ram = false;
	for (u32 i = 0; i < boot.nr_regions; i++) {
		const struct mem_region *r = &boot.regions[i];
		if (r->type == MEM_RAM && r->start <= start && end <= r->end)
			ram = true;
		else if (r->type != MEM_RAM && overlaps(start, end, r->start, r->end))
			return false;
	}
	return ram;
}

bool ram_is_free(u64 start, u64 end)
{
	return end > start && in_ram(start, end) && !reserved_hit(start, end);
}

u64 ram_find_free(u64 size, u64 align, u64 min, u64 max)
{
	for (u32 i = 0; i < boot.nr_regions; i++) {
		const struct mem_region *r = &boot.regions[i];
		if (r->type != MEM_RAM)
			continue;
		u64 a = ALIGN_UP(r->start > min ? r->start : min, align);
		while (a + size <= r->end && a + size <= max && a + size > a) {
			u64 hit = reserved_hit(a, a + size);
			if (!hit) {
				if (in_ram(a, a + size))
					return a;
				a += align;
			} else {
				a = ALIGN_UP(hit, align);
			}
		}
	}
	return 0;
}

bool ram_next_free(u64 *cursor, u64 max, u64 *start, u64 *end)
{
	/* The first free page at or after the cursor, then the end of the free run it starts. */
	u64 best = ~0ULL;
	for (u32 i = 0; i < boot.nr_regions; i++) {
		const struct mem_region *r = &boot.regions[i];
		if (r->type != MEM_RAM)
			continue;
		u64 a = ALIGN_UP(r->start > *cursor ? r->start : *cursor, PAGE_SIZE);
		while (a + PAGE_SIZE <= r->end && a < max && a < best) {
			u64 hit = reserved_hit(a, a + PAGE_SIZE);
			if (hit) {
				a = hit;
				continue;
			}
			if (in_ram(a, a + PAGE_SIZE)) {
				best = a;
				break;
			}
			a += PAGE_SIZE;
		}
	}
	if (best == ~0ULL)
		return false;
	/* The range ends where its RAM region ends, or where a reserved range or a non-RAM entry begins. */
	u64 e = max;
	for (u32 i = 0; i < boot.nr_regions; i++) {
		const struct mem_region *r = &boot.regions[i];
		if (r->type == MEM_RAM && r->start <= best && best < r->end && r->end < e)
			e = r->end;
		if (r->type != MEM_RAM && r->start > best && r->start < e)
			e = r->start;
	}
	for (u32 i = 0; i < boot.nr_reserved; i++)
		if (boot.reserved[i].start > best && boot.reserved[i].start < e)
			e = boot.reserved[i].start;
	*start = best;
	*end = ALIGN_DOWN(e, PAGE_SIZE);
	*cursor = *end;
	return true;
}

static const char *cmdline_find(const char *key, bool *has_value)
{
	size_t klen = strlen(key);
	const char *p = boot.cmdline;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && (p[klen] == '=' || p[klen] == ' ' || !p[klen])) {
			*has_value = p[klen] == '=';
			return p + klen + (*has_value ? 1 : 0);
		}
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

bool cmdline_has(const char *key)
{
	bool v;
	return cmdline_find(key, &v) != NULL;
}

bool cmdline_u64(const char *key, u64 *out)
{
	bool v;
	const char *p = cmdline_find(key, &v);
	return p && v && parse_u64(p, out) > 0;
}
