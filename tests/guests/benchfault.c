/* benchfault: what a TDP (EPT/NPT) fault costs the hypervisor net of everything else, in TSC cycles per operation
 * (exact instruction counts under Bochs or QEMU -icount). A companion of bench.c for bench/run.py; each figure is
 * timed once on fresh memory ("first") and once more on the same addresses ("again"), and the difference is the
 * work of the fault itself. Lines `BENCH <name> <cycles-per-op>`:
 *   ram2m_first   first write to each of up to 32 fresh 2 MiB frames of RAM: one TDP fault, mapped with a 2M leaf
 *   ram2m_again   the same writes again: no exit (the loop and the guest's own TLB misses only)
 *   ram2m_refault the same writes once more after HC_UNMAP dropped the leaves (untimed): one TDP fault each, on
 *                 chunks the first pass cleared, so refault - again is the 2M fault without the clearing of its
 *                 2 MiB, and first - refault is that clearing
 *   hc_nop        as many HC_NOP hypercalls: the cheapest exit round trip of this VM, in the same run-loop state
 *                 (bench/run.py takes it from the refault for the 2M fault's handling alone)
 *   mmio4k_table  first read of a fresh 2M region of unbacked guest-physical space: a TDP fault that allocates a
 *                 4K table and installs a 4K MMIO SPTE, then the emulated read
 *   mmio4k_first  first read of each further page of such a region: a TDP fault that installs a 4K MMIO SPTE in
 *                 the existing table, then the emulated read
 *   mmio4k_again  the same pages read again: the cached MMIO SPTE exits straight to the emulator (EPT
 *                 misconfiguration, or #NPF with RSVD), no MMU work
 *   mmio4k_refill as mmio4k_table over 16 further regions, a stretch that holds a refill of the vCPU's cache of
 *                 zeroed table frames (mm/frame_cache.h): bench/run.py takes the zeroing cost per frame from it
 * The table rows take their tables from that cache. So that mmio4k_table holds no refill, it starts right after
 * one: fresh regions are read until the TDP_CACHE_ZEROED counter moves (the cache is then full), and the counter
 * deltas prove it (TDP_TABLES +1 and TDP_CACHE_ZEROED +0 per operation).
 * Guest RAM is only ever mapped with 2M (or 1G) leaves today: nothing makes a RAM gfn 4K-only, so the MMIO SPTE,
 * a 4K leaf installed by the same fault path (walk, table allocation, SPTE change hook), is the only 4K fault-in a
 * guest can cause. With the test device, each phase prints its counter deltas (`bench: NAME: STAT +n ...`) and the
 * test checks them: one TDP fault per fresh frame or page, none on the second pass, one MMIO exit per read.
 * `pages=` sets the MMIO page count (default 64, at most 511), `regions=` the fresh 2M regions (default 8, at most
 * 16), `addr=` the unbacked base (default 0xC0000000, 1G-aligned, outside the memory map). Needs >= 96 MiB. */
#include "guest.h"
#include "benchloops.h"

const char test_name[] = "benchfault";

/* Where the table-cache rows read, in 2M regions from the MMIO base (the table row uses regions 1 to 16). */
#define SYNC_BASE (32 * SIZE_2M)
#define SYNC_REGIONS 32
#define REFILL_BASE (64 * SIZE_2M)
#define REFILL_REGIONS 16

static u32 failures;
static bool counters;

static const enum vm_stat stats[] = {VM_STAT_TDP_FAULTS,    VM_STAT_TDP_MAPPED_4K, VM_STAT_TDP_MAPPED_2M,
				     VM_STAT_TDP_MAPPED_1G, VM_STAT_MMIO_EXITS,	   VM_STAT_EXITS,
				     VM_STAT_TDP_TABLES,    VM_STAT_TDP_CACHE_ZEROED};
#define NSTATS ARRAY_SIZE(stats)

static void snap(u64 *v)
{
	for (unsigned i = 0; i < NSTATS; i++)
		v[i] = counters ? stat_read(stats[i]) : 0;
}

static u64 delta(const u64 *a, const u64 *b, enum vm_stat s)
{
	for (unsigned i = 0; i < NSTATS; i++)
		if (stats[i] == s)
			return b[i] - a[i];
	return 0;
}

static void report(const char *name, u64 cycles, u64 ops, const u64 *a, const u64 *b)
{
	printf("BENCH %s %lu.%lu\n", name, cycles / ops, (cycles % ops) * 10 / ops);
	printf("bench: %s: %lu cycles for %lu operations\n", name, cycles, ops);
	if (!counters)
		return;
	printf("bench: %s:", name);
	for (unsigned i = 0; i < NSTATS; i++)
		printf(" %s +%lu", stat_name(stats[i]), b[i] - a[i]);
	printf("\n");
}

/* Counter `s` must have grown by exactly `want` over a timed loop (the counter reads are outside it). */
static void expect(const char *name, const u64 *a, const u64 *b, enum vm_stat s, u64 want)
{
	u64 d = delta(a, b, s);
	if (counters && d != want) {
		printf("bench: FAIL %s: %s grew by %lu, want %lu\n", name, stat_name(s), d, want);
		failures++;
	}
}

static void bench_ram(void)
{
	u64 a[NSTATS], b[NSTATS], frames = 0, r = 0;

	for (u64 k = 32; k >= 1 && !r; k /= 2) {
		r = ram_find_free(k * SIZE_2M, SIZE_2M, 0, 4 * GiB);
		frames = k;
	}
	if (!r) {
		printf("BENCH ram2m_first SKIP no free 2M frame\n");
		return;
	}
	printf("bench: ram2m: %lu frames at 0x%lx\n", frames, r);
	snap(a);
	u64 t = bench_loop_write(r, SIZE_2M, frames, 1);
	snap(b);
	report("ram2m_first", t, frames, a, b);
	expect("ram2m_first", a, b, VM_STAT_TDP_FAULTS, frames);

	snap(a);
	t = bench_loop_write(r, SIZE_2M, frames, 2);
	snap(b);
	report("ram2m_again", t, frames, a, b);
	expect("ram2m_again", a, b, VM_STAT_TDP_FAULTS, 0);

	/* The leaves go, the chunks stay cleared and keep their bytes (a marker, checked below): each write faults a
	 * 2M leaf in again. */
	u64 ret;
	for (u64 i = 0; i < frames; i++)
		*(volatile u64 *)(r + i * SIZE_2M + 8) = 0x5eed0000 + i;
	if (hypercall3_try(HC_UNMAP, r, frames * SIZE_2M, 0, &ret) || ret) {
		printf("BENCH ram2m_refault SKIP HC_UNMAP failed (0x%lx)\n", ret);
		return;
	}
	snap(a);
	t = bench_loop_write(r, SIZE_2M, frames, 3);
	snap(b);
	report("ram2m_refault", t, frames, a, b);
	expect("ram2m_refault", a, b, VM_STAT_TDP_FAULTS, frames);
	expect("ram2m_refault", a, b, VM_STAT_TDP_MAPPED_2M, frames);
	expect("ram2m_refault", a, b, VM_STAT_TDP_TABLES, 0);

	snap(a);
	t = bench_loop_hypercall(HC_NOP, frames);
	snap(b);
	report("hc_nop", t, frames, a, b);
	expect("hc_nop", a, b, VM_STAT_TDP_FAULTS, 0);
	for (u64 i = 0; i < frames; i++)
		if (*(volatile u8 *)(r + i * SIZE_2M) != 3 || *(volatile u64 *)(r + i * SIZE_2M + 8) != 0x5eed0000 + i) {
			printf("bench: FAIL ram2m: frame %lu lost its write\n", i);
			failures++;
			break;
		}
}

static void bench_mmio(void)
{
	u64 a[NSTATS], b[NSTATS], base = 0xc0000000, pages = 64, regions = 8;

	cmdline_u64("addr", &base);
	cmdline_u64("pages", &pages);
	cmdline_u64("regions", &regions);
	if (base & (SIZE_1G - 1) || base + SIZE_1G > 4 * GiB || base < 3 * GiB)
		test_fail("addr=0x%lx: want a 1G-aligned address in 3-4 GiB (the guest's uncached identity map)", base);
	if (!pages || pages > 511 || !regions || regions > 16)
		test_fail("pages=%lu regions=%lu: want 1-511 and 1-16", pages, regions);
	if (mmap_overlaps(base, base + REFILL_BASE + (REFILL_REGIONS + 1) * SIZE_2M))
		test_fail("0x%lx is inside the memory map: not unbacked", base);

	/* Warm-up: the first read of the 1G region also allocates the 2M-level table; keep it out of the figures. */
	bench_loop_mmio_read(base, 0, 1);

	/* Start the table row right after a refill of the table cache, so that it holds none. */
	if (counters) {
		u64 z = stat_read(VM_STAT_TDP_CACHE_ZEROED), i;

		for (i = 0; i < SYNC_REGIONS && stat_read(VM_STAT_TDP_CACHE_ZEROED) == z; i++)
			bench_loop_mmio_read(base + SYNC_BASE + i * SIZE_2M, 0, 1);
		if (i == SYNC_REGIONS) {
			printf("bench: FAIL mmio: no table cache refill in %u new tables\n", SYNC_REGIONS);
			failures++;
		}
	}

	/* One read at the start of each fresh 2M region: each allocates a 4K-level table. */
	snap(a);
	u64 t = bench_loop_mmio_read(base + SIZE_2M, SIZE_2M, regions);
	snap(b);
	report("mmio4k_table", t, regions, a, b);
	expect("mmio4k_table", a, b, VM_STAT_TDP_FAULTS, regions);
	expect("mmio4k_table", a, b, VM_STAT_TDP_TABLES, regions);
	expect("mmio4k_table", a, b, VM_STAT_TDP_CACHE_ZEROED, 0);

	/* The same over enough further regions to drain the cache below its minimum: a refill inside. */
	if (counters) {
		snap(a);
		t = bench_loop_mmio_read(base + REFILL_BASE, SIZE_2M, REFILL_REGIONS);
		snap(b);
		report("mmio4k_refill", t, REFILL_REGIONS, a, b);
		expect("mmio4k_refill", a, b, VM_STAT_TDP_TABLES, REFILL_REGIONS);
		if (!delta(a, b, VM_STAT_TDP_CACHE_ZEROED)) {
			printf("bench: FAIL mmio4k_refill: no table cache refill in %u new tables\n", REFILL_REGIONS);
			failures++;
		}
	}

	/* The other pages of region 1: one MMIO SPTE each, in the table that now exists. */
	u64 r1 = base + SIZE_2M;
	snap(a);
	t = bench_loop_mmio_read(r1 + PAGE_SIZE, PAGE_SIZE, pages);
	snap(b);
	report("mmio4k_first", t, pages, a, b);
	expect("mmio4k_first", a, b, VM_STAT_TDP_FAULTS, pages);

	/* Again: the cached MMIO SPTEs exit straight to the emulator. */
	snap(a);
	t = bench_loop_mmio_read(r1 + PAGE_SIZE, PAGE_SIZE, pages);
	snap(b);
	report("mmio4k_again", t, pages, a, b);
	expect("mmio4k_again", a, b, VM_STAT_TDP_FAULTS, 0);
	expect("mmio4k_again", a, b, VM_STAT_MMIO_EXITS, pages);

	/* Plain QEMU reads unassigned memory as 0; under this hypervisor it is all ones. */
	printf("bench: mmio: %lu reads, %lu all ones\n", bench_mmio_reads, bench_mmio_ones);
	if (counters && bench_mmio_ones != bench_mmio_reads) {
		printf("bench: FAIL mmio: %lu of %lu reads were not all ones\n", bench_mmio_reads - bench_mmio_ones,
		       bench_mmio_reads);
		failures++;
	}
}

int test_main(void)
{
	counters = counters_available();
	cli();
	bench_ram();
	bench_mmio();
	if (failures)
		test_fail("%u checks failed (see above)", failures);
	test_pass();
}
