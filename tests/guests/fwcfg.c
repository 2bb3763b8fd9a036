/* fwcfg: QEMU's firmware configuration interface on ports 0x510 (16-bit selector) and 0x511 (8-bit data): the
 * signature "QEMU" (key 0x0000), the interface ID (0x0001), the CPU count (0x0005, u16 LE) and the RAM size (0x0003,
 * u64 LE), checked against the multiboot memory information: the RAM below 4 GiB that mem_upper describes plus the
 * RAM above 4 GiB in the map must equal the fw_cfg size within 2 MiB, and the map may not hold more RAM than that.
 * `cpus=N` makes it require N CPUs. Also lists the file directory (0x0019), for information. */
#include "guest.h"

const char test_name[] = "fwcfg";

#define FW_CFG_SEL  0x510
#define FW_CFG_DATA 0x511

static void fw_select(u16 key)
{
	outw(FW_CFG_SEL, key);
}

static void fw_read(void *buf, u32 n)
{
	u8 *p = buf;
	while (n--)
		*p++ = inb(FW_CFG_DATA);
}

static u64 fw_read_le(u16 key, int bytes)
{
	u8 b[8] = {0};
	fw_select(key);
	fw_read(b, (u32)bytes);
	u64 v = 0;
	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

int test_main(void)
{
	u8 sig[4];
	fw_select(0x0000);
	fw_read(sig, 4);
	printf("fwcfg: signature %02x %02x %02x %02x\n", sig[0], sig[1], sig[2], sig[3]);
	if (memcmp(sig, "QEMU", 4))
		test_fail("signature %02x %02x %02x %02x, want \"QEMU\"", sig[0], sig[1], sig[2], sig[3]);
	u64 id = fw_read_le(0x0001, 4);
	u64 ncpus = fw_read_le(0x0005, 2);
	u64 ram = fw_read_le(0x0003, 8);
	printf("fwcfg: id 0x%lx, %lu CPUs, RAM %lu bytes (%lu MiB)\n", id, ncpus, ram, ram / MiB);

	/* The file directory: a big-endian count, then 64-byte entries (size BE32, select BE16, reserved, name[56]). */
	fw_select(0x0019);
	u8 cnt[4];
	fw_read(cnt, 4);
	u32 nfiles = (u32)cnt[0] << 24 | (u32)cnt[1] << 16 | (u32)cnt[2] << 8 | cnt[3];
	printf("fwcfg: %u files\n", nfiles);
	for (u32 i = 0; i < nfiles && i < 64; i++) {
		u8 e[64];
		fw_read(e, 64);
		e[63] = 0;
		u32 size = (u32)e[0] << 24 | (u32)e[1] << 16 | (u32)e[2] << 8 | e[3];
		printf("fwcfg:   0x%04x %8u %s\n", (u32)e[4] << 8 | e[5], size, (const char *)e + 8);
	}

	if (ncpus < 1 || ncpus > 1024)
		test_fail("CPU count %lu", ncpus);
	u64 want;
	if (cmdline_u64("cpus", &want) && want != ncpus)
		test_fail("%lu CPUs, the command line says %lu", ncpus, want);
	if (!boot.mbi || !(boot.mbi->flags & MB_INFO_MEM))
		test_fail("no multiboot memory information");

	u64 above4g = 0;
	for (u32 i = 0; i < boot.nr_regions; i++) {
		const struct mem_region *r = &boot.regions[i];
		if (r->type == MEM_RAM && r->end > 4 * GiB)
			above4g += r->end - (r->start > 4 * GiB ? r->start : 4 * GiB);
	}
	u64 mb_ram = 1 * MiB + (u64)boot.mbi->mem_upper * KiB + above4g;
	printf("fwcfg: multiboot: mem_lower %u KiB, mem_upper %u KiB, RAM above 4 GiB %lu KiB\n", boot.mbi->mem_lower,
	       boot.mbi->mem_upper, above4g / KiB);
	printf("fwcfg: RAM: multiboot %lu KiB, memory map %lu KiB, fw_cfg %lu KiB\n", mb_ram / KiB,
	       boot.ram_bytes / KiB, ram / KiB);
	u64 diff = mb_ram > ram ? mb_ram - ram : ram - mb_ram;
	if (diff > 2 * MiB)
		test_fail("fw_cfg RAM %lu KiB but multiboot says %lu KiB (1 MiB + mem_upper + above 4 GiB)", ram / KiB,
			  mb_ram / KiB);
	if (boot.ram_bytes > ram)
		test_fail("the memory map holds %lu KiB of RAM, fw_cfg says %lu KiB", boot.ram_bytes / KiB, ram / KiB);
	if (boot.mbi->mem_lower > 640)
		test_fail("mem_lower %u KiB > 640 KiB", boot.mbi->mem_lower);
	test_pass();
}
