/* hello: the smallest guest. Proves the loader started it as multiboot 1 (magic, memory information), that long
 * mode and the console work, and shows what the loader passed: command line, modules (address, size, CRC-32 of the
 * contents, string) and the memory map. `status=N` on the command line makes it exit with N after the PASS line, to
 * test exit-status reporting; `mods=N` makes it require exactly N modules. */
#include "guest.h"

const char test_name[] = "hello";

static const char *type_name(u32 t)
{
	switch (t) {
	case 1:
		return "RAM";
	case 2:
		return "reserved";
	case 3:
		return "ACPI";
	case 4:
		return "ACPI NVS";
	case 5:
		return "bad";
	default:
		return "other";
	}
}

int test_main(void)
{
	printf("hello from the guest\n");
	if (boot.magic != MB_LOADER_MAGIC)
		test_fail("loader magic 0x%x, want 0x%x", boot.magic, MB_LOADER_MAGIC);
	const struct mb_info *mbi = boot.mbi;
	printf("hello: flags 0x%x, loader \"%s\"\n", mbi->flags, boot.loader ? boot.loader : "");
	printf("hello: cmdline \"%s\"\n", boot.cmdline);
	if (!(mbi->flags & MB_INFO_MEM))
		test_fail("no memory information (flags 0x%x)", mbi->flags);
	printf("hello: mem_lower %u KiB, mem_upper %u KiB\n", mbi->mem_lower, mbi->mem_upper);
	for (u32 i = 0; i < boot.nr_regions; i++)
		printf("hello: mmap 0x%012lx-0x%012lx %s\n", boot.regions[i].start, boot.regions[i].end,
		       type_name(boot.regions[i].type));
	printf("hello: %u modules\n", boot.nr_mods);
	for (u32 i = 0; i < boot.nr_mods; i++) {
		const struct mb_module *m = &boot.mods[i];
		u32 size = m->mod_end - m->mod_start;
		printf("hello: module %u: 0x%x-0x%x size %u crc32 0x%08x \"%s\"\n", i, m->mod_start, m->mod_end, size,
		       crc32((const void *)(u64)m->mod_start, size), m->string ? (const char *)(u64)m->string : "");
		if (m->mod_start & 0xfff)
			test_fail("module %u at 0x%x is not page-aligned", i, m->mod_start);
		if (m->mod_end < m->mod_start)
			test_fail("module %u ends (0x%x) before it starts (0x%x)", i, m->mod_end, m->mod_start);
	}
	u64 want;
	if (cmdline_u64("mods", &want) && want != boot.nr_mods)
		test_fail("%u modules, the command line asked for %lu", boot.nr_mods, want);
	u64 status = 0;
	cmdline_u64("status", &status);
	printf("TEST hello PASS\n");
	return (int)status;
}
