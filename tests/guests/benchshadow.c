/* benchshadow: what shadow paging costs the hypervisor per operation, in TSC cycles (exact instruction counts under
 * Bochs or QEMU -icount), for bench/run.py. Run it with tdp=0 on its module line (or hv.tdp=0, or on a CPU without
 * EPT/NPT). It builds 4-level tables of its own under PML4[20]: TABLES page tables, each mapping PAGES fresh 4K pages
 * with present guest PTEs (A and D set, as Linux makes them), and times, net of its loop where a loop is named:
 *   shadow_fault_table  first access through each further table: a shadow fault that also makes the table's shadow
 *                       page and write-protects the guest table (table 0, with the upper levels, is warmed untimed)
 *   shadow_fault_first  first write to each other page of every table: one shadow fault each, a 4K leaf installed
 *   shadow_fault_again  the same writes again: no exit (subtract it: the net fault-in)
 *   pte_write_loop      a MOV into PTE 1 of TABLES guest page tables that are not shadowed: no exit (the loop)
 *   pte_write_zap       the same MOV into PTE 1 of each shadowed table (remapping a touched page): a #PF on the
 *                       write-protected table, the MOV emulated, the present shadow leaf zapped
 *   pte_write_fill      a MOV of a present PTE into an empty slot of each shadowed table: emulated, nothing to zap
 *   cr3_switch          MOV CR3 between two address spaces whose shadow roots the vCPU has cached (per switch,
 *                       one loop instruction included)
 * Each table is written at most twice between two faults through it, so write flooding (3) never zaps one.
 *
 * With the test device the guest checks each timed loop's EXITS and TRACKED_WRITES deltas (one exit per fault,
 * emulated write or CR3 load; a TRACKED_WRITE per emulated write, none for a fault: the A/D bits are preset). The
 * shadow MMU's own counters are only in the VM's end report, so bench/run.py runs the guest twice: once as is, and
 * once with `dry`, which skips the timed loops' bodies and does everything else the same way; the difference of the
 * two end reports is what the loops caused, and the bench checks it (faults, emulated PTE writes, SPTEs zapped, root
 * cache hits). `tables=` (1-96, default 64) and `pages=` (2-64, default 16) size it; `switches=` the CR3 loop's
 * iterations (default 500, two switches each). Needs 16 MiB of free RAM. */
#include "guest.h"

const char test_name[] = "benchshadow";

#define REGION_SLOT 20 /* PML4 slot: the identity map is 0, the windows 17-19 */
#define REGION_VA   ((u64)REGION_SLOT << 39)
#define MAX_TABLES  96
#define FILL_SLOT   300 /* a PTE no loop but pte_write_fill writes: not present before (not a multiple of STRIDE) */
/* Page j of a table is at PTE j * STRIDE: each page alone in its aligned group of 8, so the shadow MMU's prefetch
 * (mm/shadow/sprefetch.c) finds no neighbour to map and each first touch is one whole shadow fault. */
#define STRIDE	    8
#define SLOT(j)	    ((j) * STRIDE)
#define MARKER	    0x5eed000000000000ULL
#define PTE_LEAF    (PTE_P | PTE_W | PTE_A | PTE_D)
#define PTE_TABLE   (PTE_P | PTE_W | PTE_A)

static u64 tables = 64, pages = 16, switches = 500;
static bool counters, dry;
static u32 failures;
static u64 data_base;	       /* tables * pages data pages, then `tables` alternative pages */
static u64 *pt[MAX_TABLES];    /* the shadowed tables */
static u64 *plain[MAX_TABLES]; /* tables linked but never used: no shadow, no write protection */
static u64 vals[MAX_TABLES], fills[MAX_TABLES];
static u64 overhead; /* EXITS the counter reads add to a delta */

static const enum vm_stat stats[] = {VM_STAT_EXITS, VM_STAT_TRACKED_WRITES, VM_STAT_TDP_FAULTS};
#define NSTATS ARRAY_SIZE(stats)

static u64 data_pa(u64 t, u64 j)
{
	return data_base + (t * pages + j) * PAGE_SIZE;
}
static u64 alt_pa(u64 t)
{
	return data_base + (tables * pages + t) * PAGE_SIZE;
}
static u64 page_va(u64 t, u64 j)
{
	return REGION_VA + t * SIZE_2M + SLOT(j) * PAGE_SIZE;
}
static u64 marker(u64 pa)
{
	return MARKER | pa;
}

static void snap(u64 *v)
{
	for (unsigned i = 0; i < NSTATS; i++)
		v[i] = counters ? stat_read(stats[i]) : 0;
}

/* The dry run prints the same lines through the same code, so both runs fault on the same guest pages. */
static void report(const char *name, u64 cycles, u64 ops, const u64 *a, const u64 *b)
{
	if (dry)
		ops = 0;
	if (ops) {
		printf("BENCH %s %lu.%lu\n", name, cycles / ops, (cycles % ops) * 10 / ops);
		printf("bench: %s: %lu cycles for %lu operations\n", name, cycles, ops);
	} else {
		printf("bench: %s: dry run\n", name);
	}
	if (!counters)
		return;
	printf("bench: %s: EXITS +%lu TRACKED_WRITES +%lu TDP_FAULTS +%lu\n", name, b[0] - a[0] - overhead, b[1] - a[1],
	       b[2] - a[2]);
}

/* The deltas a loop must show: `exits` exits (besides the counter reads) and `writes` tracked writes; never a TDP
 * fault, since the VM runs on shadow paging. */
static void expect(const char *name, const u64 *a, const u64 *b, u64 exits, u64 writes)
{
	u64 e = b[0] - a[0] - overhead, w = b[1] - a[1], f = b[2] - a[2];

	if (!counters || dry)
		return;
	if (e != exits || w != writes || f) {
		printf("bench: FAIL %s: EXITS +%lu TRACKED_WRITES +%lu TDP_FAULTS +%lu, want +%lu +%lu +0%s\n", name, e,
		       w, f, exits, writes, f ? " (is the VM on shadow paging? give it tdp=0)" : "");
		failures++;
	}
}

/* The timed loops. Each is one function used for the measured and the baseline runs alike, so the two execute the
 * same instructions; noinline keeps the compiler from merging them with their callers. */
static __attribute__((noinline)) u64 timed_touch(u64 first_table, u64 ntables, u64 first_page, u64 npages)
{
	u64 t0 = rdtsc();
	for (u64 t = first_table; t < first_table + ntables; t++)
		for (u64 j = first_page; j < first_page + npages; j++)
			*(volatile u8 *)(page_va(t, j) + 8) = 1;
	return rdtsc() - t0;
}

static __attribute__((noinline)) u64 timed_store(u64 *const *tabs, u64 n, unsigned slot, const u64 *v)
{
	u64 t0 = rdtsc();
	for (u64 t = 0; t < n; t++)
		((volatile u64 *)tabs[t])[slot] = v[t];
	return rdtsc() - t0;
}

static __attribute__((noinline)) u64 timed_cr3(u64 a, u64 b, u64 n)
{
	u64 t0 = rdtsc();
	if (n)
		asm volatile("1: mov %1, %%cr3\n\tmov %2, %%cr3\n\tdec %0\n\tjnz 1b"
			     : "+r"(n)
			     : "r"(b), "r"(a)
			     : "memory");
	return rdtsc() - t0;
}

static void check_read(u64 va, u64 want, const char *what)
{
	u64 got = *(volatile u64 *)va;

	if (got != want) {
		printf("bench: FAIL %s: 0x%lx reads 0x%lx, want 0x%lx\n", what, va, got, want);
		failures++;
	}
}

/* Data pages (marked through the identity map, which also makes the hypervisor clear their 2M chunks before any
 * timed loop), and the tables: all written before the region is linked, so none of it is shadowed yet. */
static void build(void)
{
	u64 npages = tables * pages + tables, *pd, *pdpt;

	data_base = ram_find_free(ALIGN_UP(npages * PAGE_SIZE, SIZE_2M), SIZE_2M, 0, 3 * GiB);
	if (!data_base)
		test_fail("no free %lu KiB of RAM", npages * 4);
	for (u64 i = 0; i < npages; i++)
		*(volatile u64 *)(data_base + i * PAGE_SIZE) = marker(data_base + i * PAGE_SIZE);
	pd = (u64 *)pt_alloc_page();
	pdpt = (u64 *)pt_alloc_page();
	for (u64 t = 0; t < tables; t++) {
		pt[t] = (u64 *)pt_alloc_page();
		plain[t] = (u64 *)pt_alloc_page();
		for (u64 j = 0; j < pages; j++)
			pt[t][SLOT(j)] = data_pa(t, j) | PTE_LEAF;
		pd[t] = (u64)pt[t] | PTE_TABLE;
		pd[256 + t] = (u64)plain[t] | PTE_TABLE; /* linked, never walked */
		vals[t] = alt_pa(t) | PTE_LEAF;
		fills[t] = data_pa(t, 0) | PTE_LEAF;
	}
	pdpt[0] = (u64)pd | PTE_TABLE;
	((u64 *)(read_cr3() & PTE_ADDR))[REGION_SLOT] = (u64)pdpt | PTE_TABLE; /* the root is shadowed: emulated */
	printf("bench: %lu tables of %lu pages at 0x%lx, data at 0x%lx%s\n", tables, pages, REGION_VA, data_base,
	       dry ? " (dry run)" : "");
}

static void bench_faults(void)
{
	u64 a[NSTATS], b[NSTATS], n = tables * (pages - 1), c;

	timed_touch(0, 1, 0, 1); /* the upper levels' shadow pages and table 0's */
	snap(a);
	c = timed_touch(1, tables - 1, 0, 1);
	snap(b);
	report("shadow_fault_table", c, tables - 1, a, b);
	expect("shadow_fault_table", a, b, tables - 1, 0);

	snap(a);
	c = timed_touch(0, dry ? 0 : tables, 1, pages - 1);
	snap(b);
	report("shadow_fault_first", c, n, a, b);
	expect("shadow_fault_first", a, b, n, 0);

	snap(a);
	c = timed_touch(0, dry ? 0 : tables, 1, pages - 1);
	snap(b);
	report("shadow_fault_again", c, n, a, b);
	expect("shadow_fault_again", a, b, 0, 0);

	for (u64 t = 0; !dry && t < tables; t++) /* present already: no exit, in either run */
		for (u64 j = 0; j < pages; j++)
			check_read(page_va(t, j), marker(data_pa(t, j)), "fault-in");
}

static void bench_writes(void)
{
	u64 a[NSTATS], b[NSTATS], c;

	timed_store(plain, tables, SLOT(1), vals); /* the plain tables' pages into the shadow once: no exit from here on */
	snap(a);
	c = timed_store(plain, tables, SLOT(1), vals);
	snap(b);
	report("pte_write_loop", c, tables, a, b);
	expect("pte_write_loop", a, b, 0, 0);

	snap(a);
	c = timed_store(pt, dry ? 0 : tables, SLOT(1), vals);
	snap(b);
	report("pte_write_zap", c, tables, a, b);
	expect("pte_write_zap", a, b, tables, tables);

	snap(a);
	c = timed_store(pt, dry ? 0 : tables, FILL_SLOT, fills);
	snap(b);
	report("pte_write_fill", c, tables, a, b);
	expect("pte_write_fill", a, b, tables, tables);

	/* The remap took effect: page 1 of each table now reads its alternative page. One fault each in both runs
	 * (the zap left no leaf; the dry run never touched the page), which is also the use that resets flooding. */
	for (u64 t = 0; t < tables; t++) {
		check_read(page_va(t, 1), marker(dry ? data_pa(t, 1) : alt_pa(t)), "remap");
		if (pt[t][FILL_SLOT] != (dry ? 0 : fills[t])) {
			printf("bench: FAIL fill: table %lu slot %u holds 0x%lx\n", t, FILL_SLOT, pt[t][FILL_SLOT]);
			failures++;
		}
	}
}

static void bench_cr3(void)
{
	u64 a[NSTATS], b[NSTATS], c, cr3a = read_cr3(), cr3b = pt_alloc_page();

	memcpy((void *)cr3b, (void *)(cr3a & PTE_ADDR), PAGE_SIZE);
	timed_cr3(cr3a, cr3b, 1); /* the second root, and its path to this code */
	snap(a);
	c = timed_cr3(cr3a, cr3b, dry ? 0 : switches);
	snap(b);
	report("cr3_switch", c, 2 * switches, a, b);
	expect("cr3_switch", a, b, 2 * switches, 0);
}

int test_main(void)
{
	u64 a[NSTATS], b[NSTATS];

	counters = counters_available();
	dry = cmdline_has("dry");
	cmdline_u64("tables", &tables);
	cmdline_u64("pages", &pages);
	cmdline_u64("switches", &switches);
	if (tables < 2 || tables > MAX_TABLES || pages < 2 || pages > 512 / STRIDE || !switches)
		test_fail("tables=%lu pages=%lu switches=%lu: want 2-%u, 2-64 and > 0", tables, pages, switches,
			  MAX_TABLES);
	cli();
	/* What the counter reads add to a delta: nothing else runs between the last two snapshots (the first brings
	 * the code in). */
	snap(a);
	snap(a);
	snap(b);
	overhead = b[0] - a[0];
	build();
	bench_faults();
	bench_writes();
	bench_cr3();
	if (failures)
		test_fail("%u checks failed (see above)", failures);
	test_pass();
}
