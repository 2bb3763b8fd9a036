/* memtest: write, then verify, every 8-byte word of every free 4 KiB page of RAM below 4 GiB (from the memory map,
 * minus the image, the boot information and the modules), twice: a pattern made of the address and the page number,
 * then its complement. The whole range is written before any of it is checked, so two guest pages backed by one host
 * page, a page that drops writes or one that reads another page's contents all show up. Needs >= 64 MiB free: give
 * the VM >= 96 MiB. `limit=N` tests at most N MiB. First of all, every word of those pages must read zero. */
#include "guest.h"

const char test_name[] = "memtest";

#define MIN_BYTES   (64 * MiB)
#define MAX_REPORTS 8

static u64 pattern(u64 addr, u64 round)
{
	u64 v = addr ^ ((addr >> 12) * 0x9e3779b97f4a7c15ULL) ^ 0x5a5a000000000000ULL;
	return round ? ~v : v;
}

/* Calls fn(start, end) for each free range, trimmed so the total stays within `limit`. */
static u64 for_each_range(u64 limit, u64 (*fn)(u64, u64, u64), u64 round)
{
	u64 cursor = 0, s, e, total = 0, bad = 0;
	while (total < limit && ram_next_free(&cursor, 4 * GiB, &s, &e)) {
		if (e - s > limit - total)
			e = s + (limit - total);
		bad += fn(s, e, round);
		total += e - s;
	}
	return bad;
}

static u64 write_range(u64 s, u64 e, u64 round)
{
	for (u64 a = s; a < e; a += 8)
		*(volatile u64 *)a = pattern(a, round);
	return 0;
}

static u64 reports;

static u64 verify_range(u64 s, u64 e, u64 round)
{
	u64 bad = 0;
	for (u64 page = s; page < e; page += PAGE_SIZE) {
		u64 bad_words = 0;
		for (u64 a = page; a < page + PAGE_SIZE; a += 8) {
			u64 got = *(volatile u64 *)a, want = pattern(a, round);
			if (got != want) {
				if (!bad_words && reports++ < MAX_REPORTS)
					printf(
					    "memtest: round %lu: page 0x%lx: at 0x%lx read 0x%016lx, wrote 0x%016lx\n",
					    round, page, a, got, want);
				bad_words++;
			}
		}
		bad += bad_words != 0;
	}
	return bad;
}

/* Before anything is written: RAM nobody loaded anything into reads as zero (the hypervisor clears guest RAM on
 * first use; whatever its host frames held before must not show). */
static u64 zero_range(u64 s, u64 e, u64 round)
{
	(void)round;
	u64 bad = 0;
	for (u64 page = s; page < e; page += PAGE_SIZE) {
		for (u64 a = page; a < page + PAGE_SIZE; a += 8) {
			u64 got = *(volatile u64 *)a;
			if (got) {
				if (reports++ < MAX_REPORTS)
					printf("memtest: fresh page 0x%lx: at 0x%lx read 0x%016lx, not 0\n", page, a, got);
				bad++;
				break;
			}
		}
	}
	return bad;
}

static u64 count_range(u64 s, u64 e, u64 round)
{
	(void)round;
	printf("memtest: range 0x%09lx-0x%09lx (%lu KiB)\n", s, e, (e - s) / KiB);
	return (e - s) / PAGE_SIZE;
}

int test_main(void)
{
	if (!boot.mbi)
		test_fail("no multiboot information");
	u64 limit = ~0ULL, mib;
	if (cmdline_u64("limit", &mib))
		limit = mib * MiB;
	u64 pages = for_each_range(limit, count_range, 0);
	printf("memtest: %lu pages (%lu MiB) free below 4 GiB\n", pages, pages * PAGE_SIZE / MiB);
	if (pages * PAGE_SIZE < MIN_BYTES && limit >= MIN_BYTES)
		test_fail("only %lu MiB of free RAM; need >= %lu MiB (give the VM >= 96 MiB)", pages * PAGE_SIZE / MiB,
			  MIN_BYTES / MiB);
	u64 bad = 0;
	/* Firmware (SeaBIOS under plain QEMU) may leave data in RAM it does not reserve: checked under this hypervisor. */
	if (testdev_present || !strcmp(cpu.hv_signature, HV_SIGNATURE)) {
		bad = for_each_range(limit, zero_range, 0);
		printf("memtest: %lu fresh pages not zero\n", bad);
	} else {
		printf("memtest: fresh pages not checked for zero: not under this hypervisor\n");
	}
	for (u64 round = 0; round < 2; round++) {
		u64 t0 = rdtsc();
		for_each_range(limit, write_range, round);
		u64 t1 = rdtsc();
		u64 b = for_each_range(limit, verify_range, round);
		u64 t2 = rdtsc();
		printf("memtest: round %lu: %lu bad pages (write %lu Mcycles, verify %lu Mcycles)\n", round, b,
		       (t1 - t0) / 1000000, (t2 - t1) / 1000000);
		bad += b;
	}
	if (bad)
		test_fail("%lu bad pages of %lu", bad, pages);
	printf("memtest: %lu pages verified\n", pages);
	test_pass();
}
